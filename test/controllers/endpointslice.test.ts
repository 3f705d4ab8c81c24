// The EndpointSlice controller: the slice planner and sync called directly with fixtures; a fake
// client records the writes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint } from '../../control-plane/api/discovery.ts';
import type { NodeObject, ServiceObject } from '../../control-plane/controllers/endpoints.ts';
import {
  EndpointSliceController, planSlices, type EndpointSliceObject,
} from '../../control-plane/controllers/endpointslice.ts';
import type { PodObject } from '../../control-plane/controllers/pod-template.ts';
import { buildTestApp, call } from '../support/app.ts';
import { Informer, drain, fakeClient, node, pod, service } from './endpoints-fixtures.ts';

const nodes = [node('n1', 'True', { 'topology.kubernetes.io/zone': 'bench-a' }), node('n2', 'False'), node('n3', 'Unknown')];
const nodeOf = (name: string) => nodes.find((n) => n.metadata.name === name);
const manyPods = (n: number) => Array.from({ length: n }, (_, i) => pod(`p${String(i).padStart(3, '0')}`, { ip: `10.42.${i >> 8}.${i & 255}` }));

function plan(svc: ServiceObject, pods: PodObject[], existing: EndpointSliceObject[] = [], maxEndpointsPerSlice = 100) {
  return planSlices({ service: svc, pods, nodeOf, existing, maxEndpointsPerSlice });
}

let stored = 0;
/** Slices as the server would hold them after the plan's writes. */
function persist(slices: EndpointSliceObject[]): EndpointSliceObject[] {
  return slices.map((s) => ({ ...structuredClone(s), metadata: { ...structuredClone(s.metadata), name: s.metadata.name ?? `${s.metadata.generateName}${++stored}`, resourceVersion: String(100 + stored) } }));
}

const conditionsOf = (e: Endpoint) => `${e.addresses[0]} ready=${e.conditions?.ready} serving=${e.conditions?.serving} terminating=${e.conditions?.terminating}`;

