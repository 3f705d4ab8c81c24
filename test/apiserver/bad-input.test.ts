// Throws a few thousand generated bad requests at every route, then checks that the server
// still answers and that the store holds exactly what it held before: every bad input gets a
// clear 4xx Status and changes nothing.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { resources } from '../../control-plane/api/resources.ts';
import { MemoryStore } from '../../control-plane/store/memory.ts';
import { RoutedStore } from '../../control-plane/store/routed.ts';
import { SqliteStore } from '../../control-plane/store/sqlite.ts';
import { adminToken, buildTestApp, call, deploymentManifest, joinToken, podManifest } from '../support/app.ts';

const requestCount = 3000;
let app: FastifyInstance;
let store: RoutedStore;
let nodeToken: string;

/** A small deterministic PRNG (mulberry32), so a failure can be replayed from its seed. */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

before(async () => {
  store = new RoutedStore(new SqliteStore({ path: ':memory:', compactIntervalMs: 0 }), new MemoryStore(), ['/coordination.k8s.io/leases/']);
  app = await buildTestApp({ store, bodyLimit: 64 * 1024 });
  await call(app, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fuzz' } });
  await call(app, 'POST', '/api/v1/namespaces/fuzz/pods', { ...podManifest('web'), spec: { ...podManifest('x').spec, nodeName: 'pi-1' } });
  await call(app, 'POST', '/apis/apps/v1/namespaces/fuzz/deployments', deploymentManifest('web'));
  await call(app, 'POST', '/api/v1/namespaces/fuzz/services', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { ports: [{ port: 80 }] } });
  nodeToken = (await call(app, 'POST', '/labkube/v1/join', { nodeName: 'pi-9' }, { token: joinToken })).body.token;
  await call(app, 'POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'pi-9' } }, { token: nodeToken });
});
after(async () => { await app.close(); });

function snapshot(): string {
  const all = resources.flatMap((r) => store.list(`/${r.group ? `${r.group}/` : ''}${r.plural}/`).items);
  return JSON.stringify({ revision: store.revision(), all });
}

const all = ['Pod', 'Deployment', 'Service', 'Node'];
const namespaced = ['Pod', 'Deployment', 'Service'];
/** Values that are invalid for the kinds listed (an unknown field is not invalid: it is kept, with a warning). */
const invalidValues: [kinds: string[], path: string[], value: unknown][] = [
  [all, ['metadata', 'name'], 'UPPER'], [all, ['metadata', 'name'], 'a_b'], [all, ['metadata', 'name'], '-x'],
  [all, ['metadata', 'name'], 'x'.repeat(300)], [all, ['metadata', 'name'], 42], [all, ['metadata'], []], [all, ['metadata'], 'meta'],
  [all, ['metadata', 'labels'], { 'bad key!': 'v' }], [all, ['metadata', 'labels'], { a: 'x'.repeat(70) }],
  [all, ['metadata', 'labels'], 'str'], [all, ['metadata', 'labels'], { a: 1 }], [namespaced, ['metadata', 'namespace'], 'other'],
  [all, ['apiVersion'], 'v2'], [all, ['apiVersion'], 'apps/v9'], [all, ['kind'], 'Nope'], [all, ['spec'], 'x'], [all, ['spec'], []],
  [['Pod'], ['spec', 'containers'], 'x'], [['Pod'], ['spec', 'containers'], []], [['Pod'], ['spec', 'containers'], [{}]],
  [['Pod'], ['spec', 'containers'], [{ name: 'a' }]], [['Pod'], ['spec', 'containers'], [{ name: 1, image: 2 }]],
  [['Pod'], ['spec', 'containers'], [{ name: 'a', image: 'x' }, { name: 'a', image: 'y' }]],
  [['Pod'], ['spec', 'containers'], [{ name: 'a', image: 'x', ports: [{ containerPort: 0 }] }]],
  [['Pod'], ['spec', 'containers'], [{ name: 'a', image: 'x', ports: [{ containerPort: 70000 }] }]],
  [['Pod'], ['spec', 'restartPolicy'], 'Sometimes'], [['Pod'], ['spec', 'terminationGracePeriodSeconds'], -5],
  [['Deployment'], ['spec', 'replicas'], -1], [['Deployment'], ['spec', 'replicas'], 'three'], [['Deployment'], ['spec', 'replicas'], 1.5],
  [['Deployment'], ['spec', 'selector'], {}], [['Deployment'], ['spec', 'selector'], { matchLabels: { app: 'other' } }],
  [['Deployment'], ['spec', 'template'], 'x'], [['Service'], ['spec', 'ports'], [{ port: 0 }]],
  [['Service'], ['spec', 'ports'], [{ port: 'http' }]], [['Service'], ['spec', 'type'], 'Magic'],
  [['Node'], ['spec', 'taints'], [{ key: 'a', effect: 'Sometimes' }]], [['Node'], ['spec', 'unschedulable'], 'yes'],
];

const rawBodies = ['{', '[', '{"a":', 'nul', '}{', '\u0000\u0001', '{"metadata":{"name":"x"}', 'ȁ\uffff', '[]', '"string"', '12', 'null', 'true'];
const yamlBodies = ['a: [', 'a: {b', '- - - [', 'key: "unterminated', '%YAML 9.9\n---\na: 1', 'a: &x [*x]'];

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): Record<string, unknown> {
  const copy = structuredClone(obj);
  let cur: Record<string, unknown> = copy;
  for (const key of path.slice(0, -1)) {
    if (cur[key] === null || typeof cur[key] !== 'object' || Array.isArray(cur[key])) cur[key] = {};
    cur = cur[key] as Record<string, unknown>;
  }
  cur[path[path.length - 1]!] = value;
  return copy;
}

