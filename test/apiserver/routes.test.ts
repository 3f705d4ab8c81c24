import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildTestApp, call, deploymentManifest, joinToken, podManifest } from '../support/app.ts';

let app: FastifyInstance;
before(async () => { app = await buildTestApp(); });
after(async () => { await app.close(); });

const pods = '/api/v1/namespaces/default/pods';
const deployments = '/apis/apps/v1/namespaces/default/deployments';

describe('health, version and discovery', () => {
  test('answers /healthz, /readyz and /version without a token', async () => {
    for (const path of ['/healthz', '/readyz', '/livez']) {
      const res = await app.inject({ method: 'GET', url: path });
      assert.equal(res.statusCode, 200);
      assert.equal(res.body, 'ok');
    }
    const version = await app.inject({ method: 'GET', url: '/version' });
    assert.equal(JSON.parse(version.body).major, '1');
  });

  test('requires a bearer token everywhere else, with a 401 Status', async () => {
    const res = await app.inject({ method: 'GET', url: pods });
    assert.equal(res.statusCode, 401);
    assert.deepEqual(JSON.parse(res.body), { apiVersion: 'v1', kind: 'Status', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
    assert.equal((await call(app, 'GET', pods, undefined, { token: 'wrong' })).status, 401);
  });

  test('serves discovery for the core and named groups', async () => {
    assert.deepEqual((await call(app, 'GET', '/api')).body.versions, ['v1']);
    const groups = (await call(app, 'GET', '/apis')).body.groups.map((g: { name: string }) => g.name);
    assert.deepEqual(groups.sort(), ['apps', 'coordination.k8s.io', 'discovery.k8s.io', 'metrics.k8s.io', 'policy']);
    const core = (await call(app, 'GET', '/api/v1')).body.resources.map((r: { name: string }) => r.name);
    for (const r of ['pods', 'pods/status', 'pods/binding', 'nodes', 'namespaces', 'services', 'endpoints', 'events']) assert.ok(core.includes(r), r);
    const apps = (await call(app, 'GET', '/apis/apps/v1')).body.resources.map((r: { name: string }) => r.name);
    assert.ok(apps.includes('deployments/scale'));
    assert.equal((await call(app, 'GET', '/apis/nope/v1')).status, 404);
  });

  test('serves Prometheus metrics with request latency, watchers and the revision', async () => {
    await call(app, 'GET', pods);
    const text = (await call(app, 'GET', '/metrics')).body as string;
    assert.match(text, /apiserver_request_duration_seconds_bucket\{.*verb="list".*resource="pods"/);
    assert.match(text, /labkube_store_revision \d+/);
    assert.match(text, /apiserver_registered_watchers/);
  });
});

describe('namespaces', () => {
  test('default, kube-system and kube-node-lease always exist and cannot be deleted', async () => {
    const names = (await call(app, 'GET', '/api/v1/namespaces')).body.items.map((n: { metadata: { name: string } }) => n.metadata.name);
    for (const ns of ['default', 'kube-system', 'kube-node-lease']) assert.ok(names.includes(ns));
    const res = await call(app, 'DELETE', '/api/v1/namespaces/default');
    assert.equal(res.status, 403);
  });

  test('refuses objects in a namespace that does not exist', async () => {
    const res = await call(app, 'POST', '/api/v1/namespaces/nowhere/pods', podManifest('p'));
    assert.equal(res.status, 404);
    assert.equal(res.body.message, 'namespaces "nowhere" not found');
  });

  test('marks a deleted namespace Terminating and refuses new content in it', async () => {
    await call(app, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'doomed' } });
    const del = await call(app, 'DELETE', '/api/v1/namespaces/doomed');
    assert.equal(del.status, 202);
    assert.equal(del.body.status.phase, 'Terminating');
    const res = await call(app, 'POST', '/api/v1/namespaces/doomed/pods', podManifest('p'));
    assert.equal(res.status, 403);
    assert.match(res.body.message, /being terminated/);
    const fin = await call(app, 'PUT', '/api/v1/namespaces/doomed/finalize', { ...del.body, spec: { finalizers: [] } });
    assert.equal(fin.status, 200);
    assert.equal((await call(app, 'GET', '/api/v1/namespaces/doomed')).status, 404);
  });
});

describe('create, get, list', () => {
  test('creates a pod with server-set fields and Kubernetes defaults', async () => {
    const res = await call(app, 'POST', pods, podManifest('defaults'));
    assert.equal(res.status, 201);
    const p = res.body;
    assert.match(p.metadata.uid, /^[0-9a-f-]{36}$/);
    assert.match(p.metadata.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(p.metadata.namespace, 'default');
    assert.equal(p.metadata.generation, 1);
    assert.equal(p.spec.restartPolicy, 'Always');
    assert.equal(p.spec.terminationGracePeriodSeconds, 30);
    assert.equal(p.spec.containers[0].imagePullPolicy, 'IfNotPresent');
    assert.equal(p.spec.containers[0].ports[0].protocol, 'TCP');
    assert.equal(p.status.phase, 'Pending');
    assert.deepEqual((await call(app, 'GET', `${pods}/defaults`)).body, p);
  });

  test('pulls :latest and untagged images Always, as Kubernetes defaults them', async () => {
    const res = await call(app, 'POST', pods, { ...podManifest('latest'), spec: { containers: [{ name: 'a', image: 'nginx' }, { name: 'b', image: 'busybox:latest' }] } });
    assert.deepEqual(res.body.spec.containers.map((c: { imagePullPolicy: string }) => c.imagePullPolicy), ['Always', 'Always']);
  });

  test('generates a name from generateName', async () => {
    const res = await call(app, 'POST', pods, { ...podManifest(''), metadata: { generateName: 'web-' } });
    assert.equal(res.status, 201);
    assert.match(res.body.metadata.name, /^web-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  });

  test('answers a second create of the same name with 409 AlreadyExists', async () => {
    await call(app, 'POST', pods, podManifest('twice'));
    const res = await call(app, 'POST', pods, podManifest('twice'));
    assert.equal(res.status, 409);
    assert.equal(res.body.reason, 'AlreadyExists');
    assert.equal(res.body.message, 'pods "twice" already exists');
  });

  test('keeps fields it does not act on and warns about them', async () => {
    const manifest = podManifest('extra');
    (manifest.spec as Record<string, unknown>).securityContext = { runAsUser: 1000 };
    const res = await call(app, 'POST', pods, manifest);
    assert.equal(res.status, 201);
    assert.deepEqual(res.body.spec.securityContext, { runAsUser: 1000 });
    assert.deepEqual([res.headers.warning].flat(), ['299 - "unknown field \\"spec.securityContext\\""']);
  });

  test('filters lists by label and field selectors, across all namespaces too', async () => {
    await call(app, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'sel' } });
    await call(app, 'POST', '/api/v1/namespaces/sel/pods', { ...podManifest('a'), metadata: { name: 'a', labels: { app: 'web', tier: 'front' } } });
    await call(app, 'POST', '/api/v1/namespaces/sel/pods', { ...podManifest('b'), metadata: { name: 'b', labels: { app: 'db' } }, spec: { ...podManifest('b').spec, nodeName: 'n1' } });
    await call(app, 'POST', '/api/v1/namespaces/sel/pods', { ...podManifest('c'), metadata: { name: 'c' } });
    const names = async (query: string, base = '/api/v1/namespaces/sel/pods') =>
      (await call(app, 'GET', `${base}?${query}`)).body.items.map((p: { metadata: { name: string } }) => p.metadata.name).sort();
    assert.deepEqual(await names('labelSelector=app%3Dweb'), ['a']);
    assert.deepEqual(await names('labelSelector=app!%3Dweb'), ['b', 'c']);
    assert.deepEqual(await names('labelSelector=app+in+(web,db)'), ['a', 'b']);
    assert.deepEqual(await names('labelSelector=app+notin+(web)'), ['b', 'c']);
    assert.deepEqual(await names('labelSelector=tier'), ['a']);
    assert.deepEqual(await names('labelSelector=!app'), ['c']);
    assert.deepEqual(await names('fieldSelector=spec.nodeName%3Dn1'), ['b']);
    assert.deepEqual(await names('fieldSelector=metadata.name%3Dc'), ['c']);
    assert.deepEqual(await names('fieldSelector=status.phase%3DPending,metadata.name!%3Da'), ['b', 'c']);
    assert.deepEqual(await names('fieldSelector=metadata.namespace%3Dsel', '/api/v1/pods'), ['a', 'b', 'c']);
    const bad = await call(app, 'GET', '/api/v1/namespaces/sel/pods?fieldSelector=spec.image%3Dx');
    assert.equal(bad.status, 400);
    assert.equal((await call(app, 'GET', '/api/v1/namespaces/sel/pods?labelSelector=a%3D%3D%3Db')).status, 400);
  });

  test('pages a list with limit and continue', async () => {
    await call(app, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'paged' } });
    for (let i = 0; i < 5; i++) await call(app, 'POST', '/api/v1/namespaces/paged/pods', podManifest(`p${i}`));
    const first = await call(app, 'GET', '/api/v1/namespaces/paged/pods?limit=2');
    assert.equal(first.body.items.length, 2);
    const rest = await call(app, 'GET', `/api/v1/namespaces/paged/pods?limit=10&continue=${first.body.metadata.continue}`);
    assert.deepEqual(rest.body.items.map((p: { metadata: { name: string } }) => p.metadata.name), ['p2', 'p3', 'p4']);
    assert.equal(rest.body.metadata.continue, undefined);
  });
});

