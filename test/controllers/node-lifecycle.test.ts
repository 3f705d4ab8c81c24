// The node lifecycle controller's decisions and syncs, called directly with fixtures.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { Lease } from '../../control-plane/api/coordination.ts';
import type { Node, Pod, Taint } from '../../control-plane/api/core.ts';
import { NotFoundError } from '../../control-plane/api/errors.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { evictionTime, planNode } from '../../control-plane/controllers/node-health.ts';
import { NodeLifecycleController } from '../../control-plane/controllers/node-lifecycle.ts';
import { FakeInformer, makeNode, makePod } from '../scheduler/fixtures.ts';

const unreachable = 'node.kubernetes.io/unreachable';
const notReady = 'node.kubernetes.io/not-ready';
const now = '2030-01-01T00:00:10Z';
const t0 = Date.parse('2030-01-01T00:00:00Z');

describe('planNode', () => {
  test('a stale node becomes Unknown with upstream reason and message and gets the unreachable taint', () => {
    const plan = planNode(makeNode('a'), true, now);
    const ready = plan.conditions!.find((c) => c.type === 'Ready')!;
    assert.equal(ready.status, 'Unknown');
    assert.equal(ready.reason, 'NodeStatusUnknown');
    assert.equal(ready.message, 'Kubelet stopped posting node status.');
    assert.equal(ready.lastTransitionTime, now);
    assert.deepEqual(plan.taints, [{ key: unreachable, effect: 'NoExecute', timeAdded: now }]);
  });

  test('a node already Unknown and tainted needs no write, and its taint keeps its timeAdded', () => {
    const node = makeNode('a', { ready: 'Unknown', taints: [{ key: unreachable, effect: 'NoExecute', timeAdded: '2030-01-01T00:00:00Z' }] });
    const plan = planNode(node, true, now);
    assert.equal(plan.conditions, undefined);
    assert.equal(plan.taints, undefined);
  });

  test('an agent reporting Ready False gets the not-ready taint instead of unreachable', () => {
    const node = makeNode('a', { ready: 'False', taints: [{ key: unreachable, effect: 'NoExecute', timeAdded: now }] });
    assert.deepEqual(planNode(node, false, now).taints, [{ key: notReady, effect: 'NoExecute', timeAdded: now }]);
  });

  test('a fresh heartbeat removes the unreachable taint even before the agent posts Ready again', () => {
    const node = makeNode('a', { ready: 'Unknown', taints: [{ key: 'user', effect: 'NoSchedule' }, { key: unreachable, effect: 'NoExecute', timeAdded: now }] });
    const plan = planNode(node, false, now);
    assert.deepEqual(plan.taints, [{ key: 'user', effect: 'NoSchedule' }]);
    assert.equal(plan.conditions, undefined, 'only the agent sets Ready True');
  });

  test('a healthy node needs nothing', () => {
    assert.deepEqual(planNode(makeNode('a'), false, now), { ready: 'True' });
  });

  test('cordoning adds the unschedulable NoSchedule taint and uncordoning removes it', () => {
    assert.deepEqual(planNode(makeNode('a', { unschedulable: true }), false, now).taints, [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }]);
    const uncordoned = makeNode('a', { taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }] });
    assert.deepEqual(planNode(uncordoned, false, now).taints, []);
  });
});

describe('evictionTime', () => {
  const taint: Taint = { key: unreachable, effect: 'NoExecute', timeAdded: '2030-01-01T00:00:00Z' };
  const never = () => { throw new Error('timeAdded is set'); };

  test('a pod without a toleration is evicted after the default toleration', () => {
    assert.equal(evictionTime(makePod(), [taint], 2, never), t0 + 2_000);
  });

  test("a pod's own tolerationSeconds wins over the default", () => {
    const pod = makePod({ tolerations: [{ key: unreachable, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 }] });
    assert.equal(evictionTime(pod, [taint], 2, never), t0 + 30_000);
  });

  test('a pod tolerating the taint without tolerationSeconds stays forever', () => {
    const pod = makePod({ tolerations: [{ key: unreachable, operator: 'Exists', effect: 'NoExecute' }] });
    assert.equal(evictionTime(pod, [taint], 2, never), undefined);
  });

  test('an untolerated NoExecute taint of any other key evicts at once', () => {
    const custom: Taint = { key: 'maintenance', effect: 'NoExecute', timeAdded: '2030-01-01T00:00:00Z' };
    assert.equal(evictionTime(makePod(), [custom], 2, never), t0);
  });

  test('NoSchedule taints never evict, and a taint without timeAdded counts from when it was first seen', () => {
    assert.equal(evictionTime(makePod(), [{ key: 'k', effect: 'NoSchedule' }], 2, never), undefined);
    assert.equal(evictionTime(makePod(), [{ key: notReady, effect: 'NoExecute' }], 2, () => 5_000), 7_000);
  });
});

