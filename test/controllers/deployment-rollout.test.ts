// Deployments against a real control plane: the controllers run inside the test server, hollow
// nodes play the kubelets; the server's own scheduler binds the pods.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { findCondition } from '../../control-plane/api/objects.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import type { KubeClient } from '../../control-plane/client/client.ts';
import { Informer } from '../../control-plane/client/informer.ts';
import type { DeploymentObject } from '../../control-plane/controllers/deployment-rollout.ts';
import { isPodReady, type PodObject } from '../../control-plane/controllers/pod-template.ts';
import type { ReplicaSetObject } from '../../control-plane/controllers/replicaset.ts';
import { useCluster } from '../support/cluster.ts';
import { eventually } from '../support/server.ts';

const pods = resourceFor('', 'pods')!;
const deployments = resourceFor('apps', 'deployments')!;
const replicasets = resourceFor('apps', 'replicasets')!;
const revision = 'deployment.kubernetes.io/revision';

function deployment(name: string, replicas: number, image: string, extra: Partial<DeploymentObject['spec']> = {}): KubeObject {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name },
    spec: {
      replicas, selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image }] } },
      ...extra,
    },
  };
}

async function getDeployment(client: KubeClient, name: string): Promise<DeploymentObject> {
  return client.get<DeploymentObject>(deployments, 'default', name);
}

const complete = (d: DeploymentObject) => {
  const s = d.status;
  const replicas = d.spec.replicas ?? 1;
  return s?.observedGeneration === d.metadata.generation && s?.updatedReplicas === replicas && s?.replicas === replicas &&
    s?.availableReplicas === replicas && findCondition(s?.conditions, 'Progressing')?.reason === 'NewReplicaSetAvailable';
};

async function waitComplete(client: KubeClient, name: string, timeoutMs = 60_000): Promise<DeploymentObject> {
  return eventually(async () => { const d = await getDeployment(client, name); return complete(d) && d; }, timeoutMs, `${name} to complete`);
}

async function ownedReplicaSets(client: KubeClient, d: DeploymentObject): Promise<ReplicaSetObject[]> {
  const list = await client.list<ReplicaSetObject>(replicasets, 'default');
  return list.items.filter((rs) => rs.metadata.ownerReferences?.some((r) => r.uid === d.metadata.uid));
}

