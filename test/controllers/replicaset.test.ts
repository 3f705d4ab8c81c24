// ReplicaSet controller: sync called directly on fixtures (a fake client records the writes).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NotFoundError } from '../../control-plane/api/errors.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import type { KubeClient } from '../../control-plane/client/client.ts';
import type { InformerHandlers } from '../../control-plane/client/informer.ts';
import type { EventType } from '../../control-plane/controllers/events.ts';
import type { PodObject } from '../../control-plane/controllers/pod-template.ts';
import {
  ReplicaSetController, calculateReplicaSetStatus, newPod, podsToDelete, slowStartBatch, type ReplicaSetObject,
} from '../../control-plane/controllers/replicaset.ts';

class FakeInformer<T extends KubeObject> {
  readonly items = new Map<string, T>();
  handlers: InformerHandlers<T>[] = [];
  constructor(objs: T[] = []) { objs.forEach((o) => this.set(o)); }
  set(obj: T): void { this.items.set(`${obj.metadata.namespace}/${obj.metadata.name}`, obj); }
  on(h: InformerHandlers<T>): this { this.handlers.push(h); return this; }
  get(key: string): T | undefined { return this.items.get(key); }
  list(): T[] { return [...this.items.values()]; }
  waitForSync(): Promise<void> { return Promise.resolve(); }
}

interface Write { verb: string; kind: string; name?: string; body?: unknown; subresource?: string }

/** Records writes; creates succeed with a generated name unless `failCreates` is set. */
function fakeClient(options: { failCreates?: boolean; live?: Map<string, KubeObject> } = {}) {
  const writes: Write[] = [];
  let n = 0;
  const client = {
    async create(r: { kind: string }, _ns: string, obj: KubeObject) {
      writes.push({ verb: 'create', kind: r.kind, body: obj });
      if (options.failCreates) throw new Error('pods "x" is forbidden: exceeded quota');
      return { ...obj, metadata: { ...obj.metadata, name: `${obj.metadata.generateName}${++n}`, uid: `uid-${n}` } };
    },
    async update(r: { kind: string }, obj: KubeObject, subresource?: string) {
      writes.push({ verb: 'update', kind: r.kind, name: obj.metadata.name!, body: obj, ...(subresource && { subresource }) });
      return obj;
    },
    async patch(r: { kind: string }, _ns: string, name: string, body: unknown) {
      writes.push({ verb: 'patch', kind: r.kind, name, body });
      return {};
    },
    async delete(r: { kind: string }, _ns: string, name: string) {
      writes.push({ verb: 'delete', kind: r.kind, name });
      return {};
    },
    async get(_r: unknown, ns: string, name: string) {
      const obj = options.live?.get(`${ns}/${name}`);
      if (!obj) throw new NotFoundError('not found');
      return obj;
    },
  };
  return { client: client as unknown as KubeClient, writes };
}

function recorder() {
  const events: { type: EventType; reason: string; message: string }[] = [];
  return { events, record: (_o: KubeObject, type: EventType, reason: string, message: string) => { events.push({ type, reason, message }); } };
}

const t0 = Date.parse('2026-01-01T00:00:00Z');
const at = (s: number) => new Date(t0 + s * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

function rs(replicas: number, extra: Partial<ReplicaSetObject['spec']> = {}): ReplicaSetObject {
  return {
    apiVersion: 'apps/v1', kind: 'ReplicaSet',
    metadata: { name: 'web-abc', namespace: 'default', uid: 'rs-uid', generation: 1, resourceVersion: '10' },
    spec: {
      replicas, selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web', tier: 'front' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } },
      ...extra,
    },
    status: {},
  };
}

interface PodFixture { node?: string; phase?: 'Pending' | 'Running' | 'Failed'; ready?: boolean; readySince?: number; created?: number;
  owned?: boolean; labels?: Record<string, string>; deleting?: boolean; restarts?: number }

function pod(name: string, f: PodFixture = {}): PodObject {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name, namespace: 'default', uid: `uid-${name}`, resourceVersion: '5', creationTimestamp: at(f.created ?? 0),
      labels: f.labels ?? { app: 'web', tier: 'front' },
      ...(f.owned !== false && { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: 'rs-uid', controller: true, blockOwnerDeletion: true }] }),
      ...(f.deleting && { deletionTimestamp: at(100) }),
    },
    spec: { containers: [{ name: 'c', image: 'nginx' }], ...(f.node && { nodeName: f.node }) },
    status: {
      phase: f.phase ?? (f.node ? 'Running' : 'Pending'),
      conditions: f.ready ? [{ type: 'Ready', status: 'True', lastTransitionTime: at(f.readySince ?? 0) }] : [],
      containerStatuses: [{ name: 'c', ready: !!f.ready, restartCount: f.restarts ?? 0, image: 'nginx', imageID: '' }],
    },
  };
}

