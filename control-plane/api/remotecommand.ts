// Kubernetes' remote command protocol over WebSocket (k8s.io/apimachinery/pkg/util/remotecommand,
// kubelet's cri/streaming/remotecommand): what `kubectl exec` 1.30 and newer, the official
// JavaScript and Python clients speak. Each binary message is one channel byte, then data:
//   0 stdin (client -> server), 1 stdout, 2 stderr, 3 the final Status (JSON), 4 terminal resize
//   ({"Width":80,"Height":24}), and in v5 only 255 "close": its one data byte names a stream the
//   client has finished writing (stdin: end of input).
// Shared by the API server (which checks the request and relays messages) and the agent (which
// runs the command through Docker's exec).
import { STATUS_CODES } from 'node:http';
import type { Status } from './meta.ts';

/** The subprotocols served, most preferred first, as a WebSocket handshake offers them. */
export const remoteCommandProtocols = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const;
export type RemoteCommandProtocol = typeof remoteCommandProtocols[number];

export const channel = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 } as const;

/** The first protocol of ours that the client offered (its header lists them comma-separated). */
export function pickRemoteCommandProtocol(offered: Iterable<string>): RemoteCommandProtocol | undefined {
  const set = new Set(offered);
  return remoteCommandProtocols.find((p) => set.has(p));
}

/** What to run (exec) or join (attach), as the query says it, and the agent's path carries it on. */
export interface ExecOptions {
  command: string[];
  container: string;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

// Go's strconv.ParseBool, as Kubernetes reads these: the Python client sends "True".
const flag = (q: URLSearchParams, k: string) => ['1', 't', 'T', 'true', 'TRUE', 'True'].includes(q.get(k) ?? '');

/**
 * Parses the query of an exec or attach request; returns a reason when it is not one
 * (kube-apiserver's checks: exec needs a command, both at least one stream).
 */
export function execOptionsFrom(q: URLSearchParams, container: string, verb: 'exec' | 'attach' = 'exec'): ExecOptions | string {
  const command = q.getAll('command');
  if (verb === 'exec' && command.length === 0) return 'you must specify at least 1 command';
  const options = { command, container, stdin: flag(q, 'stdin'), stdout: flag(q, 'stdout'), stderr: flag(q, 'stderr'), tty: flag(q, 'tty') };
  if (!options.stdin && !options.stdout && !options.stderr) return 'you must specify at least 1 of stdin, stdout, stderr';
  // With a terminal, stderr is stdout (kubectl asks for it anyway; Kubernetes drops it quietly).
  if (options.tty) options.stderr = false;
  return options;
}

export function execQuery(o: ExecOptions): URLSearchParams {
  const q = new URLSearchParams();
  for (const c of o.command) q.append('command', c);
  for (const k of ['stdin', 'stdout', 'stderr', 'tty'] as const) if (o[k]) q.set(k, 'true');
  return q;
}

/** The Status sent on the error channel when the command has ended: exit 0 is Success. */
export function exitStatus(exitCode: number): Status {
  if (exitCode === 0) return { apiVersion: 'v1', kind: 'Status', metadata: {}, status: 'Success' } as Status;
  return {
    apiVersion: 'v1', kind: 'Status', metadata: {}, status: 'Failure',
    message: `command terminated with non-zero exit code: ${exitCode}`, reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  } as Status;
}

/** A Status for a failure before or while running the command (no exit code). */
export function failureStatus(message: string): Status {
  return { apiVersion: 'v1', kind: 'Status', metadata: {}, status: 'Failure', message, reason: 'InternalError', code: 500 } as Status;
}

/** A message on `ch` carrying `data`. */
export function frame(ch: number, data: Buffer | string): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data) : data;
  return Buffer.concat([Buffer.from([ch]), body]);
}

/**
 * An HTTP error answer written on the raw socket of an upgrade request that is refused: the
 * client reads the Status as it would from any API error (kubectl prints its message).
 */
export function upgradeRefusal(code: number, reason: string, message: string): string {
  const body = JSON.stringify({ apiVersion: 'v1', kind: 'Status', metadata: {}, status: 'Failure', message, reason, code });
  return `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}