describe('update and patch', () => {
  test('rejects a PUT with a stale resourceVersion with 409 Conflict', async () => {
    const created = (await call(app, 'POST', deployments, deploymentManifest('stale'))).body;
    const first = await call(app, 'PUT', `${deployments}/stale`, { ...created, spec: { ...created.spec, replicas: 5 } });
    assert.equal(first.status, 200);
    assert.equal(first.body.metadata.generation, 2);
    const second = await call(app, 'PUT', `${deployments}/stale`, { ...created, spec: { ...created.spec, replicas: 7 } });
    assert.equal(second.status, 409);
    assert.equal(second.body.reason, 'Conflict');
    assert.equal((await call(app, 'GET', `${deployments}/stale`)).body.spec.replicas, 5);
  });

  test('does not write an update that changes nothing', async () => {
    const created = (await call(app, 'POST', deployments, deploymentManifest('noop'))).body;
    const res = await call(app, 'PUT', `${deployments}/noop`, created);
    assert.equal(res.body.metadata.resourceVersion, created.metadata.resourceVersion);
  });

  test('keeps status on a main-resource write and spec on a status write', async () => {
    const created = (await call(app, 'POST', deployments, deploymentManifest('split'))).body;
    const status = await call(app, 'PUT', `${deployments}/split/status`, { ...created, spec: { ...created.spec, replicas: 9 }, status: { replicas: 3 } });
    assert.equal(status.body.spec.replicas, 3);
    assert.equal(status.body.status.replicas, 3);
    assert.equal(status.body.metadata.generation, 1);
    const main = await call(app, 'PUT', `${deployments}/split`, { ...status.body, status: { replicas: 0 } });
    assert.equal(main.body.status.replicas, 3);
  });

  test('applies merge, JSON and strategic merge patches', async () => {
    const d = deploymentManifest('patched');
    d.spec.template.spec.containers = [
      { name: 'web', image: 'nginx:1.25', env: [{ name: 'A', value: '1' }], ports: [{ containerPort: 80 }] },
      { name: 'side', image: 'busybox:1' },
    ] as typeof d.spec.template.spec.containers;
    await call(app, 'POST', deployments, d);
    const url = `${deployments}/patched`;
    const merge = await call(app, 'PATCH', url, { metadata: { labels: { extra: 'yes' } } }, { contentType: 'application/merge-patch+json' });
    assert.deepEqual(merge.body.metadata.labels, { extra: 'yes' });
    const removed = await call(app, 'PATCH', url, { metadata: { labels: { extra: null } } }, { contentType: 'application/merge-patch+json' });
    assert.deepEqual(removed.body.metadata.labels ?? {}, {});
    const json = await call(app, 'PATCH', url, [{ op: 'replace', path: '/spec/template/spec/containers/1/image', value: 'busybox:2' }], { contentType: 'application/json-patch+json' });
    assert.equal(json.body.spec.template.spec.containers[1].image, 'busybox:2');
    const strategic = await call(app, 'PATCH', url, {
      spec: { template: { spec: { containers: [{ name: 'web', image: 'nginx:1.26', env: [{ name: 'B', value: '2' }] }] } } },
    }, { contentType: 'application/strategic-merge-patch+json' });
    assert.equal(strategic.status, 200);
    const [web, side] = strategic.body.spec.template.spec.containers;
    assert.equal(web.image, 'nginx:1.26');
    assert.deepEqual(web.env, [{ name: 'A', value: '1' }, { name: 'B', value: '2' }]);
    assert.deepEqual(web.ports, [{ containerPort: 80, protocol: 'TCP' }]);
    assert.equal(side.image, 'busybox:2', 'containers merge by name, so the sidecar is untouched');
    assert.equal(strategic.body.metadata.generation, 3);
  });

  test('lets a pod change only its images and add tolerations', async () => {
    await call(app, 'POST', pods, podManifest('fixed'));
    const url = `${pods}/fixed`;
    const image = await call(app, 'PATCH', url, { spec: { containers: [{ name: 'web', image: 'nginx:1.26' }] } }, { contentType: 'application/strategic-merge-patch+json' });
    assert.equal(image.status, 200);
    assert.equal(image.body.spec.containers[0].image, 'nginx:1.26');
    const toleration = await call(app, 'PATCH', url, { spec: { tolerations: [{ key: 'k', operator: 'Exists' }] } }, { contentType: 'application/merge-patch+json' });
    assert.equal(toleration.status, 200);
    const env = await call(app, 'PATCH', url, { spec: { containers: [{ name: 'web', env: [{ name: 'A', value: '1' }] }] } }, { contentType: 'application/strategic-merge-patch+json' });
    assert.equal(env.status, 422);
    const added = await call(app, 'PATCH', url, { spec: { containers: [{ name: 'two', image: 'busybox' }] } }, { contentType: 'application/strategic-merge-patch+json' });
    assert.equal(added.status, 422);
    const dropped = await call(app, 'PATCH', url, { spec: { tolerations: [] } }, { contentType: 'application/merge-patch+json' });
    assert.equal(dropped.status, 422);
  });

  test('scales through the scale subresource', async () => {
    await call(app, 'POST', deployments, deploymentManifest('scaled'));
    const scale = await call(app, 'GET', `${deployments}/scaled/scale`);
    assert.equal(scale.body.kind, 'Scale');
    assert.equal(scale.body.spec.replicas, 3);
    assert.equal(scale.body.status.selector, 'app=scaled');
    const patched = await call(app, 'PATCH', `${deployments}/scaled/scale`, { spec: { replicas: 5 } }, { contentType: 'application/merge-patch+json' });
    assert.equal(patched.body.spec.replicas, 5);
    const put = await call(app, 'PUT', `${deployments}/scaled/scale`, { ...patched.body, spec: { replicas: 1 } });
    assert.equal(put.body.spec.replicas, 1);
    assert.equal((await call(app, 'GET', `${deployments}/scaled`)).body.spec.replicas, 1);
    assert.equal((await call(app, 'PUT', `${deployments}/scaled/scale`, { spec: { replicas: -1 } })).status, 422);
  });
});

