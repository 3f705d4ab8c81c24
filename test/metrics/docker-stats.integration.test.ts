// DockerContainerStats against the real engine (cgroup v1 here): one-shot stats of this node's
// running pod containers, the sandbox and other nodes' containers left out.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, test } from 'node:test';
import { DockerContainerStats } from '../../agent/metrics/container-stats.ts';
import { UsageSampler } from '../../agent/metrics/usage-sampler.ts';
import { labelKeys, sandboxContainerName } from '../../agent/runtime/types.ts';
import { removeContainersOf, uniqueName } from '../agent/support.ts';
import { eventually } from '../support/server.ts';

const node = uniqueName('stats');
const other = uniqueName('stats-other');
after(() => removeContainersOf([node, other]));

function run(nodeName: string, pod: string, container: string, command: string[]): string {
  const labels = { [labelKeys.node]: nodeName, [labelKeys.namespace]: 'default', [labelKeys.pod]: pod, [labelKeys.uid]: `uid-${pod}`, [labelKeys.container]: container };
  return execFileSync('docker', ['run', '-d', ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]), 'busybox:latest', ...command], { encoding: 'utf8' }).trim();
}

test('reads each running pod container of the node once, with a CPU counter and a working set, and nothing else', async () => {
  const spin = ['sh', '-c', 'while true; do i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; sleep 1; done'];
  const app = run(node, 'web', 'spin', spin);
  run(node, 'web', sandboxContainerName, ['sleep', '3600']);
  run(other, 'elsewhere', 'spin', ['sleep', '3600']);
  const stats = new DockerContainerStats();
  const first = await eventually(async () => {
    const readings = await stats.read(node);
    return readings.length === 1 && readings[0]!.cpuUsageNs > 0 ? readings : undefined;
  }, 60_000, 'a reading of the running container');
  const r = first[0]!;
  assert.equal(r.id, app);
  assert.deepEqual([r.namespace, r.pod, r.uid, r.container], ['default', 'web', 'uid-web', 'spin']);
  assert.ok(r.memoryWorkingSetBytes > 0 && r.memoryWorkingSetBytes < 64 * 2 ** 20, `${r.memoryWorkingSetBytes} bytes`);
  assert.ok(Math.abs(r.readAtMs - Date.now()) < 60_000, 'read time from the engine\'s clock');
  assert.ok(r.createdAtMs !== undefined && r.createdAtMs <= r.readAtMs);

  // Two readings a moment apart give a rate; the shell's loop uses some CPU, far below a core.
  const sampler = new UsageSampler();
  sampler.podUsage(first);
  const second = await eventually(async () => { const x = await stats.read(node); return x[0] && x[0].readAtMs > r.readAtMs + 1000 ? x : undefined; }, 60_000, 'a later reading');
  const [usage] = sampler.podUsage(second);
  assert.ok(usage, 'a rate from two readings');
  const cpu = usage.containers[0]!.cpuNanoCores;
  assert.ok(cpu > 0 && cpu < 2e9, `${cpu} nanocores`);
});
