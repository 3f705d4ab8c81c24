// Issue 14, an SD-card friendly store: the agent writes its Node only when something a reader
// acts on changed, never just because time passed, and answers a change made by someone else
// (the controller's Unknown, an edited capacity) with its own status.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { NodeStatusReporter, buildNode, materialStatus, type NodeStatusOptions } from '../../agent/node-status.ts';
import type { Node } from '../../control-plane/api/core.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { KubeClient, type PatchKind } from '../../control-plane/client/client.ts';
import { FakeRuntime } from '../agent/fake-runtime.ts';
import { adminToken, buildTestApp } from '../support/app.ts';
import { eventually } from '../support/server.ts';

const nodes = resourceFor('', 'nodes')!;
const facts = { cores: 4, memoryBytes: 4 * 2 ** 30, arch: 'arm64', os: 'linux', osImage: 'Debian GNU/Linux 12 (bookworm)', kernel: '6.1', hostname: 'pi', boardModel: 'Raspberry Pi 4 Model B' };
const inputs = (name: string): NodeStatusOptions['inputs'] => ({ name, ip: '10.0.0.5', port: 10250, facts, reserve: { cpuMilli: 100, memoryBytes: 128 * 2 ** 20 }, maxPods: 110, runtimeVersion: '20.10' });

/** A client that counts the Node writes it sends. */
class CountingClient extends KubeClient {
  readonly writes: string[] = [];
  override patch<T extends KubeObject = KubeObject>(r: typeof nodes, namespace: string | undefined, name: string, patch: unknown, kind?: PatchKind, subresource?: string): Promise<T> {
    this.writes.push(subresource ?? 'metadata');
    return super.patch<T>(r, namespace, name, patch, kind, subresource);
  }
}

let app: FastifyInstance;
let url: string;
before(async () => {
  app = await buildTestApp();
  await app.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});
after(async () => { await app.close(); });

/** Registers the Node as the agent does, and starts a reporter sampling every 20 ms. */
async function reporterFor(name: string, runtime = new FakeRuntime()) {
  runtime.addImage('nginx:latest');
  const client = new CountingClient({ server: url, token: adminToken });
  const node = buildNode({ ...inputs(name), images: await runtime.listImages() });
  await client.create(nodes, undefined, node as KubeObject);
  let samples = 0;
  const counted = Object.assign(Object.create(runtime) as FakeRuntime, { listImages: async () => { samples++; return runtime.listImages(); } });
  const reporter = new NodeStatusReporter({ client, runtime: counted, inputs: inputs(name), sampleIntervalMs: 20, metrics: false }).start(node);
  const waitSamples = async (n: number) => { const target = samples + n; await eventually(() => samples >= target, 30_000, `${n} samples`); };
  return { client, reporter, runtime, waitSamples, stop: async () => { await reporter.stop(); client.close(); } };
}

describe('node status writes', () => {
  test('nothing changed: no write at all, however many samples (the heartbeat time alone is no change)', async () => {
    const r = await reporterFor('quiet');
    try {
      const revision = app.registry.store.revision();
      await r.waitSamples(25);
      assert.deepEqual(r.client.writes, []);
      assert.equal(app.registry.store.revision(), revision, 'the store saw no write');
    } finally { await r.stop(); }
  });

  test('an image pulled: one status and one annotation write, then quiet again', async () => {
    const r = await reporterFor('puller');
    try {
      r.runtime.addImage('busybox:latest');
      await eventually(async () => ((await r.client.get<Node & KubeObject>(nodes, undefined, 'puller')).status?.images ?? []).some((i) => i.names.includes('busybox:latest')), 30_000, 'the new image on the Node');
      const node = await r.client.get<Node & KubeObject>(nodes, undefined, 'puller');
      assert.match(node.metadata.annotations?.['labkube.io/image-platforms'] ?? '', /busybox:latest/);
      await r.waitSamples(10);
      assert.deepEqual(r.client.writes.sort(), ['metadata', 'status']);
    } finally { await r.stop(); }
  });

  test('the controller marks the node Unknown: the agent writes Ready at once', async () => {
    const r = await reporterFor('flaky');
    try {
      const admin = new KubeClient({ server: url, token: adminToken });
      const node = await admin.get<Node & KubeObject>(nodes, undefined, 'flaky');
      const conditions = node.status!.conditions!.map((c) => (c.type === 'Ready' ? { ...c, status: 'Unknown' as const, reason: 'NodeStatusUnknown' } : c));
      await admin.update(nodes, { ...node, status: { ...node.status, conditions } }, 'status');
      await eventually(async () => (await admin.get<Node & KubeObject>(nodes, undefined, 'flaky')).status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True', 30_000, 'Ready again');
      admin.close();
      assert.ok(r.client.writes.includes('status'));
    } finally { await r.stop(); }
  });

  test('capacity changed on the server: the agent writes back what it measures, once', async () => {
    const r = await reporterFor('edited');
    try {
      const admin = new KubeClient({ server: url, token: adminToken });
      await admin.patch(nodes, undefined, 'edited', { status: { capacity: { cpu: '64', memory: '1Ti', pods: '110' } } }, 'merge', 'status');
      await eventually(async () => (await admin.get<Node & KubeObject>(nodes, undefined, 'edited')).status?.capacity?.cpu === '4', 30_000, 'capacity written back');
      admin.close();
      await r.waitSamples(10);
      assert.equal(r.client.writes.filter((w) => w === 'status').length, 1);
    } finally { await r.stop(); }
  });
});

describe('what counts as a change', () => {
  const base = buildNode({ ...inputs('pi'), images: [] });
  const later = buildNode({ ...inputs('pi'), images: [] }, base);
  test('heartbeat and transition times do not; status, reason, capacity, addresses and the agent\'s labels do', () => {
    const ready = later.status!.conditions!.find((c) => c.type === 'Ready')!;
    ready.lastHeartbeatTime = '2030-01-01T00:00:00Z';
    ready.lastTransitionTime = '2030-01-01T00:00:00Z';
    assert.deepEqual(materialStatus(later), materialStatus(base));
    const changed = (edit: (n: Node) => void) => { const n = structuredClone(base); edit(n); return materialStatus(n); };
    assert.notDeepEqual(changed((n) => { n.status!.conditions![0]!.reason = 'KubeletNotReady'; }), materialStatus(base));
    assert.notDeepEqual(changed((n) => { n.status!.capacity!.memory = '1Ki'; }), materialStatus(base));
    assert.notDeepEqual(changed((n) => { n.status!.addresses![0]!.address = '10.0.0.6'; }), materialStatus(base));
    assert.notDeepEqual(changed((n) => { n.metadata.labels!['kubernetes.io/arch'] = 'amd64'; }), materialStatus(base));
  });

  test('labels someone else added (a role) and fields the server defaults are not the agent\'s to compare; a field it dropped is', () => {
    const server = structuredClone(base);
    server.metadata.labels!['node-role.kubernetes.io/worker'] = '';
    server.status!.nodeInfo = { ...server.status!.nodeInfo, bootID: '', systemUUID: '' };
    assert.deepEqual(materialStatus(server, base), materialStatus(base, base));
    delete server.status!.nodeInfo!.kernelVersion;
    assert.notDeepEqual(materialStatus(server, base), materialStatus(base, base));
  });

  test('usage is nowhere on the Node', () => {
    assert.deepEqual(Object.keys(base.metadata.annotations!).sort(), ['labkube.io/board-model', 'labkube.io/image-platforms']);
  });
});
