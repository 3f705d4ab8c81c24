// The agent's side of the metrics API: counters from the engine's stats answer, rates from two
// readings, and the report the pusher sends.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { readingFrom, workingSetBytes, type ContainerReading, type ContainerStatsSource } from '../../agent/metrics/container-stats.ts';
import { MetricsPusher } from '../../agent/metrics/metrics-pusher.ts';
import { NodeUsageReader, coresBetween, parseProcStat, readCpuTemperature, workingSetFromMeminfo } from '../../agent/metrics/node-usage-reader.ts';
import { UsageSampler, cpuNanoCores } from '../../agent/metrics/usage-sampler.ts';
import { labelKeys } from '../../agent/runtime/types.ts';
import type { UsageReport } from '../../control-plane/api/node-usage.ts';

const labels = { [labelKeys.namespace]: 'default', [labelKeys.pod]: 'web-1', [labelKeys.uid]: 'u1', [labelKeys.container]: 'web' };
const reading = (over: Partial<ContainerReading>): ContainerReading => ({
  namespace: 'default', pod: 'web-1', uid: 'u1', container: 'web', id: 'c1', cpuUsageNs: 0, memoryWorkingSetBytes: 1000, readAtMs: 0, ...over,
});

describe('engine counters', () => {
  test('working set is usage less inactive file pages, on cgroup v1 and v2, never below zero', () => {
    assert.equal(workingSetBytes({ usage: 100 * 2 ** 20, stats: { total_inactive_file: 30 * 2 ** 20, cache: 40 * 2 ** 20 } }), 70 * 2 ** 20);
    assert.equal(workingSetBytes({ usage: 100, stats: { inactive_file: 40 } }), 60);
    assert.equal(workingSetBytes({ usage: 100, stats: { total_inactive_file: 500 } }), 100, 'an inactive count above usage is ignored, as Docker does');
    assert.equal(workingSetBytes({ usage: 100 }), 100);
    assert.equal(workingSetBytes({}), undefined, 'a stopped container has no usage');
  });

  test('a reading takes the pod from the labels and the engine\'s read time, or ours when the engine gives none', () => {
    const r = readingFrom(labels, 'c1', { read: '2026-12-02T07:00:00.5Z', cpu_stats: { cpu_usage: { total_usage: 123 } }, memory_stats: { usage: 10, stats: { total_inactive_file: 4 } } }, 42);
    assert.deepEqual(r, { namespace: 'default', pod: 'web-1', uid: 'u1', container: 'web', id: 'c1', cpuUsageNs: 123, memoryWorkingSetBytes: 6, readAtMs: Date.parse('2026-12-02T07:00:00.5Z') });
    assert.equal(readingFrom(labels, 'c1', { cpu_stats: { cpu_usage: { total_usage: 1 } }, memory_stats: { usage: 1 } }, 42, 7000)?.createdAtMs, 7000);
    assert.equal(readingFrom(labels, 'c1', { read: '0001-01-01T00:00:00Z', cpu_stats: { cpu_usage: { total_usage: 1 } }, memory_stats: { usage: 1 } }, 42)?.readAtMs, 42);
    assert.equal(readingFrom(labels, 'c1', { cpu_stats: {}, memory_stats: { usage: 1 } }, 42), undefined);
    assert.equal(readingFrom({}, 'c1', { cpu_stats: { cpu_usage: { total_usage: 1 } }, memory_stats: { usage: 1 } }, 42), undefined, 'not a pod container');
  });
});

describe('the node, from the kernel', () => {
  const stat = (user: number, idle: number) => `cpu  ${user} 0 0 ${idle} 0 0 0 0 0 0\ncpu0 1 0 0 1 0 0 0 0 0 0\ncpu1 1 0 0 1 0 0 0 0 0 0\nintr 1\n`;
  test('CPU in cores between two /proc/stat readings, counting iowait as idle', () => {
    const a = parseProcStat(stat(100, 100))!;
    assert.deepEqual(a, { busy: 100, total: 200, cpus: 2 });
    // 50 busy ticks of 200 on 2 CPUs: half a core.
    assert.equal(coresBetween(a, parseProcStat(stat(150, 250))!), 0.5);
    assert.equal(coresBetween(a, a), undefined);
    assert.equal(parseProcStat('nonsense'), undefined);
  });

  test('memory in use is what is not free, less the inactive file cache', () => {
    const meminfo = 'MemTotal:       4000000 kB\nMemFree:        1000000 kB\nMemAvailable:   2500000 kB\nInactive(file):  500000 kB\n';
    assert.equal(workingSetFromMeminfo(meminfo), 2_500_000 * 1024);
    assert.equal(workingSetFromMeminfo('MemTotal: 1 kB\n'), undefined);
  });

  test('the temperature comes from the CPU\'s thermal zone, in degrees; none without zones', () => {
    const root = mkdtempSync(join(tmpdir(), 'labkube-thermal-'));
    try {
      for (const [zone, type, milli] of [['thermal_zone0', 'gpu-thermal', '40000'], ['thermal_zone1', 'cpu-thermal', '51250']]) {
        mkdirSync(join(root, zone!));
        writeFileSync(join(root, zone!, 'type'), `${type}\n`);
        writeFileSync(join(root, zone!, 'temp'), `${milli}\n`);
      }
      assert.equal(readCpuTemperature(root), 51.25);
      assert.equal(readCpuTemperature(join(root, 'missing')), undefined);
    } finally { rmSync(root, { recursive: true, force: true }); }
  });

  test('on this machine: a sample in well under a second, with memory below the total and CPU within the cores', async () => {
    const reader = new NodeUsageReader();
    await reader.read();
    const started = performance.now();
    const sample = await reader.read();
    assert.ok(performance.now() - started < 1000, `${performance.now() - started} ms`);
    assert.ok(sample.memoryBytes > 0 && sample.memoryBytes < (await import('node:os')).totalmem());
    assert.ok(sample.cpuCores >= 0 && sample.cpuCores <= (await import('node:os')).cpus().length);
  });
});

