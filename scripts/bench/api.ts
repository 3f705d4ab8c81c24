// API server benchmark (not a test): `npm run bench:api`.
//  1. 10,000 pod creates over HTTPS from 32 concurrent clients: writes/s and p99 latency, with a
//     watcher measuring delivery latency; then server RSS holding the 10,000 objects.
//  2. 5,000 more creates with 100 watchers open, each receiving every event (fan-out cost).
//  3. Create-to-watch-event latency with one writer and one watcher (no queueing).
//  4. Bytes written to disk per idle hour by a fresh server with 10 real agents and 10 pods
//     (idleLab below): the SD-card figure of issue 14, goal at most 1 MB per hour.
// Bench pods name a scheduler that does not exist, so the scheduler leaves them alone and the
// figures are the API server's (the controllers still watch them, as they would in a lab).
// The server runs as it ships: the bundle (`npm run bundle`) with the flags of scripts/start.sh.
// The last line holds the headline figures as name=value pairs, idle_disk_bytes_per_hour last.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import https from 'node:https';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor, resources } from '../../control-plane/api/resources.ts';
import { KubeClient } from '../../control-plane/client/client.ts';
import { freePort, kill, spawnServer, type ServerProcess } from '../../test/support/process.ts';
import { ensureAgentBundle } from './agent-launch.ts';

const totalWrites = Number(process.env.BENCH_WRITES ?? 10_000);
const clients = 32;
const watchers = 100;
// The issue's figure is for 10 nodes; BENCH_IDLE_NODES for a quick look.
const idleNodes = Number(process.env.BENCH_IDLE_NODES ?? 10);
// Three minutes: three SQLite compaction cycles and twelve metrics pushes per node. A quiet lab
// writes so rarely that a longer window mostly refines a figure near zero (BENCH_IDLE_SECONDS).
const idleSeconds = Number(process.env.BENCH_IDLE_SECONDS ?? 180);
// After the last pod is ready: its status, Endpoints, EndpointSlice and Events are written.
const settleSeconds = Number(process.env.BENCH_IDLE_SETTLE_SECONDS ?? 30);
// BENCH_IDLE_ONLY=1: only the idle lab (about five minutes), not the write benchmarks.
const idleOnly = process.env.BENCH_IDLE_ONLY === '1';
const pods = resourceFor('', 'pods')!;
const nodes = resourceFor('', 'nodes')!;
const deployments = resourceFor('apps', 'deployments')!;
const services = resourceFor('', 'services')!;

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

/**
 * The idle lab, as it runs: 10 real agents (the bundle, on this machine's Docker engine, each
 * its own process and node) with a Deployment of 10 nginx pods behind a Service, readiness
 * probes on. Once every pod is ready and the lab has settled, everything the server writes to
 * disk is counted for `idleSeconds`: bytes (/proc/PID/io write_bytes: the SQLite WAL, its
 * checkpoints, compaction), the store's revisions, and which objects were written (a watch on
 * every kind kept on disk), so a periodic writer names itself. Leases and metrics are in memory
 * and counted apart. The agents' own disk writes (on each board's card) are reported too.
 */
