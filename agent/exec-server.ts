// pods/exec, pods/attach and pods/portforward on the agent, as the kubelet serves
// /exec/{namespace}/{pod}/{container}, /attach/... and /portForward/{namespace}/{pod}: upgrades on
// the log server's HTTPS port, each with a token signed by the cluster CA for this node, this pod
// and this verb. exec runs the command through Docker's exec, attach joins the container's own
// process through Docker's attach, both speaking Kubernetes' channel protocol over a WebSocket
// (control-plane/api/remotecommand.ts); port-forward answers `101 Upgrade: tcp` and carries raw
// bytes to a port of the pod's address.
import type { KeyObject } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { WebSocket, WebSocketServer } from 'ws';
import {
  channel, execOptionsFrom, exitStatus, failureStatus, frame, pickRemoteCommandProtocol, remoteCommandProtocols, upgradeRefusal, type ExecOptions,
} from '../control-plane/api/remotecommand.ts';
import { restartCountOf } from './hooks/report.ts';
import { refuseRequest } from '../control-plane/api/log-token.ts';
import { labelKeys, sandboxContainerName, type ContainerRuntime, type ExecSession } from './runtime/types.ts';

export interface ExecServerOptions {
  runtime: ContainerRuntime;
  nodeName: string;
  /** The cluster CA's public key, which signs the tokens. */
  publicKey: KeyObject;
  clock?: () => number;
  logger?: Logger;
}

// Output waiting to be sent past this many messages pauses the command's streams: a slow
// client (a `kubectl cp` over Wi-Fi) holds the command back instead of the agent's memory.
const maxPendingMessages = 16;

/** The handler for the HTTPS server's 'upgrade' event. */
export function execUpgradeHandler(o: ExecServerOptions): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  // Loaded with the first exec: a board that is never exec'd into does not carry the library.
  let wss: Promise<WebSocketServer> | undefined;
  const server = () => (wss ??= import('ws').then(({ WebSocketServer: Server }) => new Server({
    noServer: true, perMessageDeflate: false,
    handleProtocols: (offered) => pickRemoteCommandProtocol(offered) ?? false,
  })));
  /** pods/portforward: one TCP connection to a port of the pod, as raw bytes after a 101 (Upgrade: tcp). */
  const portForward = async (socket: Duplex, head: Buffer, [namespace, pod]: string[], portText: string | null, refuse: Refuse) => {
    const port = Number(portText);
    if (!Number.isInteger(port) || port < 1 || port > 65535) return refuse(400, 'BadRequest', `invalid port ${portText ?? '(none)'}`);
    // The pod's address: its sandbox's (the pod network), or its one container's (Docker's bridge).
    // A pod on the board's own network (hostNetwork) has no address of its own: the kubelet dials
    // localhost in the pod's network namespace, which for such a pod is the board's.
    const containers = await o.runtime.listContainers({ [labelKeys.node]: o.nodeName, [labelKeys.namespace]: namespace!, [labelKeys.pod]: pod! });
    const running = containers.filter((c) => c.status === 'running');
    const onHostNetwork = running.length > 0 &&
      running.every((c) => !c.ip && !c.labels[labelKeys.sandbox] && c.labels[labelKeys.container] !== sandboxContainerName);
    const ip = onHostNetwork ? '127.0.0.1' : running.find((c) => c.ip)?.ip;
    if (!ip) return refuse(400, 'BadRequest', `pod ${pod} has no running container with an address`);
    const upstream = connect(port, ip);
    upstream.once('error', (err: NodeJS.ErrnoException) => {
      if (!socket.writable || upstream.readyState === 'open') { socket.destroy(); return; }
      refuse(502, 'BadGateway', `error forwarding port ${port} to pod ${pod}: ${err.code ?? err.message}`);
    });
    upstream.once('connect', () => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n');
      if (head.length) upstream.write(head);
      socket.pipe(upstream).pipe(socket);
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
      socket.on('close', () => upstream.destroy());
    });
  };
  /** pods/exec and pods/attach: the command's (or the container's) streams over a WebSocket. */
  const execOrAttach = async (req: IncomingMessage, socket: Duplex, head: Buffer, verb: 'exec' | 'attach', [namespace, pod, container]: string[],
    query: URLSearchParams, refuse: Refuse) => {
    const options = execOptionsFrom(query, container!, verb);
    if (typeof options === 'string') return refuse(400, 'BadRequest', options);
    const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (!pickRemoteCommandProtocol(offered)) return refuse(400, 'BadRequest', `no supported stream protocol offered: labkube speaks ${remoteCommandProtocols.join(', ')}`);
    const found = (await o.runtime.listContainers({
      [labelKeys.node]: o.nodeName, [labelKeys.namespace]: namespace!, [labelKeys.pod]: pod!, [labelKeys.container]: container!,
    })).sort((a, b) => restartCountOf(b) - restartCountOf(a))[0];
    if (found?.status !== 'running') return refuse(400, 'BadRequest', `container ${container} is not running in pod ${pod} (${found?.status ?? 'not created yet'})`);
    const session = verb === 'exec' ? await o.runtime.openExec(found.id, options) : await o.runtime.openAttach(found.id, options);
    o.logger?.info({ verb, namespace, pod, container, command: options.command[0], tty: options.tty }, `${verb} started`);
    (await server()).handleUpgrade(req, socket, head, (ws) => bridge(ws, session, options, o.logger));
  };
  return (req, socket, head) => {
    socket.on('error', () => { /* the client went away mid-handshake */ });
    const refuse: Refuse = (code, reason, message) => { socket.end(upgradeRefusal(code, reason, message)); };
    void (async () => {
      const url = new URL(req.url ?? '/', 'https://agent');
      // /exec|attach/{namespace}/{pod}/{container} and /portForward/{namespace}/{pod}
      const m = /^\/(exec|attach)\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname) ?? /^\/(portForward)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
      if (!m) return refuse(404, 'NotFound', 'not found');
      const verb = m[1] === 'portForward' ? 'portforward' : m[1] as 'exec' | 'attach';
      const names = m.slice(2).map(decodeURIComponent);
      const refusal = refuseRequest(o.publicKey, req.headers.authorization, o.nodeName, (o.clock ?? Date.now)(), { namespace: names[0]!, pod: names[1]!, verb });
      if (refusal) return refuse(refusal.code, refusal.reason, refusal.message);
      if (verb === 'portforward') return portForward(socket, head, names, url.searchParams.get('port'), refuse);
      return execOrAttach(req, socket, head, verb, names, url.searchParams, refuse);
    })().catch((err: unknown) => {
      o.logger?.warn({ err: (err as Error).message }, 'exec, attach or port-forward failed to start');
      refuse(500, 'InternalError', `cannot reach the pod: ${(err as Error).message}`);
    });
  };
}

