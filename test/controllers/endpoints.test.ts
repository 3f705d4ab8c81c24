// The Endpoints controller: its builders and sync called directly with fixtures; a fake client
// records the writes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EndpointsController, findPort, newEndpoints, type EndpointsObject, type NodeObject, type ServiceObject,
} from '../../control-plane/controllers/endpoints.ts';
import type { PodObject } from '../../control-plane/controllers/pod-template.ts';
import { formatEndpoints } from '../../control-plane/api/printers.ts';
import { Informer, drain, fakeClient, node, pod, service } from './endpoints-fixtures.ts';

function setup(objects: { services?: ServiceObject[]; pods?: PodObject[]; nodes?: NodeObject[]; endpoints?: EndpointsObject[] } = {}) {
  const services = new Informer<ServiceObject>();
  const pods = new Informer<PodObject>();
  const nodes = new Informer<NodeObject>();
  const endpoints = new Informer<EndpointsObject>();
  const { client, writes } = fakeClient();
  const events: { reason: string }[] = [];
  const controller = new EndpointsController({
    client, services, pods, nodes, endpoints, recorder: { record: (_o, _t, reason) => { events.push({ reason }); } },
  });
  (objects.nodes ?? [node('n1'), node('n2')]).forEach((n) => nodes.add(n));
  objects.services?.forEach((s) => services.add(s));
  objects.pods?.forEach((p) => pods.add(p));
  objects.endpoints?.forEach((e) => endpoints.add(e));
  return { controller, writes, events, services, pods, nodes, endpoints };
}

const nodeOf = (nodes: NodeObject[]) => (name: string) => nodes.find((n) => n.metadata.name === name);
const ips = (list: { ip: string }[] | undefined) => (list ?? []).map((a) => a.ip);

