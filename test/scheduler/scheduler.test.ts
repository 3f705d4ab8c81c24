// The scheduler's sync, called directly with informer fixtures and a recording client.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { Node, Pod } from '../../control-plane/api/core.ts';
import { ConflictError } from '../../control-plane/api/errors.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { Scheduler } from '../../control-plane/scheduler/scheduler.ts';
import { FakeInformer, makeNode, makePod, withRequests } from './fixtures.ts';

function setup(options: { failBind?: boolean } = {}) {
  const nodes = new FakeInformer<Node & KubeObject>();
  const pods = new FakeInformer<Pod & KubeObject>();
  const writes: { method: string; path: string; body: unknown }[] = [];
  const events: { reason: string; message: string }[] = [];
  let now = 1_000_000;
  const client = {
    request: async (method: string, path: string, body?: unknown) => {
      writes.push({ method, path, body });
      if (options.failBind) throw new ConflictError('already assigned');
      return undefined as never;
    },
    patch: async (_r: unknown, _ns: unknown, name: string, body: unknown) => { writes.push({ method: 'PATCH', path: name, body }); return undefined as never; },
  };
  const scheduler = new Scheduler({
    client, nodes, pods, recorder: { record: (_o, _t, reason, message) => events.push({ reason, message }) }, clock: () => now,
  });
  return { nodes, pods, writes, events, scheduler, advance: (ms: number) => { now += ms; } };
}

/** Takes every queued key, as the worker loop would, and returns them. */
async function drain(s: ReturnType<typeof setup>): Promise<string[]> {
  const keys: string[] = [];
  while (s.scheduler.queue.length > 0) {
    const key = (await s.scheduler.queue.get())!;
    keys.push(key);
    s.scheduler.queue.done(key);
  }
  return keys;
}

const bindTarget = (w: { body: unknown }) => (w.body as { target: { name: string } }).target.name;