describe('binding', () => {
  test('binds an unscheduled pod once and refuses a second binding', async () => {
    await call(app, 'POST', pods, podManifest('tobind'));
    const binding = { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'tobind' }, target: { kind: 'Node', name: 'pi-1' } };
    assert.equal((await call(app, 'POST', `${pods}/tobind/binding`, binding)).status, 201);
    const p = (await call(app, 'GET', `${pods}/tobind`)).body;
    assert.equal(p.spec.nodeName, 'pi-1');
    assert.equal(p.status.conditions.find((c: { type: string }) => c.type === 'PodScheduled').status, 'True');
    const again = await call(app, 'POST', `${pods}/tobind/binding`, { ...binding, target: { kind: 'Node', name: 'pi-2' } });
    assert.equal(again.status, 409);
    const moved = await call(app, 'PUT', `${pods}/tobind`, { ...p, spec: { ...p.spec, nodeName: 'pi-2' } });
    assert.equal(moved.status, 422);
  });
});

describe('delete', () => {
  test('deletes an unscheduled pod at once', async () => {
    await call(app, 'POST', pods, podManifest('gone'));
    assert.equal((await call(app, 'DELETE', `${pods}/gone`)).status, 200);
    assert.equal((await call(app, 'GET', `${pods}/gone`)).status, 404);
  });

  test('gives a pod on a node a deletionTimestamp and removes it when the node confirms with grace 0', async () => {
    await call(app, 'POST', pods, { ...podManifest('graceful'), spec: { ...podManifest('x').spec, nodeName: 'pi-1', terminationGracePeriodSeconds: 20 } });
    const res = await call(app, 'DELETE', `${pods}/graceful`);
    assert.equal(res.status, 202);
    assert.equal(res.body.metadata.deletionGracePeriodSeconds, 20);
    assert.ok(Date.parse(res.body.metadata.deletionTimestamp) > Date.now() + 15_000);
    assert.equal((await call(app, 'GET', `${pods}/graceful`)).status, 200);
    assert.equal((await call(app, 'DELETE', `${pods}/graceful?gracePeriodSeconds=0`)).status, 200);
    assert.equal((await call(app, 'GET', `${pods}/graceful`)).status, 404);
  });

  test('keeps an object with finalizers until the last finalizer is removed', async () => {
    const created = (await call(app, 'POST', deployments, { ...deploymentManifest('final'), metadata: { name: 'final', finalizers: ['example.com/hold'] } })).body;
    const del = await call(app, 'DELETE', `${deployments}/final`);
    assert.equal(del.status, 202);
    assert.ok(del.body.metadata.deletionTimestamp);
    const patched = await call(app, 'PATCH', `${deployments}/final`, { metadata: { finalizers: null } }, { contentType: 'application/merge-patch+json' });
    assert.equal(patched.status, 200);
    assert.equal((await call(app, 'GET', `${deployments}/final`)).status, 404);
    assert.ok(created.metadata.uid);
  });

  test('adds the orphan or foregroundDeletion finalizer for those propagation policies', async () => {
    await call(app, 'POST', deployments, deploymentManifest('orphan'));
    await call(app, 'POST', deployments, deploymentManifest('fg'));
    const orphan = await call(app, 'DELETE', `${deployments}/orphan`, { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Orphan' });
    assert.deepEqual(orphan.body.metadata.finalizers, ['orphan']);
    const fg = await call(app, 'DELETE', `${deployments}/fg?propagationPolicy=Foreground`);
    assert.deepEqual(fg.body.metadata.finalizers, ['foregroundDeletion']);
    assert.equal((await call(app, 'DELETE', `${deployments}/fg?propagationPolicy=Sideways`)).status, 400);
  });

  test('checks a uid precondition', async () => {
    await call(app, 'POST', pods, podManifest('pre'));
    const res = await call(app, 'DELETE', `${pods}/pre`, { preconditions: { uid: 'not-the-uid' } });
    assert.equal(res.status, 409);
    assert.equal((await call(app, 'GET', `${pods}/pre`)).status, 200);
  });
});

describe('errors', () => {
  test('answers invalid objects with 422 and the invalid fields', async () => {
    const res = await call(app, 'POST', pods, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'Bad_Name' }, spec: { containers: [] } });
    assert.equal(res.status, 422);
    assert.equal(res.body.reason, 'Invalid');
    const fields = res.body.details.causes.map((c: { field: string }) => c.field);
    assert.ok(fields.includes('spec.containers'), JSON.stringify(res.body));
    const name = await call(app, 'POST', pods, { ...podManifest('Bad_Name') });
    assert.equal(name.status, 422);
    assert.equal(name.body.details.causes[0].field, 'metadata.name');
  });

  test('requires the selector of a deployment to match its template', async () => {
    const d = deploymentManifest('mismatch');
    d.spec.template.metadata.labels = { app: 'other' };
    const res = await call(app, 'POST', deployments, d);
    assert.equal(res.status, 422);
    assert.match(res.body.message, /selector/);
  });

  test('answers malformed JSON and YAML, wrong kinds and wrong namespaces with 400', async () => {
    assert.equal((await call(app, 'POST', pods, '{"apiVersion":')).status, 400);
    assert.equal((await call(app, 'POST', pods, 'a: [1, 2', { contentType: 'application/yaml' })).status, 400);
    const yaml = await call(app, 'POST', pods, 'apiVersion: v1\nkind: Pod\nmetadata: {name: fromyaml}\nspec:\n  containers: [{name: a, image: nginx}]\n', { contentType: 'application/yaml' });
    assert.equal(yaml.status, 201);
    assert.equal((await call(app, 'POST', pods, { ...podManifest('k'), kind: 'Service' })).status, 400);
    const ns = await call(app, 'POST', pods, { ...podManifest('n'), metadata: { name: 'n', namespace: 'kube-system' } });
    assert.equal(ns.status, 400);
    assert.match(ns.body.message, /namespace of the provided object does not match/);
  });

  test('answers unknown resources and paths with 404', async () => {
    assert.equal((await call(app, 'GET', '/api/v1/namespaces/default/widgets')).status, 404);
    assert.equal((await call(app, 'GET', '/api/v2/pods')).status, 404);
    assert.equal((await call(app, 'GET', '/api/v1/pods/x')).status, 404);
    assert.equal((await call(app, 'GET', '/api/v1/namespaces/default/nodes')).status, 404);
    assert.equal((await call(app, 'GET', '/nothing')).status, 404);
  });

  test('answers a body over the limit with 413 and writes nothing', async () => {
    const small = await buildTestApp({ bodyLimit: 1024 });
    const res = await call(small, 'POST', pods, { ...podManifest('big'), metadata: { name: 'big', annotations: { a: 'x'.repeat(4096) } } });
    assert.equal(res.status, 413);
    assert.equal(res.body.kind, 'Status');
    assert.equal((await call(small, 'GET', `${pods}/big`)).status, 404);
    await small.close();
  });

  test('rejects unknown patch types with 415, and an apply without its field manager with 422', async () => {
    await call(app, 'POST', pods, podManifest('ssa'));
    assert.equal((await call(app, 'PATCH', `${pods}/ssa`, '{}', { contentType: 'application/apply-patch+yaml' })).status, 422);
    assert.equal((await call(app, 'PATCH', `${pods}/ssa`, '{}', { contentType: 'text/plain' })).status, 415);
    // The apply type is for PATCH only, as on Kubernetes.
    assert.equal((await call(app, 'POST', pods, podManifest('ssa2'), { contentType: 'application/apply-patch+yaml' })).status, 415);
  });
});

