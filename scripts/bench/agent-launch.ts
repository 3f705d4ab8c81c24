// The agent as boards run it, for the benches that start a real one (pod-startup.ts,
// agent-memory.ts): the bundle, dist/labkube-agent.mjs, run with plain `node`. Through tsx it
// would transpile in-process and carry the compiler in its memory.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

export const repo = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', '..');
export const agentBundle = join(repo, 'dist/labkube-agent.mjs');
const run = promisify(execFile);

/** The newest modification time under `dir` (the bundle's sources). */
function newest(dir: string): number {
  return Math.max(0, ...readdirSync(dir, { withFileTypes: true }).filter((e) => e.name !== 'node_modules').map((e) =>
    e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs));
}

/**
 * Builds the bundle (scripts/bundle.mjs) unless it is newer than everything it is built from.
 * LABKUBE_AGENT_BUNDLE names another, already built one (to compare two builds).
 */
export function ensureAgentBundle(): string {
  if (process.env.LABKUBE_AGENT_BUNDLE) return resolve(process.env.LABKUBE_AGENT_BUNDLE);
  const sources = Math.max(newest(join(repo, 'agent')), newest(join(repo, 'control-plane')), statSync(join(repo, 'package-lock.json')).mtimeMs,
    statSync(join(repo, 'scripts/bundle.mjs')).mtimeMs);
  if (existsSync(agentBundle) && statSync(agentBundle).mtimeMs > sources) return agentBundle;
  console.log('building dist/labkube-agent.mjs');
  execFileSync(process.execPath, [join(repo, 'scripts/bundle.mjs')], { cwd: repo, stdio: 'inherit' });
  return agentBundle;
}

export interface RssSample { rss: number; anon: number; file: number }

/** VmRSS of a process in MB, with its anonymous (heap, stacks, malloc) and file-backed (binary, libraries) parts. */
export function rssSample(pid: number): RssSample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const mb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
  return { rss: mb('VmRSS'), anon: mb('RssAnon'), file: mb('RssFile') + mb('RssShmem') };
}

/**
 * The largest RSS sample over `ms` (every 250 ms): a collection that happened to run just before
 * a single reading cannot flatter the figure.
 */
export async function rssWindow(pid: number, ms = 10_000): Promise<RssSample> {
  let top: RssSample = { rss: 0, anon: 0, file: 0 };
  for (const end = Date.now() + ms; Date.now() < end;) {
    const s = rssSample(pid);
    if (s.rss > top.rss) top = s;
    await new Promise((r) => setTimeout(r, 250));
  }
  return top;
}

/** IDs of the containers labelled with a node's name; asynchronous, so an API server in this process keeps answering. */
export async function containersOfNode(node: string): Promise<string[]> {
  const { stdout } = await run('docker', ['ps', '-aq', '--filter', `label=io.labkube.node=${node}`]);
  return stdout.trim().split('\n').filter(Boolean);
}

export async function removeContainersOfNode(node: string): Promise<void> {
  const ids = await containersOfNode(node);
  if (ids.length) await run('docker', ['rm', '-f', ...ids]);
}

/** `labkube-agent uninstall`: the pod network, its iptables chains and files, as a board is cleaned up. */
export async function uninstallAgent(nodeBinary: string, bundle: string, node: string, dataDir: string): Promise<void> {
  await run(nodeBinary, [bundle, 'uninstall', '--name', node, '--data-dir', dataDir], { timeout: 120_000 });
}
