// Issue 9, items 2 and 5: no write may store an object past the size limit, a JSON patch that
// doubles a value 21 times stops at the limit without stalling the server, and labels and
// annotations keep Kubernetes' limits.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { maxAnnotationBytes, maxObjectBytes } from '../../control-plane/api/validation.ts';
import { applyPatch, jsonPatch } from '../../control-plane/apiserver/patch.ts';
import { buildTestApp, call, joinToken, podManifest } from '../support/app.ts';

let app: FastifyInstance;
let nodeToken: string;
const nodeName = 'limits-node';

before(async () => {
  app = await buildTestApp();
  nodeToken = (await call(app, 'POST', '/labkube/v1/join', { nodeName }, { token: joinToken })).body.token;
  const created = await call(app, 'POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: nodeName }, status: { capacity: { cpu: '4' } } }, { token: nodeToken });
  assert.equal(created.status, 201, JSON.stringify(created.body));
});
after(async () => { await app.close(); });

const pods = '/api/v1/namespaces/default/pods';
const jsonPatchType = { contentType: 'application/json-patch+json' };
const mergePatchType = { contentType: 'application/merge-patch+json' };
const revision = () => app.registry.store.revision();

/** `add` a value, then `copy` it into itself 21 times: each op doubles it (the probe's 1.3 KB patch). */
function amplificationPatch(): unknown[] {
  const ops: unknown[] = [{ op: 'add', path: '/status/nodeInfo', value: { machineID: 'x'.repeat(1000) } }];
  for (let i = 0; i < 21; i++) ops.push({ op: 'copy', from: '/status/nodeInfo', path: `/status/nodeInfo/c${i}` });
  return ops;
}

describe('patch amplification (item 2)', () => {
  test('the doubling JSON patch to a node status is refused with 413, quickly, and stores nothing', async () => {
    const before = revision();
    const started = performance.now();
    const res = await call(app, 'PATCH', `/api/v1/nodes/${nodeName}/status`, amplificationPatch(), { ...jsonPatchType, token: nodeToken });
    const elapsed = performance.now() - started;
    assert.equal(res.status, 413, JSON.stringify(res.body));
    assert.equal(res.body.kind, 'Status');
    assert.ok(elapsed < 1000, `took ${elapsed} ms`);
    assert.equal(revision(), before);
    assert.equal((await call(app, 'GET', `/api/v1/nodes/${nodeName}`)).body.status.nodeInfo, undefined);
  });

  test('/healthz answers within 1 s while amplification patches are being rejected', async () => {
    const patches = Array.from({ length: 5 }, () =>
      call(app, 'PATCH', `/api/v1/nodes/${nodeName}/status`, amplificationPatch(), { ...jsonPatchType, token: nodeToken }));
    const started = performance.now();
    const health = await app.inject({ method: 'GET', url: '/healthz' });
    const healthMs = performance.now() - started;
    const results = await Promise.all(patches);
    assert.equal(health.statusCode, 200);
    assert.ok(healthMs < 1000, `/healthz took ${healthMs} ms`);
    for (const r of results) assert.equal(r.status, 413);
  });

  test('the patch stops at the first op past the limit, before cloning it', () => {
    let copies = 0;
    const ops = amplificationPatch().map((op) => op);
    const counting = new Proxy(ops, {
      get(target, key, receiver) {
        if (typeof key === 'string' && /^\d+$/.test(key) && Number(key) > 0) copies = Math.max(copies, Number(key));
        return Reflect.get(target, key, receiver);
      },
    });
    assert.throws(() => jsonPatch({ status: {} }, counting), { code: 413 });
    // 1000 bytes doubled passes 1.5 MiB after about 11 copies; the other 10 are never applied.
    assert.ok(copies < 14, `read ${copies} ops`);
  });

  test('copy, add and merge patches past the limit are refused; at the limit they apply', () => {
    const big = 'x'.repeat(maxObjectBytes / 2);
    assert.throws(() => jsonPatch({ a: big }, [{ op: 'copy', from: '/a', path: '/b' }, { op: 'copy', from: '/a', path: '/c' }]), { code: 413 });
    assert.throws(() => applyPatch('application/merge-patch+json', { a: big }, { b: big, c: 'y'.repeat(1000) }), { code: 413 });
    assert.throws(() => applyPatch('application/strategic-merge-patch+json', { a: big }, { b: big, c: 'y'.repeat(1000) }), { code: 413 });
    // Removing before copying keeps the document small: the size is tracked both ways.
    const third = 'x'.repeat(maxObjectBytes / 3);
    const small = jsonPatch({ a: third }, [{ op: 'copy', from: '/a', path: '/b' }, { op: 'remove', path: '/a' }, { op: 'copy', from: '/b', path: '/a' }]);
    assert.equal((small as { a: string }).a.length, third.length);
  });

  test('a JSON patch of more than 10,000 operations, or one that loops copy and remove, is refused', () => {
    const many = Array.from({ length: 10_001 }, () => ({ op: 'test', path: '/a', value: 1 }));
    assert.throws(() => jsonPatch({ a: 1 }, many), { code: 413 });
    const big = 'x'.repeat(maxObjectBytes / 3);
    const churn = Array.from({ length: 5000 }, (_, i) => (i % 2 === 0 ? { op: 'copy', from: '/a', path: '/b' } : { op: 'remove', path: '/b' }));
    // Stopped by its work budget (a few of the 5,000 copies), not after copying gigabytes: the
    // message says which. The time bound is loose so that a loaded machine cannot fail it.
    const started = performance.now();
    assert.throws(() => jsonPatch({ a: big }, churn), { code: 413, message: /too much work/ });
    assert.ok(performance.now() - started < 10_000);
  });

  test('a field named __proto__ stays data and does not change the prototype', () => {
    const merged = applyPatch('application/merge-patch+json', { a: 1 }, JSON.parse('{"__proto__": {"polluted": true}}')) as Record<string, unknown>;
    assert.equal((merged as { polluted?: boolean }).polluted, undefined);
    assert.equal(Object.getPrototypeOf(merged), Object.prototype);
    const patched = jsonPatch({ a: 1 }, [{ op: 'add', path: '/__proto__', value: { polluted: true } }]) as Record<string, unknown>;
    assert.equal((patched as { polluted?: boolean }).polluted, undefined);
    assert.ok(Object.prototype.hasOwnProperty.call(patched, '__proto__'));
  });
});

describe('object size limit on every write (items 2 and 5)', () => {
  const huge = 'x'.repeat(maxObjectBytes + 1);

  test('create, update, patch and status writes past 1.5 MiB answer 413 and change nothing', async () => {
    const bigPod = { ...podManifest('big'), spec: { containers: [{ name: 'c', image: 'nginx', args: [huge] }] } };
    const before = revision();
    assert.equal((await call(app, 'POST', pods, bigPod)).status, 413);
    assert.equal((await call(app, 'POST', `${pods}?dryRun=All`, bigPod)).status, 413);
    assert.equal(revision(), before);

    assert.equal((await call(app, 'POST', pods, podManifest('grows'))).status, 201);
    const current = (await call(app, 'GET', `${pods}/grows`)).body;
    const at = revision();
    assert.equal((await call(app, 'PUT', `${pods}/grows`, { ...current, spec: { ...current.spec, containers: [{ ...current.spec.containers[0], image: 'nginx:2' }] }, extra: huge })).status, 413);
    assert.equal((await call(app, 'PATCH', `${pods}/grows`, { extra: huge }, mergePatchType)).status, 413);
    assert.equal((await call(app, 'PATCH', `${pods}/grows/status`, { status: { message: huge } }, mergePatchType)).status, 413);
    assert.equal((await call(app, 'PUT', `${pods}/grows/status`, { ...current, status: { ...current.status, message: huge } })).status, 413);
    assert.equal((await call(app, 'PATCH', `/api/v1/nodes/${nodeName}/status`, { status: { images: [{ names: [huge] }] } },
      { ...mergePatchType, token: nodeToken })).status, 413);
    assert.equal(revision(), at);
  });

  test('a 1 MB object is stored', async () => {
    const res = await call(app, 'POST', pods, { ...podManifest('large-ok'), spec: { containers: [{ name: 'c', image: 'nginx', args: ['y'.repeat(1024 * 1024)] }] } });
    assert.equal(res.status, 201);
  });
});

describe('labels, annotations and names (item 5)', () => {
  const withMeta = (meta: Record<string, unknown>) => ({ ...podManifest('meta'), metadata: { name: 'meta', ...meta } });
  const causeFields = (body: { details?: { causes?: { field?: string }[] } }) => (body.details?.causes ?? []).map((c) => c.field);

  test('label keys and values keep Kubernetes limits (63 characters, prefix 253), and values are strings', async () => {
    const bad: Record<string, unknown>[] = [
      { ['k'.repeat(64)]: 'v' }, { [`${'p'.repeat(254)}/k`]: 'v' }, { 'UPPER.example.com/k': 'v' }, { '/k': 'v' }, { 'a/b/c': 'v' },
      { k: 'v'.repeat(64) }, { k: '-v' }, { k: 7 }, { k: null }, { k: { nested: 'x' } },
    ];
    for (const labels of bad) {
      const res = await call(app, 'POST', pods, withMeta({ labels }));
      assert.equal(res.status, 422, JSON.stringify(labels).slice(0, 80));
      assert.ok(causeFields(res.body).some((f) => f?.startsWith('metadata.labels')), JSON.stringify(res.body).slice(0, 300));
    }
    const ok = { [`${'p'.repeat(253)}/${'k'.repeat(63)}`]: 'v'.repeat(63), empty: '' };
    assert.equal((await call(app, 'POST', `${pods}?dryRun=All`, withMeta({ labels: ok }))).status, 201);
  });

  test('annotations may total 256 KiB and have valid keys', async () => {
    const over = { a: 'x'.repeat(maxAnnotationBytes) };
    const res = await call(app, 'POST', pods, withMeta({ annotations: over }));
    assert.equal(res.status, 422);
    assert.deepEqual(causeFields(res.body), ['metadata.annotations']);
    const spread = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`k${i}`, 'x'.repeat(60 * 1024)]));
    assert.equal((await call(app, 'POST', pods, withMeta({ annotations: spread }))).status, 422);
    assert.equal((await call(app, 'POST', pods, withMeta({ annotations: { 'bad key': 'v' } }))).status, 422);
    assert.equal((await call(app, 'POST', pods, withMeta({ annotations: { k: 1 } }))).status, 422);
    assert.equal((await call(app, 'POST', `${pods}?dryRun=All`, withMeta({ annotations: { 'example.com/note': 'x'.repeat(200 * 1024) } }))).status, 201);
  });

  test('names keep their length limits: 253 for most kinds, 63 for namespaces and services', async () => {
    assert.equal((await call(app, 'POST', pods, withMeta({ name: 'a'.repeat(254) }))).status, 422);
    assert.equal((await call(app, 'POST', `${pods}?dryRun=All`, withMeta({ name: 'a'.repeat(253) }))).status, 201);
    const svc = (name: string) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { ports: [{ port: 80 }] } });
    assert.equal((await call(app, 'POST', '/api/v1/namespaces/default/services', svc('s'.repeat(64)))).status, 422);
    assert.equal((await call(app, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'n'.repeat(64) } })).status, 422);
  });

  test('services with 2.9 MB of valid labels are refused, so listing services never carries 50 MB', async () => {
    const labels = Object.fromEntries(Array.from({ length: 38_000 }, (_, i) => [`k${i}`, 'v'.repeat(63)]));
    const before = revision();
    for (let i = 0; i < 2; i++) {
      const res = await call(app, 'POST', '/api/v1/namespaces/default/services',
        { apiVersion: 'v1', kind: 'Service', metadata: { name: `labels-${i}`, labels }, spec: { ports: [{ port: 80 }] } });
      assert.equal(res.status, 413, JSON.stringify(res.body).slice(0, 300));
    }
    assert.equal(revision(), before);
  });
});

describe('nesting past what the body parser allows (item 4)', () => {
  const nested = (depth: number) => {
    let value: unknown = 1;
    for (let i = 0; i < depth; i++) value = { a: value };
    return value;
  };

  test('an object or patch nested 100,000 deep that reaches the registry is a 400, not a stack overflow', () => {
    const pods = app.registry.store.list('/pods/').items.length;
    const body = { ...podManifest('deep'), extra: nested(100_000) };
    assert.throws(() => app.registry.create(resourceFor('', 'pods')!, 'default', body), { code: 400 });
    assert.equal(app.registry.store.list('/pods/').items.length, pods);
    for (const type of ['application/merge-patch+json', 'application/strategic-merge-patch+json'] as const) {
      assert.throws(() => applyPatch(type, { a: 1 }, { b: nested(100_000) }), { code: 400 });
    }
    assert.throws(() => jsonPatch({ a: 1 }, [{ op: 'add', path: '/b', value: nested(100_000) }]), { code: 400 });
  });
});