describe('scheduler sync', () => {
  test('binds a pod through the binding subresource and records Scheduled', async () => {
    const s = setup();
    s.nodes.add(makeNode('a'));
    const pod = makePod();
    s.pods.add(pod);
    await s.scheduler.sync(`default/${pod.metadata.name}`);
    await s.scheduler.settle();
    assert.equal(s.writes.length, 1);
    assert.equal(s.writes[0]!.path, `/api/v1/namespaces/default/pods/${pod.metadata.name}/binding`);
    assert.equal(bindTarget(s.writes[0]!), 'a');
    assert.deepEqual(s.events, [{ reason: 'Scheduled', message: `Successfully assigned default/${pod.metadata.name} to a` }]);
  });

  test('a burst of three replicas assumed before any binding returns lands one per node', async () => {
    const s = setup();
    for (const n of ['a', 'b', 'c']) s.nodes.add(makeNode(n));
    const replicas = [1, 2, 3].map(() => makePod({}, { labels: { app: 'nginx' } }));
    replicas.forEach((p) => s.pods.add(p));
    for (const p of replicas) await s.scheduler.sync(`default/${p.metadata.name}`); // no informer confirmation in between
    await s.scheduler.settle();
    assert.deepEqual(s.writes.map(bindTarget).sort(), ['a', 'b', 'c']);
  });

  test('requests of assumed pods count, so a full node is not picked twice', async () => {
    const s = setup();
    s.nodes.add(makeNode('a', { cpu: '1' }));
    s.nodes.add(makeNode('b', { cpu: '1' }));
    const pods = [withRequests('800m'), withRequests('800m'), withRequests('800m')];
    pods.forEach((p) => s.pods.add(p));
    for (const p of pods) await s.scheduler.sync(`default/${p.metadata.name}`);
    await s.scheduler.settle();
    const binds = s.writes.filter((w) => w.method === 'POST');
    assert.deepEqual(binds.map(bindTarget).sort(), ['a', 'b']);
    const status = s.writes.find((w) => w.method === 'PATCH')!;
    const condition = (status.body as { status: { conditions: { type: string; reason: string; message: string }[] } }).status.conditions[0]!;
    assert.equal(condition.reason, 'Unschedulable');
    assert.equal(condition.message, '0/2 nodes are available: 2 Insufficient cpu.');
    assert.equal(s.events.filter((e) => e.reason === 'FailedScheduling').length, 1);
  });

  test('an unschedulable pod is parked: its own status change does not retry it, a node change does after backoff', async () => {
    const s = setup();
    const pod = makePod({ nodeSelector: { size: 'big' } });
    s.pods.add(pod);
    const key = `default/${pod.metadata.name}`;
    assert.deepEqual(await drain(s), [key]);
    await s.scheduler.sync(key);
    await s.scheduler.settle();
    s.pods.update({ ...pod, status: { conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable' }] } });
    assert.equal(s.scheduler.queue.length, 0, 'a status-only update leaves it parked');
    s.nodes.add(makeNode('big', { labels: { size: 'big' } }));
    assert.deepEqual(await drain(s), [key], 'a new node moves it back');
    const early = await s.scheduler.sync(key);
    assert.ok(early.requeueAfterMs! > 0 && early.requeueAfterMs! <= 1_000, 'backoff applies');
    s.advance(1_000);
    await s.scheduler.sync(key);
    await s.scheduler.settle();
    assert.equal(bindTarget(s.writes.find((w) => w.method === 'POST')!), 'big');
  });

  test('a node heartbeat does not retry parked pods, but becoming ready does', () => {
    const s = setup();
    const node = makeNode('a', { ready: 'False' });
    s.nodes.add(node);
    const pod = makePod();
    s.pods.add(pod);
    return drain(s).then(() => s.scheduler.sync(`default/${pod.metadata.name}`)).then(() => {
      const beat = structuredClone(node);
      beat.status!.conditions![0]!.lastHeartbeatTime = '2030-01-01T00:00:00Z';
      s.nodes.update(beat);
      assert.equal(s.scheduler.queue.length, 0);
      s.nodes.update(makeNode('a'));
      assert.equal(s.scheduler.queue.length, 1);
    });
  });

  test('a deleted bound pod frees its resources and retries parked pods', async () => {
    const s = setup();
    s.nodes.add(makeNode('a', { cpu: '1' }));
    const running = { ...withRequests('1'), spec: { ...withRequests('1').spec, nodeName: 'a' } };
    s.pods.add(running);
    const waiting = withRequests('1');
    s.pods.add(waiting);
    await drain(s);
    await s.scheduler.sync(`default/${waiting.metadata.name}`);
    assert.equal(s.writes.filter((w) => w.method === 'POST').length, 0);
    s.pods.remove(running);
    assert.equal(s.scheduler.queue.length, 1);
    s.advance(1_000);
    await s.scheduler.sync(`default/${waiting.metadata.name}`);
    await s.scheduler.settle();
    assert.equal(s.writes.filter((w) => w.method === 'POST').length, 1);
  });

  test('a failed binding forgets the assumed pod so its resources are free again', async () => {
    const s = setup({ failBind: true });
    s.nodes.add(makeNode('a', { cpu: '1' }));
    const pod = withRequests('1');
    s.pods.add(pod);
    await s.scheduler.sync(`default/${pod.metadata.name}`);
    await s.scheduler.settle();
    assert.equal(s.scheduler.cache.nodes.get('a')!.requested.milliCPU, 0);
    assert.equal(s.scheduler.cache.isAssumed(`default/${pod.metadata.name}`), false);
  });

  test('pods for another scheduler, already bound or being deleted are left alone', async () => {
    const s = setup();
    s.nodes.add(makeNode('a'));
    const other = makePod({ schedulerName: 'my-scheduler' });
    const deleting = makePod({}, { deletionTimestamp: '2030-01-01T00:00:00Z' });
    [other, deleting].forEach((p) => s.pods.add(p));
    for (const p of [other, deleting]) await s.scheduler.sync(`default/${p.metadata.name}`);
    assert.equal(s.writes.length, 0);
  });
});
