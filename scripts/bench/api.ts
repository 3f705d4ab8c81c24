// API server benchmark (not a test): `npm run bench:api`.
//  1. 10,000 pod creates over HTTPS from 32 concurrent clients: writes/s and p99 latency,
//     while 100 watchers stream every event; one of them measures delivery latency.
//  2. Server RSS holding the 10,000 objects.
//  3. Bytes written to disk per idle hour by a lab of 10 nodes heartbeating every 2 s (Leases,
//     kept in memory) and posting Node status every 60 s (what an agent does at most when idle).
// Bench pods name a scheduler that does not exist, so the scheduler leaves them alone and the
// figures are the API server's (the controllers still watch them, as they would in a lab).
// The idle phase runs on a fresh server, so it measures heartbeats and nothing left over.
// The last line holds the headline figures as name=value pairs.
import https from 'node:https';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { KubeClient } from '../../control-plane/client/client.ts';
import { freePort, kill, spawnServer } from '../../test/support/process.ts';

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

function procStatus(pid: number, field: string): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(field));
  return Number(line?.split(/\s+/)[1] ?? 0) * 1024;
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

/** A raw watch stream that only counts lines (the 99 background watchers) or times them (one). */
function openWatch(url: string, token: string, ca: string, onLine: (line: string) => void): () => void {
  const req = https.get(`${url}/api/v1/namespaces/default/pods?watch=1&resourceVersion=0`, { headers: { Authorization: `Bearer ${token}` }, ca }, (res) => {
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

/** Bytes a fresh server writes to disk per hour while 10 nodes heartbeat and post status. */
async function idleDiskBytesPerHour(): Promise<number> {
  const dataDir = mkdtempSync(join(tmpdir(), 'labkube-bench-idle-'));
  const server = await spawnServer(dataDir, await freePort());
  const pid = server.child.pid!;
  const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  const ca = readFileSync(join(dataDir, 'ca.crt'), 'utf8');
  try {
    log(`idle lab: ${idleNodes} nodes renewing Leases every 2 s and posting Node status every 60 s, for ${idleSeconds} s...`);
    const nodeClients = Array.from({ length: idleNodes }, () => new KubeClient({ server: server.url, token, ca }));
    await Promise.all(nodeClients.map(async (c, i) => {
      await c.create(nodes, undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name: `idle-${i}` }, status: { conditions: [{ type: 'Ready', status: 'True' }] } });
      await c.create(leases, 'kube-node-lease', { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: `idle-${i}` }, spec: { holderIdentity: `idle-${i}`, renewTime: new Date().toISOString() } });
    }));
    await new Promise((r) => setTimeout(r, 3000));
    const before = writeBytes(pid);
    const idleStart = Date.now();
    const timers = nodeClients.flatMap((c, i) => [
      setInterval(() => void c.patch(leases, 'kube-node-lease', `idle-${i}`, { spec: { renewTime: new Date().toISOString() } }).catch(() => {}), 2000),
      setInterval(() => void c.patch(nodes, undefined, `idle-${i}`, { status: { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: new Date().toISOString() }] } }, 'merge', 'status').catch(() => {}), 60_000),
    ]);
    await new Promise((r) => setTimeout(r, idleSeconds * 1000));
    timers.forEach(clearInterval);
    const written = writeBytes(pid) - before;
    const perHour = written * (3_600_000 / (Date.now() - idleStart));
    nodeClients.forEach((c) => c.close());
    log(`  ${written} bytes written in ${idleSeconds} s: ${(perHour / 1024 / 1024).toFixed(2)} MiB per idle hour`);
    return perHour;
  } finally {
    await kill(server, 'SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'labkube-bench-'));
  const server = await spawnServer(dataDir, await freePort());
  const pid = server.child.pid!;
  const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  const ca = readFileSync(join(dataDir, 'ca.crt'), 'utf8');
  try {
    // 100 watchers: 99 count events, one records when each pod's ADDED arrives.
    const seenAt = new Map<string, number>();
    let counted = 0;
    const closers = [openWatch(server.url, token, ca, (line) => {
      const event = JSON.parse(line) as { type: string; object: KubeObject };
      if (event.type === 'ADDED') seenAt.set(event.object.metadata.name!, performance.now());
    })];
    for (let i = 1; i < watchers; i++) closers.push(openWatch(server.url, token, ca, () => { counted++; }));
    await new Promise((r) => setTimeout(r, 500));

    log(`creating ${totalWrites} pods from ${clients} clients with ${watchers} watchers open...`);
    const latencies: number[] = [];
    const ackedAt = new Map<string, number>();
    let next = 0;
    const cpuBefore = cpuSeconds(pid);
    const started = performance.now();
    await Promise.all(Array.from({ length: clients }, async () => {
      const client = new KubeClient({ server: server.url, token, ca });
      for (let i = next++; i < totalWrites; i = next++) {
        const name = `bench-${i}`;
        const t0 = performance.now();
        await client.create(pods, 'default', { apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app: 'bench' } }, spec: { schedulerName: 'bench-unscheduled', containers: [{ name: 'web', image: 'nginx:1.25' }] } });
        const t1 = performance.now();
        latencies.push(t1 - t0);
        ackedAt.set(name, t1);
      }
      client.close();
    }));
    const elapsed = (performance.now() - started) / 1000;
    // The load generator shares this machine's cores with the server; the server's own CPU per
    // write says what it could sustain on a core of its own.
    const serverCpuMsPerWrite = ((cpuSeconds(pid) - cpuBefore) * 1000) / totalWrites;
    await new Promise((r) => setTimeout(r, 500));
    closers.forEach((close) => close());
    latencies.sort((a, b) => a - b);
    // Delivery latency: when the watcher saw the write, measured from when its writer got the
    // 201 (a watcher often sees it first, counted as 0).
    const delivery = [...ackedAt].map(([name, t]) => Math.max(0, (seenAt.get(name) ?? Infinity) - t)).sort((a, b) => a - b);
    const writesPerS = totalWrites / elapsed;
    log(`  ${writesPerS.toFixed(0)} writes/s, p50 ${percentile(latencies, 0.5).toFixed(2)} ms, p99 ${percentile(latencies, 0.99).toFixed(2)} ms; server CPU ${serverCpuMsPerWrite.toFixed(3)} ms per write (${(1000 / serverCpuMsPerWrite).toFixed(0)} writes/s per core)`);
    log(`  watcher delivery after ack: p50 ${percentile(delivery, 0.5).toFixed(2)} ms, p99 ${percentile(delivery, 0.99).toFixed(2)} ms; background watchers received ${counted} events`);

    // Unloaded write-to-watch latency: one writer, one watcher, so queueing does not hide it.
    const quiet: number[] = [];
    {
      const client = new KubeClient({ server: server.url, token, ca });
      let resolveSeen: (() => void) | undefined;
      let sendAt = 0;
      const close = openWatch(server.url, token, ca, (line) => { if (line.includes('"quiet-')) { quiet.push(performance.now() - sendAt); resolveSeen?.(); } });
      await new Promise((r) => setTimeout(r, 300));
      for (let i = 0; i < 200; i++) {
        const seen = new Promise<void>((r) => { resolveSeen = r; });
        sendAt = performance.now();
        await client.create(pods, 'default', { apiVersion: 'v1', kind: 'Pod', metadata: { name: `quiet-${i}` }, spec: { schedulerName: 'bench-unscheduled', containers: [{ name: 'web', image: 'nginx:1.25' }] } });
        await seen;
      }
      close();
      client.close();
      quiet.sort((a, b) => a - b);
      log(`  unloaded create -> watch event: p50 ${percentile(quiet, 0.5).toFixed(2)} ms, p99 ${percentile(quiet, 0.99).toFixed(2)} ms (includes the create's own round trip)`);
    }

    await new Promise((r) => setTimeout(r, 1000));
    const rssMb = procStatus(pid, 'VmRSS:') / 1024 / 1024;
    log(`  server RSS with ${totalWrites + 200} pods: ${rssMb.toFixed(0)} MB`);

    await kill(server, 'SIGTERM');
    const perHour = await idleDiskBytesPerHour();

    console.log(`writes=${totalWrites} clients=${clients} watchers=${watchers} writes_per_s=${writesPerS.toFixed(0)} write_p50_ms=${percentile(latencies, 0.5).toFixed(2)} write_p99_ms=${percentile(latencies, 0.99).toFixed(2)} server_cpu_ms_per_write=${serverCpuMsPerWrite.toFixed(3)} watch_delivery_p99_ms=${percentile(delivery, 0.99).toFixed(2)} unloaded_watch_p99_ms=${percentile(quiet, 0.99).toFixed(2)} rss_mb=${rssMb.toFixed(0)} idle_disk_bytes_per_hour=${perHour.toFixed(0)}`);
  } finally {
    await kill(server, 'SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
