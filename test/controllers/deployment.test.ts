// Deployment controller: the rollout arithmetic as pure functions, and sync called directly on
// fixtures with a fake client that records the writes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NotFoundError } from '../../control-plane/api/errors.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { findCondition } from '../../control-plane/api/objects.ts';
import type { KubeClient } from '../../control-plane/client/client.ts';
import type { InformerHandlers } from '../../control-plane/client/informer.ts';
import { DeploymentController } from '../../control-plane/controllers/deployment.ts';
import {
  maxUnavailable, newReplicaSet, newReplicaSetReplicas, planOldReplicaSetScaleDown, planProportionalScale, replicaSetsToClean,
  resolveFenceposts, setNewReplicaSetAnnotations, type DeploymentObject,
} from '../../control-plane/controllers/deployment-rollout.ts';
import { calculateStatus, rolloutStatus } from '../../control-plane/controllers/deployment-status.ts';
import type { EventType } from '../../control-plane/controllers/events.ts';
import { computeHash, templatesEqualIgnoringHash, type PodObject } from '../../control-plane/controllers/pod-template.ts';
import type { ReplicaSetObject } from '../../control-plane/controllers/replicaset.ts';

const t0 = Date.parse('2026-01-01T00:00:00Z');
const at = (s: number) => new Date(t0 + s * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
const template = (image: string) => ({ metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image }] } });

function deployment(replicas: number, spec: Partial<DeploymentObject['spec']> = {}, status?: DeploymentObject['status']): DeploymentObject {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', uid: 'd-uid', generation: 1, resourceVersion: '1' },
    spec: { replicas, selector: { matchLabels: { app: 'web' } }, template: template('nginx:2'), revisionHistoryLimit: 10, progressDeadlineSeconds: 600, ...spec },
    ...(status && { status }),
  };
}

function replicaSet(name: string, image: string, replicas: number, available: number, created: number, revision?: number,
  extra: Record<string, string> = {}): ReplicaSetObject {
  const hash = computeHash(template(image));
  return {
    apiVersion: 'apps/v1', kind: 'ReplicaSet',
    metadata: {
      name, namespace: 'default', uid: `uid-${name}`, generation: 1, resourceVersion: '1', creationTimestamp: at(created),
      labels: { app: 'web', 'pod-template-hash': hash },
      annotations: { ...(revision !== undefined && { 'deployment.kubernetes.io/revision': String(revision) }), ...extra },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'd-uid', controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      replicas, selector: { matchLabels: { app: 'web', 'pod-template-hash': hash } },
      template: { metadata: { labels: { app: 'web', 'pod-template-hash': hash } }, spec: { containers: [{ name: 'c', image }] } },
    },
    status: { replicas, readyReplicas: available, availableReplicas: available, observedGeneration: 1 },
  };
}

describe('maxSurge and maxUnavailable', () => {
  test('rounds maxSurge up and maxUnavailable down', () => {
    assert.deepEqual(resolveFenceposts(deployment(10)), { maxSurge: 3, maxUnavailable: 2 });
    assert.deepEqual(resolveFenceposts(deployment(5, { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '30%', maxUnavailable: '30%' } } })),
      { maxSurge: 2, maxUnavailable: 1 });
  });

  test('makes maxUnavailable 1 when both would be 0', () => {
    assert.deepEqual(resolveFenceposts(deployment(3, { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: '10%' } } })),
      { maxSurge: 0, maxUnavailable: 1 });
  });

  test('allows no unavailability for Recreate and never more than replicas', () => {
    assert.equal(maxUnavailable(deployment(4, { strategy: { type: 'Recreate' } })), 0);
    assert.equal(maxUnavailable(deployment(2, { strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 5 } } })), 2);
  });
});

