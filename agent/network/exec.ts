// Runs a network tool (iptables, iptables-restore, ip, sysctl) as a child process without a
// shell, so no argument is ever parsed twice. The network classes take a `CommandRunner` so tests
// can replace the host's tools with a recording fake.
import { execFile } from 'node:child_process';

export interface CommandResult { stdout: string; stderr: string }

/** Runs `file` with `args`, writing `input` to its stdin; rejects with a CommandError on a non-zero exit. */
export type CommandRunner = (file: string, args: string[], input?: string) => Promise<CommandResult>;

export class CommandError extends Error {
  readonly code = 'CommandFailed';
  constructor(readonly command: string, readonly exitCode: number | null, readonly stderr: string, options?: { cause?: unknown }) {
    super(`${command} failed (exit ${exitCode ?? 'signal'}): ${stderr.trim() || 'no output'}`, options);
    this.name = 'CommandError';
  }
}

// A tool stuck on a lock or a hung netlink socket must not stall the agent's resync forever;
// iptables' own lock wait (-w) is shorter than this.
const commandTimeoutMs = 15_000;

export const runCommand: CommandRunner = (file, args, input) => new Promise((resolve, reject) => {
  const child = execFile(file, args, { timeout: commandTimeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
    if (!err) return resolve({ stdout, stderr });
    const exitCode = typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null;
    reject(new CommandError([file, ...args].join(' '), exitCode, stderr || err.message, { cause: err }));
  });
  child.stdin?.on('error', () => { /* the tool exited before reading all input: its exit code says why */ });
  child.stdin?.end(input ?? '');
});

/** True when the error is the tool's "no such thing" answer (exit 1), not a failure to run it. */
export const exitedWith = (err: unknown, code: number): boolean => err instanceof CommandError && err.exitCode === code;
