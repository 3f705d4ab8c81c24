// The scheduler against a real API server and hollow nodes (no Docker).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from '../../control-plane/api/core.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { eventually, startTestServer, type TestServer } from '../support/server.ts';
import { HollowNode, startHollowNodes } from '../support/hollow-node.ts';

const pods = resourceFor('', 'pods')!;
const events = resourceFor('', 'events')!;
const nodes = resourceFor('', 'nodes')!;

function pod(name: string, extra: Partial<Pod['spec']> = {}, labels: Record<string, string> = { app: name }): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, labels },
    spec: { containers: [{ name: 'c', image: 'nginx:latest' }], ...extra },
  };
}

describe('scheduler with hollow nodes', () => {
  let server: TestServer;
  let hollow: HollowNode[] = [];

  before(async () => {
    server = await startTestServer();
    hollow = await startHollowNodes(server, 3, { name: 'board', cpu: '2', memory: '1Gi' });
  });
  after(async () => {
    await Promise.all(hollow.map((h) => h.stop()));
    await server.stop();
  });

  const get = (name: string) => server.client.get<Pod & KubeObject>(pods, 'default', name);

  test('three replicas created in one burst land one per node', async () => {
    await Promise.all(['web-1', 'web-2', 'web-3'].map((n) => server.client.create(pods, 'default', pod(n, {}, { app: 'web' }))));
    const placed = await eventually(async () => {
      const all = await Promise.all(['web-1', 'web-2', 'web-3'].map(get));
      return all.every((p) => p.spec.nodeName) ? all.map((p) => p.spec.nodeName) : undefined;
    }, 60_000, 'all three pods bound');
    assert.equal(new Set(placed).size, 3, `placed on ${placed.join(', ')}`);
  });

  test('a bound pod gets PodScheduled=True and a Scheduled event', async () => {
    await server.client.create(pods, 'default', pod('scheduled-1'));
    const bound = await eventually(async () => { const p = await get('scheduled-1'); return p.spec.nodeName ? p : undefined; });
    assert.equal(bound.status?.conditions?.find((c) => c.type === 'PodScheduled')?.status, 'True');
    const event = await eventually(async () => (await server.client.list(events, 'default', { fieldSelector: 'involvedObject.name=scheduled-1,reason=Scheduled' })).items[0]);
    assert.equal(event.message, `Successfully assigned default/scheduled-1 to ${bound.spec.nodeName}`);
  });

  test('a pod that fits nowhere is Unschedulable with a counted message and a FailedScheduling event', async () => {
    await server.client.create(pods, 'default', pod('huge', { containers: [{ name: 'c', image: 'nginx', resources: { requests: { memory: '4Gi' } } }] }));
    const condition = await eventually(async () => (await get('huge')).status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False'));
    assert.equal(condition.reason, 'Unschedulable');
    assert.equal(condition.message, '0/3 nodes are available: 3 Insufficient memory.');
    const event = await eventually(async () => (await server.client.list(events, 'default', { fieldSelector: 'involvedObject.name=huge,reason=FailedScheduling' })).items[0]);
    assert.equal(event.type, 'Warning');
    assert.equal(event.message, '0/3 nodes are available: 3 Insufficient memory.');
  });

  test('an unschedulable pod is retried when a node that fits joins, not in a loop before', async () => {
    await server.client.create(pods, 'default', pod('needs-big', { nodeSelector: { size: 'big' } }));
    await eventually(async () => (await get('needs-big')).status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False'));
    const before = await get('needs-big');
    await new Promise((r) => setTimeout(r, 1_500));
    const still = await get('needs-big');
    assert.equal(still.metadata.resourceVersion, before.metadata.resourceVersion, 'no writes while nothing changed');
    const big = await new HollowNode({ server, name: 'big-board', labels: { size: 'big' } }).start();
    hollow.push(big);
    const bound = await eventually(async () => (await get('needs-big')).spec.nodeName, 60_000, 'pod bound after node joined');
    assert.equal(bound, 'big-board');
  });

  test('a cordoned node gets the unschedulable taint and no new pods; uncordoning removes the taint', async () => {
    const target = 'board-1';
    await server.client.patch(nodes, undefined, target, { spec: { unschedulable: true } });
    const tainted = await eventually(async () => {
      const n = await server.client.get(nodes, undefined, target);
      return (n.spec as { taints?: { key: string; effect: string }[] }).taints?.find((t) => t.key === 'node.kubernetes.io/unschedulable');
    }, 60_000, 'unschedulable taint');
    assert.equal(tainted.effect, 'NoSchedule');
    await server.client.create(pods, 'default', pod('only-board-1', { nodeSelector: { 'kubernetes.io/hostname': target } }));
    const condition = await eventually(async () => (await get('only-board-1')).status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False'));
    assert.match(condition.message!, /^0\/4 nodes are available: 1 node\(s\) were unschedulable, 3 node\(s\) didn't match Pod's node affinity\/selector\.$/);
    await server.client.patch(nodes, undefined, target, { spec: { unschedulable: false } });
    assert.equal(await eventually(async () => (await get('only-board-1')).spec.nodeName, 60_000, 'bound after uncordon'), target);
    const node = await server.client.get(nodes, undefined, target);
    assert.equal((node.spec as { taints?: unknown[] }).taints?.length ?? 0, 0);
  });
});