function setup(options: { orphanQuarantineMs?: number } = {}) {
  const nodes = new FakeInformer<Node & KubeObject>();
  const pods = new FakeInformer<Pod & KubeObject>();
  const leases = new FakeInformer<Lease & KubeObject>();
  const writes: { verb: string; name: string; body?: unknown }[] = [];
  const events: { reason: string; message: string }[] = [];
  let clock = t0;
  let rv = 100;
  const existingNodes = new Set<string>();
  const client = {
    get: async (_r: unknown, _ns: unknown, name: string) => {
      if (!existingNodes.has(name)) throw new NotFoundError(`nodes "${name}" not found`);
      return undefined as never;
    },
    update: async (_r: unknown, obj: KubeObject, sub?: string) => {
      writes.push({ verb: `update${sub ? `/${sub}` : ''}`, name: obj.metadata.name!, body: obj });
      return { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++rv) } } as never;
    },
    patch: async (_r: unknown, _ns: unknown, name: string, body: unknown, _kind?: string, sub?: string) => {
      writes.push({ verb: `patch${sub ? `/${sub}` : ''}`, name, body });
      return { ...nodes.get(name), metadata: { ...nodes.get(name)?.metadata, name, resourceVersion: String(++rv) } } as never;
    },
    delete: async (_r: unknown, _ns: unknown, name: string, body: unknown) => { writes.push({ verb: 'delete', name, body }); return undefined as never; },
  };
  const controller = new NodeLifecycleController({
    client, nodes, pods, leases, nodeMonitorGracePeriodMs: 6_000, defaultTolerationSeconds: 2,
    recorder: { record: (_o, _t, reason, message) => events.push({ reason, message }) }, clock: () => clock,
    ...(options.orphanQuarantineMs !== undefined && { orphanQuarantineMs: options.orphanQuarantineMs }),
  });
  const lease = (name: string, renewTime: string): Lease & KubeObject =>
    ({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: 'kube-node-lease' }, spec: { renewTime } });
  const withRv = (n: Node & KubeObject) => ({ ...n, metadata: { ...n.metadata, resourceVersion: '1' } });
  return { nodes, pods, leases, writes, events, controller, lease, withRv, existingNodes, advance: (ms: number) => { clock += ms; } };
}