function controller(set: ReplicaSetObject, pods: PodObject[], client = fakeClient()) {
  const events = recorder();
  const replicaSets = new FakeInformer([set]);
  const podInformer = new FakeInformer(pods);
  const c = new ReplicaSetController({ client: client.client, replicaSets, pods: podInformer, recorder: events, now: () => new Date(t0 + 3600_000) });
  return { c, events: events.events, writes: client.writes, podInformer };
}

describe('choosing pods to delete', () => {
  test('deletes unscheduled, then not-ready, then newest pods first', () => {
    const pods = [
      pod('old-ready', { node: 'n1', ready: true, readySince: 10, created: 1 }),
      pod('new-ready', { node: 'n1', ready: true, readySince: 10, created: 5 }),
      pod('not-ready', { node: 'n1', ready: false, created: 2 }),
      pod('unscheduled', { created: 0 }),
    ];
    assert.deepEqual(podsToDelete(pods, 4).map((p) => p.metadata.name), ['unscheduled', 'not-ready', 'new-ready', 'old-ready']);
    assert.deepEqual(podsToDelete(pods, 2).map((p) => p.metadata.name), ['unscheduled', 'not-ready']);
  });

  test('prefers pods ready for less time and pods with more restarts', () => {
    const pods = [
      pod('long-ready', { node: 'n1', ready: true, readySince: 1, created: 9 }),
      pod('just-ready', { node: 'n1', ready: true, readySince: 50, created: 0 }),
    ];
    assert.equal(podsToDelete(pods, 1)[0]!.metadata.name, 'just-ready');
    const restarted = [pod('calm', { node: 'n1', created: 9 }), pod('flappy', { node: 'n1', restarts: 4, created: 0 })];
    assert.equal(podsToDelete(restarted, 1)[0]!.metadata.name, 'flappy');
  });
});

describe('pure builders', () => {
  test('builds a pod named after the replica set, labelled from the template and controlled by it', () => {
    const p = newPod(rs(1));
    assert.equal(p.metadata.generateName, 'web-abc-');
    assert.deepEqual(p.metadata.labels, { app: 'web', tier: 'front' });
    assert.deepEqual(p.metadata.ownerReferences, [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: 'rs-uid', controller: true, blockOwnerDeletion: true }]);
    assert.equal((p.spec as { containers: unknown[] }).containers.length, 1);
  });

  test('counts fully labeled, ready and available pods, honouring minReadySeconds', () => {
    const set = rs(3, { minReadySeconds: 30 });
    const now = new Date(t0 + 100_000);
    const status = calculateReplicaSetStatus(set, [
      pod('a', { node: 'n', ready: true, readySince: 10 }),
      pod('b', { node: 'n', ready: true, readySince: 90 }),
      pod('c', { node: 'n', labels: { app: 'web' } }),
    ], undefined, now);
    assert.deepEqual({ ...status }, { replicas: 3, fullyLabeledReplicas: 2, readyReplicas: 2, availableReplicas: 1 });
  });

  test('creates in batches of 1, 2, 4 and stops at the first failing batch', async () => {
    let calls = 0;
    const result = await slowStartBatch(10, 1, async () => { if (++calls > 4) throw new Error('quota'); });
    assert.equal(result.succeeded, 3 + 1); // batches 1 and 2 succeed, the batch of 4 has one success before failures
    assert.equal(calls, 7);
    assert.match(result.error!.message, /quota/);
  });
});

