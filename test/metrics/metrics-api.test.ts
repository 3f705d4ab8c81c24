// metrics.k8s.io from memory (issues 11 and 14): who may push and read, the shapes kubectl top
// decodes, expiry of a node that stops pushing, and that nothing of it reaches the store.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { UsageReports } from '../../control-plane/apiserver/metrics-api.ts';
import type { UsageReport } from '../../control-plane/api/node-usage.ts';
import { buildTestApp, call, joinToken } from '../support/app.ts';
import { eventually } from '../support/server.ts';

let app: FastifyInstance;
const tokens: Record<string, string> = {};
const uids: Record<string, string> = {};

async function registered(name: string, labels: Record<string, string> = {}): Promise<string> {
  const joined = await call(app, 'POST', '/labkube/v1/join', { nodeName: name }, { token: joinToken });
  assert.equal(joined.status, 201, JSON.stringify(joined.body));
  const node = { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } },
    status: { allocatable: { cpu: '4', memory: '4Gi', pods: '110' } } };
  assert.equal((await call(app, 'POST', '/api/v1/nodes', node, { token: joined.body.token })).status, 201);
  return joined.body.token as string;
}

async function boundPod(namespace: string, name: string, nodeName: string, labels: Record<string, string> = {}): Promise<string> {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name, labels }, spec: { nodeName, containers: [{ name: 'web', image: 'nginx' }, { name: 'sidecar', image: 'busybox' }] } };
  const res = await call(app, 'POST', `/api/v1/namespaces/${namespace}/pods`, pod);
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.metadata.uid as string;
}

const report = (pods: UsageReport['pods'] = [], extra: Partial<UsageReport> = {}): UsageReport => ({
  windowSeconds: 15, intervalSeconds: 15, node: { cpuNanoCores: 1_500_000_000, memoryBytes: 2 * 2 ** 30, cpuTemperature: 48.25 }, pods, ...extra,
});
const podUsage = (namespace: string, name: string, uid: string) => ({
  namespace, name, uid, containers: [{ name: 'web', cpuNanoCores: 250_000_000, memoryBytes: 64 * 2 ** 20 }, { name: 'sidecar', cpuNanoCores: 1_000_000, memoryBytes: 2 ** 20 }],
});
const push = (node: string, body: unknown, token = tokens[node]) => call(app, 'PUT', `/labkube/v1/nodes/${node}/metrics`, body, token ? { token } : {});

before(async () => {
  app = await buildTestApp();
  tokens['pi-1'] = await registered('pi-1', { 'lab/rack': 'a' });
  tokens['pi-2'] = await registered('pi-2', { 'lab/rack': 'b' });
  assert.equal((await call(app, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'lab' } })).status, 201);
  uids['default/web-1'] = await boundPod('default', 'web-1', 'pi-1', { app: 'web' });
  uids['default/web-2'] = await boundPod('default', 'web-2', 'pi-2', { app: 'web' });
  uids['lab/sensor'] = await boundPod('lab', 'sensor', 'pi-1', { app: 'sensor' });
});
after(async () => { await app.close(); });

describe('discovery', () => {
  test('lists metrics.k8s.io/v1beta1 with nodes and pods, get and list only, as metrics-server does', async () => {
    const groups = (await call(app, 'GET', '/apis')).body.groups as { name: string; preferredVersion: { groupVersion: string } }[];
    assert.equal(groups.find((g) => g.name === 'metrics.k8s.io')?.preferredVersion.groupVersion, 'metrics.k8s.io/v1beta1');
    assert.equal((await call(app, 'GET', '/apis/metrics.k8s.io')).body.preferredVersion.version, 'v1beta1');
    const list = await call(app, 'GET', '/apis/metrics.k8s.io/v1beta1');
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.resources.map((r: { name: string; kind: string; namespaced: boolean; verbs: string[] }) => [r.name, r.kind, r.namespaced, r.verbs]),
      [['nodes', 'NodeMetrics', false, ['get', 'list']], ['pods', 'PodMetrics', true, ['get', 'list']]]);
  });
});

