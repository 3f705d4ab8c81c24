// `npm run bench:startup`: time from pod creation to Running (seen through a watch), for 1 pod
// and for 30 pods, beside plain `docker run -d` of the same image in the same run; and the
// agent's resident memory idle and with 10 pods. Last line: name=value pairs.
// Targets: labkube's median at most 20% over Docker's; agent RSS under 60 MB.
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { eventually, startTestServer } from '../../test/support/server.ts';
import { removeContainersOf, startAgentProcess } from '../../test/agent/support.ts';

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
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]!; };
const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

async function dockerRun(count: number): Promise<number[]> {
  const times = await Promise.all(Array.from({ length: count }, async (_, i) => {
    const t0 = performance.now();
    await run('docker', ['run', '-d', '--label', `io.labkube.node=${node}-docker`, '--name', `${node}-docker-${count}-${i}`, image]);
    return performance.now() - t0;
  }));
  removeContainersOf([`${node}-docker`]);
  return times;
}

const server = await startTestServer();
const agent = startAgentProcess(server, node, '127.0.0.2', [], undefined);
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

  const dockerOne = [];
  const labkubeOne = [];
  for (let i = 0; i < 5; i++) { // five single starts each: a median of one sample is noise
    dockerOne.push(...await dockerRun(1));
    labkubeOne.push(...await labkube(1, `one-${i}`));
  }
  const docker30 = await dockerRun(30);
  const labkube30 = await labkube(30, 'many');
  // Ten pods for the memory figure: delete down from thirty.
  await Promise.all(Array.from({ length: 20 }, (_, i) => retry(() => server.client.delete(pods, 'default', `many-${i + 10}`, { gracePeriodSeconds: 0 }))));
  await Promise.all(Array.from({ length: 5 }, (_, i) => retry(() => server.client.delete(pods, 'default', `one-${i}-0`, { gracePeriodSeconds: 0 }))));
  await eventually(() => { const n = Number(execFileSync('docker', ['ps', '-q', '--filter', `label=io.labkube.node=${node}`], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).length); return n <= 10; }, 60_000, 'ten pods left');
  await new Promise((r) => setTimeout(r, 3000));
  const tenRss = rssMb(agent.child.pid!);

  const r = (x: number) => Math.round(x);
  const m1 = median(labkubeOne); const d1 = median(dockerOne); const m30 = median(labkube30); const d30 = median(docker30);
  console.log(`1 pod:   labkube median ${r(m1)} ms, docker run median ${r(d1)} ms`);
  console.log(`30 pods: labkube median ${r(m30)} ms (max ${r(Math.max(...labkube30))}), docker run median ${r(d30)} ms (max ${r(Math.max(...docker30))})`);
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
