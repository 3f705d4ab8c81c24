// Scheduler benchmark (not a test): `npx tsx scripts/bench/scheduler.ts`.
// Starts `labkube server` (API server, controllers and scheduler in one process, as in a lab) on
// a temporary directory, registers 100 light fake nodes (a Node and a Lease each, leases renewed
// every 10 s: no pod handling, so the bench measures the scheduler, not fake kubelets), then
// creates 3,000 pods from 32 concurrent clients and times each one from its ADDED event to the
// event that shows it bound, through one watch. Prints pods scheduled per second end to end
// (first create sent to last pod bound) and the p99 created-to-bound latency.
// The last line holds the headline figures as name=value pairs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pod } from '../../control-plane/api/core.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { timestamp } from '../../control-plane/api/objects.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import type { KubeClient } from '../../control-plane/client/client.ts';
import { SchedulerCache } from '../../control-plane/scheduler/cache.ts';
import { newPodInfo } from '../../control-plane/scheduler/pod-info.ts';
import { Scheduler } from '../../control-plane/scheduler/scheduler.ts';
import { freePort, kill, spawnServer } from '../../test/support/process.ts';

const totalPods = Number(process.env.BENCH_PODS ?? 3_000);
const nodeCount = Number(process.env.BENCH_NODES ?? 100);
const clients = 32; // concurrent creators, as the API bench uses
const timeLimitMs = Number(process.env.BENCH_TIME_LIMIT_MS ?? 120_000); // a stuck scheduler must not hang the bench
const leaseIntervalMs = 10_000; // Kubernetes' own lease interval; the server gets a 40 s grace to match
const pods = resourceFor('', 'pods')!;
const nodes = resourceFor('', 'nodes')!;
const leases = resourceFor('coordination.k8s.io', 'leases')!;
const namespaces = resourceFor('', 'namespaces')!;

const log = (msg: string) => process.stderr.write(`${msg}\n`);
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

/** A fake node as light as possible: a Node object posted Ready and a Lease kept fresh. */
async function registerNode(client: KubeClient, i: number): Promise<void> {
  const name = `bench-node-${i}`;
  const capacity = { cpu: '4', memory: '8Gi', pods: '110' };
  await client.create(nodes, undefined, {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/arch': i % 4 === 0 ? 'arm64' : 'amd64', 'kubernetes.io/os': 'linux' } },
    spec: {},
    status: {
      capacity, allocatable: capacity,
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: timestamp(), lastTransitionTime: timestamp() }],
      images: [{ names: ['nginx:1.27'], sizeBytes: 70_000_000 }],
    },
  });
  await renewLease(client, name);
}

async function renewLease(client: KubeClient, name: string): Promise<void> {
  const spec = { holderIdentity: name, leaseDurationSeconds: 40, renewTime: new Date().toISOString().replace('Z', '000Z') };
  try {
    const lease = await client.get(leases, 'kube-node-lease', name);
    await client.update(leases, { ...lease, spec });
  } catch {
    await client.create(leases, 'kube-node-lease', { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: 'kube-node-lease' }, spec });
  }
}

function podObject(i: number): KubeObject {
  const app = `app-${i % 30}`; // 30 "deployments" of 100 replicas: spreading has groups to work on
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: `bench-${i}`, namespace: 'bench', labels: { app } },
    spec: { containers: [{ name: 'web', image: 'nginx:1.27', resources: { requests: { cpu: '10m', memory: '16Mi' } } }] },
  };
}

/**
 * The scheduling cycle alone (filter, score, assume), in this process, against the same 100
 * nodes and 3,000 pods: what the scheduler could do if the API server were free.
 */
function cycleOnly(): { podsPerS: number; p99Ms: number } {
  const noop = { on: () => undefined, get: () => undefined, list: () => [] };
  const scheduler = new Scheduler({ client: {} as never, nodes: noop, pods: noop, recorder: { record: () => {} } });
  const cache: SchedulerCache = scheduler.cache;
  for (let i = 1; i <= nodeCount; i++) {
    const capacity = { cpu: '4', memory: '8Gi', pods: '110' };
    cache.setNode({ metadata: { name: `n-${i}`, labels: { 'kubernetes.io/arch': 'amd64', 'kubernetes.io/os': 'linux' } },
      status: { allocatable: capacity, conditions: [{ type: 'Ready', status: 'True' }], images: [{ names: ['nginx:1.27'], sizeBytes: 70_000_000 }] } });
  }
  const times: number[] = [];
  const start = performance.now();
  for (let i = 0; i < totalPods; i++) {
    const pod = podObject(i) as Pod & KubeObject;
    const t0 = performance.now();
    const result = scheduler.scheduleOne(pod);
    if ('nodeName' in result) cache.assume(newPodInfo(pod), result.nodeName);
    times.push(performance.now() - t0);
  }
  const seconds = (performance.now() - start) / 1000;
  times.sort((a, b) => a - b);
  return { podsPerS: totalPods / seconds, p99Ms: percentile(times, 0.99) };
}