describe('deployment controller against a real server', () => {
  const cluster = useCluster(2);

  test('a rolling update never exceeds replicas + maxSurge pods nor drops below replicas - maxUnavailable available', async () => {
    const { client } = cluster.server;
    const replicas = 4;
    await client.create(deployments, 'default', deployment('web', replicas, 'nginx:1.0',
      { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } } }));
    const first = await waitComplete(client, 'web');
    assert.equal(first.metadata.annotations?.[revision], '1');

    // Watch every pod of the deployment and check the bounds on every change.
    const violations: string[] = [];
    let maxPods = 0;
    let minAvailable = Infinity;
    const watcher = new Informer<PodObject>({ client, resource: pods, labelSelector: 'app=web' });
    let synced = false; // the initial list fills the cache one add at a time: count only once it is whole
    const check = () => {
      if (!synced) return;
      const live = watcher.list().filter((p) => !p.metadata.deletionTimestamp);
      const available = live.filter(isPodReady).length;
      maxPods = Math.max(maxPods, live.length);
      minAvailable = Math.min(minAvailable, available);
      if (live.length > replicas + 1) violations.push(`${live.length} pods`);
      if (available < replicas - 1) violations.push(`${available} available`);
    };
    watcher.on({ add: check, update: check, delete: check }).start();
    await watcher.waitForSync();
    synced = true;
    check();

    await client.patch(deployments, 'default', 'web', { spec: { template: { spec: { containers: [{ name: 'main', image: 'nginx:2.0' }] } } } }, 'strategic');
    const done = await eventually(async () => {
      const d = await getDeployment(client, 'web');
      return complete(d) && d.metadata.generation === 2 && d;
    }, 60_000, 'the rollout to finish');
    await eventually(() => watcher.list().length === replicas && watcher.list().every((p) => p.spec.containers[0]!.image === 'nginx:2.0'),
      10_000, 'old pods to be gone');
    await watcher.stop();

    assert.deepEqual(violations, []);
    assert.ok(maxPods <= replicas + 1, `at most ${replicas + 1} pods, saw ${maxPods}`);
    assert.ok(minAvailable >= replicas - 1, `at least ${replicas - 1} available, saw ${minAvailable}`);
    assert.equal(done.metadata.annotations?.[revision], '2');
    const rss = await ownedReplicaSets(client, done);
    assert.equal(rss.length, 2);
    const byRevision = new Map(rss.map((rs) => [rs.metadata.annotations?.[revision], rs]));
    assert.equal(byRevision.get('1')?.spec.replicas, 0);
    assert.equal(byRevision.get('2')?.spec.replicas, replicas);
    assert.equal(findCondition(done.status?.conditions, 'Available')?.reason, 'MinimumReplicasAvailable');

    const events = await client.list(resourceFor('', 'events')!, 'default', { fieldSelector: 'reason=ScalingReplicaSet,involvedObject.name=web' });
    const messages = events.items.map((e) => String(e.message));
    assert.ok(messages.includes(`Scaled up replica set ${byRevision.get('2')!.metadata.name} to 1`), messages.join('; '));
    assert.ok(messages.some((m) => m.startsWith(`Scaled down replica set ${byRevision.get('1')!.metadata.name} to `)), messages.join('; '));
  });

  test('rollout undo reuses the old replica set and gives it a new revision', async () => {
    const { client } = cluster.server;
    await client.create(deployments, 'default', deployment('undo', 2, 'app:1'));
    await waitComplete(client, 'undo');
    await client.patch(deployments, 'default', 'undo', [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'app:2' }], 'json');
    const v2 = await eventually(async () => { const d = await getDeployment(client, 'undo'); return complete(d) && d.metadata.generation === 2 && d; }, 60_000, 'v2');
    const rss = await ownedReplicaSets(client, v2);
    const v1rs = rss.find((rs) => rs.metadata.annotations?.[revision] === '1')!;
    // What kubectl rollout undo does: copy the old template, minus its hash label, into the deployment.
    const tpl = structuredClone(v1rs.spec.template!);
    delete tpl.metadata!.labels!['pod-template-hash'];
    await client.patch(deployments, 'default', 'undo', [{ op: 'replace', path: '/spec/template', value: tpl }], 'json');
    const back = await eventually(async () => { const d = await getDeployment(client, 'undo'); return complete(d) && d.metadata.generation === 3 && d; }, 60_000, 'the rollback');
    assert.equal(back.metadata.annotations?.[revision], '3');
    const after = await ownedReplicaSets(client, back);
    assert.equal(after.length, 2, 'no third replica set');
    const reused = after.find((rs) => rs.metadata.uid === v1rs.metadata.uid)!;
    assert.equal(reused.metadata.annotations?.[revision], '3');
    assert.equal(reused.metadata.annotations?.['deployment.kubernetes.io/revision-history'], '1');
    assert.equal(reused.spec.replicas, 2);
  });

  test('scales up and down through the scale subresource', async () => {
    const { client } = cluster.server;
    await client.create(deployments, 'default', deployment('elastic', 1, 'app:1'));
    await waitComplete(client, 'elastic');
    await client.patch(deployments, 'default', 'elastic', { spec: { replicas: 4 } }, 'merge', 'scale');
    const up = await eventually(async () => { const d = await getDeployment(client, 'elastic'); return complete(d) && d.spec.replicas === 4 && d; }, 60_000, 'scale up');
    const [rs] = await ownedReplicaSets(client, up);
    assert.equal(rs!.metadata.annotations?.['deployment.kubernetes.io/desired-replicas'], '4');
    assert.equal(rs!.metadata.annotations?.['deployment.kubernetes.io/max-replicas'], '5');
    await client.patch(deployments, 'default', 'elastic', { spec: { replicas: 2 } }, 'merge', 'scale');
    await eventually(async () => { const d = await getDeployment(client, 'elastic'); return complete(d) && d.spec.replicas === 2 && d; }, 60_000, 'scale down');
    await eventually(async () => (await client.list<PodObject>(pods, 'default', { labelSelector: 'app=elastic' })).items.length === 2, 60_000, 'two pods');
  });

  test('Recreate stops every old pod before starting a new one', async () => {
    const { client } = cluster.server;
    await client.create(deployments, 'default', deployment('recreate', 3, 'app:1', { strategy: { type: 'Recreate' } }));
    await waitComplete(client, 'recreate');
    let overlap = false;
    const watcher = new Informer<PodObject>({ client, resource: pods, labelSelector: 'app=recreate' });
    const check = () => {
      const images = new Set(watcher.list().map((p) => p.spec.containers[0]!.image));
      if (images.size > 1) overlap = true;
    };
    watcher.on({ add: check, update: check }).start();
    await watcher.waitForSync();
    await client.patch(deployments, 'default', 'recreate', [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'app:2' }], 'json');
    await eventually(async () => { const d = await getDeployment(client, 'recreate'); return complete(d) && d.metadata.generation === 2 && d; }, 60_000, 'recreate rollout');
    await watcher.stop();
    assert.equal(overlap, false, 'old and new pods never existed together');
  });

  test('a paused deployment does not roll out until resumed', async () => {
    const { client } = cluster.server;
    await client.create(deployments, 'default', deployment('paused', 2, 'app:1'));
    await waitComplete(client, 'paused');
    await client.patch(deployments, 'default', 'paused', { spec: { paused: true } });
    await eventually(async () => findCondition((await getDeployment(client, 'paused')).status?.conditions, 'Progressing')?.reason === 'DeploymentPaused', 60_000, 'DeploymentPaused');
    const changed = await client.patch(deployments, 'default', 'paused', [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'app:2' }], 'json');
    // The controller has synced the paused deployment once it observed the new generation.
    const paused = await eventually(async () => { const d = await getDeployment(client, 'paused'); return (d.status?.observedGeneration ?? 0) >= changed.metadata.generation! && d; },
      60_000, 'the paused template change observed');
    assert.equal((await ownedReplicaSets(client, paused)).length, 1, 'no new replica set while paused');
    await client.patch(deployments, 'default', 'paused', { spec: { paused: false } });
    const resumed = await eventually(async () => { const d = await getDeployment(client, 'paused'); return complete(d) && d.metadata.generation === 4 && d; }, 60_000, 'the rollout after resume');
    assert.equal(resumed.metadata.annotations?.[revision], '2');
  });

  test('reports ProgressDeadlineExceeded when pods never become available', async () => {
    const { client } = cluster.server;
    // No node matches the nodeSelector: the scheduler leaves the pod Pending.
    const stuck = deployment('stuck', 1, 'app:1', { progressDeadlineSeconds: 2 });
    (stuck.spec as DeploymentObject['spec']).template.spec.nodeSelector = { 'lab.example/nowhere': 'true' };
    await client.create(deployments, 'default', stuck);
    const pending = await eventually(async () => (await client.list<PodObject>(pods, 'default', { labelSelector: 'app=stuck' })).items[0], 60_000, 'a pod');
    assert.equal(pending.spec.nodeName, undefined);
    const d = await eventually(async () => {
      const got = await getDeployment(client, 'stuck');
      const cond = findCondition(got.status?.conditions, 'Progressing');
      return cond?.reason === 'ProgressDeadlineExceeded' && got;
    }, 60_000, 'ProgressDeadlineExceeded');
    assert.equal(findCondition(d.status?.conditions, 'Progressing')?.status, 'False');
    assert.equal(findCondition(d.status?.conditions, 'Available')?.status, 'False');
  });
});