interface BadRequest { method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'; url: string; body?: unknown; contentType?: string; token?: string }

function generate(random: () => number): BadRequest {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const targets = [
    { kind: 'Pod', collection: '/api/v1/namespaces/fuzz/pods', name: 'web', manifest: podManifest('web') as Record<string, unknown> },
    { kind: 'Deployment', collection: '/apis/apps/v1/namespaces/fuzz/deployments', name: 'web', manifest: deploymentManifest('web') as Record<string, unknown> },
    { kind: 'Service', collection: '/api/v1/namespaces/fuzz/services', name: 'web', manifest: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { ports: [{ port: 80 }] } } },
    { kind: 'Node', collection: '/api/v1/nodes', name: 'pi-9', manifest: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'pi-9' } } },
  ];
  const t = pick(targets);
  const forKind = invalidValues.filter(([kinds]) => kinds.includes(t.kind));
  const [, path, value] = pick(forKind);
  // A merge patch merges objects into what is there: only values that replace make a bad patch.
  const replacing = forKind.filter(([, , v]) => v === null || typeof v !== 'object' || Array.isArray(v));
  const [, patchPath, patchValue] = pick(replacing);
  const invalid = setPath(t.manifest, path, value);
  const named = `${t.collection}/${t.name}`;
  switch (Math.floor(random() * 14)) {
    case 0: return { method: 'POST', url: t.collection, body: { ...invalid, metadata: { ...(invalid.metadata as object), name: (invalid.metadata as { name?: unknown })?.name === 'web' ? 'Not Valid' : (invalid.metadata as { name?: unknown })?.name } } };
    case 1: return { method: 'POST', url: t.collection, body: pick(rawBodies) };
    case 2: return { method: 'POST', url: t.collection, body: pick(yamlBodies), contentType: 'application/yaml' };
    case 3: return { method: 'PUT', url: named, body: pick(rawBodies) };
    case 4: return { method: 'PUT', url: `${t.collection}/${pick(['other', 'UPPER', 'a_b'])}`, body: t.manifest };
    case 5: return { method: 'POST', url: t.collection, body: t.manifest, contentType: pick(['text/plain', 'application/xml', 'application/vnd.kubernetes.protobuf', 'multipart/form-data; boundary=x']) };
    case 6: return { method: 'PATCH', url: named, body: pick([[{ op: 'remove', path: '/spec/nope' }], [{ op: 'bogus', path: '/x' }], 'notarray', [{ op: 'add', path: 'no-slash', value: 1 }], [{ op: 'test', path: '/metadata/name', value: 'nope' }]]), contentType: 'application/json-patch+json' };
    case 7: return { method: 'PATCH', url: named, body: setPath({}, patchPath, patchValue),
      // A strategic merge patch merges keyed lists too, so a list value only replaces in a merge patch.
      contentType: Array.isArray(patchValue) ? 'application/merge-patch+json' : pick(['application/merge-patch+json', 'application/strategic-merge-patch+json']) };
    case 8: return { method: 'PATCH', url: named, body: '{"a":1}', contentType: pick(['application/apply-patch+yaml', 'application/json', 'text/plain']) };
    case 9: return { method: 'DELETE', url: `${named}?${pick(['propagationPolicy=Nope', 'gracePeriodSeconds=abc', 'gracePeriodSeconds=1.5'])}` };
    case 10: return { method: 'DELETE', url: named, body: { preconditions: { uid: 'not-the-uid' } } };
    case 11: return { method: pick(['GET', 'POST', 'DELETE'] as const), url: pick(['/api/v1/namespaces/NoSuch/pods', '/api/v1/namespaces/fuzz/widgets', '/apis/apps/v2/deployments', '/api/v1/pods/web', '/api/v1/namespaces/fuzz/pods/web/exec', '/api/v1/nodes/pi-9/proxy', '/apis/apps/v1/namespaces/fuzz/deployments/web/scale/x', '/api/v1/namespaces/no_such/pods?labelSelector=a%3D%3D%3Db', `${t.collection}?fieldSelector=nope%3Dx`, `${t.collection}?labelSelector=(((`, '/api/v1/namespaces/fuzz/pods/web/binding']), body: pick([undefined, { target: {} }, { target: { name: '' } }]) };
    case 12: return { method: pick(['POST', 'PUT', 'DELETE'] as const), url: pick([t.collection, named]), body: t.manifest, token: pick(['', 'wrong-token', joinToken, ...(t.kind === 'Node' ? [] : [nodeToken])]) };
    default: return { method: 'POST', url: t.collection, body: JSON.stringify({ ...t.manifest, metadata: { name: 'big', annotations: { a: 'x'.repeat(70 * 1024) } } }) };
  }
}