type Refuse = (code: number, reason: string, message: string) => void;

const ended = (s: NodeJS.ReadableStream) => new Promise<void>((resolve) => { s.once('end', resolve); s.once('close', resolve); });

/** Carries the session's streams over the WebSocket until the command ends, then its Status. */
function bridge(ws: WebSocket, session: ExecSession, options: ExecOptions, logger?: Logger): void {
  const outputs = [[session.stdout, channel.stdout], [session.stderr, channel.stderr]] as const;
  let pending = 0;
  for (const [stream, ch] of outputs) {
    stream.on('data', (d: Buffer) => {
      pending++;
      ws.send(frame(ch, d), () => {
        if (--pending < maxPendingMessages) for (const [s] of outputs) s.resume();
      });
      if (pending >= maxPendingMessages) for (const [s] of outputs) s.pause();
    });
  }
  ws.on('message', (data: Buffer) => {
    const body = data.subarray(1);
    switch (data[0]) {
      case channel.stdin:
        if (session.stdin && body.length > 0 && !session.stdin.write(body)) {
          ws.pause();
          session.stdin.once('drain', () => ws.resume());
        }
        break;
      case channel.resize: {
        if (!options.tty) break;
        try {
          const size = JSON.parse(body.toString('utf8')) as { Width?: unknown; Height?: unknown };
          const valid = (n: unknown): n is number => Number.isInteger(n) && (n as number) > 0 && (n as number) < 10_000;
          if (valid(size.Width) && valid(size.Height)) session.resize(size.Width, size.Height).catch(() => { /* the command may have ended */ });
        } catch { /* not JSON: ignored, as the kubelet does */ }
        break;
      }
      case channel.close:
        // v5: the client has no more input.
        if (body[0] === channel.stdin) session.stdin?.end();
        break;
      default:
    }
  });
  ws.on('close', () => session.close());
  ws.on('error', () => session.close());
  void Promise.all([session.exitCode, ended(session.stdout), ended(session.stderr)]).then(
    ([code]) => exitStatus(code),
    (err: unknown) => failureStatus(`exec: ${(err as Error).message}`),
  ).then((status) => {
    logger?.info({ status: status.status, message: status.message }, 'exec ended');
    if (ws.readyState !== ws.OPEN) return;
    ws.send(frame(channel.error, JSON.stringify(status)));
    ws.close(1000);
  });
}