describe('pushing', () => {
  test('a node pushes its own figures; pods not bound to it, or an older pod of the same name, are dropped and named', async () => {
    const res = await push('pi-1', report([
      podUsage('default', 'web-1', uids['default/web-1']!),
      podUsage('lab', 'sensor', uids['lab/sensor']!),
      podUsage('default', 'web-2', uids['default/web-2']!), // bound to pi-2
      podUsage('default', 'ghost', 'no-such-uid'),
    ]));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body, { kind: 'UsageReportAnswer', acceptedPods: 2, ignoredPods: ['default/web-2', 'default/ghost'] });
    const stale = await push('pi-1', report([{ ...podUsage('default', 'web-1', 'an-older-uid') }]));
    assert.deepEqual(stale.body.ignoredPods, ['default/web-1']);
    // Put pi-1's real figures back for the reading tests below.
    assert.equal((await push('pi-1', report([podUsage('default', 'web-1', uids['default/web-1']!), podUsage('lab', 'sensor', uids['lab/sensor']!)]))).status, 200);
  });

  test('a node may not push for another node, nor the join token for any; the admin may', async () => {
    const other = await push('pi-2', report(), tokens['pi-1']);
    assert.equal(other.status, 403);
    assert.match(other.body.message, /may only report its own usage/);
    assert.equal((await push('pi-2', report(), joinToken)).status, 403);
    assert.equal((await push('pi-2', report(), 'not-a-token')).status, 401);
    const admin = await call(app, 'PUT', '/labkube/v1/nodes/pi-2/metrics', report([podUsage('default', 'web-2', uids['default/web-2']!)]));
    assert.equal(admin.status, 200);
    assert.equal(admin.body.acceptedPods, 1);
  });

  test('a malformed report is a 400 naming the field; an unknown node a 404', async () => {
    const bad = await push('pi-1', { ...report(), node: { cpuNanoCores: -1, memoryBytes: 1 } });
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /\/node\/cpuNanoCores/);
    assert.equal((await push('pi-1', { ...report(), pods: 'all' })).status, 400);
    assert.equal((await push('pi-1', 'not json', tokens['pi-1'])).status, 400);
    assert.equal((await call(app, 'PUT', '/labkube/v1/nodes/nowhere/metrics', report())).status, 404);
  });

  test('pushes never reach the store: its revision does not move', async () => {
    const before = app.registry.store.revision();
    for (let i = 0; i < 5; i++) assert.equal((await push('pi-1', report([podUsage('default', 'web-1', uids['default/web-1']!), podUsage('lab', 'sensor', uids['lab/sensor']!)]))).status, 200);
    assert.equal(app.registry.store.revision(), before);
  });
});