describe('node lifecycle controller sync', () => {
  test('a healthy node is requeued for when its grace period would end after the last lease renewal', async () => {
    const s = setup();
    s.nodes.add(s.withRv(makeNode('a')));
    s.leases.add(s.lease('a', '2030-01-01T00:00:00.000000Z'));
    s.advance(2_000);
    const result = await s.controller.syncNode('a');
    assert.equal(s.writes.length, 0);
    assert.equal(result.requeueAfterMs, 4_001);
  });

  test('a renewed lease postpones the deadline; a missed one marks the node Unknown and tainted', async () => {
    const s = setup();
    s.nodes.add(s.withRv(makeNode('a')));
    s.leases.add(s.lease('a', 'r1'));
    s.advance(4_000);
    s.leases.update(s.lease('a', 'r2'));
    s.advance(4_000);
    assert.equal((await s.controller.syncNode('a')).requeueAfterMs, 2_001);
    s.advance(2_000);
    await s.controller.syncNode('a');
    assert.deepEqual(s.writes.map((w) => w.verb), ['update/status', 'patch']);
    const status = (s.writes[0]!.body as Node).status!.conditions!.find((c) => c.type === 'Ready')!;
    assert.equal(status.status, 'Unknown');
    const taints = (s.writes[1]!.body as { spec: { taints: Taint[] } }).spec.taints;
    assert.equal(taints[0]!.key, unreachable);
    assert.deepEqual(s.events, [{ reason: 'NodeNotReady', message: 'Node a status is now: NodeNotReady' }]);
  });

  test('the node is judged by when this controller saw the lease change, not by the agent\'s clock', async () => {
    const s = setup();
    s.nodes.add(s.withRv(makeNode('a')));
    s.leases.add(s.lease('a', '1970-01-01T00:00:00.000000Z')); // a Pi that booted without a real-time clock
    s.advance(1_000);
    await s.controller.syncNode('a');
    assert.equal(s.writes.length, 0);
  });

  test('a pod on an unreachable node is marked, recorded and force-deleted once its toleration ends', async () => {
    const s = setup();
    const timeAdded = '2030-01-01T00:00:00Z';
    s.nodes.add(s.withRv(makeNode('a', { ready: 'Unknown', taints: [{ key: unreachable, effect: 'NoExecute', timeAdded }] })));
    const pod = makePod({ nodeName: 'a' });
    s.pods.add(pod);
    s.advance(1_000);
    assert.equal((await s.controller.syncPod(`default/${pod.metadata.name}`)).requeueAfterMs, 1_000);
    s.advance(1_000);
    await s.controller.syncPod(`default/${pod.metadata.name}`);
    assert.deepEqual(s.writes.map((w) => w.verb), ['patch/status', 'delete']);
    const condition = (s.writes[0]!.body as { status: Pod['status'] }).status!.conditions!.find((c) => c.type === 'DisruptionTarget')!;
    assert.equal(condition.status, 'True');
    assert.equal(condition.reason, 'DeletionByTaintManager');
    assert.deepEqual(s.writes[1]!.body, { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid } });
    assert.deepEqual(s.events, [{ reason: 'TaintManagerEviction', message: `Marking for deletion Pod default/${pod.metadata.name}` }]);
    await s.controller.syncPod(`default/${pod.metadata.name}`);
    assert.equal(s.writes.length, 2, 'a lagging cache does not evict it twice');
  });

  test('a pod on a not-ready node (agent alive) is deleted gracefully, for the agent to stop it', async () => {
    const s = setup();
    s.nodes.add(s.withRv(makeNode('a', { ready: 'False', taints: [{ key: notReady, effect: 'NoExecute', timeAdded: '2030-01-01T00:00:00Z' }] })));
    const pod = makePod({ nodeName: 'a' });
    s.pods.add(pod);
    s.advance(2_000);
    await s.controller.syncPod(`default/${pod.metadata.name}`);
    assert.deepEqual(s.writes[1]!.body, { preconditions: { uid: pod.metadata.uid } });
  });

  test('a pod already being deleted on an unreachable node is force-deleted (pod GC)', async () => {
    const s = setup();
    s.nodes.add(s.withRv(makeNode('a', { ready: 'Unknown', taints: [{ key: unreachable, effect: 'NoExecute', timeAdded: '2030-01-01T00:00:00Z' }] })));
    const pod = makePod({ nodeName: 'a' }, { deletionTimestamp: '2030-01-01T00:00:30Z' });
    s.pods.add(pod);
    await s.controller.syncPod(`default/${pod.metadata.name}`);
    assert.deepEqual(s.writes, [{ verb: 'delete', name: pod.metadata.name, body: { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid } } }]);
  });

  test('a pod bound to a node that no longer exists is force-deleted after the quarantine', async () => {
    const s = setup({ orphanQuarantineMs: 5_000 });
    const pod = makePod({ nodeName: 'gone' });
    s.pods.add(pod);
    const key = `default/${pod.metadata.name}`;
    assert.equal((await s.controller.syncPod(key)).requeueAfterMs, 5_000);
    s.advance(5_000);
    await s.controller.syncPod(key);
    assert.deepEqual(s.writes, [{ verb: 'delete', name: pod.metadata.name, body: { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid } } }]);
  });

  test('a pod whose node the API still has is not collected, even if the cache lacks it', async () => {
    const s = setup({ orphanQuarantineMs: 0 });
    s.existingNodes.add('late');
    const pod = makePod({ nodeName: 'late' });
    s.pods.add(pod);
    await s.controller.syncPod(`default/${pod.metadata.name}`);
    assert.equal(s.writes.length, 0);
  });
});