async function idleLab(lab: Lab) {
  const agentBundle = ensureAgentBundle();
  const admin = new KubeClient({ server: lab.server.url, token: lab.token, ca: lab.ca });
  const agents: ChildProcess[] = [];
  const agentDirs: string[] = [];
  const nodeNames = Array.from({ length: idleNodes }, (_, i) => `idle-${process.pid}-${i}`);
  const stopWatches: (() => void)[] = [];
  try {
    log(`idle lab: ${idleNodes} agents, a Deployment of ${idleNodes} nginx pods with readiness probes behind a Service...`);
    for (const name of nodeNames) {
      const dir = mkdtempSync(join(tmpdir(), `labkube-bench-agent-${name}-`));
      agentDirs.push(dir);
      agents.push(spawn(process.execPath, [agentBundle, '--server', lab.server.url, '--token-file', join(lab.dataDir, 'join-token'),
        '--name', name, '--node-ip', '127.0.0.1', '--data-dir', dir, '--port', '0', '--pod-network', 'none', '--log-level', 'warn'],
      { stdio: ['ignore', 'ignore', 'inherit'] }));
    }
    // Generous: ten agents starting at once on a busy 2-core machine take minutes, not seconds.
    await until(async () => (await admin.list(nodes)).items.filter((n) => ready(n)).length === idleNodes, 600_000, `${idleNodes} nodes Ready`,
      async () => `Ready: ${(await admin.list(nodes)).items.filter((n) => ready(n)).map((n) => n.metadata.name).join(', ') || 'none'}`);
    await admin.create(deployments, 'default', idleDeployment);
    await admin.create(services, 'default', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'idle-web' }, spec: { selector: { app: 'idle-web' }, ports: [{ port: 80 }] } });
    await until(async () => ((await admin.get(deployments, 'default', 'idle-web')).status as { readyReplicas?: number } | undefined)?.readyReplicas === idleNodes,
      600_000, `${idleNodes} pods ready`, async () => (await admin.list(pods, 'default')).items.map((p) => {
        const st = p.status as { phase?: string; conditions?: { type: string; status: string }[]; containerStatuses?: { state?: object }[] } | undefined;
        return `${p.metadata.name} on ${(p.spec as { nodeName?: string }).nodeName}: ${st?.phase} ready=${st?.conditions?.find((c) => c.type === 'Ready')?.status} ${JSON.stringify(st?.containerStatuses?.[0]?.state ?? {})}`;
      }).join('\n'));
    log(`  all ready; settling for ${settleSeconds} s`);
    await sleep(settleSeconds * 1000);

    // Attribution: every write to a kind kept on disk, by kind and object, from now on.
    const written = new Map<string, number>();
    const memoryWrites = { leases: 0 };
    for (const r of resources) {
      // A kind added to the sources after the server bundle was built is not served: not watched.
      const list = await admin.list(r).catch(() => undefined);
      if (!list) { log(`  (not watching ${r.plural}: the server does not serve it)`); continue; }
      const watching = new AbortController();
      stopWatches.push(() => watching.abort());
      void admin.watch(r, undefined, { resourceVersion: list.metadata.resourceVersion, allowWatchBookmarks: true }, (e) => {
        if (e.type === 'BOOKMARK') return;
        if (r.storage === 'memory') { memoryWrites.leases++; return; }
        const key = `${r.kind} ${e.object.metadata.namespace ? `${e.object.metadata.namespace}/` : ''}${e.object.metadata.name} ${e.type}`;
        written.set(key, (written.get(key) ?? 0) + 1);
      }, watching.signal).catch(() => {});
    }
    const revisionBefore = await storeRevision(lab);
    const bytesBefore = writeBytes(lab.pid);
    const agentBytesBefore = agents.map((a) => writeBytes(a.pid!));
    const started = Date.now();
    log(`  measuring for ${idleSeconds} s`);
    // Bytes per minute, beside the store's compaction point: history older than 5 minutes is
    // deleted once a minute (SQLite writes that delete, though it adds no revision), so the
    // minutes after the setup's writes cost more than the steady state after them.
    const perMinute: string[] = [];
    for (let minute = 0, last = bytesBefore; minute * 60 < idleSeconds; minute++) {
      await sleep(Math.min(60, idleSeconds - minute * 60) * 1000);
      const now = writeBytes(lab.pid);
      perMinute.push(`${Math.round((now - last) / 1024)} KiB (compacted to ${await storeRevision(lab, 'labkube_store_compacted_revision')})`);
      last = now;
    }
    log(`  server writes by minute: ${perMinute.join(', ')}`);
    const hours = (Date.now() - started) / 3_600_000;
    const bytes = writeBytes(lab.pid) - bytesBefore;
    const revisions = (await storeRevision(lab)) - revisionBefore;
    const agentBytes = agents.reduce((sum, a, i) => sum + writeBytes(a.pid!) - agentBytesBefore[i]!, 0) / agents.length;
    const byObject = [...written].sort((a, b) => b[1] - a[1]);
    log(`  server wrote ${bytes} bytes in ${idleSeconds} s: ${(bytes / hours / 1024 / 1024).toFixed(3)} MiB per idle hour; ` +
      `${revisions} store writes (${(revisions / hours).toFixed(0)} per hour); ${memoryWrites.leases} Lease renewals in memory`);
    log(`  objects written: ${byObject.length === 0 ? 'none' : byObject.slice(0, 15).map(([k, n]) => `${k} ×${n}`).join('; ')}`);
    log(`  each agent wrote ${(agentBytes / hours / 1024 / 1024).toFixed(3)} MiB per idle hour to its own disk`);
    return { perHour: bytes / hours, storeWritesPerHour: revisions / hours, agentPerHour: agentBytes / hours };
  } finally {
    stopWatches.forEach((stop) => stop());
    await admin.delete(deployments, 'default', 'idle-web').catch(() => {});
    await Promise.all(agents.map((a) => new Promise<void>((resolve) => {
      if (a.exitCode !== null || a.signalCode !== null) return resolve();
      a.once('exit', () => resolve());
      a.kill('SIGKILL');
    })));
    for (const name of nodeNames) {
      const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=io.labkube.node=${name}`], { encoding: 'utf8' }).trim();
      if (ids) execFileSync('docker', ['rm', '-f', ...ids.split('\n')], { stdio: 'ignore' });
    }
    agentDirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
    admin.close();
  }
}

const ready = (n: KubeObject) => ((n.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? [])
  .some((c) => c.type === 'Ready' && c.status === 'True');

/** labkube_store_revision (or another gauge) from /metrics: the disk store's revision, one per durable write. */
async function storeRevision(lab: Lab, metric = 'labkube_store_revision'): Promise<number> {
  const text = await new Promise<string>((resolve, reject) => {
    https.get(`${lab.server.url}/metrics`, { headers: { Authorization: `Bearer ${lab.token}` }, ca: lab.ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
  return Number(new RegExp(`^${metric} (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string, explain?: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(500);
  }
  const state = explain ? `\n${await explain().catch((err: Error) => err.message)}` : '';
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${state}`);
}

const idleDeployment: KubeObject = {
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'idle-web' },
  spec: {
    replicas: idleNodes, selector: { matchLabels: { app: 'idle-web' } },
    template: {
      metadata: { labels: { app: 'idle-web' } },
      spec: {
        containers: [{
          name: 'web', image: 'nginx:latest', imagePullPolicy: 'IfNotPresent',
          readinessProbe: { httpGet: { path: '/', port: 80 }, periodSeconds: 10 },
        }],
      },
    },
  },
};

/** Runs `phase` on a fresh server, which is stopped (and its data removed) whatever happens. */
async function onFreshServer<T>(phase: (lab: Lab) => Promise<T>): Promise<T> {
  const lab = await startLab();
  try {
    return await phase(lab);
  } finally {
    await stopLab(lab);
  }
}

const busy = idleOnly ? undefined : await onFreshServer(async (lab) => ({ ...await throughput(lab), quiet: await unloadedWatchLatency(lab) }));
const idle = await onFreshServer(idleLab);

console.log([
  ...(busy ? [
    `writes=${totalWrites}`, `clients=${clients}`, `writes_per_s=${busy.a.perS.toFixed(0)}`,
    `write_p50_ms=${percentile(busy.a.latencies, 0.5).toFixed(2)}`, `write_p99_ms=${percentile(busy.a.latencies, 0.99).toFixed(2)}`,
    `server_cpu_ms_per_write=${busy.a.cpuMs.toFixed(3)}`, `watch_delivery_p99_ms=${percentile(busy.delivery, 0.99).toFixed(2)}`,
    `unloaded_watch_p99_ms=${percentile(busy.quiet, 0.99).toFixed(2)}`, `rss_mb_10k_objects=${busy.rss.toFixed(0)}`,
    `watchers=${watchers}`, `fanout_writes_per_s=${busy.b.perS.toFixed(0)}`, `fanout_write_p99_ms=${percentile(busy.b.latencies, 0.99).toFixed(2)}`,
  ] : []),
  `idle_nodes=${idleNodes}`, `idle_seconds=${idleSeconds}`, `idle_store_writes_per_hour=${idle.storeWritesPerHour.toFixed(0)}`,
  `idle_agent_disk_bytes_per_hour=${idle.agentPerHour.toFixed(0)}`, `idle_disk_bytes_per_hour=${idle.perHour.toFixed(0)}`,
].join(' '));
