// Runs a command-line tool as a subprocess, as a person would, and collects what it printed.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const labctlBin = fileURLToPath(new URL('../../bin/labctl.mjs', import.meta.url));

export interface RunResult { code: number | null; stdout: string; stderr: string }

export function runCommand(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: repoRoot, env: { ...process.env, NO_COLOR: '1', ...options.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    // A command that hangs fails its test instead of the whole file's timeout. Two minutes: a
    // labctl run (tsx loading the CLI's sources) took 20-48 s at load average 50-75 on this 2-core
    // machine. The CLI suites' own timeouts (30 min) are only a backstop against a hang.
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    child.stdin.end(options.input ?? '');
  });
}

/** labctl with the given kubeconfig. */
export const labctl = (kubeconfig: string, args: string[], options: { input?: string; timeoutMs?: number } = {}) =>
  runCommand(process.execPath, [labctlBin, '--kubeconfig', kubeconfig, ...args], options);

/** A long-running command (a watch): its output so far, and a way to stop it. */
export function startCommand(command: string, args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; output: () => string; stop: () => Promise<void> } {
  const child = spawn(command, args, { cwd: repoRoot, env: { ...process.env, NO_COLOR: '1', ...env } });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  return {
    child, output: () => out,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) { resolve(); return; }
      child.once('close', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}

/** Splits a table into rows of cells (cells are separated by two or more spaces). */
export const tableRows = (text: string): string[][] =>
  text.trim().split('\n').filter(Boolean).map((line) => line.trim().split(/\s{2,}/));