describe('sync', () => {
  test('creates the missing pods and records SuccessfulCreate', async () => {
    const { c, events, writes } = controller(rs(3), [pod('p1', { node: 'n', ready: true })]);
    await c.sync('default/web-abc');
    const creates = writes.filter((w) => w.verb === 'create');
    assert.equal(creates.length, 2);
    assert.deepEqual(events.filter((e) => e.reason === 'SuccessfulCreate').map((e) => e.message), ['Created pod: web-abc-1', 'Created pod: web-abc-2']);
    const status = writes.find((w) => w.subresource === 'status')!.body as ReplicaSetObject;
    assert.equal(status.status?.replicas, 1);
    assert.equal(status.status?.observedGeneration, 1);
  });

  test('does not create more pods until it has seen the ones it created', async () => {
    const { c, writes, podInformer } = controller(rs(2), []);
    await c.sync('default/web-abc');
    await c.sync('default/web-abc'); // the cache still shows no pods: a naive controller would create two more
    assert.equal(writes.filter((w) => w.verb === 'create').length, 2);
    // Once both creations are observed the expectations are met and it acts again.
    for (const name of ['web-abc-1', 'web-abc-2']) {
      const p = pod(name);
      podInformer.set(p);
      podInformer.handlers.forEach((h) => h.add?.(p));
    }
    assert.equal(c.expectations.satisfied('default/web-abc'), true);
    await c.sync('default/web-abc');
    assert.equal(writes.filter((w) => w.verb === 'create').length, 2);
  });

  test('does not count terminating pods as replicas, and replaces failed ones', async () => {
    const { c, writes } = controller(rs(3), [
      pod('running', { node: 'n', ready: true }),
      pod('terminating', { node: 'n', ready: true, deleting: true }),
      pod('failed', { node: 'n', phase: 'Failed' }),
    ]);
    await c.sync('default/web-abc');
    assert.equal(writes.filter((w) => w.verb === 'create').length, 2);
    assert.equal(writes.filter((w) => w.verb === 'delete').length, 0);
  });

  test('scales down by deleting the least useful pods and records SuccessfulDelete', async () => {
    const { c, events, writes } = controller(rs(1), [
      pod('ready', { node: 'n', ready: true }),
      pod('pending', {}),
      pod('notready', { node: 'n' }),
    ]);
    await c.sync('default/web-abc');
    assert.deepEqual(writes.filter((w) => w.verb === 'delete').map((w) => w.name).sort(), ['notready', 'pending']);
    assert.equal(events.filter((e) => e.reason === 'SuccessfulDelete').length, 2);
  });

  test('adopts a matching orphan and releases a pod that no longer matches', async () => {
    const set = rs(2);
    const client = fakeClient({ live: new Map([['default/web-abc', set]]) });
    const { c, writes } = controller(set, [
      pod('orphan', { node: 'n', ready: true, owned: false }),
      pod('stray', { node: 'n', ready: true, labels: { app: 'other' } }),
      pod('mine', { node: 'n', ready: true }),
    ], client);
    await c.sync('default/web-abc');
    const patches = writes.filter((w) => w.verb === 'patch');
    const refsOf = (name: string) => (patches.find((w) => w.name === name)?.body as { metadata: { ownerReferences: unknown } }).metadata.ownerReferences;
    assert.deepEqual(refsOf('orphan'), [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: 'rs-uid', controller: true, blockOwnerDeletion: true }]);
    assert.equal(refsOf('stray'), null);
    assert.equal(writes.filter((w) => w.verb === 'create' || w.verb === 'delete').length, 0, 'two owned pods after adoption');
  });

  test('records FailedCreate and a ReplicaFailure condition when the API refuses pods', async () => {
    const client = fakeClient({ failCreates: true });
    const { c, events, writes } = controller(rs(2), [], client);
    await assert.rejects(c.sync('default/web-abc'), /exceeded quota/);
    assert.equal(writes.filter((w) => w.verb === 'create').length, 1, 'slow start: one attempt, not two');
    assert.equal(events[0]?.reason, 'FailedCreate');
    const status = writes.find((w) => w.subresource === 'status')!.body as ReplicaSetObject;
    assert.equal(status.status?.conditions?.[0]?.reason, 'FailedCreate');
    assert.equal(c.expectations.satisfied('default/web-abc'), true, 'a failed creation is not waited for');
  });

  test('does nothing for a replica set that no longer exists', async () => {
    const { c, writes } = controller(rs(1), []);
    await c.sync('default/gone');
    assert.deepEqual(writes, []);
  });
});
