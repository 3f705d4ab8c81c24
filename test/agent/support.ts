// Shared by the agent's integration tests: spawn agents as processes against the real Docker
// engine, and remove every container they made (by label) whatever happens.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import type { Pod } from '../../control-plane/api/core.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { KubeClient } from '../../control-plane/client/client.ts';
import type { ServerProcess } from '../support/process.ts';
import { eventually, type TestServer } from '../support/server.ts';

const repo = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', '..');

export interface AgentProcess { name: string; ip: string; dataDir: string; child: ChildProcess; output: () => string; kill(signal?: NodeJS.Signals): Promise<void> }

/** How to run the agent: tests run the sources through tsx; the startup bench runs the bundle as boards do. */
export interface AgentLaunch { script: string; nodeFlags?: string[]; env?: Record<string, string> }
export const sourceAgent: AgentLaunch = { script: join(repo, 'bin/labkube-agent.mjs') };

/**
 * The node flags and environment a board's service runs the agent with: the ansible role's
 * labkube_agent_node_flags and labkube_agent_environment (ansible/group_vars/all.yml), which its
 * systemd unit and supervisor pass as `node $LABKUBE_AGENT_NODE_FLAGS labkube-agent.mjs ...`.
 */
export function boardNodeOptions(): { nodeFlags: string[]; env: Record<string, string> } {
  const vars = parse(readFileSync(join(repo, 'ansible/group_vars/all.yml'), 'utf8')) as
    { labkube_agent_node_flags?: string[]; labkube_agent_environment?: Record<string, string> };
  return { nodeFlags: vars.labkube_agent_node_flags ?? [], env: vars.labkube_agent_environment ?? {} };
}

/**
 * Bundles the agent as scripts/bundle.mjs does (agent/build.mjs), into `dir` (not dist/, which
 * benchmarks share): tests that time the agent's start measure what a board runs, not tsx
 * compiling the sources.
 */
export async function buildAgentBundle(dir: string): Promise<string> {
  const [{ build }, { agentBundleOptions }] = await Promise.all([import('esbuild'), import('../../agent/build.mjs')]);
  const outfile = join(dir, 'labkube-agent.mjs');
  await build({
    bundle: true, platform: 'node', format: 'esm', target: 'node18',
    external: ['better-sqlite3', 'cpu-features', '*.node'], logLevel: 'warning', legalComments: 'none',
    banner: {
      js: "import { createRequire as __lkRequire } from 'node:module'; import { fileURLToPath as __lkPath } from 'node:url'; " +
        "import { dirname as __lkDir } from 'node:path'; const require = __lkRequire(import.meta.url); " +
        'const __filename = __lkPath(import.meta.url); const __dirname = __lkDir(__filename);',
    },
    ...agentBundleOptions(outfile),
  });
  return outfile;
}

export function startAgentProcess(server: TestServer, name: string, ip: string, extra: string[] = [], dataDir?: string,
  launch: AgentLaunch = sourceAgent): AgentProcess {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), `labkube-agent-${name}-`));
  const child = spawn(process.execPath, [...launch.nodeFlags ?? [], launch.script, '--server', server.url, '--token-file', join(server.dataDir, 'join-token'),
    '--name', name, '--node-ip', ip, '--data-dir', dir, '--port', '0', '--log-level', process.env.LABKUBE_TEST_LOG ?? 'info',
    // Several test agents share this machine's one engine and network: no pod network each.
    '--pod-network', 'none', ...extra],
  { stdio: ['ignore', 'pipe', 'pipe'], ...(launch.env && { env: { ...process.env, ...launch.env } }) });
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

/**
 * `labkube server` as a process the test can kill and start again on the same data directory
 * and port. Starting through tsx on a machine shared with other tests takes 15 s or more, so the
 * wait is long; what these tests measure is the agent after it.
 */
export async function startServerProcess(dataDir: string, port: number, extraArgs: string[] = []): Promise<ServerProcess> {
  const child = spawn(process.execPath, [join(repo, 'bin/labkube.mjs'), 'server', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, ...extraArgs],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
  const url = `https://127.0.0.1:${port}`;
  const started: ServerProcess = { child, url, client: new KubeClient({ server: url, token: '', ca: '' }), output: () => output };
  try {
    await eventually(() => output.includes('control plane listening') || (child.exitCode !== null ? Promise.reject(new Error(output)) : false), 120_000, 'the server to start');
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  started.client.close();
  started.client = new KubeClient({ server: url, token: readFileSync(join(dataDir, 'admin-token'), 'utf8').trim(), ca: readFileSync(join(dataDir, 'ca.crt'), 'utf8') });
  return started;
}

/**
 * Creates busybox pods that sleep, bound to `nodeName` (no scheduler needed), and waits until
 * all of them are Running. Returns each pod's uid by name.
 */
export async function runSleepingPods(client: KubeClient, nodeName: string, names: string[]): Promise<Record<string, string>> {
  const pods = resourceFor('', 'pods')!;
  const uids: Record<string, string> = {};
  for (const name of names) {
    const created = await client.create(pods, 'default', {
      apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' },
      spec: { nodeName, containers: [{ name: 'main', image: 'busybox', imagePullPolicy: 'Never', command: ['sleep', '3600'] }] },
    } as KubeObject);
    uids[name] = created.metadata.uid!;
  }
  await eventually(async () => (await client.list<Pod & KubeObject>(pods, 'default')).items
    .filter((p) => names.includes(p.metadata.name!) && p.status?.phase === 'Running').length === names.length, 60_000, `${names.length} pods running`);
  return uids;
}
