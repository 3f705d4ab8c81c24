// ConfigMaps and Secrets through the API: the rules Kubernetes' ValidateConfigMap and
// ValidateSecret keep, stringData folded into data, immutability, and Secrets hidden from the
// viewer token.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildTestApp, call } from '../support/app.ts';

const configmaps = '/api/v1/namespaces/default/configmaps';
const secrets = '/api/v1/namespaces/default/secrets';
const cm = (name: string, extra: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, ...extra });
const secret = (name: string, extra: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, ...extra });

describe('ConfigMaps and Secrets', () => {
  let app: FastifyInstance;
  before(async () => {
    app = await buildTestApp();
    app.authenticator.setViewerToken('viewer-token-for-tests');
  });
  after(async () => { await app.close(); });

  test('a ConfigMap stores text and binary data; bad keys, a key in both maps, or bad base64 are 422s that write nothing', async () => {
    const ok = await call(app, 'POST', configmaps, cm('game', { data: { 'game.properties': 'lives=3\n', mode: 'easy' }, binaryData: { logo: Buffer.from([0, 1, 2]).toString('base64') } }));
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    assert.equal(ok.body.metadata.generation, undefined, 'no spec, no generation');
    for (const [body, field] of [
      [cm('bad', { data: { 'no/slash': 'x' } }), 'data[no/slash]'],
      [cm('bad', { data: { '..': 'x' } }), 'data[..]'],
      [cm('bad', { data: { a: 'x' }, binaryData: { a: 'eA==' } }), 'data[a]'],
      [cm('bad', { binaryData: { a: 'not base64!' } }), 'binaryData[a]'],
      [cm('bad', { data: { big: 'x'.repeat(1024 * 1024 + 1) } }), 'data'],
    ] as const) {
      const res = await call(app, 'POST', configmaps, body);
      assert.ok(res.status === 422 || res.status === 413, `${field}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
      if (res.status === 422) assert.ok(res.body.details.causes.some((c: { field: string }) => c.field === field), JSON.stringify(res.body.details.causes));
    }
    assert.equal((await call(app, 'GET', `${configmaps}/bad`)).status, 404);
  });

  test('stringData is folded into data as base64 and never stored', async () => {
    const res = await call(app, 'POST', secrets, secret('folded', { data: { a: Buffer.from('1').toString('base64') }, stringData: { b: 'two' } }));
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.deepEqual(res.body.data, { a: 'MQ==', b: 'dHdv' });
    assert.equal(res.body.stringData, undefined);
    assert.equal(res.body.type, 'Opaque');
    const patched = await call(app, 'PATCH', `${secrets}/folded`, { stringData: { a: 'one' } }, { contentType: 'application/merge-patch+json' });
    assert.equal(Buffer.from(patched.body.data.a, 'base64').toString(), 'one');
    assert.equal(patched.body.stringData, undefined);
  });

  test('a Secret type requires its keys, and the type cannot change', async () => {
    const tls = await call(app, 'POST', secrets, secret('tls', { type: 'kubernetes.io/tls', data: { 'tls.crt': 'eA==' } }));
    assert.equal(tls.status, 422);
    assert.match(tls.body.message, /data\[tls\.key\]: Required value/);
    assert.equal((await call(app, 'POST', secrets, secret('typed', { stringData: { a: 'b' } }))).status, 201);
    const retyped = await call(app, 'PATCH', `${secrets}/typed`, { type: 'example.com/other' }, { contentType: 'application/merge-patch+json' });
    assert.equal(retyped.status, 422);
    assert.match(retyped.body.message, /type: Invalid value: "example.com\/other": field is immutable/);
  });

  test('an immutable ConfigMap keeps its data, and stays immutable', async () => {
    assert.equal((await call(app, 'POST', configmaps, cm('frozen', { data: { a: '1' }, immutable: true }))).status, 201);
    const changed = await call(app, 'PATCH', `${configmaps}/frozen`, { data: { a: '2' } }, { contentType: 'application/merge-patch+json' });
    assert.equal(changed.status, 422);
    assert.match(changed.body.message, /data: Forbidden: field is immutable when `immutable` is set/);
    const thawed = await call(app, 'PATCH', `${configmaps}/frozen`, { immutable: false }, { contentType: 'application/merge-patch+json' });
    assert.equal(thawed.status, 422);
    const labelled = await call(app, 'PATCH', `${configmaps}/frozen`, { metadata: { labels: { a: 'b' } } }, { contentType: 'application/merge-patch+json' });
    assert.equal(labelled.status, 200, 'metadata may still change');
  });

  test('the viewer token reads ConfigMaps but not Secrets', async () => {
    const token = 'viewer-token-for-tests';
    assert.equal((await call(app, 'GET', configmaps, undefined, { token })).status, 200);
    assert.equal((await call(app, 'GET', secrets, undefined, { token })).status, 403);
    assert.equal((await call(app, 'GET', `${secrets}/folded`, undefined, { token })).status, 403);
  });
});
