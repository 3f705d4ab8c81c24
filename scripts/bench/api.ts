// API server benchmark (not a test): `npm run bench:api`.
//  1. 10,000 pod creates over HTTPS from 32 concurrent clients: writes/s and p99 latency, with a
//     watcher measuring delivery latency; then server RSS holding the 10,000 objects.
//  2. 5,000 more creates with 100 watchers open, each receiving every event (fan-out cost).
//  3. Create-to-watch-event latency with one writer and one watcher (no queueing).
//  4. Bytes written to disk per idle hour by a fresh server while 10 nodes heartbeat every 2 s
//     (Leases, kept in memory) and post Node status every 60 s (an idle agent's most).
// Bench pods name a scheduler that does not exist, so the scheduler leaves them alone and the
// figures are the API server's (the controllers still watch them, as they would in a lab).
// The server runs as it ships: the bundle (`npm run bundle`) with the flags of scripts/start.sh.
// The last line holds the headline figures as name=value pairs.
import https from 'node:https';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { KubeClient } from '../../control-plane/client/client.ts';
import { freePort, kill, spawnServer, type ServerProcess } from '../../test/support/process.ts';

const totalWrites = Number(process.env.BENCH_WRITES ?? 10_000);
const clients = 32;
const watchers = 100;
const idleNodes = 10;
const idleSeconds = Number(process.env.BENCH_IDLE_SECONDS ?? 60);
const pods = resourceFor('', 'pods')!;
const leases = resourceFor('coordination.k8s.io', 'leases')!;
const nodes = resourceFor('', 'nodes')!;

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
const log = (msg: string) => process.stderr.write(`${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line?.split(/\s+/)[1] ?? 0) / 1024;
}
/** CPU seconds (user + system) the process has used: /proc/PID/stat fields 14 and 15, in clock ticks. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
function writeBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/io`, 'utf8').split('\n').find((l) => l.startsWith('write_bytes'));
  return Number(line?.split(/\s+/)[1] ?? 0);
}

interface Lab { server: ServerProcess; pid: number; token: string; ca: string; dataDir: string }

async function startLab(): Promise<Lab> {
  const dataDir = mkdtempSync(join(tmpdir(), 'labkube-bench-'));
  const server = await spawnServer(dataDir, await freePort(), { bundled: true });
  return { server, pid: server.child.pid!, dataDir, token: readFileSync(join(dataDir, 'admin-token'), 'utf8').trim(), ca: readFileSync(join(dataDir, 'ca.crt'), 'utf8') };
}
async function stopLab(lab: Lab): Promise<void> {
  await kill(lab.server, 'SIGTERM');
  rmSync(lab.dataDir, { recursive: true, force: true });
}

/**
 * A raw watch stream that hands each line to `onLine` (cheap enough to open 100 of). From
 * `resourceVersion` on; "0" first sends every existing pod as ADDED.
 */
function openWatch(lab: Lab, onLine: (line: string) => void, resourceVersion = '0'): () => void {
  const req = https.get(`${lab.server.url}/api/v1/namespaces/default/pods?watch=1&resourceVersion=${resourceVersion}`,
    { headers: { Authorization: `Bearer ${lab.token}` }, ca: lab.ca }, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) { onLine(buf.slice(0, nl)); buf = buf.slice(nl + 1); }
      });
    });
  req.on('error', () => {});
  return () => req.destroy();
}

const benchPod = (name: string): KubeObject => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app: 'bench' } },
  spec: { schedulerName: 'bench-unscheduled', containers: [{ name: 'web', image: 'nginx:1.25' }] },
});

/** Creates `count` pods from 32 concurrent clients. The load generator shares this machine's two
 * cores with the server, so the server's own CPU per write is reported too. */