async function main(): Promise<void> {
  const cycle = cycleOnly();
  log(`scheduling cycle alone: ${cycle.podsPerS.toFixed(0)} pods/s, p99 ${cycle.p99Ms.toFixed(2)} ms per pod`);
  const dataDir = mkdtempSync(join(tmpdir(), 'labkube-bench-sched-'));
  const server = await spawnServer(dataDir, await freePort(), { extraArgs: ['--node-grace-period', '40'], bundled: true });
  const client = server.client;
  const abort = new AbortController();
  let leaseTimer: NodeJS.Timeout | undefined;
  try {
    await client.create(namespaces, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench' } });
    for (let i = 0; i < nodeCount; i += 20) {
      await Promise.all(Array.from({ length: Math.min(20, nodeCount - i) }, (_, j) => registerNode(client, i + j + 1)));
    }
    const renewAll = async () => {
      for (let i = 1; i <= nodeCount; i++) await renewLease(client, `bench-node-${i}`).catch(() => {});
      leaseTimer = setTimeout(() => void renewAll(), leaseIntervalMs);
    };
    leaseTimer = setTimeout(() => void renewAll(), leaseIntervalMs);
    log(`${nodeCount} nodes registered`);

    const addedAt = new Map<string, number>();
    const boundAt = new Map<string, number>();
    const placement = new Map<string, number>();
    let allBound: () => void = () => {};
    const done = new Promise<void>((resolve) => { allBound = resolve; });
    void client.watch(pods, 'bench', {}, (e) => {
      const pod = e.object as Pod & KubeObject;
      const name = pod.metadata.name!;
      const now = performance.now();
      if (e.type === 'ADDED' && !addedAt.has(name)) addedAt.set(name, now);
      if (pod.spec.nodeName && !boundAt.has(name)) {
        boundAt.set(name, now);
        placement.set(pod.spec.nodeName, (placement.get(pod.spec.nodeName) ?? 0) + 1);
        if (boundAt.size === totalPods) allBound();
      }
    }, abort.signal).catch((err: unknown) => log(`watch ended: ${(err as Error).message}`));
    await new Promise((r) => setTimeout(r, 200)); // the watch is open before the first create

    const start = performance.now();
    let next = 0;
    const creator = async () => {
      for (let i = next++; i < totalPods; i = next++) await client.create(pods, 'bench', podObject(i));
    };
    const created = Promise.all(Array.from({ length: clients }, creator)).then(() => performance.now());
    const limit = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), timeLimitMs).unref());
    const outcome = await Promise.race([done.then(() => 'ok' as const), limit]);
    const end = performance.now();
    const createdEnd = await created;

    const latencies = [...boundAt].map(([name, t]) => t - (addedAt.get(name) ?? t)).sort((a, b) => a - b);
    const seconds = (end - start) / 1000;
    const podsPerS = boundAt.size / seconds;
    const counts = [...placement.values()];
    log(`outcome: ${outcome}; ${boundAt.size}/${totalPods} pods bound in ${seconds.toFixed(2)} s (creates took ${((createdEnd - start) / 1000).toFixed(2)} s)`);
    log(`created-to-bound latency ms: p50=${percentile(latencies, 0.5).toFixed(1)} p90=${percentile(latencies, 0.9).toFixed(1)} p99=${percentile(latencies, 0.99).toFixed(1)} max=${latencies[latencies.length - 1]?.toFixed(1)}`);
    log(`pods per node: min=${Math.min(...counts)} max=${Math.max(...counts)} nodes used=${counts.length}`);
    console.log(`pods=${boundAt.size} nodes=${nodeCount} pods_per_s=${podsPerS.toFixed(0)} p99_ms=${percentile(latencies, 0.99).toFixed(0)} p50_ms=${percentile(latencies, 0.5).toFixed(0)} create_s=${((createdEnd - start) / 1000).toFixed(2)} cycle_pods_per_s=${cycle.podsPerS.toFixed(0)} cycle_p99_ms=${cycle.p99Ms.toFixed(2)} outcome=${outcome}`);
  } finally {
    clearTimeout(leaseTimer);
    abort.abort();
    await kill(server);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// Exit when done: 100 fake nodes' keep-alive sockets to the killed server would otherwise keep
// the process up until they time out.
main().then(() => process.exit(0), (err: unknown) => { log(String((err as Error).stack ?? err)); process.exit(1); });