describe('node credentials', () => {
  async function joinAs(name: string): Promise<string> {
    const res = await call(app, 'POST', '/labkube/v1/join', { nodeName: name }, { token: joinToken });
    assert.equal(res.status, 201);
    return res.body.token;
  }

  test('the join token can only join', async () => {
    assert.equal((await call(app, 'GET', pods, undefined, { token: joinToken })).status, 403);
    assert.equal((await call(app, 'POST', '/labkube/v1/join', { nodeName: 'Not Valid' }, { token: joinToken })).status, 400);
  });

  test('a node may write its own Node, Lease and bound pods\' status, and nothing else', async () => {
    const token = await joinAs('pi-a');
    const other = await joinAs('pi-b');
    const node = (name: string) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name } });
    assert.equal((await call(app, 'POST', '/api/v1/nodes', node('pi-a'), { token })).status, 201);
    assert.equal((await call(app, 'POST', '/api/v1/nodes', node('pi-b'), { token })).status, 403);
    const lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'pi-a' }, spec: { holderIdentity: 'pi-a' } };
    assert.equal((await call(app, 'POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', lease, { token })).status, 201);
    assert.equal((await call(app, 'POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', { ...lease, metadata: { name: 'pi-b' } }, { token })).status, 403);
    const created = (await call(app, 'POST', pods, { ...podManifest('onpia'), spec: { ...podManifest('x').spec, nodeName: 'pi-a' } })).body;
    const status = { ...created, status: { ...created.status, phase: 'Running' } };
    assert.equal((await call(app, 'PUT', `${pods}/onpia/status`, status, { token: other })).status, 403);
    assert.equal((await call(app, 'PUT', `${pods}/onpia/status`, status, { token })).status, 200);
    assert.equal((await call(app, 'PUT', `${pods}/onpia`, created, { token })).status, 403, 'a node may not change a pod spec');
    assert.equal((await call(app, 'POST', deployments, deploymentManifest('sneaky'), { token })).status, 403);
    assert.equal((await call(app, 'GET', pods, undefined, { token })).status, 200);
    assert.equal((await call(app, 'DELETE', `${pods}/onpia?gracePeriodSeconds=0`, undefined, { token: other })).status, 403);
    assert.equal((await call(app, 'DELETE', `${pods}/onpia?gracePeriodSeconds=0`, undefined, { token })).status, 200);
  });

  test('rejoining replaces the old credential', async () => {
    const first = await joinAs('pi-r');
    const second = await joinAs('pi-r');
    assert.equal((await call(app, 'GET', pods, undefined, { token: first })).status, 401);
    assert.equal((await call(app, 'GET', pods, undefined, { token: second })).status, 200);
  });
});