async function createPods(lab: Lab, prefix: string, count: number) {
  const latencies: number[] = [];
  const ackedAt = new Map<string, number>();
  let next = 0;
  const cpuBefore = cpuSeconds(lab.pid);
  const started = performance.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    const client = new KubeClient({ server: lab.server.url, token: lab.token, ca: lab.ca });
    for (let i = next++; i < count; i = next++) {
      const t0 = performance.now();
      await client.create(pods, 'default', benchPod(`${prefix}-${i}`));
      const t1 = performance.now();
      latencies.push(t1 - t0);
      ackedAt.set(`${prefix}-${i}`, t1);
    }
    client.close();
  }));
  latencies.sort((a, b) => a - b);
  return { latencies, ackedAt, perS: count / ((performance.now() - started) / 1000), cpuMs: ((cpuSeconds(lab.pid) - cpuBefore) * 1000) / count };
}

async function throughput(lab: Lab) {
  const seenAt = new Map<string, number>();
  const closers = [openWatch(lab, (line) => {
    const event = JSON.parse(line) as { type: string; object: KubeObject };
    if (event.type === 'ADDED') seenAt.set(event.object.metadata.name!, performance.now());
  })];
  await sleep(300);
  log(`creating ${totalWrites} pods from ${clients} clients...`);
  const a = await createPods(lab, 'bench', totalWrites);
  await sleep(500);
  // Delivery: when the watcher saw a write, from when its writer got the 201 (often first: 0).
  const delivery = [...a.ackedAt].map(([name, t]) => Math.max(0, (seenAt.get(name) ?? Infinity) - t)).sort((x, y) => x - y);
  log(`  ${a.perS.toFixed(0)} writes/s, p50 ${percentile(a.latencies, 0.5).toFixed(2)} ms, p99 ${percentile(a.latencies, 0.99).toFixed(2)} ms; server CPU ${a.cpuMs.toFixed(3)} ms per write`);
  log(`  watcher delivery after ack: p50 ${percentile(delivery, 0.5).toFixed(2)} ms, p99 ${percentile(delivery, 0.99).toFixed(2)} ms`);
  await sleep(1000);
  const rss = rssMb(lab.pid);
  log(`  server RSS holding ${totalWrites} pods: ${rss.toFixed(0)} MB`);

  let received = 0;
  const admin = new KubeClient({ server: lab.server.url, token: lab.token, ca: lab.ca });
  const now = (await admin.list(pods, 'default', { limit: 1 })).metadata.resourceVersion;
  admin.close();
  // From the current revision: these watchers measure the cost of new events, not a 10,000-pod replay.
  for (let i = 1; i < watchers; i++) closers.push(openWatch(lab, () => { received++; }, now));
  await sleep(1000);
  const fanoutWrites = Math.round(totalWrites / 2);
  log(`creating ${fanoutWrites} more pods with ${watchers} watchers open...`);
  const b = await createPods(lab, 'fanout', fanoutWrites);
  await sleep(1000);
  closers.forEach((close) => close());
  log(`  ${b.perS.toFixed(0)} writes/s, p50 ${percentile(b.latencies, 0.5).toFixed(2)} ms, p99 ${percentile(b.latencies, 0.99).toFixed(2)} ms; server CPU ${b.cpuMs.toFixed(3)} ms per write; watchers received ${received} events`);
  return { a, b, delivery, rss };
}

async function unloadedWatchLatency(lab: Lab): Promise<number[]> {
  const client = new KubeClient({ server: lab.server.url, token: lab.token, ca: lab.ca });
  const latencies: number[] = [];
  let resolveSeen: (() => void) | undefined;
  let sentAt = 0;
  const close = openWatch(lab, (line) => { if (line.includes('"quiet-')) { latencies.push(performance.now() - sentAt); resolveSeen?.(); } });
  await sleep(300);
  for (let i = 0; i < 200; i++) {
    const seen = new Promise<void>((r) => { resolveSeen = r; });
    sentAt = performance.now();
    await client.create(pods, 'default', benchPod(`quiet-${i}`));
    await seen;
  }
  close();
  client.close();
  latencies.sort((a, b) => a - b);
  log(`  one writer, one watcher: create -> event p50 ${percentile(latencies, 0.5).toFixed(2)} ms, p99 ${percentile(latencies, 0.99).toFixed(2)} ms (includes the create's own round trip)`);
  return latencies;
}