describe('rolling update steps', () => {
  test('grows the new replica set only up to replicas + maxSurge pods in all', () => {
    const d = deployment(4, { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } } });
    const old = replicaSet('web-old', 'nginx:1', 4, 4, 0, 1);
    const fresh = replicaSet('web-new', 'nginx:2', 0, 0, 10, 2);
    assert.equal(newReplicaSetReplicas(d, [old, fresh], fresh), 1);
    assert.equal(newReplicaSetReplicas(d, [{ ...old, spec: { ...old.spec, replicas: 5 } }, fresh], fresh), 0);
  });

  test('scales down the oldest replica set first', () => {
    const d = deployment(4, { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 2 } } });
    const oldest = replicaSet('web-a', 'nginx:0', 2, 2, 0, 1);
    const older = replicaSet('web-b', 'nginx:1', 2, 2, 5, 2);
    const fresh = replicaSet('web-c', 'nginx:2', 0, 0, 10, 3);
    const plan = planOldReplicaSetScaleDown(d, [older, oldest], fresh);
    assert.deepEqual([...plan], [['web-a', 0]]);
  });

  test('removes unavailable old replicas before available ones and keeps replicas - maxUnavailable available', () => {
    const d = deployment(4, { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } } });
    const old = replicaSet('web-old', 'nginx:1', 4, 3, 0, 1); // one pod not available
    const fresh = replicaSet('web-new', 'nginx:2', 1, 0, 10, 2);
    // 5 pods, minimum available 3, the new pod unavailable: at most 5 - 3 - 1 = 1 can go, the unavailable one.
    assert.deepEqual([...planOldReplicaSetScaleDown(d, [old], fresh)], [['web-old', 3]]);
    // Once the new pod is available, one more available old pod may go (4 available - 3 minimum).
    const ready = { ...fresh, status: { ...fresh.status, availableReplicas: 1 } };
    const healthyOld = replicaSet('web-old', 'nginx:1', 4, 4, 0, 1);
    assert.deepEqual([...planOldReplicaSetScaleDown(d, [healthyOld], ready)], [['web-old', 2]]);
  });

  test('scales replica sets in proportion to their size when the deployment is resized mid-rollout', () => {
    const annotations = { 'deployment.kubernetes.io/desired-replicas': '10', 'deployment.kubernetes.io/max-replicas': '13' };
    const old = replicaSet('web-old', 'nginx:1', 8, 8, 0, 1, annotations);
    const fresh = replicaSet('web-new', 'nginx:2', 5, 0, 10, 2, annotations);
    const plan = planProportionalScale(deployment(20), [old, fresh]); // allowed 20 + 5 surge = 25
    assert.deepEqual(Object.fromEntries(plan), { 'web-old': 15, 'web-new': 10 });
    const down = planProportionalScale(deployment(5), [old, fresh]); // allowed 5 + 2 = 7
    assert.equal(down.get('web-old')! + down.get('web-new')!, 7);
    assert.ok(down.get('web-old')! > down.get('web-new')!, 'the larger stays larger');
  });
});

describe('replica sets and revisions', () => {
  test('hashes equal templates equally and different templates differently', () => {
    assert.equal(computeHash(template('nginx:1')), computeHash(structuredClone(template('nginx:1'))));
    assert.notEqual(computeHash(template('nginx:1')), computeHash(template('nginx:2')));
    assert.notEqual(computeHash(template('nginx:1')), computeHash(template('nginx:1'), 1), 'a collision count gives a new name');
    assert.match(computeHash(template('nginx:1')), /^[bcdfghjklmnpqrstvwxz2456789]+$/);
  });

  test('builds the new replica set named and selected by the template hash', () => {
    const d = deployment(3, { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } } });
    const rs = newReplicaSet(d, 1, 4);
    const hash = computeHash(d.spec.template);
    assert.equal(rs.metadata.name, `web-${hash}`);
    assert.deepEqual(rs.spec.selector.matchLabels, { app: 'web', 'pod-template-hash': hash });
    assert.equal(rs.spec.template?.metadata?.labels?.['pod-template-hash'], hash);
    assert.equal(rs.spec.replicas, 1);
    assert.deepEqual(rs.metadata.annotations, {
      'deployment.kubernetes.io/revision': '4', 'deployment.kubernetes.io/desired-replicas': '3', 'deployment.kubernetes.io/max-replicas': '4',
    });
    assert.equal(rs.metadata.ownerReferences?.[0]?.uid, 'd-uid');
    assert.ok(templatesEqualIgnoringHash(rs.spec.template, d.spec.template));
  });

  test('gives a rollback target a new revision and keeps its old one in revision-history', () => {
    const rs = replicaSet('web-old', 'nginx:1', 0, 0, 0, 1);
    const changed = setNewReplicaSetAnnotations(deployment(3, { template: template('nginx:1') }), rs, 3, true);
    assert.equal(changed, true);
    assert.equal(rs.metadata.annotations?.['deployment.kubernetes.io/revision'], '3');
    assert.equal(rs.metadata.annotations?.['deployment.kubernetes.io/revision-history'], '1');
  });

  test('cleans up only scaled-down replica sets beyond revisionHistoryLimit, lowest revision first', () => {
    const d = deployment(1, { revisionHistoryLimit: 1 });
    const r1 = replicaSet('web-1', 'a', 0, 0, 0, 1);
    const r2 = replicaSet('web-2', 'b', 1, 1, 1, 2); // still has a pod: kept
    const r3 = replicaSet('web-3', 'c', 0, 0, 2, 3);
    assert.deepEqual(replicaSetsToClean(d, [r3, r2, r1]).map((rs) => rs.metadata.name), ['web-1']);
  });
});

