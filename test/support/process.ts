// Runs `labkube server` as a real child process, for tests that kill it.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { KubeClient } from '../../control-plane/client/client.ts';
import { eventually } from './server.ts';

const root = join(import.meta.dirname, '..', '..');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    }).on('error', reject);
  });
}

export interface ServerProcess { child: ChildProcess; url: string; client: KubeClient; output: () => string }

/** Builds dist/ (`npm run bundle`) when it is missing: benchmarks measure what ships. */
export function ensureBundle(): void {
  if (!existsSync(join(root, 'dist/labkube.mjs')) || !existsSync(join(root, 'dist/labkube-agent.mjs'))) {
    execFileSync(process.execPath, [join(root, 'scripts/bundle.mjs')], { cwd: root, stdio: 'inherit' });
  }
}

/**
 * The node flags the bundled server runs with (scripts/start.sh uses the same): a small young
 * generation keeps a lab server's memory low at no measurable cost in throughput.
 */
export const serverNodeFlags = ['--max-semi-space-size=2'];

export interface SpawnOptions { extraArgs?: string[]; bundled?: boolean }

export async function spawnServer(dataDir: string, port: number, extraArgs: string[] | SpawnOptions = []): Promise<ServerProcess> {
  const options: SpawnOptions = Array.isArray(extraArgs) ? { extraArgs } : extraArgs;
  if (options.bundled) ensureBundle();
  const program = options.bundled ? [...serverNodeFlags, join(root, 'dist/labkube.mjs')] : [join(root, 'bin/labkube.mjs')];
  const child = spawn(process.execPath, [...program, 'server', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, ...(options.extraArgs ?? [])],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => { output += d; });
  child.stderr!.on('data', (d) => { output += d; });
  const url = `https://127.0.0.1:${port}`;
  await eventually(() => output.includes('control plane listening') || (child.exitCode !== null ? Promise.reject(new Error(output)) : false), 120_000, 'the server to start');
  const client = new KubeClient({ server: url, token: readFileSync(join(dataDir, 'admin-token'), 'utf8').trim(), ca: readFileSync(join(dataDir, 'ca.crt'), 'utf8') });
  return { child, url, client, output: () => output };
}

export async function kill(proc: ServerProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  proc.client.close();
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.child.once('exit', resolve));
  proc.child.kill(signal);
  await exited;
}