async function idleDiskBytesPerHour(lab: Lab): Promise<number> {
  log(`idle lab: ${idleNodes} nodes renewing Leases every 2 s and posting Node status every 60 s, for ${idleSeconds} s...`);
  const nodeClients = Array.from({ length: idleNodes }, () => new KubeClient({ server: lab.server.url, token: lab.token, ca: lab.ca }));
  await Promise.all(nodeClients.map(async (c, i) => {
    await c.create(nodes, undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name: `idle-${i}` }, status: { conditions: [{ type: 'Ready', status: 'True' }] } });
    await c.create(leases, 'kube-node-lease', { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: `idle-${i}` }, spec: { holderIdentity: `idle-${i}`, renewTime: new Date().toISOString() } });
  }));
  await sleep(3000);
  const before = writeBytes(lab.pid);
  const started = Date.now();
  const postStatus = (c: KubeClient, i: number) => void c.patch(nodes, undefined, `idle-${i}`,
    { status: { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: new Date().toISOString() }] } }, 'merge', 'status').catch(() => {});
  const timers: NodeJS.Timeout[] = [];
  nodeClients.forEach((c, i) => {
    timers.push(setInterval(() => void c.patch(leases, 'kube-node-lease', `idle-${i}`, { spec: { renewTime: new Date().toISOString() } }).catch(() => {}), 2000));
    // Each node posts its status once a minute, the nodes spread evenly over the minute.
    timers.push(setTimeout(() => { postStatus(c, i); timers.push(setInterval(() => postStatus(c, i), 60_000)); }, (i * 60_000) / idleNodes));
  });
  await sleep(idleSeconds * 1000);
  timers.forEach(clearTimeout);
  const written = writeBytes(lab.pid) - before;
  const perHour = written * (3_600_000 / (Date.now() - started));
  nodeClients.forEach((c) => c.close());
  log(`  ${written} bytes written in ${idleSeconds} s: ${(perHour / 1024 / 1024).toFixed(2)} MiB per idle hour`);
  return perHour;
}

/** Runs `phase` on a fresh server, which is stopped (and its data removed) whatever happens. */
async function onFreshServer<T>(phase: (lab: Lab) => Promise<T>): Promise<T> {
  const lab = await startLab();
  try {
    return await phase(lab);
  } finally {
    await stopLab(lab);
  }
}

const { a, b, delivery, rss, quiet } = await onFreshServer(async (lab) => ({ ...await throughput(lab), quiet: await unloadedWatchLatency(lab) }));
const perHour = await onFreshServer(idleDiskBytesPerHour);

console.log([
  `writes=${totalWrites}`, `clients=${clients}`, `writes_per_s=${a.perS.toFixed(0)}`,
  `write_p50_ms=${percentile(a.latencies, 0.5).toFixed(2)}`, `write_p99_ms=${percentile(a.latencies, 0.99).toFixed(2)}`,
  `server_cpu_ms_per_write=${a.cpuMs.toFixed(3)}`, `watch_delivery_p99_ms=${percentile(delivery, 0.99).toFixed(2)}`,
  `unloaded_watch_p99_ms=${percentile(quiet, 0.99).toFixed(2)}`, `rss_mb_10k_objects=${rss.toFixed(0)}`,
  `watchers=${watchers}`, `fanout_writes_per_s=${b.perS.toFixed(0)}`, `fanout_write_p99_ms=${percentile(b.latencies, 0.99).toFixed(2)}`,
  `idle_disk_bytes_per_hour=${perHour.toFixed(0)}`,
].join(' '));