describe('newEndpoints', () => {
  const nodes = [node('n1'), node('n2', 'False'), node('n3', 'Unknown')];

  test('lists ready pods as addresses and the others as notReadyAddresses, with the target port', () => {
    const ep = newEndpoints(service('web'), [
      pod('a', { ip: '10.42.0.2' }), pod('b', { ip: '10.42.0.3', ready: false }), pod('c', { ip: '10.42.0.1' }),
    ], nodeOf(nodes));
    assert.equal(ep.subsets!.length, 1);
    const [subset] = ep.subsets!;
    assert.deepEqual(ips(subset!.addresses), ['10.42.0.1', '10.42.0.2']);
    assert.deepEqual(ips(subset!.notReadyAddresses), ['10.42.0.3']);
    assert.deepEqual(subset!.ports, [{ port: 8080, protocol: 'TCP' }]);
    assert.deepEqual(subset!.addresses![0], { ip: '10.42.0.1', nodeName: 'n1', targetRef: { kind: 'Pod', namespace: 'default', name: 'c', uid: 'uid-c' } });
    assert.equal(ep.metadata.name, 'web');
    assert.equal(ep.metadata.ownerReferences, undefined, 'Endpoints are not owned: the controller deletes them with the Service');
  });

  test('a pod on a NotReady or Unknown node is not ready, whatever it last reported', () => {
    const ep = newEndpoints(service('web'), [
      pod('a', { ip: '10.42.0.1', node: 'n1' }), pod('b', { ip: '10.42.1.1', node: 'n2' }), pod('c', { ip: '10.42.2.1', node: 'n3' }),
      pod('d', { ip: '10.42.3.1', node: 'gone' }),
    ], nodeOf(nodes));
    assert.deepEqual(ips(ep.subsets![0]!.addresses), ['10.42.0.1']);
    assert.deepEqual(ips(ep.subsets![0]!.notReadyAddresses), ['10.42.1.1', '10.42.2.1', '10.42.3.1']);
  });

  test('leaves out terminating pods, finished pods and pods without an IP', () => {
    const ep = newEndpoints(service('web'), [
      pod('a', { ip: '10.42.0.1' }), pod('b', { ip: '10.42.0.2', deleting: true }), pod('c', { ip: '10.42.0.3', phase: 'Succeeded' }), pod('d', { ip: '' }),
    ], nodeOf(nodes));
    assert.deepEqual(ep.subsets!.flatMap((s) => [...ips(s.addresses), ...ips(s.notReadyAddresses)]), ['10.42.0.1']);
  });

  test('publishNotReadyAddresses lists every pod as ready', () => {
    const ep = newEndpoints(service('web', { publishNotReadyAddresses: true }), [pod('a', { ip: '10.42.0.1', ready: false })], nodeOf(nodes));
    assert.deepEqual(ips(ep.subsets![0]!.addresses), ['10.42.0.1']);
  });

  test('a named targetPort resolves per pod; a pod without it is left out for that port only', () => {
    const svc = service('web', { ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 'web' }, { name: 'metrics', port: 9100, protocol: 'TCP', targetPort: 9100 }] });
    const ep = newEndpoints(svc, [
      pod('a', { ip: '10.42.0.1', ports: [{ name: 'web', containerPort: 8080 }] }),
      pod('b', { ip: '10.42.0.2', ports: [{ name: 'web', containerPort: 8081 }] }),
      pod('c', { ip: '10.42.0.3' }),
    ], nodeOf(nodes));
    const byPorts = Object.fromEntries(ep.subsets!.map((s) => [s.ports!.map((p) => `${p.name}:${p.port}`).join(','), ips(s.addresses)]));
    assert.deepEqual(byPorts, { 'http:8080': ['10.42.0.1'], 'http:8081': ['10.42.0.2'], 'metrics:9100': ['10.42.0.1', '10.42.0.2', '10.42.0.3'] });
  });

  test('pods sharing their addresses share one subset with all their ports', () => {
    const svc = service('web', { ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 80 }, { name: 'https', port: 443, protocol: 'TCP', targetPort: 443 }] });
    const ep = newEndpoints(svc, [pod('a', { ip: '10.42.0.1' }), pod('b', { ip: '10.42.0.2' })], nodeOf(nodes));
    assert.equal(ep.subsets!.length, 1);
    assert.deepEqual(ep.subsets![0]!.ports!.map((p) => p.name), ['http', 'https']);
  });

  test('a headless Service without ports lists bare addresses and is labelled headless', () => {
    const ep = newEndpoints(service('db', { clusterIP: 'None', ports: [] }, { tier: 'db' }), [pod('a', { ip: '10.42.0.1' })], nodeOf(nodes));
    assert.deepEqual(ep.subsets, [{ addresses: [{ ip: '10.42.0.1', nodeName: 'n1', targetRef: { kind: 'Pod', namespace: 'default', name: 'a', uid: 'uid-a' } }] }]);
    assert.deepEqual(ep.metadata.labels, { tier: 'db', 'service.kubernetes.io/headless': '' });
  });

  test('past 1000 addresses the list is cut and marked over capacity', () => {
    const pods = Array.from({ length: 1005 }, (_, i) => pod(`p${i}`, { ip: `10.42.${i >> 8}.${i & 255}` }));
    const ep = newEndpoints(service('big'), pods, nodeOf(nodes));
    assert.equal(ep.subsets![0]!.addresses!.length, 1000);
    assert.equal(ep.metadata.annotations?.['endpoints.kubernetes.io/over-capacity'], 'truncated');
  });
});

describe('findPort', () => {
  test('a number is used as it is, a name must match a container port of the same protocol', () => {
    const p = pod('a', { ports: [{ name: 'dns', containerPort: 53, protocol: 'UDP' }, { name: 'web', containerPort: 8080 }] });
    assert.equal(findPort(p, { port: 80, targetPort: 81 }), 81);
    assert.equal(findPort(p, { port: 80 }), 80);
    assert.equal(findPort(p, { port: 80, targetPort: 'web' }), 8080);
    assert.equal(findPort(p, { port: 53, targetPort: 'dns', protocol: 'UDP' }), 53);
    assert.equal(findPort(p, { port: 53, targetPort: 'dns', protocol: 'TCP' }), undefined);
  });
});