describe('status and conditions', () => {
  test('reports MinimumReplicasUnavailable below replicas - maxUnavailable available', () => {
    const d = deployment(4);
    const s = calculateStatus(d, [replicaSet('web-new', 'nginx:2', 4, 2, 0, 1)], undefined, new Date(t0));
    assert.equal(findCondition(s.conditions, 'Available')?.reason, 'MinimumReplicasUnavailable');
    assert.equal(s.unavailableReplicas, 2);
    const ok = calculateStatus(d, [replicaSet('web-new', 'nginx:2', 4, 3, 0, 1)], undefined, new Date(t0));
    assert.equal(findCondition(ok.conditions, 'Available')?.reason, 'MinimumReplicasAvailable');
  });

  test('marks the rollout as ProgressDeadlineExceeded once nothing moved for progressDeadlineSeconds', () => {
    const rs = replicaSet('web-new', 'nginx:2', 2, 0, 0, 1);
    const progressing = { type: 'Progressing', status: 'True' as const, reason: 'ReplicaSetUpdated', message: '', lastUpdateTime: at(0), lastTransitionTime: at(0) };
    const d = deployment(2, { progressDeadlineSeconds: 10 }, { replicas: 2, updatedReplicas: 2, conditions: [progressing] });
    const early = rolloutStatus(d, [rs], rs, new Date(t0 + 5_000));
    assert.equal(findCondition(early.status.conditions, 'Progressing')?.reason, 'ReplicaSetUpdated');
    assert.ok(early.recheckAfterMs! >= 5_000 && early.recheckAfterMs! <= 6_000, `recheck in ${early.recheckAfterMs} ms`);
    const late = rolloutStatus(d, [rs], rs, new Date(t0 + 11_000));
    assert.equal(findCondition(late.status.conditions, 'Progressing')?.reason, 'ProgressDeadlineExceeded');
    assert.equal(findCondition(late.status.conditions, 'Progressing')?.status, 'False');
  });

  test('reports NewReplicaSetAvailable when every replica is updated and available', () => {
    const rs = replicaSet('web-new', 'nginx:2', 2, 2, 0, 1);
    const { status } = rolloutStatus(deployment(2), [rs], rs, new Date(t0));
    assert.equal(findCondition(status.conditions, 'Progressing')?.reason, 'NewReplicaSetAvailable');
    assert.equal(findCondition(status.conditions, 'Progressing')?.message, 'ReplicaSet "web-new" has successfully progressed.');
  });
});

// ---- sync on fixtures ----

class FakeInformer<T extends KubeObject> {
  readonly items = new Map<string, T>();
  constructor(objs: T[] = []) { objs.forEach((o) => this.items.set(`${o.metadata.namespace}/${o.metadata.name}`, o)); }
  on(_h: InformerHandlers<T>): this { return this; }
  get(key: string): T | undefined { return this.items.get(key); }
  list(): T[] { return [...this.items.values()]; }
  waitForSync(): Promise<void> { return Promise.resolve(); }
}

interface Write { verb: string; kind: string; name: string; body?: KubeObject; subresource?: string }

function harness(d: DeploymentObject, rss: ReplicaSetObject[]) {
  const writes: Write[] = [];
  const events: { type: EventType; reason: string; message: string }[] = [];
  let rv = 100;
  const client = {
    async create(r: { kind: string }, _ns: string, obj: KubeObject) {
      writes.push({ verb: 'create', kind: r.kind, name: obj.metadata.name!, body: obj });
      return { ...obj, metadata: { ...obj.metadata, uid: `uid-${obj.metadata.name}`, resourceVersion: String(++rv), creationTimestamp: at(100), generation: 1 } };
    },
    async update(r: { kind: string }, obj: KubeObject, subresource?: string) {
      writes.push({ verb: 'update', kind: r.kind, name: obj.metadata.name!, body: structuredClone(obj), ...(subresource && { subresource }) });
      return { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++rv) } };
    },
    async patch() { throw new Error('unexpected patch'); },
    async delete(r: { kind: string }, _ns: string, name: string) { writes.push({ verb: 'delete', kind: r.kind, name }); return {}; },
    async get(_r: unknown, _ns: string, name: string) {
      if (name === d.metadata.name) return d;
      throw new NotFoundError('not found');
    },
  };
  const c = new DeploymentController({
    client: client as unknown as KubeClient, deployments: new FakeInformer([d]), replicaSets: new FakeInformer(rss),
    pods: new FakeInformer<PodObject>([]), recorder: { record: (_o, type, reason, message) => { events.push({ type, reason, message }); } },
    now: () => new Date(t0 + 200_000),
  });
  return { c, writes, events };
}

