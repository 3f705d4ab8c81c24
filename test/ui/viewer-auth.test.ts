// The read-only viewer token and the dashboard's public routes: what the API's authorizer lets a
// viewer do (read everything but secrets, read pod logs) and refuses (every write, joining,
// /metrics), and that /ui/ is served without a token while the API behind it is not.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { ForbiddenError } from '../../control-plane/api/errors.ts';
import { authorize, authorizePodLog, publicRoutes, type User } from '../../control-plane/apiserver/auth.ts';
import { prepareDataDir } from '../../control-plane/apiserver/bootstrap.ts';
import { dashboardPodsRoute, dashboardRoutes } from '../../control-plane/apiserver/ui.ts';
import { dashboardPod } from '../../control-plane/ui/pod-projection.ts';
import { buildTestApp, call, joinToken, podManifest } from '../support/app.ts';

const viewerToken = 'viewer-token-for-tests';
const viewer: User = { kind: 'viewer', name: 'labkube:viewer' };
let app: FastifyInstance;

before(async () => {
  app = await buildTestApp();
  app.authenticator.setViewerToken(viewerToken);
  assert.equal((await call(app, 'POST', '/api/v1/namespaces/default/pods', podManifest('web-1'))).status, 201);
  assert.equal((await call(app, 'POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'pi-1' } })).status, 201);
});
after(async () => { await app.close(); });

const asViewer = { token: viewerToken };

describe('the viewer token', () => {
  test('lists and gets every resource the dashboard draws', async () => {
    for (const path of ['/api/v1/nodes', '/api/v1/pods', '/api/v1/events', '/api/v1/services', '/apis/apps/v1/deployments',
      '/api/v1/namespaces/default/pods/web-1', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', '/api', '/apis']) {
      assert.equal((await call(app, 'GET', path, undefined, asViewer)).status, 200, path);
    }
  });

  test('is refused every write: 403 with the reason', async () => {
    const writes = [
      call(app, 'POST', '/api/v1/namespaces/default/pods', podManifest('web-2'), asViewer),
      call(app, 'PATCH', '/api/v1/nodes/pi-1', { spec: { unschedulable: true } }, { ...asViewer, contentType: 'application/merge-patch+json' }),
      call(app, 'DELETE', '/api/v1/namespaces/default/pods/web-1', undefined, asViewer),
      call(app, 'PUT', '/api/v1/namespaces/default/pods/web-1/status', podManifest('web-1'), asViewer),
    ];
    for (const res of await Promise.all(writes)) {
      assert.equal(res.status, 403);
      assert.match(res.body.message, /User "labkube:viewer" cannot .*the viewer token only reads/);
    }
    assert.equal((await call(app, 'GET', '/api/v1/namespaces/default/pods/web-1')).status, 200, 'the pod is still there');
  });

  test('may not join, nor read /metrics', async () => {
    assert.equal((await call(app, 'POST', '/labkube/v1/join', { nodeName: 'pi-9' }, asViewer)).status, 403);
    assert.equal((await call(app, 'GET', '/metrics', undefined, asViewer)).status, 403);
  });

  test('may not read secrets, should labkube ever store them', () => {
    assert.throws(() => authorize(viewer, { verb: 'list', group: '', version: 'v1', resource: 'secrets', path: '/api/v1/secrets' } as never, () => undefined), ForbiddenError);
  });

  test('may read pod logs; a node may not', () => {
    assert.doesNotThrow(() => authorizePodLog(viewer, 'default', 'web-1'));
    assert.throws(() => authorizePodLog({ kind: 'node', name: 'system:node:pi-1', nodeName: 'pi-1' }, 'default', 'web-1'), ForbiddenError);
  });

  test('is written on first start, owner-only, and kept on the next', () => {
    const dir = mkdtempSync(join(tmpdir(), 'labkube-viewer-'));
    try {
      const first = prepareDataDir(dir);
      assert.match(first.viewerToken, /^[0-9a-f]{64}$/);
      assert.equal(statSync(join(dir, 'viewer-token')).mode & 0o777, 0o600);
      assert.equal(prepareDataDir(dir).viewerToken, first.viewerToken);
      assert.notEqual(first.viewerToken, first.adminToken);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the dashboard routes', () => {
  test('are all public routes, and nothing else under /ui is', () => {
    for (const route of dashboardRoutes) assert.ok(publicRoutes.has(route), route);
  });

  test('serve the page and its assets without a token, compressed, with a strict CSP', async () => {
    const page = await app.inject({ method: 'GET', url: '/ui/', headers: { 'accept-encoding': 'gzip' } });
    assert.equal(page.statusCode, 200);
    assert.equal(page.headers['content-encoding'], 'gzip');
    assert.match(gunzipSync(page.rawPayload).toString(), /<script type="module" src="app.js">/);
    assert.match(String(page.headers['content-security-policy']), /default-src 'none'; script-src 'self'/);
    const script = await app.inject({ method: 'GET', url: '/ui/app.js', headers: { 'accept-encoding': 'br, gzip' } });
    assert.equal(script.statusCode, 200);
    assert.equal(script.headers['content-encoding'], 'br');
    assert.ok(script.rawPayload.length < 100_000, `app.js is ${script.rawPayload.length} bytes compressed`);
    const again = await app.inject({ method: 'GET', url: '/ui/app.js', headers: { 'if-none-match': String(script.headers.etag) } });
    assert.equal(again.statusCode, 304);
    assert.equal((await app.inject({ method: 'GET', url: '/ui' })).headers.location, '/ui/');
    assert.equal((await app.inject({ method: 'GET', url: '/ui/missing.js' })).statusCode, 404);
  });

  test('do not open the API: without a token it is still 401', async () => {
    assert.equal((await app.inject({ method: 'GET', url: '/api/v1/pods' })).statusCode, 401);
    assert.equal((await app.inject({ method: 'GET', url: dashboardPodsRoute })).statusCode, 401);
  });

  test('list the pods in the page\'s cut, at the API list\'s revision, to a token that may list pods', async () => {
    const full = await call(app, 'GET', '/api/v1/pods', undefined, asViewer);
    const cut = await call(app, 'GET', dashboardPodsRoute, undefined, asViewer);
    assert.equal(cut.status, 200);
    assert.equal(cut.body.metadata.resourceVersion, full.body.metadata.resourceVersion);
    assert.deepEqual(cut.body.items, full.body.items.map(dashboardPod));
    assert.ok(JSON.stringify(cut.body).length < JSON.stringify(full.body).length / 2, 'at most half the bytes');
    assert.equal((await call(app, 'GET', dashboardPodsRoute, undefined, { token: joinToken })).status, 403);
  });
});