describe('planSlices', () => {
  test('one slice per Service, labelled and owned by it, with the endpoint conditions', () => {
    const p = plan(service('web', {}, { app: 'web' }), [
      pod('a', { ip: '10.42.0.1', node: 'n1' }), pod('b', { ip: '10.42.0.2', ready: false }), pod('c', { ip: '10.42.0.3', deleting: true }),
      pod('d', { ip: '10.42.1.1', node: 'n2' }), pod('e', { ip: '10.42.2.1', node: 'n3' }),
    ]);
    assert.equal(p.create.length, 1);
    assert.deepEqual([p.update, p.delete], [[], []]);
    const slice = p.create[0]!;
    assert.equal(slice.metadata.generateName, 'web-');
    assert.equal(slice.addressType, 'IPv4');
    assert.deepEqual(slice.metadata.labels, { app: 'web', 'kubernetes.io/service-name': 'web', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' });
    assert.deepEqual(slice.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Service', name: 'web', uid: 'svc-uid-web', controller: true, blockOwnerDeletion: true }]);
    assert.deepEqual(slice.ports, [{ name: '', port: 8080, protocol: 'TCP' }]);
    assert.deepEqual(slice.endpoints.map(conditionsOf), [
      '10.42.0.1 ready=true serving=true terminating=false',
      '10.42.0.2 ready=false serving=false terminating=false',
      '10.42.0.3 ready=false serving=true terminating=true',
      '10.42.1.1 ready=false serving=false terminating=false',
      '10.42.2.1 ready=false serving=false terminating=false',
    ]);
    assert.deepEqual(slice.endpoints[0], {
      addresses: ['10.42.0.1'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'n1', zone: 'bench-a',
      targetRef: { kind: 'Pod', namespace: 'default', name: 'a', uid: 'uid-a' },
    });
  });

  test('at most 100 endpoints a slice', () => {
    const p = plan(service('web'), manyPods(250));
    assert.deepEqual(p.create.map((s) => s.endpoints.length), [100, 100, 50]);
  });

  test('a pod change rewrites only the slice it is in, and a new pod joins a slice being rewritten', () => {
    const svc = service('web');
    const pods = manyPods(150);
    const existing = persist(plan(svc, pods).create);
    assert.equal(plan(svc, pods, existing).update.length + plan(svc, pods, existing).create.length, 0, 'nothing to do when nothing changed');
    const changed = [...pods];
    changed[120] = pod('p120', { ip: '10.42.0.120', ready: false });
    changed.push(pod('p999', { ip: '10.42.9.9' }));
    const p = plan(svc, changed, existing);
    assert.deepEqual([p.create.length, p.delete.length], [0, 0]);
    assert.equal(p.update.length, 1);
    assert.equal(p.update[0]!.metadata.name, existing[1]!.metadata.name);
    assert.equal(p.update[0]!.endpoints.length, 51);
    assert.equal(p.update[0]!.metadata.resourceVersion, existing[1]!.metadata.resourceVersion);
  });

  test('pods whose named port resolves differently go to different slices', () => {
    const svc = service('web', { ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 'web' }] });
    const p = plan(svc, [
      pod('a', { ip: '10.42.0.1', ports: [{ name: 'web', containerPort: 8080 }] }),
      pod('b', { ip: '10.42.0.2', ports: [{ name: 'web', containerPort: 8081 }] }),
      pod('c', { ip: '10.42.0.3', ports: [{ name: 'web', containerPort: 8080 }] }),
    ]);
    const byPort = Object.fromEntries(p.create.map((s) => [s.ports!.map((x) => x.port).join(','), s.endpoints.map((e) => e.addresses[0])]));
    assert.deepEqual(byPort, { 8080: ['10.42.0.1', '10.42.0.3'], 8081: ['10.42.0.2'] });
  });

  test('a Service without pods has one empty placeholder slice, kept as it is on the next sync', () => {
    const svc = service('web');
    const first = plan(svc, []);
    assert.equal(first.create.length, 1);
    assert.deepEqual([first.create[0]!.endpoints, first.create[0]!.ports], [[], []]);
    assert.deepEqual(plan(svc, [], persist(first.create)), { create: [], update: [], delete: [], podsWithoutNode: 0 });
  });

  test('the placeholder becomes the first real slice instead of a delete and a create', () => {
    const svc = service('web');
    const placeholder = persist(plan(svc, []).create);
    const p = plan(svc, [pod('a', { ip: '10.42.0.1' })], placeholder);
    assert.deepEqual([p.create.length, p.delete.length, p.update.length], [0, 0, 1]);
    assert.equal(p.update[0]!.metadata.name, placeholder[0]!.metadata.name);
    assert.deepEqual(p.update[0]!.ports, [{ name: '', port: 8080, protocol: 'TCP' }]);
  });

  test('slices of an older Service of the same name are deleted', () => {
    const svc = service('web');
    const old = persist(plan({ ...svc, metadata: { ...svc.metadata, uid: 'older' } }, [pod('a', { ip: '10.42.0.1' })]).create);
    const p = plan(svc, [pod('a', { ip: '10.42.0.1' })], old);
    assert.deepEqual(p.delete.map((s) => s.metadata.name), [old[0]!.metadata.name]);
    assert.equal(p.create.length, 1);
  });

  test('a pod on a node not in the cache is left out and counted', () => {
    const p = plan(service('web'), [pod('a', { ip: '10.42.0.1', node: 'ghost' }), pod('b', { ip: '10.42.0.2' })]);
    assert.deepEqual(p.create[0]!.endpoints.map((e) => e.addresses[0]), ['10.42.0.2']);
    assert.equal(p.podsWithoutNode, 1);
  });

  test('a headless Service is labelled headless and its portless endpoints still listed', () => {
    const p = plan(service('db', { clusterIP: 'None', ports: [] }), [pod('a', { ip: '10.42.0.1' })]);
    assert.equal(p.create[0]!.metadata.labels!['service.kubernetes.io/headless'], '');
    assert.deepEqual(p.create[0]!.endpoints.map((e) => e.addresses[0]), ['10.42.0.1']);
    assert.deepEqual(p.create[0]!.ports, []);
  });
});

function setup(svcs: ServiceObject[], pods: PodObject[]) {
  const services = new Informer<ServiceObject>();
  const podInformer = new Informer<PodObject>();
  const nodeInformer = new Informer<NodeObject>();
  const slices = new Informer<EndpointSliceObject>();
  const { client, writes } = fakeClient();
  const controller = new EndpointSliceController({
    client, services, pods: podInformer, nodes: nodeInformer, endpointSlices: slices, recorder: { record: () => {} },
  });
  [node('n1'), node('n2')].forEach((n) => nodeInformer.add(n));
  svcs.forEach((s) => services.add(s));
  pods.forEach((p) => podInformer.add(p));
  return { controller, writes, services, pods: podInformer, nodes: nodeInformer, slices };
}

describe('endpointslice controller sync', () => {
  test('creates the slice once: a second sync before the cache shows it writes nothing', async () => {
    const s = setup([service('web')], [pod('a', { ip: '10.42.0.1' })]);
    await s.controller.sync('default/web');
    await s.controller.sync('default/web');
    assert.deepEqual(s.writes.map((w) => `${w.verb} ${w.name}`), ['create web-']);
  });

  test('a node going NotReady flips its pods to not ready in one update', async () => {
    const s = setup([service('web')], [pod('a', { ip: '10.42.0.1', node: 'n1' }), pod('b', { ip: '10.42.1.1', node: 'n2' })]);
    await s.controller.sync('default/web');
    await drain(s.controller.queue);
    s.nodes.update(node('n2', 'Unknown'));
    assert.equal(await s.controller.queue.get(), 'default/web');
    await s.controller.sync('default/web');
    assert.deepEqual(s.writes.map((w) => w.verb), ['create', 'update']);
    assert.deepEqual((s.writes[1]!.body as EndpointSliceObject).endpoints.map(conditionsOf), [
      '10.42.0.1 ready=true serving=true terminating=false',
      '10.42.1.1 ready=false serving=false terminating=false',
    ]);
  });

  test('leaves Services without a selector alone', async () => {
    const s = setup([service('ext', { selector: undefined })], [pod('a')]);
    await s.controller.sync('default/ext');
    assert.deepEqual(s.writes, []);
  });

  test('a slice someone else deleted is written again', async () => {
    const s = setup([service('web')], [pod('a', { ip: '10.42.0.1' })]);
    await s.controller.sync('default/web');
    const created = { ...(s.writes[0]!.body as EndpointSliceObject) };
    created.metadata = { ...created.metadata, name: 'web-1', resourceVersion: '101' };
    s.slices.add(created);
    await drain(s.controller.queue);
    s.slices.remove(created);
    assert.equal(await s.controller.queue.get(), 'default/web');
  });
});

describe('EndpointSlice as a served kind', () => {
  test('discovery lists discovery.k8s.io/v1 endpointslices, without a short name', async () => {
    const app = await buildTestApp();
    try {
      const groups = await call(app, 'GET', '/apis');
      const group = groups.body.groups.find((g: { name: string }) => g.name === 'discovery.k8s.io');
      assert.deepEqual(group.preferredVersion, { groupVersion: 'discovery.k8s.io/v1', version: 'v1' });
      const list = await call(app, 'GET', '/apis/discovery.k8s.io/v1');
      assert.equal(list.status, 200);
      const entry = list.body.resources.find((r: { name: string }) => r.name === 'endpointslices');
      assert.equal(entry.kind, 'EndpointSlice');
      assert.equal(entry.singularName, 'endpointslice');
      assert.equal(entry.namespaced, true);
      assert.equal(entry.shortNames, undefined);
    } finally {
      await app.close();
    }
  });

  test('a slice is stored with Kubernetes\' port defaults and printed with kubectl\'s columns', async () => {
    const app = await buildTestApp();
    try {
      const created = await call(app, 'POST', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', {
        apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'web-abc12', labels: { 'kubernetes.io/service-name': 'web' } },
        addressType: 'IPv4', ports: [{ port: 80 }],
        endpoints: ['10.42.0.5', '10.42.1.7', '10.42.2.9', '10.42.3.4'].map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.deepEqual(created.body.ports, [{ name: '', port: 80, protocol: 'TCP' }]);
      const table = await call(app, 'GET', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', undefined,
        { headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' } });
      assert.deepEqual(table.body.columnDefinitions.map((c: { name: string }) => c.name), ['Name', 'AddressType', 'Ports', 'Endpoints', 'Age']);
      assert.deepEqual(table.body.rows[0].cells.slice(0, 4), ['web-abc12', 'IPv4', '80', '10.42.0.5,10.42.1.7,10.42.2.9 + 1 more...']);
      const bad = await call(app, 'POST', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', {
        apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'bad' }, addressType: 'IPv5', endpoints: [],
      });
      assert.equal(bad.status, 422);
    } finally {
      await app.close();
    }
  });
});
