import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Lease } from '../../control-plane/api/coordination.ts';
import type { Node, Pod } from '../../control-plane/api/core.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { NodeLifecycleController } from '../../control-plane/controllers/node-lifecycle.ts';
import { FakeInformer, makeNode } from '../scheduler/fixtures.ts';

const t0 = Date.parse('2030-01-01T00:00:00Z');

function setup(apiLeaseRenewTime: () => string) {
  const nodes = new FakeInformer<Node & KubeObject>();
  const leases = new FakeInformer<Lease & KubeObject>();
  const writes: string[] = [];
  let clock = t0;
  const client = {
    get: async (_r: unknown, ns: unknown, _name: string) => ({ metadata: { namespace: ns }, spec: { renewTime: apiLeaseRenewTime() } }) as never,
    update: async (_r: unknown, obj: KubeObject) => { writes.push('update'); return { ...obj, metadata: { ...obj.metadata, resourceVersion: '9' } } as never; },
    patch: async (_r: unknown, _ns: unknown, name: string) => { writes.push('patch'); return { ...nodes.get(name), metadata: { ...nodes.get(name)?.metadata, resourceVersion: '10' } } as never; },
    delete: async () => undefined as never,
  };
  const controller = new NodeLifecycleController({
    client, nodes, pods: new FakeInformer<Pod & KubeObject>(), leases, nodeMonitorGracePeriodMs: 6_000, defaultTolerationSeconds: 2,
    recorder: { record: () => undefined }, clock: () => clock,
  });
  nodes.add({ ...makeNode('a'), metadata: { ...makeNode('a').metadata, resourceVersion: '1' } } as Node & KubeObject);
  leases.add({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'a', namespace: 'kube-node-lease' }, spec: { renewTime: 'r1' } } as Lease & KubeObject);
  return { controller, writes, advance: (ms: number) => { clock += ms; } };
}

test('a node whose Lease the API has renewed, though the informer has not delivered it yet, is not marked NotReady', async () => {
  const s = setup(() => 'r2');
  s.advance(7_000);
  const result = await s.controller.syncNode('a');
  assert.deepEqual(s.writes, []);
  assert.equal(result.requeueAfterMs, 6_001);
});

test('a node whose Lease the API has not renewed either is marked NotReady after the grace period', async () => {
  const s = setup(() => 'r1');
  s.advance(7_000);
  await s.controller.syncNode('a');
  assert.deepEqual(s.writes, ['update', 'patch']);
});