describe('rates', () => {
  test('CPU is the counter\'s growth over the time between readings, in nanocores', () => {
    // 0.25 s of CPU in 10 s: a quarter of a core... over ten seconds is 25 millicores.
    assert.equal(cpuNanoCores(reading({ cpuUsageNs: 1e9, readAtMs: 0 }), reading({ cpuUsageNs: 1.25e9, readAtMs: 10_000 })), 25_000_000);
    assert.equal(cpuNanoCores(undefined, reading({})), undefined);
    assert.equal(cpuNanoCores(reading({ cpuUsageNs: 5e9 }), reading({ cpuUsageNs: 1e9, readAtMs: 1000 })), undefined, 'a counter that went back');
    assert.equal(cpuNanoCores(reading({ readAtMs: 1000 }), reading({ readAtMs: 1000 })), undefined, 'the same reading twice');
  });

  test('a pod is reported once every one of its containers has two readings, containers sorted by name', () => {
    const sampler = new UsageSampler();
    assert.deepEqual(sampler.podUsage([reading({ id: 'a', container: 'web', cpuUsageNs: 0, readAtMs: 0 })]), [], 'one reading is no rate');
    // A second container appears: the pod waits for its second reading rather than show half its sum.
    assert.deepEqual(sampler.podUsage([
      reading({ id: 'a', container: 'web', cpuUsageNs: 1e9, readAtMs: 10_000 }),
      reading({ id: 'b', container: 'log', cpuUsageNs: 0, readAtMs: 10_000 }),
    ]), []);
    assert.deepEqual(sampler.podUsage([
      reading({ id: 'a', container: 'web', cpuUsageNs: 2e9, readAtMs: 20_000, memoryWorkingSetBytes: 5 }),
      reading({ id: 'b', container: 'log', cpuUsageNs: 1e8, readAtMs: 20_000, memoryWorkingSetBytes: 7 }),
    ]), [{ namespace: 'default', name: 'web-1', uid: 'u1', containers: [
      { name: 'log', cpuNanoCores: 10_000_000, memoryBytes: 7 }, { name: 'web', cpuNanoCores: 100_000_000, memoryBytes: 5 }] }]);
    // A restarted container has a new ID: its pod waits one round again; removed containers are forgotten.
    assert.deepEqual(sampler.podUsage([reading({ id: 'a2', container: 'web', cpuUsageNs: 0, readAtMs: 30_000 }), reading({ id: 'b', container: 'log', cpuUsageNs: 2e8, readAtMs: 30_000 })]), []);
  });

  test('a container created within the last minute is measured from its creation at its first reading; an older one waits', () => {
    const sampler = new UsageSampler();
    const young = reading({ id: 'y', pod: 'young', uid: 'u2', cpuUsageNs: 5e8, readAtMs: 110_000, createdAtMs: 100_000 });
    const old = reading({ id: 'o', pod: 'old', uid: 'u3', cpuUsageNs: 9e12, readAtMs: 110_000, createdAtMs: 110_000 - 86_400_000 });
    assert.deepEqual(sampler.podUsage([young, old]).map((p) => [p.name, p.containers[0]!.cpuNanoCores]), [['young', 50_000_000]]);
  });
});

describe('the pusher', () => {
  test('pushes the node\'s figures and the pods\' rates to its own node\'s route, with the window since the last sample', async () => {
    const sent: { method: string; path: string; body: UsageReport }[] = [];
    const client = { request: async (method: string, path: string, body?: unknown) => { sent.push({ method, path, body: body as UsageReport }); return undefined as never; } };
    let now = 1_000_000;
    let counter = 0;
    const stats: ContainerStatsSource = { read: async () => [reading({ cpuUsageNs: (counter += 3e9), readAtMs: now })] };
    const pusher = new MetricsPusher({
      client, nodeName: 'pi-1', stats, intervalMs: 15_000, clock: () => now,
      measureNode: async () => ({ cpuCores: 0.5, memoryBytes: 1.5 * 2 ** 30, cpuTemperature: 51.25 }),
    });
    await pusher.sample(); // what start() does: the first readings
    now += 15_000;
    const report = await pusher.push();
    assert.deepEqual(sent.map((s) => [s.method, s.path]), [['PUT', '/labkube/v1/nodes/pi-1/metrics']]);
    assert.deepEqual(report, {
      windowSeconds: 15, intervalSeconds: 15,
      node: { cpuNanoCores: 500_000_000, memoryBytes: 1.5 * 2 ** 30, cpuTemperature: 51.25 },
      pods: [{ namespace: 'default', name: 'web-1', uid: 'u1', containers: [{ name: 'web', cpuNanoCores: 200_000_000, memoryBytes: 1000 }] }],
    });
  });

  test('a failed push is retried one interval later, without throwing out of the loop', async () => {
    let attempts = 0;
    const client = { request: async () => { attempts++; throw new Error('ECONNREFUSED'); } };
    const pusher = new MetricsPusher({ client, nodeName: 'pi-1', intervalMs: 20, measureNode: async () => ({ cpuCores: 0, memoryBytes: 0 }) }).start();
    const deadline = Date.now() + 20_000;
    while (attempts < 3 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    pusher.stop();
    assert.ok(attempts >= 3, `${attempts} attempts`);
  });
});
