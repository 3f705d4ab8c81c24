// The garbage collector against a real control plane: the three propagation policies, dependents
// whose owner is gone, and the Event TTL.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isNotFound } from '../../control-plane/api/errors.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { timestamp } from '../../control-plane/api/objects.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import type { KubeClient } from '../../control-plane/client/client.ts';
import { Informer } from '../../control-plane/client/informer.ts';
import { GarbageCollector } from '../../control-plane/controllers/garbage-collector.ts';
import type { PodObject } from '../../control-plane/controllers/pod-template.ts';
import { useCluster } from '../support/cluster.ts';
import { eventually } from '../support/server.ts';

const pods = resourceFor('', 'pods')!;
const events = resourceFor('', 'events')!;
const deployments = resourceFor('apps', 'deployments')!;
const replicasets = resourceFor('apps', 'replicasets')!;

function deployment(name: string, replicas: number): KubeObject {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name },
    spec: {
      replicas, selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image: 'busybox:1' }] } },
    },
  };
}

async function exists(client: KubeClient, r: typeof pods, name: string): Promise<boolean> {
  try { await client.get(r, 'default', name); return true; } catch (err) { if (isNotFound(err)) return false; throw err; }
}

const podsOf = async (client: KubeClient, app: string) => (await client.list<PodObject>(pods, 'default', { labelSelector: `app=${app}` })).items;
const replicaSetsOf = async (client: KubeClient, app: string) => (await client.list(replicasets, 'default', { labelSelector: `app=${app}` })).items;

async function runningDeployment(client: KubeClient, name: string, replicas: number): Promise<void> {
  await client.create(deployments, 'default', deployment(name, replicas));
  await eventually(async () => {
    const d = await client.get(deployments, 'default', name);
    return (d.status as { availableReplicas?: number } | undefined)?.availableReplicas === replicas;
  }, 15_000, `${name} to be available`);
}

describe('garbage collector against a real server', () => {
  const cluster = useCluster(1);

  test('background deletion of a deployment removes its replica sets and pods', async () => {
    const { client } = cluster.server;
    await runningDeployment(client, 'bg', 2);
    assert.equal((await podsOf(client, 'bg')).length, 2);
    await client.delete(deployments, 'default', 'bg', { propagationPolicy: 'Background' });
    await eventually(async () => (await replicaSetsOf(client, 'bg')).length === 0 && (await podsOf(client, 'bg')).length === 0,
      15_000, 'replica sets and pods to be gone');
  });

  test('orphan deletion removes the owner references and keeps the dependents', async () => {
    const { client } = cluster.server;
    await runningDeployment(client, 'orph', 2);
    const [rs] = await replicaSetsOf(client, 'orph');
    const before = await podsOf(client, 'orph');
    await client.delete(replicasets, 'default', rs!.metadata.name!, { propagationPolicy: 'Orphan' });
    // The orphaned pods must survive; the deployment's next replica set may adopt them again.
    // The deployment recreates a replica set with the same name (same template hash): compare uids.
    await eventually(async () => {
      const now = await client.list(replicasets, 'default', { fieldSelector: `metadata.name=${rs!.metadata.name}` });
      return now.items.every((r) => r.metadata.uid !== rs!.metadata.uid);
    }, 60_000, 'the replica set to be gone');
    for (const p of before) {
      const now = await client.get<PodObject>(pods, 'default', p.metadata.name!);
      assert.equal(now.metadata.uid, p.metadata.uid, 'the pod survived');
      assert.ok(!now.metadata.ownerReferences?.some((r) => r.uid === rs!.metadata.uid), 'no reference to the deleted owner');
    }
    await client.delete(deployments, 'default', 'orph', { propagationPolicy: 'Orphan' });
    await eventually(async () => !(await exists(client, deployments, 'orph')) || undefined, 60_000, 'the deployment to be gone');
    const rss = await replicaSetsOf(client, 'orph');
    assert.ok(rss.length >= 1, 'replica sets survive an orphaning delete of their deployment');
    for (const r of rss) assert.deepEqual(r.metadata.ownerReferences ?? [], []);
  });

  test('foreground deletion deletes the dependents first and the owner last', async () => {
    const { client } = cluster.server;
    await runningDeployment(client, 'fg', 2);
    const gone = new Map<string, number>();
    const watchers = [pods, replicasets, deployments].map((r) => new Informer({ client, resource: r, labelSelector: r === deployments ? undefined : 'app=fg' })
      .on({ delete: (o) => gone.set(`${o.kind}/${o.metadata.name}`, Date.now()) }).start());
    await Promise.all(watchers.map((w) => w.waitForSync()));
    await client.delete(deployments, 'default', 'fg', { propagationPolicy: 'Foreground' });
    const deleting = await client.get(deployments, 'default', 'fg');
    assert.ok(deleting.metadata.deletionTimestamp);
    assert.deepEqual(deleting.metadata.finalizers, ['foregroundDeletion']);
    await eventually(async () => !(await exists(client, deployments, 'fg')) || undefined, 60_000, 'the deployment to be gone');
    await eventually(() => gone.has('Deployment/fg'), 60_000, 'the watch to see it');
    await Promise.all(watchers.map((w) => w.stop()));
    assert.equal((await podsOf(client, 'fg')).length, 0);
    assert.equal((await replicaSetsOf(client, 'fg')).length, 0);
    const ownerGone = gone.get('Deployment/fg')!;
    const dependentsGone = [...gone].filter(([k]) => !k.startsWith('Deployment/'));
    assert.equal(dependentsGone.length, 3, `one replica set and two pods: ${[...gone.keys()].join(', ')}`);
    for (const [k, t] of dependentsGone) assert.ok(t <= ownerGone, `${k} went before the deployment`);
  });

  test('deletes a dependent whose owner does not exist', async () => {
    const { client } = cluster.server;
    await client.create(pods, 'default', {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: 'dangling', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'never-was', uid: '00000000-0000-0000-0000-000000000000' }] },
      spec: { containers: [{ name: 'main', image: 'busybox:1' }] },
    });
    const keeper = await client.create(replicasets, 'default', {
      apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'keeper' },
      spec: { replicas: 0, selector: { matchLabels: { app: 'keeper' } }, template: { metadata: { labels: { app: 'keeper' } }, spec: { containers: [{ name: 'm', image: 'busybox:1' }] } } },
    });
    await client.create(pods, 'default', {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: 'kept', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'keeper', uid: keeper.metadata.uid! }] },
      spec: { containers: [{ name: 'main', image: 'busybox:1' }] },
    });
    await eventually(async () => !(await exists(client, pods, 'dangling')) || undefined, 60_000, 'the dangling pod to be deleted');
    assert.ok(await exists(client, pods, 'kept'), 'a pod whose owner exists is kept');
  });

  test('deletes events older than the TTL and keeps recent ones', async () => {
    const { client } = cluster.server;
    const event = (name: string, last: Date) => ({
      apiVersion: 'v1', kind: 'Event', metadata: { name },
      involvedObject: { kind: 'Pod', name: 'x', namespace: 'default' }, reason: 'Test', message: name,
      firstTimestamp: timestamp(last), lastTimestamp: timestamp(last), count: 1,
    });
    await client.create(events, 'default', event('stale', new Date(Date.now() - 2 * 3600_000)));
    await client.create(events, 'default', event('recent', new Date(Date.now() - 10 * 60_000)));
    const gc = new GarbageCollector({ client, watched: [] });
    assert.ok(await gc.sweepEvents() >= 1);
    assert.equal(await exists(client, events, 'stale'), false);
    assert.equal(await exists(client, events, 'recent'), true);
  });
});
