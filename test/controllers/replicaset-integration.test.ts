// ReplicaSets against a real control plane, with hollow nodes; the server's scheduler binds the pods.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import type { KubeClient } from '../../control-plane/client/client.ts';
import type { PodObject } from '../../control-plane/controllers/pod-template.ts';
import type { ReplicaSetObject } from '../../control-plane/controllers/replicaset.ts';
import { useCluster } from '../support/cluster.ts';
import { eventually } from '../support/server.ts';

const pods = resourceFor('', 'pods')!;
const replicasets = resourceFor('apps', 'replicasets')!;

function replicaSet(name: string, replicas: number): KubeObject {
  return {
    apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name },
    spec: {
      replicas, selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image: 'busybox:1' }] } },
    },
  };
}

async function activePods(client: KubeClient, app: string): Promise<PodObject[]> {
  const list = await client.list<PodObject>(pods, 'default', { labelSelector: `app=${app}` });
  return list.items.filter((p) => !p.metadata.deletionTimestamp && p.status?.phase !== 'Failed');
}

async function readyReplicas(client: KubeClient, name: string, n: number): Promise<ReplicaSetObject> {
  return eventually(async () => {
    const rs = await client.get<ReplicaSetObject>(replicasets, 'default', name);
    return rs.status?.readyReplicas === n && rs.status.replicas === n && rs.status.availableReplicas === n &&
      rs.status.observedGeneration === rs.metadata.generation && rs;
  }, 15_000, `${name} to have ${n} ready replicas`);
}

describe('replica set controller against a real server', () => {
  const cluster = useCluster(1);

  test('scales up and down, keeping exactly the requested pods', async () => {
    const { client } = cluster.server;
    await client.create(replicasets, 'default', replicaSet('scaler', 2));
    await readyReplicas(client, 'scaler', 2);
    const first = await activePods(client, 'scaler');
    assert.equal(first.length, 2);
    for (const p of first) {
      assert.match(p.metadata.name!, /^scaler-[a-z0-9]{5}$/);
      assert.equal(p.metadata.ownerReferences?.[0]?.controller, true);
      assert.equal(p.metadata.ownerReferences?.[0]?.blockOwnerDeletion, true);
    }

    // Timestamps have whole seconds: wait for the clock to pass the first pods' second, so they are measurably older.
    const newestFirst = Math.max(...first.map((p) => Date.parse(p.metadata.creationTimestamp!)));
    await eventually(() => Date.now() >= newestFirst + 1_000, 60_000, 'the next second');
    await client.patch(replicasets, 'default', 'scaler', { spec: { replicas: 5 } }, 'merge', 'scale');
    await readyReplicas(client, 'scaler', 5);
    assert.equal((await activePods(client, 'scaler')).length, 5);

    await client.patch(replicasets, 'default', 'scaler', { spec: { replicas: 1 } }, 'merge', 'scale');
    await readyReplicas(client, 'scaler', 1);
    await eventually(async () => (await activePods(client, 'scaler')).length === 1, 60_000, 'one pod left');
    const left = await activePods(client, 'scaler');
    // The oldest, longest-ready pods survive a scale-down.
    assert.ok(first.some((p) => p.metadata.uid === left[0]!.metadata.uid), 'one of the first two pods is kept');

    const events = await client.list(resourceFor('', 'events')!, 'default', { fieldSelector: 'involvedObject.name=scaler' });
    const reasons = new Set(events.items.map((e) => e.reason));
    assert.ok(reasons.has('SuccessfulCreate') && reasons.has('SuccessfulDelete'), [...reasons].join(','));
  });

  test('adopts a matching orphan pod instead of creating a new one', async () => {
    const { client } = cluster.server;
    const orphan = await client.create(pods, 'default', {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'stray', labels: { app: 'adopter' } },
      spec: { containers: [{ name: 'main', image: 'busybox:1' }] },
    });
    await eventually(async () => (await client.get<PodObject>(pods, 'default', 'stray')).status?.phase === 'Running', 60_000, 'the orphan to run');
    const rs = await client.create(replicasets, 'default', replicaSet('adopter', 2));
    await readyReplicas(client, 'adopter', 2);
    const adopted = await client.get(pods, 'default', 'stray');
    assert.equal(adopted.metadata.uid, orphan.metadata.uid);
    assert.deepEqual(adopted.metadata.ownerReferences?.map((r) => [r.uid, r.controller]), [[rs.metadata.uid, true]]);
    assert.equal((await activePods(client, 'adopter')).length, 2, 'only one pod created');
  });

  test('replaces a pod that failed', async () => {
    const { client } = cluster.server;
    await client.create(replicasets, 'default', replicaSet('phoenix', 2));
    await readyReplicas(client, 'phoenix', 2);
    const [victim] = await activePods(client, 'phoenix');
    // The hollow node would mark the Failed pod Running again (a real kubelet never revives a
    // Failed pod), so it is silenced while the pod is evicted.
    cluster.nodes[0]!.stopHeartbeats();
    try {
      await client.update(pods, { ...victim!, status: { ...victim!.status, phase: 'Failed', reason: 'Evicted', conditions: [] } } as KubeObject, 'status');
      await eventually(async () => {
        const active = await activePods(client, 'phoenix');
        return active.length === 2 && !active.some((p) => p.metadata.uid === victim!.metadata.uid);
      }, 60_000, 'a replacement pod');
      const rs = await eventually(async () => {
        const got = await client.get<ReplicaSetObject>(replicasets, 'default', 'phoenix');
        return got.status?.replicas === 2 && got.status.readyReplicas === 1 && got;
      }, 60_000, 'status to count the replacement but not the failed pod');
      assert.equal(rs.status?.availableReplicas, 1);
      assert.equal((await client.get<PodObject>(pods, 'default', victim!.metadata.name!)).status?.phase, 'Failed', 'the failed pod is kept for inspection');
    } finally {
      cluster.nodes[0]!.resumeHeartbeats();
    }
  });

  test('never runs more pods than replicas while pods are terminating', async () => {
    const { client } = cluster.server;
    await client.create(replicasets, 'default', replicaSet('steady', 3));
    await readyReplicas(client, 'steady', 3);
    // Delete every pod at once; the node finishes them while the controller replaces them.
    const before = await activePods(client, 'steady');
    await Promise.all(before.map((p) => client.delete(pods, 'default', p.metadata.name!)));
    let max = 0;
    await eventually(async () => {
      const active = await activePods(client, 'steady');
      max = Math.max(max, active.length);
      return active.length === 3 && active.every((p) => !before.some((b) => b.metadata.uid === p.metadata.uid)) && active;
    }, 60_000, 'three fresh pods');
    await readyReplicas(client, 'steady', 3);
    assert.ok(max <= 3, `saw ${max} active pods`);
  });
});
