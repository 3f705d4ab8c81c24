// labctl top reads the metrics API (not Node annotations): figures a node pushed, against its
// allocatable, with the board from the Node and the temperature from NodeMetrics; <unknown>
// where nothing was pushed.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { usageReportPath, type UsageReport } from '../../control-plane/api/node-usage.ts';
import { runningPod, nodes, pods } from '../cli/fixtures.ts';
import { labctl, tableRows } from '../cli/run.ts';
import { startHollowNodes, type HollowNode } from '../support/hollow-node.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('labctl top', { timeout: 600_000 }, () => {
  let server: TestServer;
  let hollow: HollowNode[];
  before(async () => {
    server = await startTestServer();
    hollow = await startHollowNodes(server, 2, { name: 'pi', arch: 'arm64' });
    await runningPod(server.client, 'default', 'web-1', 'pi-1', { app: 'web' });
    await runningPod(server.client, 'default', 'web-2', 'pi-2', { app: 'web' });
    await server.client.patch(nodes, undefined, 'pi-1', { metadata: { annotations: { 'labkube.io/board-model': 'Raspberry Pi 4 Model B' } } });
    const web1 = await server.client.get<KubeObject>(pods, 'default', 'web-1');
    // As pi-1's agent would push it (the admin may push for any node; hollow nodes push nothing).
    const report: UsageReport = {
      windowSeconds: 15, intervalSeconds: 60, node: { cpuNanoCores: 1.5e9, memoryBytes: 2 * 2 ** 30, cpuTemperature: 48.25 },
      pods: [{ namespace: 'default', name: 'web-1', uid: web1.metadata.uid!, containers: [
        { name: 'main', cpuNanoCores: 0.2e9, memoryBytes: 48 * 2 ** 20 }, { name: 'log', cpuNanoCores: 0.05e9, memoryBytes: 16 * 2 ** 20 }] }],
    };
    await server.client.request('PUT', usageReportPath('pi-1'), report);
  });
  after(async () => {
    await Promise.all(hollow.map((h) => h.stop()));
    await server.stop();
  });

  test('top nodes: usage against allocatable, architecture, board and temperature; <unknown> for a node that pushed nothing', async () => {
    const out = await labctl(server.kubeconfigPath, ['top', 'nodes']);
    assert.equal(out.code, 0, out.stderr);
    const rows = tableRows(out.stdout);
    assert.deepEqual(rows[0], ['NAME', 'CPU(cores)', 'CPU%', 'MEMORY(bytes)', 'MEMORY%', 'ARCH', 'BOARD', 'TEMP']);
    // Hollow nodes have 4 CPUs and 8Gi allocatable.
    assert.deepEqual(rows[1], ['pi-1', '1500m', '38%', '2048Mi', '25%', 'arm64', 'Raspberry Pi 4 Model B', '48.3°C']);
    assert.deepEqual(rows[2], ['pi-2', '<unknown>', '<unknown>', '<unknown>', '<unknown>', 'arm64', '<unknown>', '<unknown>']);
    const one = tableRows((await labctl(server.kubeconfigPath, ['top', 'node', 'pi-2'])).stdout);
    assert.deepEqual(one.slice(1).map((r) => r[0]), ['pi-2']);
  });

  test('top pods: summed over containers, or one row each with --containers; <unknown> for a pod without figures', async () => {
    const rows = tableRows((await labctl(server.kubeconfigPath, ['top', 'pods'])).stdout);
    assert.deepEqual(rows, [['NAME', 'CPU(cores)', 'MEMORY(bytes)'], ['web-1', '250m', '64Mi'], ['web-2', '<unknown>', '<unknown>']]);
    const containers = tableRows((await labctl(server.kubeconfigPath, ['top', 'pods', '--containers', '-l', 'app=web'])).stdout);
    assert.deepEqual(containers, [['NAME', 'CONTAINER', 'CPU(cores)', 'MEMORY(bytes)'], ['web-1', 'main', '200m', '48Mi'], ['web-1', 'log', '50m', '16Mi'],
      ['web-2', '<unknown>', '<unknown>', '<unknown>']]);
    const one = tableRows((await labctl(server.kubeconfigPath, ['top', 'pod', 'web-1'])).stdout);
    assert.deepEqual(one[1], ['web-1', '250m', '64Mi']);
  });
});