describe('sync', () => {
  test('starts a rollout with a new replica set when the template changes', async () => {
    const old = replicaSet('web-old', 'nginx:1', 3, 3, 0, 1, { 'deployment.kubernetes.io/desired-replicas': '3', 'deployment.kubernetes.io/max-replicas': '4' });
    const d = deployment(3, {}, { observedGeneration: 1, replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3 });
    const { c, writes, events } = harness(d, [old]);
    await c.sync('default/web');
    const created = writes.find((w) => w.verb === 'create' && w.kind === 'ReplicaSet')?.body as ReplicaSetObject;
    assert.equal(created.metadata.name, `web-${computeHash(template('nginx:2'))}`);
    assert.equal(created.spec.replicas, 1, '3 replicas + 1 surge - 3 existing');
    assert.equal(created.metadata.annotations?.['deployment.kubernetes.io/revision'], '2');
    assert.deepEqual(events.map((e) => e.message), [`Scaled up replica set ${created.metadata.name} to 1`]);
    const revisionWrite = writes.find((w) => w.kind === 'Deployment' && !w.subresource);
    assert.equal(revisionWrite?.body?.metadata.annotations?.['deployment.kubernetes.io/revision'], '2');
    const status = writes.filter((w) => w.kind === 'Deployment' && w.subresource === 'status').at(-1)?.body as DeploymentObject;
    assert.equal(findCondition(status.status?.conditions, 'Progressing')?.reason, 'NewReplicaSetCreated');
  });

  test('rolls back by reusing the old replica set with a bumped revision', async () => {
    const annotations = { 'deployment.kubernetes.io/desired-replicas': '2', 'deployment.kubernetes.io/max-replicas': '3' };
    const v1 = replicaSet('web-v1', 'nginx:1', 0, 0, 0, 1, annotations);
    const v2 = replicaSet('web-v2', 'nginx:2', 2, 2, 10, 2, annotations);
    // `kubectl rollout undo` copies v1's template (without its hash label) into the deployment.
    const d = deployment(2, { template: template('nginx:1') });
    const { c, writes } = harness(d, [v1, v2]);
    await c.sync('default/web');
    assert.equal(writes.filter((w) => w.verb === 'create').length, 0, 'no new replica set');
    const rsWrite = writes.find((w) => w.kind === 'ReplicaSet' && w.name === 'web-v1')?.body as ReplicaSetObject;
    assert.equal(rsWrite.metadata.annotations?.['deployment.kubernetes.io/revision'], '3');
    assert.equal(rsWrite.metadata.annotations?.['deployment.kubernetes.io/revision-history'], '1');
  });

  test('sets Progressing to DeploymentPaused and starts no rollout while paused', async () => {
    const old = replicaSet('web-old', 'nginx:1', 3, 3, 0, 1, { 'deployment.kubernetes.io/desired-replicas': '3', 'deployment.kubernetes.io/max-replicas': '4' });
    const { c, writes } = harness(deployment(3, { paused: true }), [old]);
    await c.sync('default/web');
    assert.equal(writes.filter((w) => w.verb === 'create').length, 0);
    const status = writes.find((w) => w.subresource === 'status')?.body as DeploymentObject;
    const cond = findCondition(status.status?.conditions, 'Progressing');
    assert.deepEqual([cond?.status, cond?.reason], ['Unknown', 'DeploymentPaused']);
  });

  test('scales the only active replica set when the deployment is resized', async () => {
    const rs = replicaSet(`web-${computeHash(template('nginx:2'))}`, 'nginx:2', 3, 3, 0, 1,
      { 'deployment.kubernetes.io/desired-replicas': '3', 'deployment.kubernetes.io/max-replicas': '4' });
    const { c, writes, events } = harness(deployment(5, {}, { observedGeneration: 1, replicas: 3, updatedReplicas: 3, availableReplicas: 3 }), [rs]);
    await c.sync('default/web');
    const scaled = writes.find((w) => w.kind === 'ReplicaSet')?.body as ReplicaSetObject;
    assert.equal(scaled.spec.replicas, 5);
    assert.equal(scaled.metadata.annotations?.['deployment.kubernetes.io/desired-replicas'], '5');
    assert.deepEqual(events.map((e) => e.message), [`Scaled up replica set ${rs.metadata.name} to 5`]);
  });
});
