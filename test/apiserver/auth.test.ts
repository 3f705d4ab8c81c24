// Issue 9, identity: the join token may not take over a node, and a node credential may do what
// Kubernetes' Node authorizer and NodeRestriction allow a kubelet, and no more.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { isRestrictedNodeLabel } from '../../control-plane/apiserver/auth.ts';
import { adminToken, buildTestApp, call, joinToken, podManifest } from '../support/app.ts';

let app: FastifyInstance;
before(async () => { app = await buildTestApp(); });
after(async () => { await app.close(); });

const join = (nodeName: string, token = joinToken, extra: Record<string, unknown> = {}) =>
  call(app, 'POST', '/labkube/v1/join', { nodeName, ...extra }, { token });
const nodeObject = (name: string, metadata: Record<string, unknown> = {}, spec: Record<string, unknown> = {}) =>
  ({ apiVersion: 'v1', kind: 'Node', metadata: { name, ...metadata }, spec });
const merge = { contentType: 'application/merge-patch+json' };

/** Joins and registers a node; returns its credential. */
async function registered(name: string): Promise<string> {
  const res = await join(name);
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const token = res.body.token as string;
  assert.equal((await call(app, 'POST', '/api/v1/nodes', nodeObject(name, { labels: { 'kubernetes.io/hostname': name } }), { token })).status, 201);
  return token;
}

describe('joining', () => {
  test('the join token cannot take over a registered node: 409, and the real node keeps working', async () => {
    const real = await registered('board2');
    const takeover = await join('board2');
    assert.equal(takeover.status, 409);
    assert.equal(takeover.body.kind, 'Status');
    assert.match(takeover.body.message, /kubectl delete node board2/);
    assert.equal(takeover.body.token, undefined);
    assert.equal((await call(app, 'GET', '/api/v1/nodes/board2', undefined, { token: real })).status, 200, 'the real credential still works');
  });

  test('a node rotates its own credential, with it as bearer or as currentToken beside the join token', async () => {
    const first = await registered('board3');
    const second = await join('board3', first);
    assert.equal(second.status, 201);
    assert.equal((await call(app, 'GET', '/api/v1/nodes', undefined, { token: first })).status, 401, 'the old credential is revoked');
    const third = await join('board3', joinToken, { currentToken: second.body.token });
    assert.equal(third.status, 201);
    assert.equal((await call(app, 'GET', '/api/v1/nodes', undefined, { token: third.body.token })).status, 200);
    assert.equal((await join('board3', joinToken, { currentToken: first })).status, 409, 'a revoked credential proves nothing');
    assert.equal((await join('board2', third.body.token)).status, 403, 'a node may not renew another node');
  });

  test('deleting the Node drops its credential, and then the board may join again', async () => {
    const old = await registered('board4');
    assert.equal((await call(app, 'DELETE', '/api/v1/nodes/board4')).status, 200);
    assert.equal((await call(app, 'GET', '/api/v1/pods', undefined, { token: old })).status, 401, 'the deleted node\'s credential is gone');
    const again = await join('board4');
    assert.equal(again.status, 201);
    assert.equal((await call(app, 'POST', '/api/v1/nodes', nodeObject('board4'), { token: again.body.token })).status, 201);
  });

  test('the admin may reset a node\'s credential', async () => {
    const old = await registered('board5');
    const reset = await join('board5', adminToken);
    assert.equal(reset.status, 201, 'the admin joins on the board\'s behalf');
    assert.equal((await call(app, 'GET', '/api/v1/pods', undefined, { token: old })).status, 401);
  });

  test('a credential whose Node was never registered may be replaced (a crash between join and register)', async () => {
    const first = await join('board6');
    const second = await join('board6');
    assert.equal(second.status, 201);
    assert.equal((await call(app, 'GET', '/api/v1/pods', undefined, { token: first.body.token })).status, 401);
  });

  test('a node may delete its own Node (as in Kubernetes), which ends its credential too', async () => {
    const token = await registered('board7');
    assert.equal((await call(app, 'DELETE', '/api/v1/nodes/board2', undefined, { token })).status, 403, 'not another node');
    assert.equal((await call(app, 'DELETE', '/api/v1/nodes/board7', undefined, { token })).status, 200);
    assert.equal((await call(app, 'GET', '/api/v1/pods', undefined, { token })).status, 401);
  });
});

