// Stock kubectl top (1.27 and 1.33, the oldest and newest labkube supports) against labkube's
// metrics.k8s.io, fed by a real agent that reads Docker's counters of real containers: the whole
// pipe of issue 11's "Metrics", and labctl top reading the same API. Needs the Docker engine and
// the offline images (scripts/build-images.sh).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Node, Pod } from '../../control-plane/api/core.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import type { MetricsList, NodeMetrics, PodMetrics } from '../../control-plane/api/node-usage.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { removeContainersOf, startAgentProcess, uniqueName, type AgentProcess } from '../agent/support.ts';
import { labctl, runCommand, tableRows } from '../cli/run.ts';
import { eventually, startTestServer, type TestServer } from '../support/server.ts';

const nodes = resourceFor('', 'nodes')!;
const pods = resourceFor('', 'pods')!;
const namespaces = resourceFor('', 'namespaces')!;
const kubectlBinary = (version: string) => `/usr/lib/google-cloud-sdk/bin/kubectl.${version}`;
const versions = ['1.27', '1.33'];

// A little CPU, not a busy loop: a few thousand shell additions a second is a few millicores, enough
// to see a non-zero figure without taking a core from a shared 2-core machine.
const spin = ['sh', '-c', 'while true; do i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; sleep 1; done'];
const pod = (name: string, nodeName: string, labels: Record<string, string>, containers: { name: string; image: string; command?: string[] }[]): KubeObject => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, labels },
  spec: { nodeName, terminationGracePeriodSeconds: 0, containers: containers.map((c) => ({ ...c, imagePullPolicy: 'IfNotPresent' })) },
});
/** "12m" -> 12, "345Mi" -> 345. */
const number = (cell: string | undefined) => Number(/^(\d+)/.exec(cell ?? '')?.[1] ?? NaN);