describe('endpoints controller sync', () => {
  test('creates the Endpoints once: a second sync before the cache catches up writes nothing', async () => {
    const s = setup({ services: [service('web')], pods: [pod('a', { ip: '10.42.0.1' })] });
    await s.controller.sync('default/web');
    await s.controller.sync('default/web');
    assert.deepEqual(s.writes.map((w) => `${w.verb} ${w.name}`), ['create web']);
    assert.deepEqual(ips((s.writes[0]!.body as EndpointsObject).subsets![0]!.addresses), ['10.42.0.1']);
  });

  test('updates the stored Endpoints only when an address changes', async () => {
    const s = setup({ services: [service('web')], pods: [pod('a', { ip: '10.42.0.1' })] });
    await s.controller.sync('default/web');
    const created = s.writes[0]!.body as EndpointsObject;
    s.endpoints.add({ ...created, metadata: { ...created.metadata, resourceVersion: '500' } });
    await s.controller.sync('default/web');
    assert.equal(s.writes.length, 1);
    s.pods.update(pod('a', { ip: '10.42.0.1', ready: false }));
    await s.controller.sync('default/web');
    assert.deepEqual(s.writes.map((w) => w.verb), ['create', 'update']);
    const updated = s.writes[1]!.body as EndpointsObject;
    assert.equal(updated.metadata.resourceVersion, '500', 'the update carries the version it was computed from');
    assert.deepEqual(ips(updated.subsets![0]!.notReadyAddresses), ['10.42.0.1']);
  });

  test('leaves the Endpoints of a Service without selector alone', async () => {
    const manual: EndpointsObject = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'ext', namespace: 'default', resourceVersion: '7' }, subsets: [{ addresses: [{ ip: '192.168.1.10' }], ports: [{ port: 5432 }] }] };
    const s = setup({ services: [service('ext', { selector: undefined })], pods: [pod('a')], endpoints: [manual] });
    await s.controller.sync('default/ext');
    assert.deepEqual(s.writes, []);
  });

  test('deletes the Endpoints of a deleted Service', async () => {
    const left: EndpointsObject = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'old', namespace: 'default', resourceVersion: '7' }, subsets: [] };
    const s = setup({ endpoints: [left] });
    await s.controller.sync('default/old');
    assert.deepEqual(s.writes.map((w) => `${w.verb} ${w.name}`), ['delete old']);
    await s.controller.sync('default/old');
    assert.equal(s.writes.length, 1, 'the cache still shows it, but it is known to be deleted');
  });

  test('a node turning NotReady queues the Services of its pods', async () => {
    const s = setup({ services: [service('web'), service('other', { selector: { app: 'other' } })], pods: [pod('a', { node: 'n1' })] });
    await drain(s.controller.queue);
    s.nodes.update(node('n1', 'Unknown'));
    assert.equal(s.controller.queue.length, 1);
    assert.equal(await s.controller.queue.get(), 'default/web');
  });

  test('a pod change that cannot change an endpoint queues nothing', async () => {
    const s = setup({ services: [service('web')], pods: [pod('a')] });
    await drain(s.controller.queue);
    const same = pod('a');
    s.pods.update({ ...same, metadata: { ...same.metadata, resourceVersion: '9', annotations: { note: 'x' } } });
    assert.equal(s.controller.queue.length, 0);
    s.pods.update(pod('a', { labels: { app: 'other' } }));
    assert.equal(s.controller.queue.length, 1, 'a pod that stops matching wakes the Service it left');
  });
});

describe('kubectl get endpoints column', () => {
  const ep = (subsets: EndpointsObject['subsets']): EndpointsObject => ({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'web' }, ...(subsets && { subsets }) });
  test('<none> without subsets, empty when every address is not ready, three then "+ N more..."', () => {
    assert.equal(formatEndpoints(ep(undefined)), '<none>');
    assert.equal(formatEndpoints(ep([{ notReadyAddresses: [{ ip: '10.42.0.1' }], ports: [{ port: 80 }] }])), '');
    assert.equal(formatEndpoints(ep([{ addresses: ['1', '2', '3', '4'].map((n) => ({ ip: `10.42.0.${n}` })), ports: [{ port: 80 }] }])),
      '10.42.0.1:80,10.42.0.2:80,10.42.0.3:80 + 1 more...');
    assert.equal(formatEndpoints(ep([{ addresses: [{ ip: 'fd00::1' }], ports: [{ port: 80 }] }])), '[fd00::1]:80');
  });
});