describe('reading', () => {
  test('NodeMetrics list and get: kubectl\'s shapes, CPU in n, memory in Ki, the node\'s labels, temperature as an annotation', async () => {
    const list = await call(app, 'GET', '/apis/metrics.k8s.io/v1beta1/nodes');
    assert.equal(list.status, 200);
    assert.equal(list.body.kind, 'NodeMetricsList');
    assert.equal(list.body.apiVersion, 'metrics.k8s.io/v1beta1');
    assert.deepEqual(list.body.items.map((m: { metadata: { name: string } }) => m.metadata.name), ['pi-1', 'pi-2']);
    const one = await call(app, 'GET', '/apis/metrics.k8s.io/v1beta1/nodes/pi-1');
    assert.equal(one.status, 200);
    assert.equal(one.body.kind, 'NodeMetrics');
    assert.deepEqual(one.body.usage, { cpu: '1500000000n', memory: '2097152Ki' });
    assert.equal(one.body.window, '15s');
    assert.match(one.body.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.match(one.body.metadata.creationTimestamp, /Z$/);
    assert.equal(one.body.metadata.labels['lab/rack'], 'a');
    assert.equal(one.body.metadata.annotations['labkube.io/cpu-temperature'], '48.3');
    const selected = await call(app, 'GET', '/apis/metrics.k8s.io/v1beta1/nodes?labelSelector=lab%2Frack%3Db');
    assert.deepEqual(selected.body.items.map((m: { metadata: { name: string } }) => m.metadata.name), ['pi-2']);
    const missing = await call(app, 'GET', '/apis/metrics.k8s.io/v1beta1/nodes/pi-9');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.message, 'nodemetrics.metrics.k8s.io "pi-9" not found');
  });

  test('PodMetrics by namespace, across namespaces, by label and by name; each container in n and Ki', async () => {
    const inDefault = await call(app, 'GET', '/apis/metrics.k8s.io/v1beta1/namespaces/default/pods');
    assert.equal(inDefault.body.kind, 'PodMetricsList');
    assert.deepEqual(inDefault.body.items.map((m: { metadata: { name: string } }) => m.metadata.name), ['web-1', 'web-2']);
    const all = await call(app, 'GET', '/apis/metrics.k8s.io/v1beta1/pods');
    assert.deepEqual(all.body.items.map((m: { metadata: { namespace: string; name: string } }) => `${m.metadata.namespace}/${m.metadata.name}`), ['default/web-1', 'default/web-2', 'lab/sensor']);
    const labelled = await call(app, 'GET', '/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app%3Dsensor');
    assert.deepEqual(labelled.body.items.map((m: { metadata: { name: string } }) => m.metadata.name), ['sensor']);
    const byField = await call(app, 'GET', '/apis/metrics.k8s.io/v1beta1/pods?fieldSelector=spec.nodeName%3Dpi-2');
    assert.deepEqual(byField.body.items.map((m: { metadata: { name: string } }) => m.metadata.name), ['web-2']);
    const one = await call(app, 'GET', '/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web-1');
    assert.equal(one.body.kind, 'PodMetrics');
    assert.equal(one.body.metadata.namespace, 'default');
    assert.equal(one.body.metadata.labels.app, 'web');
    assert.deepEqual(one.body.containers, [
      { name: 'web', usage: { cpu: '250000000n', memory: '65536Ki' } },
      { name: 'sidecar', usage: { cpu: '1000000n', memory: '1024Ki' } },
    ]);
    const missing = await call(app, 'GET', '/apis/metrics.k8s.io/v1beta1/namespaces/lab/pods/nope');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.message, 'podmetrics.metrics.k8s.io "lab/nope" not found');
  });

  test('the read-only viewer reads metrics but may not push them', async () => {
    const viewer = 'viewer-token-for-metrics-tests';
    app.authenticator.setViewerToken(viewer);
    const list = await call(app, 'GET', '/apis/metrics.k8s.io/v1beta1/nodes', undefined, { token: viewer });
    assert.equal(list.status, 200);
    assert.ok(list.body.items.length >= 2);
    assert.equal((await call(app, 'GET', '/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web-1', undefined, { token: viewer })).status, 200);
    const pushed = await push('pi-1', report(), viewer);
    assert.equal(pushed.status, 403);
  });

  test('a node credential may not read metrics, the join token neither; watch is not served', async () => {
    assert.equal((await call(app, 'GET', '/apis/metrics.k8s.io/v1beta1/nodes', undefined, { token: tokens['pi-1'] })).status, 403);
    assert.equal((await call(app, 'GET', '/apis/metrics.k8s.io/v1beta1/pods', undefined, { token: tokens['pi-1'] })).status, 403);
    assert.equal((await call(app, 'GET', '/apis/metrics.k8s.io/v1beta1/nodes', undefined, { token: joinToken })).status, 403);
    assert.equal((await call(app, 'GET', '/apis/metrics.k8s.io/v1beta1/pods?watch=true')).status, 405);
  });

  test('a deleted pod and a deleted Node disappear at once', async () => {
    const uid = await boundPod('default', 'brief', 'pi-2');
    tokens['pi-3'] = await registered('pi-3');
    await push('pi-3', report());
    await call(app, 'PUT', '/labkube/v1/nodes/pi-2/metrics', report([podUsage('default', 'web-2', uids['default/web-2']!), podUsage('default', 'brief', uid)]));
    assert.equal((await call(app, 'GET', '/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/brief')).status, 200);
    assert.equal((await call(app, 'DELETE', '/api/v1/namespaces/default/pods/brief?gracePeriodSeconds=0')).status, 200);
    assert.equal((await call(app, 'GET', '/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/brief')).status, 404);
    assert.ok(!(await call(app, 'GET', '/apis/metrics.k8s.io/v1beta1/pods')).body.items.some((m: { metadata: { name: string } }) => m.metadata.name === 'brief'));
    assert.equal((await call(app, 'DELETE', '/api/v1/nodes/pi-3')).status, 200);
    assert.equal((await call(app, 'GET', '/apis/metrics.k8s.io/v1beta1/nodes/pi-3')).status, 404);
    assert.ok(!(await call(app, 'GET', '/apis/metrics.k8s.io/v1beta1/nodes')).body.items.some((m: { metadata: { name: string } }) => m.metadata.name === 'pi-3'));
  });
});

describe('expiry', () => {
  test('a report is kept for three missed pushes and half an interval more, then forgotten', () => {
    let now = 1_000_000;
    const reports = new UsageReports(() => now);
    reports.put('pi-1', report([], { intervalSeconds: 10 }), []);
    now += 35_000; // three pushes missed, the fourth may be late
    assert.ok(reports.get('pi-1'));
    assert.equal(reports.fresh().length, 1);
    now += 1;
    assert.equal(reports.get('pi-1'), undefined);
    assert.equal(reports.fresh().length, 0);
    reports.put('pi-1', report([], { intervalSeconds: 10 }), []);
    assert.ok(reports.get('pi-1'), 'a push brings it back');
  });

  test('through the API: a node that stops pushing leaves kubectl top within three intervals, and not before', async () => {
    tokens['pi-4'] = await registered('pi-4');
    const pushedAt = Date.now();
    assert.equal((await push('pi-4', report([], { intervalSeconds: 1 }))).status, 200);
    const present = async () => (await call(app, 'GET', '/apis/metrics.k8s.io/v1beta1/nodes')).body.items.some((m: { metadata: { name: string } }) => m.metadata.name === 'pi-4');
    assert.ok(await present());
    await eventually(async () => !(await present()), 30_000, 'pi-4 to expire');
    assert.ok(Date.now() - pushedAt >= 3_500, `expired after ${Date.now() - pushedAt} ms, before three missed pushes`);
    assert.equal((await call(app, 'GET', '/apis/metrics.k8s.io/v1beta1/nodes/pi-4')).status, 404);
  });
});