describe('what the join token and nodes may read outside the resource API', () => {
  test('the join token reads nothing: not metrics, not OpenAPI, not discovery', async () => {
    for (const path of ['/metrics', '/metric%73', '/openapi/v3', '/api', '/apis', '/api/v1', '/api/v1/pods', '/nothing-here']) {
      const res = await call(app, 'GET', path, undefined, { token: joinToken });
      assert.equal(res.status, 403, path);
      assert.equal(res.body.kind, 'Status');
    }
    assert.equal((await call(app, 'GET', '/version', undefined, { token: joinToken })).status, 200, '/version is public');
  });

  test('a node reads discovery and OpenAPI but not metrics', async () => {
    const token = await registered('reader');
    assert.equal((await call(app, 'GET', '/metrics', undefined, { token })).status, 403);
    assert.equal((await call(app, 'GET', '/metric%73', undefined, { token })).status, 403);
    for (const path of ['/api', '/apis', '/api/v1', '/openapi/v3']) assert.equal((await call(app, 'GET', path, undefined, { token })).status, 200, path);
  });

  test('a node lists and watches what its proxy, DNS and pod worker need, cluster-wide, and not events or logs', async () => {
    const token = await registered('lister');
    for (const path of ['/api/v1/pods', '/api/v1/services', '/api/v1/endpoints', '/apis/discovery.k8s.io/v1/endpointslices',
      '/api/v1/nodes', '/api/v1/namespaces', '/api/v1/namespaces/kube-node-lease/pods', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases']) {
      assert.equal((await call(app, 'GET', path, undefined, { token })).status, 200, path);
      const watch = await call(app, 'GET', `${path}?watch=1&timeoutSeconds=1`, undefined, { token });
      assert.equal(watch.status, 200, `watch ${path}`);
    }
    assert.equal((await call(app, 'GET', '/api/v1/events', undefined, { token })).status, 403);
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const withLogs = await buildTestApp({ podLogSigningKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() });
    try {
      const logReader = (await call(withLogs, 'POST', '/labkube/v1/join', { nodeName: 'log-reader' }, { token: joinToken })).body.token;
      await call(withLogs, 'POST', '/api/v1/namespaces/default/pods', podManifest('logs-of'));
      assert.equal((await call(withLogs, 'GET', '/api/v1/namespaces/default/pods/logs-of/log', undefined, { token: logReader })).status, 403);
    } finally {
      await withLogs.close();
    }
  });
});

describe('NodeRestriction on a node\'s own Node', () => {
  test('registering with node-role or node-restriction labels is forbidden; kubelet labels are fine', async () => {
    const token = (await join('labeller')).body.token;
    for (const label of ['node-role.kubernetes.io/control-plane', 'node-restriction.kubernetes.io/secure', 'kubernetes.io/made-up', 'sub.k8s.io/x']) {
      const res = await call(app, 'POST', '/api/v1/nodes', nodeObject('labeller', { labels: { [label]: 'true' } }), { token });
      assert.equal(res.status, 403, label);
    }
    const allowed = { 'kubernetes.io/hostname': 'labeller', 'kubernetes.io/arch': 'arm64', 'node.kubernetes.io/instance-type': 'pi4', 'kubelet.kubernetes.io/x': 'y', 'example.com/rack': 'a', plain: 'ok' };
    assert.equal((await call(app, 'POST', '/api/v1/nodes', nodeObject('labeller', { labels: allowed }, { taints: [{ key: 'lab', effect: 'NoSchedule' }] }), { token })).status, 201);
  });

  test('a node may not add, change or remove restricted labels, taints or owners on its Node; the admin may', async () => {
    const own = (await join('restricted')).body.token as string;
    assert.equal((await call(app, 'POST', '/api/v1/nodes', nodeObject('restricted'), { token: own })).status, 201);
    const patch = (body: unknown, t = own) => call(app, 'PATCH', '/api/v1/nodes/restricted', body, { ...merge, token: t });
    assert.equal((await patch({ metadata: { labels: { 'node-role.kubernetes.io/master': '' } } })).status, 403);
    assert.equal((await patch({ metadata: { labels: { 'node-restriction.kubernetes.io/x': 'y' } } })).status, 403);
    assert.equal((await patch({ metadata: { labels: { 'example.com/free': 'yes' } } })).status, 200);
    assert.equal((await patch({ spec: { taints: [{ key: 'gone', effect: 'NoSchedule' }] } })).status, 403, 'taints');
    assert.equal((await patch({ metadata: { ownerReferences: [{ apiVersion: 'v1', kind: 'Namespace', name: 'x', uid: '1' }] } })).status, 403, 'owners');
    const json = await call(app, 'PATCH', '/api/v1/nodes/restricted', [{ op: 'add', path: '/metadata/labels/node-role.kubernetes.io~1worker', value: '' }],
      { contentType: 'application/json-patch+json', token: own });
    assert.equal(json.status, 403, 'json patch');
    const current = (await call(app, 'GET', '/api/v1/nodes/restricted')).body;
    assert.equal((await call(app, 'PUT', '/api/v1/nodes/restricted', { ...current, metadata: { ...current.metadata, labels: { ...current.metadata.labels, 'node-role.kubernetes.io/x': '' } } }, { token: own })).status, 403, 'update');

    assert.equal((await patch({ metadata: { labels: { 'node-role.kubernetes.io/worker': '' } } }, adminToken)).status, 200, 'the admin gives a role');
    assert.equal((await patch({ metadata: { labels: { 'example.com/other': 'v' } } })).status, 200, 'an unrelated change keeps the role');
    assert.equal((await patch({ metadata: { labels: { 'node-role.kubernetes.io/worker': null } } })).status, 403, 'the node cannot drop it');
    assert.equal((await call(app, 'PATCH', '/api/v1/nodes/restricted/status', { status: { conditions: [{ type: 'Ready', status: 'True' }] } }, { ...merge, token: own })).status, 200, 'status writes go on');
    const labels = (await call(app, 'GET', '/api/v1/nodes/restricted')).body.metadata.labels;
    assert.deepEqual(Object.keys(labels).sort(), ['example.com/free', 'example.com/other', 'node-role.kubernetes.io/worker']);
  });

  test('the restricted label set is Kubernetes\'', () => {
    for (const key of ['node-role.kubernetes.io/x', 'node-restriction.kubernetes.io/x', 'a.node-restriction.kubernetes.io/x', 'kubernetes.io/role', 'k8s.io/x', 'foo.k8s.io/x']) {
      assert.ok(isRestrictedNodeLabel(key), key);
    }
    for (const key of ['kubernetes.io/hostname', 'kubernetes.io/os', 'beta.kubernetes.io/arch', 'topology.kubernetes.io/zone', 'node.kubernetes.io/x', 'x.kubelet.kubernetes.io/y', 'example.com/x', 'app', 'labkube.io/board']) {
      assert.ok(!isRestrictedNodeLabel(key), key);
    }
  });
});

describe('Events a node may write', () => {
  const event = (name: string, over: Record<string, unknown>) => ({
    apiVersion: 'v1', kind: 'Event', metadata: { name },
    involvedObject: { kind: 'Pod', apiVersion: 'v1', namespace: 'default', name: 'ev-pod' },
    reason: 'Started', message: 'started', type: 'Normal',
    source: { component: 'kubelet', host: 'ev-node' }, reportingComponent: 'kubelet', reportingInstance: 'ev-node', ...over,
  });
  let token: string;
  before(async () => {
    token = await registered('ev-node');
    await call(app, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'other-team' } });
    await call(app, 'POST', '/api/v1/namespaces/default/pods', { ...podManifest('ev-pod'), spec: { ...podManifest('x').spec, nodeName: 'ev-node' } });
    await call(app, 'POST', '/api/v1/namespaces/default/pods', { ...podManifest('elsewhere'), spec: { ...podManifest('x').spec, nodeName: 'board2' } });
  });
  const post = (ns: string, body: unknown) => call(app, 'POST', `/api/v1/namespaces/${ns}/events`, body, { token });

  test('about a pod bound to it, or about itself, reported as itself', async () => {
    assert.equal((await post('default', event('ok-pod', {}))).status, 201);
    const aboutNode = event('ok-node', { involvedObject: { kind: 'Node', name: 'ev-node' } });
    assert.equal((await post('default', aboutNode)).status, 201);
    assert.equal((await call(app, 'PATCH', '/api/v1/namespaces/default/events/ok-pod', { count: 2 }, { ...merge, token })).status, 200);
  });

  test('not posing as another component\'s host, nor about other nodes\' pods, nor in other namespaces', async () => {
    const cases: [string, string, Record<string, unknown>][] = [
      ['node controller', 'default', { source: { component: 'node-controller' }, reportingComponent: 'node-controller', reportingInstance: '' }],
      ['another host', 'default', { source: { component: 'kubelet', host: 'board2' }, reportingInstance: 'board2' }],
      ['mixed identity', 'default', { source: { component: 'kubelet', host: 'ev-node' }, reportingInstance: 'board2' }],
      ['another node\'s pod', 'default', { involvedObject: { kind: 'Pod', namespace: 'default', name: 'elsewhere' } }],
      ['a pod that does not exist', 'default', { involvedObject: { kind: 'Pod', namespace: 'default', name: 'ghost' } }],
      ['another namespace', 'other-team', { involvedObject: { kind: 'Pod', namespace: 'default', name: 'ev-pod' } }],
      ['another node', 'default', { involvedObject: { kind: 'Node', name: 'board2' } }],
      ['a deployment', 'default', { involvedObject: { kind: 'Deployment', namespace: 'default', name: 'web' } }],
    ];
    for (const [what, ns, over] of cases) {
      const res = await post(ns, event(`bad-${what.replace(/\W/g, '')}`, over));
      assert.equal(res.status, 403, what);
    }
    await call(app, 'POST', '/api/v1/namespaces/default/events', event('admins', { source: { component: 'node-controller' }, reportingInstance: '' }));
    assert.equal((await call(app, 'PATCH', '/api/v1/namespaces/default/events/admins', { count: 5 }, { ...merge, token })).status, 403, 'not another reporter\'s event');
    assert.equal((await call(app, 'PATCH', '/api/v1/namespaces/default/events/ok-pod', { source: { host: 'board2' } }, { ...merge, token })).status, 403, 'not re-attributed');
  });
});
