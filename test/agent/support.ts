// Shared by the agent's integration tests: spawn agents as processes against the real Docker
// engine, and remove every container they made (by label) whatever happens.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestServer } from '../support/server.ts';

const repo = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', '..');

export interface AgentProcess { name: string; ip: string; dataDir: string; child: ChildProcess; output: () => string; kill(signal?: NodeJS.Signals): Promise<void> }

/** How to run the agent: tests run the sources through tsx; the startup bench runs the bundle as boards do. */
export interface AgentLaunch { script: string; nodeFlags?: string[] }
export const sourceAgent: AgentLaunch = { script: join(repo, 'bin/labkube-agent.mjs') };

export function startAgentProcess(server: TestServer, name: string, ip: string, extra: string[] = [], dataDir?: string,
  launch: AgentLaunch = sourceAgent): AgentProcess {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), `labkube-agent-${name}-`));
  const child = spawn(process.execPath, [...launch.nodeFlags ?? [], launch.script, '--server', server.url, '--token-file', join(server.dataDir, 'join-token'),
    '--name', name, '--node-ip', ip, '--data-dir', dir, '--port', '0', '--log-level', process.env.LABKUBE_TEST_LOG ?? 'info',
    // Several test agents share this machine's one engine and network: no pod network each.
    '--pod-network', 'none', ...extra],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  return {
    name, ip, dataDir: dir, child, output: () => out,
    kill: (signal = 'SIGTERM') => new Promise((res) => {
      if (child.exitCode !== null || child.signalCode !== null) return res();
      child.once('exit', () => res());
      child.kill(signal);
    }),
  };
}

/** Removes every container a test's agents made: they carry the node's name in a label. */
export function removeContainersOf(nodeNames: string[]): void {
  for (const node of nodeNames) {
    const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=io.labkube.node=${node}`], { encoding: 'utf8' }).trim();
    if (ids) execFileSync('docker', ['rm', '-f', ...ids.split('\n')], { stdio: 'ignore' });
  }
}

export function containersOf(node: string): { id: string; name: string; startedAt: string; running: boolean }[] {
  const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=io.labkube.node=${node}`], { encoding: 'utf8' }).trim();
  if (!ids) return [];
  const out = execFileSync('docker', ['inspect', '-f', '{{.Id}} {{.Name}} {{.State.StartedAt}} {{.State.Running}}', ...ids.split('\n')], { encoding: 'utf8' });
  return out.trim().split('\n').map((l) => { const [id, name, startedAt, running] = l.split(' '); return { id: id!, name: name!.slice(1), startedAt: startedAt!, running: running === 'true' }; });
}

/** A unique node name per test run, so parallel files never touch each other's containers. */
export const uniqueName = (base: string) => `${base}-${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
