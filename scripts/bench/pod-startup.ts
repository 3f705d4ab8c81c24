// `npm run bench:startup`: time from pod creation to Running (seen through a watch), for 1 pod
// and for 30 pods, beside plain `docker run -d` of the same image in the same run; and the
// agent's resident memory idle and with 10 pods. Last line: name=value pairs.
// Targets: labkube's median at most 20% over Docker's; agent RSS under 60 MB.
//
// The agent runs as boards run it: the bundle, dist/labkube-agent.mjs, with plain `node` (built
// here when missing or older than its sources). Through tsx it would transpile in-process and
// carry the compiler in its memory. Every sample is timed from the moment its start was asked
// for: a pod's creation, or, for Docker, the moment the whole batch of `docker run -d` began
// (queueing included). The agent starts at most --parallel-starts containers at once; Docker's
// thirty are run both all at once and with that same limit, and the faster is the baseline.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { eventually, startTestServer } from '../../test/support/server.ts';
import { removeContainersOf, startAgentProcess, type AgentLaunch } from '../../test/agent/support.ts';

const run = promisify(execFile);
const pods = resourceFor('', 'pods')!;
const nodes = resourceFor('', 'nodes')!;
const image = 'nginx:latest';
const node = `bench-${process.pid}`;
/** Retries a request that failed on a dropped keep-alive connection; a 404 on delete is done already. */
async function retry<T>(f: () => Promise<T>): Promise<T | undefined> {
  for (let i = 0; ; i++) {
    try { return await f(); } catch (err) {
      const code = (err as { code?: number }).code;
      if (code === 404) return undefined;
      if (code !== 503 || i >= 3) throw err;
    }
  }
}
const repo = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', '..');
const bundle = join(repo, 'dist/labkube-agent.mjs');

/** The newest modification time under `dir` (the bundle's sources). */
function newest(dir: string): number {
  return Math.max(0, ...readdirSync(dir, { withFileTypes: true }).filter((e) => e.name !== 'node_modules').map((e) =>
    e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs));
}

/** Builds the bundle unless it is newer than everything it is built from. */
function ensureBundle(): void {
  const sources = Math.max(newest(join(repo, 'agent')), newest(join(repo, 'control-plane')), statSync(join(repo, 'package-lock.json')).mtimeMs,
    statSync(join(repo, 'scripts/bundle.mjs')).mtimeMs);
  if (existsSync(bundle) && statSync(bundle).mtimeMs > sources) return;
  console.log('building dist/labkube-agent.mjs');
  execFileSync(process.execPath, [join(repo, 'scripts/bundle.mjs')], { cwd: repo, stdio: 'inherit' });
}

// No V8 flags: none measured below made a difference worth asking every board's unit for.
const shippedAgent: AgentLaunch = { script: bundle };
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]!; };
const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

/**
 * `docker run -d` of `count` containers, at most `parallel` at a time, each timed from the moment
 * all were asked for (as a pod is timed from its creation, queueing included).
 */
async function dockerRun(count: number, parallel = count): Promise<number[]> {
  const t0 = performance.now();
  const times: number[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, async () => {
    for (let i = next++; i < count; i = next++) {
      await run('docker', ['run', '-d', '--label', `io.labkube.node=${node}-docker`, '--name', `${node}-docker-${count}-${i}`, image]);
      times.push(performance.now() - t0);
    }
  }));
  removeContainersOf([`${node}-docker`]);
  return times;
}

