// Kubernetes' own JavaScript client (@kubernetes/client-node 1.x, the last line that runs on
// Node 20) against labkube, with its generated models as they are: list with selectors and
// limits, create, the three patch types, replace, delete, and an informer that must see every
// pod of a Deployment scaled up and down come and go.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { startHollowNodes, type HollowNode } from '../support/hollow-node.ts';
import { eventually, startTestServer, type TestServer } from '../support/server.ts';

async function retryOnConflict<T>(write: () => Promise<T>, attempts = 10): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await write();
    } catch (err) {
      if ((err as { code?: number }).code !== 409 || i >= attempts) throw err;
    }
  }
}

describe('@kubernetes/client-node against labkube', { timeout: 180_000 }, () => {
  let server: TestServer;
  let hollow: HollowNode[];
  let kc: k8s.KubeConfig;
  let core: k8s.CoreV1Api;
  let apps: k8s.AppsV1Api;

  before(async () => {
    server = await startTestServer();
    hollow = await startHollowNodes(server, 2, { name: 'js' });
    kc = new k8s.KubeConfig();
    kc.loadFromFile(server.kubeconfigPath);
    core = kc.makeApiClient(k8s.CoreV1Api);
    apps = kc.makeApiClient(k8s.AppsV1Api);
  });
  after(async () => {
    await Promise.all(hollow.map((h) => h.stop()));
    await server.stop();
  });

  test('lists, reads and pages with the query parameters the client sends', async () => {
    const nodes = await core.listNode({ labelSelector: 'kubernetes.io/os=linux', limit: 1 });
    assert.equal(nodes.items.length, 1);
    assert.ok(nodes.metadata?._continue, 'a continue token for the second page');
    const rest = await core.listNode({ labelSelector: 'kubernetes.io/os=linux', limit: 1, _continue: nodes.metadata!._continue! });
    assert.deepEqual([...nodes.items, ...rest.items].map((n) => n.metadata?.name).sort(), ['js-1', 'js-2']);
    const node = await core.readNode({ name: 'js-1' });
    assert.equal(node.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
    const version = await kc.makeApiClient(k8s.VersionApi).getCode();
    assert.match(version.gitVersion, /^v1\.\d+/);
  });

  test('an informer sees every pod of a deployment scaled up and down, and the writes all work', async () => {
    const seen = { add: new Set<string>(), delete: new Set<string>() };
    const informer = k8s.makeInformer(kc, '/api/v1/namespaces/default/pods',
      () => core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=js' }), 'app=js');
    informer.on('add', (p) => seen.add.add(p.metadata!.name!));
    informer.on('delete', (p) => seen.delete.add(p.metadata!.name!));
    const errors: unknown[] = [];
    informer.on('error', (err) => errors.push(err));
    await informer.start();
    try {
      const made = await apps.createNamespacedDeployment({
        namespace: 'default',
        body: {
          metadata: { name: 'js' },
          spec: { replicas: 1, selector: { matchLabels: { app: 'js' } }, template: { metadata: { labels: { app: 'js' } }, spec: { containers: [{ name: 'web', image: 'nginx' }] } } },
        },
      });
      assert.equal(made.metadata?.name, 'js');
      const livePods = async () => (await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=js' })).items.filter((p) => !p.metadata?.deletionTimestamp);
      // Up to 4 with a merge patch on the scale subresource.
      await apps.patchNamespacedDeploymentScale({ name: 'js', namespace: 'default', body: { spec: { replicas: 4 } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
      await eventually(async () => (await livePods()).length === 4, 60_000, 'four pods');
      // Down to 1 with a JSON patch (the client's default patch type).
      await apps.patchNamespacedDeployment({ name: 'js', namespace: 'default', body: [{ op: 'replace', path: '/spec/replicas', value: 1 }] });
      await eventually(async () => (await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=js' })).items.length === 1, 60_000, 'one pod left');
      const all = new Set([...seen.add]);
      await eventually(() => all.size === 4 && seen.delete.size === 3, 30_000, `every add and delete (adds ${[...seen.add]}, deletes ${[...seen.delete]})`);
      // A strategic merge patch adds a container env var without replacing the list.
      await apps.patchNamespacedDeployment({ name: 'js', namespace: 'default', body: { spec: { template: { spec: { containers: [{ name: 'web', env: [{ name: 'A', value: '1' }] }] } } } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch));
      const patched = await apps.readNamespacedDeployment({ name: 'js', namespace: 'default' });
      assert.deepEqual(patched.spec?.template.spec?.containers.map((c) => [c.name, c.image, c.env?.[0]?.name]), [['web', 'nginx', 'A']]);
      // Replace with what was read: its resourceVersion makes it a conditional write, which the
      // deployment controller's status writes can beat, so read and try again as client-go's
      // RetryOnConflict does.
      const replaced = await retryOnConflict(async () => {
        const current = await apps.readNamespacedDeployment({ name: 'js', namespace: 'default' });
        current.metadata!.labels = { team: 'lab' };
        return apps.replaceNamespacedDeployment({ name: 'js', namespace: 'default', body: current });
      });
      assert.equal(replaced.metadata?.labels?.team, 'lab');
      await apps.deleteNamespacedDeployment({ name: 'js', namespace: 'default', propagationPolicy: 'Foreground' });
      await eventually(async () => (await apps.listNamespacedDeployment({ namespace: 'default' })).items.length === 0, 60_000, 'the deployment gone');
      assert.deepEqual(errors, []);
    } finally {
      await informer.stop();
    }
  });

  test('server-side apply: the client\'s ServerSideApply patch creates, re-applies, and reads a conflict as a 409', async () => {
    const body = (replicas: number) => ({
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'js-ssa' },
      spec: { replicas, selector: { matchLabels: { app: 'js-ssa' } }, template: { metadata: { labels: { app: 'js-ssa' } }, spec: { containers: [{ name: 'web', image: 'nginx' }] } } },
    });
    const ssa = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply);
    const made = await apps.patchNamespacedDeployment({ name: 'js-ssa', namespace: 'default', fieldManager: 'js-a', body: body(0) }, ssa);
    assert.equal(made.metadata?.managedFields?.[0]?.manager, 'js-a');
    const again = await apps.patchNamespacedDeployment({ name: 'js-ssa', namespace: 'default', fieldManager: 'js-a', body: body(0) }, ssa);
    assert.equal(again.metadata?.resourceVersion, made.metadata?.resourceVersion);
    await assert.rejects(apps.patchNamespacedDeployment({ name: 'js-ssa', namespace: 'default', fieldManager: 'js-b', body: body(2) }, ssa),
      (err: { code?: number; body?: string }) => {
        assert.equal(err.code, 409);
        assert.match((JSON.parse(err.body ?? '{}') as { message?: string }).message ?? '', /conflict with "js-a": \.spec\.replicas/);
        return true;
      });
    const forced = await apps.patchNamespacedDeployment({ name: 'js-ssa', namespace: 'default', fieldManager: 'js-b', force: true, body: body(2) }, ssa);
    assert.equal(forced.spec?.replicas, 2);
    assert.ok(forced.metadata?.managedFields?.some((e) => e.manager === 'js-b'));
    await apps.deleteNamespacedDeployment({ name: 'js-ssa', namespace: 'default' });
  });

  test('an error is a Kubernetes Status the client can read', async () => {
    await assert.rejects(core.readNamespacedPod({ name: 'nope', namespace: 'default' }), (err: { code?: number; body?: string }) => {
      assert.equal(err.code, 404);
      assert.equal((JSON.parse(err.body ?? '{}') as { reason?: string }).reason, 'NotFound');
      return true;
    });
  });
});