describe('kubectl top, fed by a real agent', { timeout: 600_000 }, () => {
  let server: TestServer;
  let agent: AgentProcess;
  const node = uniqueName('top');
  const kubectl = (version: string, args: string[]) => runCommand(kubectlBinary(version), args, { env: { KUBECONFIG: server.kubeconfigPath }, timeoutMs: 60_000 });

  before(async () => {
    for (const v of versions) assert.ok(existsSync(kubectlBinary(v)), `kubectl ${v} at ${kubectlBinary(v)}`);
    server = await startTestServer();
    agent = startAgentProcess(server, node, '127.0.0.1');
    await eventually(async () => (await server.client.get<Node & KubeObject>(nodes, undefined, node)).status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      120_000, 'the agent\'s Node Ready');
    await server.client.create(namespaces, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'lab' } });
    await server.client.create(pods, 'default', pod('spinner', node, { app: 'spinner' }, [{ name: 'spin', image: 'busybox:latest', command: spin }]));
    await server.client.create(pods, 'lab', pod('duo', node, { app: 'duo' }, [{ name: 'web', image: 'nginx:latest' }, { name: 'spin', image: 'busybox:latest', command: spin }]));
    for (const [ns, name] of [['default', 'spinner'], ['lab', 'duo']] as const) {
      await eventually(async () => (await server.client.get<Pod & KubeObject>(pods, ns, name)).status?.phase === 'Running', 180_000, `${ns}/${name} Running`);
    }
    // Pushes come every 15 s: wait for one that carries both pods and the node.
    await eventually(async () => {
      const list = await server.client.request<MetricsList<PodMetrics>>('GET', '/apis/metrics.k8s.io/v1beta1/pods');
      return list.items.length === 2 && list.items.every((m) => m.containers.length > 0);
    }, 120_000, 'PodMetrics of both pods');
  });

  after(async () => {
    await agent?.kill('SIGKILL');
    removeContainersOf([node]);
    await server?.stop();
  });

  test('the agent\'s figures are plausible: node memory below its capacity, nginx\'s working set in megabytes, a spinning shell above zero CPU', async () => {
    const nm = await server.client.request<NodeMetrics>('GET', `/apis/metrics.k8s.io/v1beta1/nodes/${node}`);
    const n = await server.client.get<Node & KubeObject>(nodes, undefined, node);
    const memoryKi = Number(nm.usage.memory.replace(/Ki$/, ''));
    assert.ok(memoryKi > 0 && memoryKi < Number(String(n.status!.capacity!.memory).replace(/Ki$/, '')), `${nm.usage.memory} of ${n.status!.capacity!.memory}`);
    assert.match(nm.usage.cpu, /^\d+n$/);
    const window = Number(/^(\d+(?:\.\d+)?)s$/.exec(nm.window)?.[1]);
    assert.ok(window >= 10 && window <= 30, `window ${nm.window}: about the 15 s push interval`);
    const duo = await server.client.request<PodMetrics>('GET', '/apis/metrics.k8s.io/v1beta1/namespaces/lab/pods/duo');
    assert.deepEqual(duo.containers.map((c) => c.name).sort(), ['spin', 'web'], 'the sandbox is not one of the pod\'s containers');
    const web = duo.containers.find((c) => c.name === 'web')!;
    const webKi = Number(web.usage.memory.replace(/Ki$/, ''));
    assert.ok(webKi > 256 && webKi < 512 * 1024, `nginx working set ${web.usage.memory}`);
    const spinner = await server.client.request<PodMetrics>('GET', '/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/spinner');
    assert.ok(Number(spinner.containers[0]!.usage.cpu.replace(/n$/, '')) > 0, `spinner CPU ${spinner.containers[0]!.usage.cpu}`);
    // Nothing of it is on the Node: usage never reaches the store.
    assert.deepEqual(Object.keys(n.metadata.annotations ?? {}).filter((k) => /usage|temperature/.test(k)), []);
  });

  for (const version of versions) {
    test(`kubectl ${version} top nodes and top node NAME`, async () => {
      const all = await kubectl(version, ['top', 'nodes']);
      assert.equal(all.code, 0, all.stderr);
      const rows = tableRows(all.stdout);
      // 1.33 writes the percentages as CPU(%) and MEMORY(%); earlier versions as CPU% and MEMORY%.
      assert.deepEqual(rows[0]!.slice(0, 5).map((h) => h.replace('(%)', '%')), ['NAME', 'CPU(cores)', 'CPU%', 'MEMORY(bytes)', 'MEMORY%']);
      const row = rows.find((r) => r[0] === node)!;
      assert.ok(row, all.stdout);
      assert.match(row[1]!, /^\d+m$/);
      assert.match(row[2]!, /^\d+%$/);
      assert.match(row[3]!, /^\d+Mi$/);
      assert.ok(number(row[3]) > 0);
      const one = await kubectl(version, ['top', 'node', node]);
      assert.equal(one.code, 0, one.stderr);
      assert.equal(tableRows(one.stdout)[1]![0], node);
      const selected = await kubectl(version, ['top', 'nodes', '-l', `kubernetes.io/hostname=${node}`]);
      assert.equal(tableRows(selected.stdout).length, 2, selected.stdout + selected.stderr);
    });

    test(`kubectl ${version} top pods, -A, -l, --containers and by name`, async () => {
      const inDefault = await kubectl(version, ['top', 'pods']);
      assert.equal(inDefault.code, 0, inDefault.stderr);
      const rows = tableRows(inDefault.stdout);
      assert.deepEqual(rows[0], ['NAME', 'CPU(cores)', 'MEMORY(bytes)']);
      assert.deepEqual(rows.slice(1).map((r) => r[0]), ['spinner']);
      assert.match(rows[1]![1]!, /^\d+m$/);
      assert.match(rows[1]![2]!, /^\d+Mi$/);

      const all = tableRows((await kubectl(version, ['top', 'pods', '-A'])).stdout);
      assert.deepEqual(all[0], ['NAMESPACE', 'NAME', 'CPU(cores)', 'MEMORY(bytes)']);
      assert.deepEqual(all.slice(1).map((r) => `${r[0]}/${r[1]}`).sort(), ['default/spinner', 'lab/duo']);
      const duo = all.find((r) => r[1] === 'duo')!;
      assert.ok(number(duo[3]) >= 1, `nginx and a shell take at least a mebibyte: ${duo[3]}`);

      const containers = await kubectl(version, ['top', 'pods', '-n', 'lab', '--containers']);
      assert.equal(containers.code, 0, containers.stderr);
      const crows = tableRows(containers.stdout);
      assert.deepEqual(crows[0], ['POD', 'NAME', 'CPU(cores)', 'MEMORY(bytes)']);
      assert.deepEqual(crows.slice(1).map((r) => `${r[0]}/${r[1]}`).sort(), ['duo/spin', 'duo/web']);

      const labelled = tableRows((await kubectl(version, ['top', 'pods', '-A', '-l', 'app=duo'])).stdout);
      assert.deepEqual(labelled.slice(1).map((r) => r[1]), ['duo']);
      const one = await kubectl(version, ['top', 'pod', 'duo', '-n', 'lab']);
      assert.equal(one.code, 0, one.stderr);
      assert.equal(tableRows(one.stdout)[1]![0], 'duo');
      const missing = await kubectl(version, ['top', 'pod', 'nope']);
      assert.notEqual(missing.code, 0);
      assert.match(missing.stderr, /not found/);
    });
  }

  test('labctl top nodes and pods read the same API, with the board\'s architecture', async () => {
    const nodeRows = tableRows((await labctl(server.kubeconfigPath, ['top', 'nodes'])).stdout);
    assert.deepEqual(nodeRows[0], ['NAME', 'CPU(cores)', 'CPU%', 'MEMORY(bytes)', 'MEMORY%', 'ARCH', 'BOARD', 'TEMP']);
    const row = nodeRows.find((r) => r[0] === node)!;
    assert.match(row[1]!, /^\d+m$/);
    assert.match(row[3]!, /^\d+Mi$/);
    assert.equal(row[5], process.arch === 'x64' ? 'amd64' : process.arch);
    const podRows = tableRows((await labctl(server.kubeconfigPath, ['top', 'pods', '-A'])).stdout);
    assert.deepEqual(podRows.slice(1).map((r) => `${r[0]}/${r[1]}`).sort(), ['default/spinner', 'lab/duo']);
    assert.ok(podRows.slice(1).every((r) => /^\d+m$/.test(r[2]!) && /^\d+Mi$/.test(r[3]!)), podRows.join('\n'));
  });
});