ensureBundle();
const server = await startTestServer();
// The agent's default, passed explicitly: the queued Docker baseline uses the same number.
const parallelStarts = 8;
const agent = startAgentProcess(server, node, '127.0.0.2', ['--parallel-starts', String(parallelStarts)], undefined, shippedAgent);
try {
  await eventually(async () => (await server.client.list(nodes)).items.length === 1, 30_000, 'node registered');
  await new Promise((r) => setTimeout(r, 3000)); // let start-up work settle before measuring idle memory
  const idleRss = rssMb(agent.child.pid!);

  // One watch for the whole run: each pod's first Running event is its start time.
  const running = new Map<string, number>();
  const list = (await retry(() => server.client.list(pods, 'default')))!;
  void server.client.watch(pods, 'default', { resourceVersion: list.metadata.resourceVersion }, (e) => {
    const p = e.object as KubeObject & { status?: { phase?: string } };
    if (p.status?.phase === 'Running' && !running.has(p.metadata.name!)) running.set(p.metadata.name!, performance.now());
  }).catch(() => undefined);

  async function labkube(count: number, prefix: string): Promise<number[]> {
    const created = new Map<string, number>();
    await Promise.all(Array.from({ length: count }, async (_, i) => {
      const name = `${prefix}-${i}`;
      created.set(name, performance.now());
      await retry(() => server.client.create(pods, 'default', { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { nodeName: node, containers: [{ name: 'web', image, imagePullPolicy: 'IfNotPresent' }] } } as KubeObject));
    }));
    await eventually(() => [...created.keys()].every((n) => running.has(n)), 120_000, `${count} pods running`);
    return [...created].map(([name, t]) => running.get(name)! - t);
  }
  const agentContainers = () => execFileSync('docker', ['ps', '-aq', '--filter', `label=io.labkube.node=${node}`], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).length;
  /** Deletes pods and waits for their containers to go, so the next round starts from the same engine state. */
  async function deletePods(names: string[], leave = 0): Promise<void> {
    await Promise.all(names.map((n) => retry(() => server.client.delete(pods, 'default', n, { gracePeriodSeconds: 0 }))));
    await eventually(() => agentContainers() <= leave, 60_000, `${leave} pods left`);
  }
  const names = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}-${i}`);

  // Rounds alternate which side goes first, so neither always meets an engine still busy with
  // the other's clean-up; the medians are over every sample of every round.
  const dockerOne: number[] = [];
  const labkubeOne: number[] = [];
  for (let i = 0; i < 7; i++) { // single starts: a median of one sample is noise
    const sides = [async () => dockerOne.push(...await dockerRun(1)), async () => labkubeOne.push(...await labkube(1, `one-${i}`))];
    for (const side of i % 2 ? sides.reverse() : sides) await side();
    await deletePods(names(`one-${i}`, 1));
  }
  // Thirty: the agent starts at most `parallelStarts` containers at once. Docker is run both
  // ways, all thirty at once and queued the same as the agent, and the faster is the baseline.
  const dockerAll30: number[] = [];
  const dockerQueued30: number[] = [];
  const labkube30: number[] = [];
  const rounds = 3;
  for (let i = 0; i < rounds; i++) {
    const sides = [
      async () => dockerAll30.push(...await dockerRun(30)),
      async () => dockerQueued30.push(...await dockerRun(30, parallelStarts)),
      async () => labkube30.push(...await labkube(30, `many-${i}`)),
    ];
    for (const side of [...sides.slice(i % 3), ...sides.slice(0, i % 3)]) await side();
    if (i < rounds - 1) await deletePods(names(`many-${i}`, 30));
  }
  const docker30 = median(dockerQueued30) < median(dockerAll30) ? dockerQueued30 : dockerAll30;
  // Ten pods for the memory figure: delete down from thirty.
  await deletePods(names(`many-${rounds - 1}`, 30).slice(10), 10);
  await new Promise((r) => setTimeout(r, 3000));
  const tenRss = rssMb(agent.child.pid!);

  const r = (x: number) => Math.round(x);
  const m1 = median(labkubeOne); const d1 = median(dockerOne); const m30 = median(labkube30); const d30 = median(docker30);
  console.log(`1 pod, ${labkubeOne.length} rounds: labkube median ${r(m1)} ms, docker run median ${r(d1)} ms`);
  console.log(`30 pods, ${rounds} rounds: labkube median ${r(m30)} ms (max ${r(Math.max(...labkube30))}); docker run all at once median ${r(median(dockerAll30))} ms (max ${r(Math.max(...dockerAll30))}), ${parallelStarts} at a time median ${r(median(dockerQueued30))} ms (max ${r(Math.max(...dockerQueued30))})`);
  console.log(`agent RSS: idle ${idleRss.toFixed(1)} MB, 10 pods ${tenRss.toFixed(1)} MB`);
  console.log(`labkube_1_ms=${r(m1)} docker_1_ms=${r(d1)} overhead_1_pct=${r((m1 / d1 - 1) * 100)} labkube_30_ms=${r(m30)} docker_30_ms=${r(d30)} overhead_30_pct=${r((m30 / d30 - 1) * 100)} agent_rss_idle_mb=${idleRss.toFixed(1)} agent_rss_10pods_mb=${tenRss.toFixed(1)}`);
} catch (err) {
  console.error(err);
  console.error(agent.output().split('\n').filter((l) => !l.includes('"level":30')).slice(-15).join('\n'));
  console.error(execFileSync('docker', ['ps', '-a', '--format', '{{.Names}} {{.Status}}', '--filter', `label=io.labkube.node=${node}`], { encoding: 'utf8' }));
  process.exitCode = 1;
} finally {
  await agent.kill('SIGKILL');
  removeContainersOf([node, `${node}-docker`]);
  await server.stop().catch(() => undefined);
  process.exit(); // the run-long watch would keep the process alive
}
