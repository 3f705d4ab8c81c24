// Server-side apply through the API (app.inject): managedFields, conflicts, force, pruning of
// what a manager stops applying, and the Update entries other writers get.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildTestApp, call, deploymentManifest } from '../support/app.ts';

const deployments = '/apis/apps/v1/namespaces/default/deployments';
const apply = { contentType: 'application/apply-patch+yaml' };

interface Entry { manager: string; operation: string; subresource?: string; fieldsV1: Record<string, unknown>; time?: string }

const entry = (obj: { metadata: { managedFields?: Entry[] } }, manager: string, operation = 'Apply') =>
  obj.metadata.managedFields?.find((e) => e.manager === manager && e.operation === operation);

describe('server-side apply', () => {
  let app: FastifyInstance;
  before(async () => { app = await buildTestApp(); });
  after(async () => { await app.close(); });

  const applyAs = (name: string, manager: string, body: unknown, query = '') =>
    call(app, 'PATCH', `${deployments}/${name}?fieldManager=${manager}${query}`, body, apply);

  test('an apply creates the object (201) and records the fields it set under its manager', async () => {
    const res = await applyAs('created', 'alice', deploymentManifest('created', 2));
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const mine = entry(res.body, 'alice');
    assert.ok(mine, JSON.stringify(res.body.metadata.managedFields));
    assert.deepEqual(mine.fieldsV1, {
      'f:spec': {
        'f:replicas': {}, 'f:selector': {},
        'f:template': {
          'f:metadata': { 'f:labels': { 'f:app': {} } },
          'f:spec': { 'f:containers': { 'k:{"name":"web"}': { '.': {}, 'f:image': {}, 'f:name': {} } } },
        },
      },
    });
    // Defaults are the server's, not the applier's.
    assert.equal(res.body.spec.revisionHistoryLimit, 10);
  });

  test('applying the same configuration again changes nothing', async () => {
    const first = await applyAs('again', 'alice', deploymentManifest('again', 2));
    const second = await applyAs('again', 'alice', deploymentManifest('again', 2));
    assert.equal(second.status, 200);
    assert.equal(second.body.metadata.resourceVersion, first.body.metadata.resourceVersion);
  });

  test('changing a field another manager applied is a 409 naming the field and manager, and changes nothing', async () => {
    await applyAs('contested', 'alice', deploymentManifest('contested', 2));
    const before = await call(app, 'GET', `${deployments}/contested`);
    const res = await applyAs('contested', 'bob', deploymentManifest('contested', 5));
    assert.equal(res.status, 409);
    assert.equal(res.body.reason, 'Conflict');
    assert.equal(res.body.message, 'Apply failed with 1 conflict: conflict with "alice": .spec.replicas');
    assert.deepEqual(res.body.details.causes, [{ reason: 'FieldManagerConflict', message: 'conflict with "alice"', field: '.spec.replicas' }]);
    const now = await call(app, 'GET', `${deployments}/contested`);
    assert.equal(now.body.metadata.resourceVersion, before.body.metadata.resourceVersion);
    assert.equal(now.body.spec.replicas, 2);
  });

  test('several conflicts are listed by manager', async () => {
    await applyAs('many', 'alice', deploymentManifest('many', 2));
    const changed = deploymentManifest('many', 4);
    changed.spec.template.spec.containers[0]!.image = 'nginx:1.27';
    const res = await applyAs('many', 'bob', changed);
    assert.equal(res.status, 409);
    assert.equal(res.body.message, 'Apply failed with 2 conflicts: conflicts with "alice":\n- .spec.replicas\n- .spec.template.spec.containers[name="web"].image');
  });

  test('force takes the field over: the other manager no longer owns it', async () => {
    await applyAs('forced', 'alice', deploymentManifest('forced', 2));
    const res = await applyAs('forced', 'bob', deploymentManifest('forced', 5), '&force=true');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.spec.replicas, 5);
    const alice = entry(res.body, 'alice')!;
    assert.equal((alice.fieldsV1['f:spec'] as Record<string, unknown>)['f:replicas'], undefined);
    assert.ok((entry(res.body, 'bob')!.fieldsV1['f:spec'] as Record<string, unknown>)['f:replicas']);
  });

  test('applying the value another manager set shares the field without a conflict', async () => {
    await applyAs('shared', 'alice', deploymentManifest('shared', 2));
    const res = await applyAs('shared', 'bob', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'shared' }, spec: { replicas: 2 } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    for (const m of ['alice', 'bob']) assert.ok((entry(res.body, m)!.fieldsV1['f:spec'] as Record<string, unknown>)['f:replicas'], m);
  });

  test('a field the manager stops applying is removed, unless another manager owns it', async () => {
    const withLabels = (labels: Record<string, string>) => ({ ...deploymentManifest('pruned', 1), metadata: { name: 'pruned', labels } });
    await applyAs('pruned', 'alice', withLabels({ team: 'lab', tier: 'web', keep: 'yes' }));
    await applyAs('pruned', 'bob', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'pruned', labels: { keep: 'yes' } } });
    const res = await applyAs('pruned', 'alice', withLabels({ team: 'lab' }));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body.metadata.labels, { team: 'lab', keep: 'yes' });
  });

  test('a container the manager stops applying is removed from the list, the others stay', async () => {
    const two = deploymentManifest('sidecar', 1);
    two.spec.template.spec.containers.push({ name: 'sidecar', image: 'busybox' });
    await applyAs('sidecar', 'alice', two);
    const res = await applyAs('sidecar', 'alice', deploymentManifest('sidecar', 1));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body.spec.template.spec.containers.map((c: { name: string }) => c.name), ['web']);
  });

  test('a dropped replicas field that nobody else owns goes back to its default', async () => {
    await applyAs('defaulted', 'alice', deploymentManifest('defaulted', 4));
    const { replicas: _r, ...spec } = deploymentManifest('defaulted').spec;
    const res = await applyAs('defaulted', 'alice', { ...deploymentManifest('defaulted'), spec });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.spec.replicas, 1);
  });

  test('a write that names its field manager is recorded, and an apply over it conflicts with that writer', async () => {
    const created = await call(app, 'POST', `${deployments}?fieldManager=kubectl-create`, deploymentManifest('made', 1));
    assert.equal(created.status, 201);
    const update = entry(created.body, 'kubectl-create', 'Update');
    assert.ok(update, JSON.stringify(created.body.metadata.managedFields));
    const changed = deploymentManifest('made', 1);
    changed.spec.template.spec.containers[0]!.image = 'nginx:1.27';
    const res = await applyAs('made', 'kubectl', changed);
    assert.equal(res.status, 409);
    assert.match(res.body.message, /conflict with "kubectl-create" using apps\/v1 at \S+: \.spec\.template\.spec\.containers\[name="web"\]\.image/);
  });

  test('a scale after an apply is recorded under the scale subresource and conflicts with the next apply', async () => {
    await applyAs('scaled', 'alice', deploymentManifest('scaled', 2));
    const scaled = await call(app, 'PATCH', `${deployments}/scaled/scale`, { spec: { replicas: 6 } },
      { contentType: 'application/merge-patch+json', headers: { 'user-agent': 'kubectl/v1.33.0 (linux/amd64)' } });
    assert.equal(scaled.status, 200, JSON.stringify(scaled.body));
    const obj = (await call(app, 'GET', `${deployments}/scaled`)).body;
    const scaleEntry = obj.metadata.managedFields.find((e: Entry) => e.subresource === 'scale');
    assert.equal(scaleEntry?.manager, 'kubectl');
    assert.deepEqual(scaleEntry?.fieldsV1, { 'f:spec': { 'f:replicas': {} } });
    const res = await applyAs('scaled', 'alice', deploymentManifest('scaled', 2));
    assert.equal(res.status, 409);
    assert.match(res.body.message, /conflict with "kubectl" with subresource "scale" using apps\/v1/);
  });

  test('objects written without a field manager carry no managedFields', async () => {
    const res = await call(app, 'POST', deployments, deploymentManifest('plain', 1));
    assert.equal(res.status, 201);
    assert.equal(res.body.metadata.managedFields, undefined);
    const patched = await call(app, 'PATCH', `${deployments}/plain`, { spec: { replicas: 2 } }, { contentType: 'application/merge-patch+json' });
    assert.equal(patched.body.metadata.managedFields, undefined);
  });

  test('an empty managedFields list clears them, and a client may write them (kubectl migrating from client-side apply)', async () => {
    await applyAs('reset', 'alice', deploymentManifest('reset', 2));
    const migrated = [{ manager: 'kubectl', operation: 'Apply', apiVersion: 'apps/v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:replicas': {} } } }];
    const written = await call(app, 'PATCH', `${deployments}/reset`, [{ op: 'replace', path: '/metadata/managedFields', value: migrated }],
      { contentType: 'application/json-patch+json' });
    assert.equal(written.status, 200, JSON.stringify(written.body));
    assert.deepEqual(written.body.metadata.managedFields.map((e: Entry) => e.manager), ['kubectl']);
    const cleared = await call(app, 'PATCH', `${deployments}/reset`, { metadata: { managedFields: [] } }, { contentType: 'application/merge-patch+json' });
    assert.equal(cleared.body.metadata.managedFields, undefined);
  });

  test('at most ten Update entries are kept: the oldest merge into "ancient-changes"', async () => {
    await applyAs('busy', 'alice', deploymentManifest('busy', 1));
    for (let i = 0; i < 12; i++) {
      const res = await call(app, 'PATCH', `${deployments}/busy?fieldManager=writer-${i}`, { metadata: { labels: { [`w${i}`]: 'x' } } },
        { contentType: 'application/merge-patch+json' });
      assert.equal(res.status, 200, JSON.stringify(res.body));
    }
    const obj = (await call(app, 'GET', `${deployments}/busy`)).body;
    const updates = obj.metadata.managedFields.filter((e: Entry) => e.operation === 'Update');
    assert.equal(updates.length, 10);
    const ancient = updates.find((e: Entry) => e.manager === 'ancient-changes');
    // Times have second precision, so which three are oldest may tie: three writers' labels are there.
    assert.equal(Object.keys((ancient.fieldsV1['f:metadata'] as Record<string, Record<string, unknown>>)['f:labels']!).length, 3);
    assert.ok(entry(obj, 'alice'), 'the Apply entry stays');
    assert.ok(entry(obj, 'writer-11', 'Update'));
  });

  test('malformed managedFields are a 422 and change nothing', async () => {
    await applyAs('malformed', 'alice', deploymentManifest('malformed', 2));
    for (const bad of [
      [{ manager: 'x', operation: 'Edit', fieldsType: 'FieldsV1', fieldsV1: {} }],
      [{ manager: 'x', operation: 'Update', fieldsType: 'FieldsV1', fieldsV1: { 'q:spec': {} } }],
      [{ manager: 'x', operation: 'Update', fieldsType: 'FieldsV1', fieldsV1: { 'k:notjson': {} } }],
      'nope',
    ]) {
      const res = await call(app, 'PATCH', `${deployments}/malformed`, { metadata: { managedFields: bad } }, { contentType: 'application/merge-patch+json' });
      assert.equal(res.status, 422, `${JSON.stringify(bad)}: ${JSON.stringify(res.body)}`);
    }
    assert.ok(entry((await call(app, 'GET', `${deployments}/malformed`)).body, 'alice'));
  });

  test('bad apply requests get clear errors and change nothing', async () => {
    const cases: [string, unknown, number, RegExp][] = [
      ['', deploymentManifest('bad'), 422, /fieldManager: Required value: is required for apply patch/],
      ['?fieldManager=a', { ...deploymentManifest('bad'), apiVersion: undefined }, 400, /apiVersion must be set/],
      ['?fieldManager=a', { ...deploymentManifest('bad'), metadata: { name: 'other' } }, 400, /does not match the name on the URL/],
      ['?fieldManager=a', { ...deploymentManifest('bad'), metadata: { name: 'bad', managedFields: [] } }, 400, /managedFields must be nil/],
      ['?fieldManager=a', { ...deploymentManifest('bad'), spec: { template: { spec: { containers: [{ image: 'x' }] } } } }, 400, /omits key field "name"/],
      ['?fieldManager=a', { ...deploymentManifest('bad'), spec: { template: { spec: { containers: [{ name: 'a', image: 'x' }, { name: 'a', image: 'y' }] } } } }, 400, /duplicate entries for key \[name="a"\]/],
      [`?fieldManager=${'m'.repeat(129)}`, deploymentManifest('bad'), 422, /fieldManager: Too long/],
    ];
    for (const [query, body, status, message] of cases) {
      const res = await call(app, 'PATCH', `${deployments}/bad${query}`, body, apply);
      assert.equal(res.status, status, `${query} ${JSON.stringify(res.body)}`);
      assert.match(res.body.message, message);
    }
    const forced = await call(app, 'PATCH', `${deployments}/bad?force=true`, { spec: {} }, { contentType: 'application/merge-patch+json' });
    assert.equal(forced.status, 422);
    assert.match(forced.body.message, /force: Forbidden: may not be specified for non-apply patch/);
    assert.equal((await call(app, 'GET', `${deployments}/bad`)).status, 404);
  });

  test('a dry-run apply answers with the result and writes nothing', async () => {
    const res = await applyAs('dry', 'alice', deploymentManifest('dry', 2), '&dryRun=All');
    assert.equal(res.status, 201);
    assert.equal((await call(app, 'GET', `${deployments}/dry`)).status, 404);
  });

  test('a Service applied twice keeps the ClusterIP and NodePort the server allocated; a Pod applied twice is unchanged', async () => {
    const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'applied' },
      spec: { type: 'NodePort', selector: { app: 'web' }, ports: [{ port: 80 }] } };
    const url = '/api/v1/namespaces/default/services/applied?fieldManager=alice';
    const first = await call(app, 'PATCH', url, svc, apply);
    assert.equal(first.status, 201, JSON.stringify(first.body));
    const second = await call(app, 'PATCH', url, svc, apply);
    assert.equal(second.status, 200, JSON.stringify(second.body));
    assert.equal(second.body.spec.clusterIP, first.body.spec.clusterIP);
    assert.equal(second.body.spec.ports[0].nodePort, first.body.spec.ports[0].nodePort);
    assert.equal(second.body.metadata.resourceVersion, first.body.metadata.resourceVersion);
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'applied' }, spec: { containers: [{ name: 'web', image: 'nginx:1.25' }] } };
    const podUrl = '/api/v1/namespaces/default/pods/applied?fieldManager=alice';
    const made = await call(app, 'PATCH', podUrl, pod, apply);
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const again = await call(app, 'PATCH', podUrl, pod, apply);
    assert.equal(again.body.metadata.resourceVersion, made.body.metadata.resourceVersion);
    // A pod's spec is fixed once created, whichever way the change comes.
    const changed = await call(app, 'PATCH', podUrl, { ...pod, spec: { containers: [{ name: 'web', image: 'nginx:1.25' }, { name: 'two', image: 'busybox' }] } }, apply);
    assert.equal(changed.status, 422, JSON.stringify(changed.body));
  });

  test('YAML configurations, status applies and cluster-scoped kinds are served', async () => {
    const yaml = 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: applied\n  labels:\n    lab: "1"\n';
    const ns = await call(app, 'PATCH', '/api/v1/namespaces/applied?fieldManager=alice', yaml, apply);
    assert.equal(ns.status, 201, JSON.stringify(ns.body));
    assert.equal(ns.body.metadata.labels.lab, '1');
    await applyAs('status', 'alice', deploymentManifest('status', 1));
    const status = await call(app, 'PATCH', `${deployments}/status/status?fieldManager=tester`,
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'status' }, status: { observedGeneration: 7 } }, apply);
    assert.equal(status.status, 200, JSON.stringify(status.body));
    assert.equal(status.body.status.observedGeneration, 7);
    const statusEntry = entry(status.body, 'tester');
    assert.equal(statusEntry?.subresource, 'status');
    assert.deepEqual(statusEntry?.fieldsV1, { 'f:status': { 'f:observedGeneration': {} } });
  });
});