test(`${requestCount} generated bad requests each get a 4xx Status and change nothing`, async () => {
  const before = snapshot();
  const random = prng(20261123);
  const byCode = new Map<number, number>();
  for (let i = 0; i < requestCount; i++) {
    const req = generate(random);
    const res = await app.inject({
      method: req.method, url: req.url,
      headers: {
        ...(req.token !== '' && { authorization: `Bearer ${req.token ?? adminToken}` }),
        ...(req.body !== undefined && { 'content-type': req.contentType ?? 'application/json' }),
      },
      ...(req.body !== undefined && { payload: typeof req.body === 'string' ? req.body : JSON.stringify(req.body) }),
    });
    const context = `request ${i}: ${req.method} ${req.url} ${String(JSON.stringify(req.body)).slice(0, 200)} -> ${res.statusCode} ${res.body.slice(0, 300)}`;
    assert.ok(res.statusCode >= 400 && res.statusCode < 500, context);
    const status = JSON.parse(res.body);
    assert.equal(status.kind, 'Status', context);
    assert.equal(status.code, res.statusCode, context);
    assert.ok(typeof status.message === 'string' && status.message.length > 0, context);
    byCode.set(res.statusCode, (byCode.get(res.statusCode) ?? 0) + 1);
  }
  assert.equal(snapshot(), before, 'the store must hold exactly what it held before');
  assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  assert.equal((await call(app, 'GET', '/api/v1/namespaces/fuzz/pods/web')).status, 200);
  for (const code of [400, 401, 403, 404, 409, 413, 415, 422]) assert.ok((byCode.get(code) ?? 0) > 0, `no ${code} was generated`);
});
