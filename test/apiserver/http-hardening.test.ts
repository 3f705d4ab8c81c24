// Issue 9, the HTTP side: bodies nested past any parser's stack, bodies parsed before the caller
// was allowed to send them, options that silently did nothing (dryRun), watches that answered
// 200 and then nothing, malformed numbers, HTTP-layer errors that were not Kubernetes Statuses,
// weak TLS suites and loose file modes. Route tests use `inject`; where the socket matters (the
// HTTP parser, TLS, files on disk) a real server runs.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { generateKeyPairSync } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { prepareDataDir, writeKubeconfig } from '../../control-plane/apiserver/bootstrap.ts';
import { ensureServingCerts } from '../../control-plane/apiserver/certs.ts';
import { SqliteStore } from '../../control-plane/store/sqlite.ts';
import { jsonDepth, maxBodyDepth, yamlDepth } from '../../control-plane/apiserver/body.ts';
import { adminToken, buildTestApp, call, joinToken, podManifest } from '../support/app.ts';

const pods = '/api/v1/namespaces/default/pods';
let app: FastifyInstance;

before(async () => { app = await buildTestApp(); });
after(async () => { await app.close(); });

const deepJson = (levels: number) => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);
const deepList = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);

function assertStatus(res: { status: number; body: { kind?: string; code?: number; message?: string } }, code: number, context = '') {
  assert.equal(res.status, code, `${context}: ${JSON.stringify(res.body).slice(0, 300)}`);
  assert.equal(res.body.kind, 'Status', context);
  assert.equal(res.body.code, code, context);
  assert.ok(res.body.message, context);
}

describe('request bodies', () => {
  test('a YAML body of 1,000 nested flow mappings is a 400, every time, and the server lives on', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await call(app, 'POST', '/labkube/v1/join', deepJson(1000), { token: joinToken, contentType: 'application/yaml' });
      assertStatus(res, 400, 'join');
      assert.match(res.body.message, /nests deeper than 100/);
      assertStatus(await call(app, 'POST', pods, deepJson(1000), { contentType: 'application/yaml' }), 400, 'pods');
    }
    assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  });

  test('JSON nested 10,000 deep is a 400 on create, update and every patch type', async () => {
    await call(app, 'POST', pods, podManifest('deep'));
    const body = `{"metadata":{"annotations":${deepJson(10_000)}}}`;
    assertStatus(await call(app, 'POST', pods, body), 400, 'create');
    assertStatus(await call(app, 'PUT', `${pods}/deep`, body), 400, 'update');
    for (const type of ['application/merge-patch+json', 'application/strategic-merge-patch+json']) {
      assertStatus(await call(app, 'PATCH', `${pods}/deep`, body, { contentType: type }), 400, type);
    }
    const ops = `[{"op":"add","path":"/metadata/annotations","value":${deepList(10_000)}}]`;
    assertStatus(await call(app, 'PATCH', `${pods}/deep`, ops, { contentType: 'application/json-patch+json' }), 400, 'json patch');
    assertStatus(await call(app, 'DELETE', `${pods}/deep`, deepList(10_000)), 400, 'delete options');
    assert.equal((await call(app, 'GET', `${pods}/deep`)).status, 200, 'nothing was deleted');
  });

  test('YAML nesting is bounded in block form, compact sequences and through aliases', async () => {
    const block = Array.from({ length: 150 }, (_, i) => `${' '.repeat(i)}a:`).join('\n');
    const compact = `${'- '.repeat(5000)}a`;
    const viaAliases = `a0: &a0 ${deepList(90)}\na1: &a1 ${'['.repeat(90)}*a0${']'.repeat(90)}\n`;
    for (const [name, body] of [['block', block], ['compact', compact], ['aliases', viaAliases]]) {
      assertStatus(await call(app, 'POST', pods, body, { contentType: 'application/yaml' }), 400, name!);
    }
  });

  test('a YAML alias that contains itself is a 400, not a cyclic object', async () => {
    for (const body of ['a: &x [*x]', 'metadata: &m {labels: *m}']) {
      const res = await call(app, 'POST', pods, body, { contentType: 'application/yaml' });
      assertStatus(res, 400, body);
      assert.match(res.body.message, /alias/);
    }
  });

  test('ordinary manifests pass the depth check, and it measures them honestly', async () => {
    const yaml = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: y1\nspec:\n  containers:\n  - name: web\n    image: nginx\n    ports:\n    - containerPort: 80\n';
    assert.equal((await call(app, 'POST', pods, yaml, { contentType: 'application/yaml' })).status, 201);
    assert.equal(yamlDepth(yaml), 6);
    assert.equal(jsonDepth('{"a":"}}}{{{[[[","b":[[1]]}'), 3);
    assert.equal(jsonDepth(deepJson(maxBodyDepth)), maxBodyDepth);
    const ok = { ...podManifest('at-limit'), metadata: { name: 'at-limit', annotations: {} } };
    const raw = JSON.stringify(ok).replace('"annotations":{}', `"annotations":{"a":"b"},"x":${deepJson(maxBodyDepth - 2)}`);
    assert.notEqual((await call(app, 'POST', pods, raw)).status, 400, 'a body exactly at the limit is parsed');
  });

  test('a YAML body that expands past the body limit through aliases is a 413, at once', async () => {
    const big = 'x'.repeat(1024 * 1024);
    const body = `apiVersion: v1\nkind: Pod\nmetadata:\n  name: bomb\n  annotations:\n    a: &a "${big}"\n    b: [${Array.from({ length: 90 }, () => '*a').join(', ')}]\n`;
    const started = Date.now();
    assertStatus(await call(app, 'POST', pods, body, { contentType: 'application/yaml' }), 413, 'alias bomb');
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
  });

  test('YAML that go-yaml would refuse is refused: an unknown %YAML version, an unknown tag, a collection as a key', async () => {
    for (const body of ['%YAML 9.9\n---\na: 1', 'a: !nope 1', '? [a]\n: 1', '{[a]: 1}']) {
      assertStatus(await call(app, 'POST', pods, body, { contentType: 'application/yaml' }), 400, JSON.stringify(body));
    }
  });

  test('objects are JSON or YAML and patches are patch types: anything else is a 415', async () => {
    await call(app, 'POST', pods, podManifest('typed'));
    const current = (await call(app, 'GET', `${pods}/typed`)).body;
    for (const type of ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'text/plain']) {
      assertStatus(await call(app, 'PUT', `${pods}/typed`, current, { contentType: type }), 415, `update as ${type}`);
      assertStatus(await call(app, 'POST', '/labkube/v1/join', { nodeName: 'typed' }, { token: joinToken, contentType: type }), 415, `join as ${type}`);
    }
    assertStatus(await call(app, 'PATCH', `${pods}/typed`, { metadata: {} }, { contentType: 'application/json' }), 415, 'patch as application/json');
    const long = `application/${'x'.repeat(5000)}`;
    const res = await call(app, 'POST', pods, podManifest('typed2'), { contentType: long });
    assertStatus(res, 415, 'a long media type');
    assert.ok(JSON.stringify(res.body).length < 1000, 'the answer does not echo the whole header');
  });

  test('DeleteOptions must be an object', async () => {
    await call(app, 'POST', pods, podManifest('kept'));
    for (const body of ['12', 'true', '"x"', '[]']) assertStatus(await call(app, 'DELETE', `${pods}/kept`, body), 400, body);
    assert.equal((await call(app, 'GET', `${pods}/kept`)).status, 200);
    assertStatus(await call(app, 'DELETE', `${pods}/kept`, { orphanDependents: 'yes' }), 400, 'orphanDependents "yes"');
    assertStatus(await call(app, 'DELETE', `${pods}/kept`, { preconditions: { uid: 42 } }), 400, 'a numeric uid');
    assertStatus(await call(app, 'DELETE', `${pods}/kept`, { propagationPolicy: 7 }), 400, 'a numeric policy');
    assertStatus(await call(app, 'DELETE', `${pods}/kept`, { orphanDependents: true, propagationPolicy: 'Background' }), 422, 'both');
    assertStatus(await call(app, 'DELETE', `${pods}/kept?orphanDependents=false&propagationPolicy=Foreground`), 422, 'both, in the query');
    assert.equal((await call(app, 'GET', `${pods}/kept`)).status, 200);
    assert.equal((await call(app, 'DELETE', `${pods}/kept`, 'null')).status, 200, 'null is no options');
  });

  test('a body is parsed only after the caller may send it: 401 and 403 come first', async () => {
    const garbage = '{"this is not json';
    assertStatus(await call(app, 'POST', pods, garbage, { token: 'nobody' }), 401, 'no credential');
    assertStatus(await call(app, 'POST', pods, garbage, { token: joinToken }), 403, 'join token on a resource');
    const node = (await call(app, 'POST', '/labkube/v1/join', { nodeName: 'pi-body' }, { token: joinToken })).body.token;
    assertStatus(await call(app, 'POST', '/apis/apps/v1/namespaces/default/deployments', deepJson(1000), { token: node, contentType: 'application/yaml' }), 403, 'node');
    assertStatus(await call(app, 'PUT', `${pods}/nope/status`, garbage, { token: node }), 403, 'node on a pod not bound to it');
  });
});

describe('query parameters', () => {
  const pod = (name: string) => podManifest(name);

  test('dryRun accepts only All (repeatable); anything else is refused and nothing is written', async () => {
    for (const value of ['true', 'all', '1', '%ZZ', '', 'All&dryRun=true']) {
      const res = await call(app, 'POST', `${pods}?dryRun=${value}`, pod('dry-bad'));
      assertStatus(res, 422, `dryRun=${value}`);
      assert.match(res.body.message, /dryRun: Unsupported value/);
    }
    assert.equal((await call(app, 'GET', `${pods}/dry-bad`)).status, 404, 'no bad dryRun wrote anything');
    assert.equal((await call(app, 'POST', `${pods}?dryRun=All&dryRun=All`, pod('dry-ok'))).status, 201);
    assert.equal((await call(app, 'GET', `${pods}/dry-ok`)).status, 404, 'a dry run writes nothing');
    await call(app, 'POST', pods, pod('dry-target'));
    assertStatus(await call(app, 'PATCH', `${pods}/dry-target?dryRun=yes`, { metadata: { labels: { a: 'b' } } }, { contentType: 'application/merge-patch+json' }), 422, 'patch');
    assertStatus(await call(app, 'DELETE', `${pods}/dry-target?dryRun=1`), 422, 'delete');
    assertStatus(await call(app, 'DELETE', `${pods}/dry-target`, { dryRun: ['true'] }), 422, 'delete options');
    assert.equal((await call(app, 'GET', `${pods}/dry-target`)).body.metadata.labels.a, undefined);
    assert.equal((await call(app, 'DELETE', `${pods}/dry-target?dryRun=All`)).status, 200);
    assert.equal((await call(app, 'GET', `${pods}/dry-target`)).status, 200, 'a dry-run delete deletes nothing');
  });

  test('a watch from a resourceVersion that is not a revision is a 400, never a silent stream', async () => {
    for (const rv of ['abc', 'NaN', '1e400', '99999999999999999999', '-1', '1.5', '0x10', ' 5']) {
      assertStatus(await call(app, 'GET', `${pods}?watch=1&resourceVersion=${encodeURIComponent(rv)}`), 400, `resourceVersion=${rv}`);
      assertStatus(await call(app, 'GET', `${pods}?resourceVersion=${encodeURIComponent(rv)}`), 400, `list resourceVersion=${rv}`);
    }
  });

  test('a watch from a revision the store has not reached ends at once with a 410', async () => {
    const list = (await call(app, 'GET', pods)).body;
    const res = await app.inject({ method: 'GET', url: `${pods}?watch=1&resourceVersion=${Number(list.metadata.resourceVersion) + 1000}`, headers: { authorization: `Bearer ${adminToken}` } });
    assert.equal(res.statusCode, 200);
    const event = JSON.parse(res.body.trim());
    assert.equal(event.type, 'ERROR');
    assert.equal(event.object.code, 410);
    assert.match(event.object.message, /too large resource version/);
  });

  test('limit, timeoutSeconds and gracePeriodSeconds must be integers in range', async () => {
    for (const q of ['limit=-1', 'limit=abc', 'limit=1e3', 'limit=', 'limit=99999999999999999999']) {
      assertStatus(await call(app, 'GET', `${pods}?${q}`), 400, q);
    }
    for (const q of ['timeoutSeconds=-1', 'timeoutSeconds=abc', 'timeoutSeconds=1e400', 'timeoutSeconds=0x10', 'timeoutSeconds=%ZZ']) {
      assertStatus(await call(app, 'GET', `${pods}?watch=1&${q}`), 400, `watch ${q}`);
      assertStatus(await call(app, 'GET', `${pods}?${q}`), 400, `list ${q}`);
    }
    await call(app, 'POST', pods, { ...pod('graceful'), spec: { ...pod('x').spec, nodeName: 'pi-nowhere' } });
    for (const q of ['gracePeriodSeconds=8.64e12', 'gracePeriodSeconds=abc', 'gracePeriodSeconds=1.5', 'gracePeriodSeconds=8640000000000']) {
      const res = await call(app, 'DELETE', `${pods}/graceful?${q}`);
      assert.ok(res.status >= 400 && res.status < 500, `${q}: ${res.status}`);
      assert.equal(res.body.kind, 'Status');
    }
    for (const grace of [8.64e12, 1.5, 'soon', -1e300]) {
      const res = await call(app, 'DELETE', `${pods}/graceful`, { gracePeriodSeconds: grace });
      assert.ok(res.status >= 400 && res.status < 500, `body gracePeriodSeconds ${grace}: ${res.status}`);
    }
    assert.equal((await call(app, 'GET', `${pods}/graceful`)).body.metadata.deletionTimestamp, undefined, 'nothing started deleting');
  });

  test('ListOptions that do not fit together are a 422, as ValidateListOptions answers', async () => {
    for (const q of ['resourceVersionMatch=Bogus&resourceVersion=1', 'resourceVersionMatch=%ZZ&resourceVersion=1', 'resourceVersionMatch=Exact',
      'resourceVersionMatch=Exact&resourceVersion=0', 'sendInitialEvents=true', 'watch=1&resourceVersionMatch=NotOlderThan', 'watch=1&sendInitialEvents=true']) {
      assertStatus(await call(app, 'GET', `${pods}?${q}`), 422, q);
    }
    assertStatus(await call(app, 'GET', `${pods}?limit=1&continue=${encodeURIComponent('eyJrIjoiL3BvZHMvIn0\u0000')}`), 400, 'a continue token with a NUL');
    const list = (await call(app, 'GET', pods)).body;
    const rv = Number(list.metadata.resourceVersion);
    assert.equal((await call(app, 'GET', `${pods}?resourceVersion=${rv}&resourceVersionMatch=NotOlderThan`)).status, 200);
    assert.equal((await call(app, 'GET', `${pods}?resourceVersion=0`)).status, 200);
    assertStatus(await call(app, 'GET', `${pods}?resourceVersion=${rv + 1000}`), 410, 'a list from a revision not yet handed out');
    await call(app, 'POST', pods, pod('moves-revision'));
    assertStatus(await call(app, 'GET', `${pods}?resourceVersion=${rv}&resourceVersionMatch=Exact`), 410, 'an exact older list');
  });

  test('fieldValidation takes Ignore, Warn or Strict only', async () => {
    assertStatus(await call(app, 'POST', `${pods}?fieldValidation=Bogus`, pod('fv-bad')), 422, 'Bogus');
    assert.equal((await call(app, 'GET', `${pods}/fv-bad`)).status, 404);
    assert.equal((await call(app, 'POST', `${pods}?fieldValidation=Strict`, pod('fv-ok'))).status, 201);
  });

  test('watch and other booleans read as Kubernetes reads them', async () => {
    const res = await app.inject({ method: 'GET', url: `${pods}?watch=false`, headers: { authorization: `Bearer ${adminToken}` } });
    assert.equal(JSON.parse(res.body).kind, 'PodList');
    const watched = await app.inject({ method: 'GET', url: `${pods}?watch=true&timeoutSeconds=1`, headers: { authorization: `Bearer ${adminToken}` } });
    assert.match(watched.body, /"type":"ADDED"/);
  });
});

describe('paths', () => {
  test('names that are not path segments are a 400, and encodings that do not decode too', async () => {
    for (const path of [`${pods}/a%2Fb`, `${pods}/%25`, `${pods}/%ZZ`, '/api/v1/namespaces/%ZZ/pods', `${pods}/x%2F..%2F..%2Fnodes`]) {
      assertStatus(await call(app, 'GET', path), 400, path);
    }
  });

  test('an overlong name is simply not found, and an overlong URL a 4xx Status', async () => {
    assertStatus(await call(app, 'GET', `${pods}/${'a'.repeat(1000)}`), 404, 'long name');
    const res = await call(app, 'GET', `${pods}/${'a'.repeat(5000)}`);
    assert.ok(res.status >= 400 && res.status < 500);
    assert.equal(res.body.kind, 'Status');
  });

  test('a node credential cannot reach another object through an encoded path', async () => {
    const node = (await call(app, 'POST', '/labkube/v1/join', { nodeName: 'pi-path' }, { token: joinToken })).body.token;
    await call(app, 'POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'pi-other' } });
    for (const path of ['/api/v1/nodes/pi-path%2F..%2Fpi-other', '/api/v1/nodes/pi-other', '/api//v1/nodes/pi-other', '/api/v1/nodes/pi-path/../pi-other']) {
      const res = await call(app, 'PATCH', path, { metadata: { labels: { owned: 'yes' } } }, { token: node, contentType: 'application/merge-patch+json' });
      assert.ok(res.status >= 400 && res.status < 500, `${path}: ${res.status}`);
    }
    assert.equal((await call(app, 'GET', '/api/v1/nodes/pi-other')).body.metadata.labels?.owned, undefined);
  });
});

describe('pod logs', () => {
  test('malformed log options are refused before any agent is asked', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const withLogs = await buildTestApp({ podLogSigningKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() });
    try {
      await call(withLogs, 'POST', pods, { ...podManifest('logged'), spec: { ...podManifest('x').spec, nodeName: 'pi-logs' } });
      for (const q of ['tailLines=-1', 'tailLines=abc', 'sinceSeconds=0', 'sinceSeconds=1e9', 'limitBytes=0', 'limitBytes=-5', 'sinceTime=yesterday']) {
        const res = await call(withLogs, 'GET', `${pods}/logged/log?${q}`);
        assert.ok(res.status === 400 || res.status === 422, `${q}: ${res.status} ${JSON.stringify(res.body)}`);
        assert.equal(res.body.kind, 'Status');
      }
    } finally {
      await withLogs.close();
    }
  });
});

/** Sends raw bytes over TLS and returns the whole answer (the server closes the connection). */
function rawRequest(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => socket.end(bytes));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => { answer += chunk; });
    socket.on('end', () => resolve(answer));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}

function statusOf(answer: string): { code: number; body: { kind?: string; code?: number } } {
  const code = Number(/^HTTP\/1\.1 (\d+)/.exec(answer)?.[1]);
  const body = answer.slice(answer.indexOf('\r\n\r\n') + 4);
  return { code, body: JSON.parse(body) as { kind?: string; code?: number } };
}

const openssl = (args: string[]) => new Promise<{ ok: boolean; out: string }>((resolve) => {
  const child = execFile('openssl', args, { timeout: 20_000 }, (err, stdout, stderr) => resolve({ ok: !err, out: stdout + stderr }));
  child.stdin?.end('Q\n');
});

describe('a real HTTPS socket', () => {
  let server: FastifyInstance;
  let port: number;
  const dir = mkdtempSync(join(tmpdir(), 'labkube-hardening-'));
  before(async () => {
    const certs = await ensureServingCerts(dir, ['127.0.0.1']);
    server = await buildTestApp({ tls: { cert: certs.certPem, key: certs.keyPem } });
    await server.listen({ host: '127.0.0.1', port: 0 });
    port = (server.server.address() as { port: number }).port;
  });
  after(async () => { await server.close(); rmSync(dir, { recursive: true, force: true }); });

  test('headers past the limit get a 431 Kubernetes Status', async () => {
    const answer = await rawRequest(port, `GET /api/v1/pods HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
    const { code, body } = statusOf(answer);
    assert.equal(code, 431);
    assert.equal(body.kind, 'Status');
    assert.equal(body.code, 431);
  });

  test('a body past the limit gets its 413, readable by clients still writing it', async () => {
    const body = JSON.stringify({ metadata: { name: 'x' }, pad: 'x'.repeat(8 * 1024 * 1024) });
    const send = (path: string) => new Promise<string>((resolve) => {
      const req = https.request({
        host: '127.0.0.1', port, method: 'POST', path, rejectUnauthorized: false,
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => { text += String(c); });
        res.on('end', () => resolve(`${res.statusCode} ${JSON.parse(text).kind}`));
      });
      req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      req.end(body);
    });
    // Several at once, as a busy client sends them: closing at once gave some of them EPIPE.
    const answers = await Promise.all(['/labkube/v1/join', '/api/v1/namespaces/default/pods', '/labkube/v1/join', '/api/v1/namespaces/default/pods', '/labkube/v1/join', '/api/v1/namespaces/default/pods'].map(send));
    assert.deepEqual(answers, Array(6).fill('413 Status'));
  });

  test('a request the HTTP parser cannot read gets a 400 Kubernetes Status', async () => {
    for (const bytes of ['GARBAGE\r\n\r\n', 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n', 'GET /\u0000 HTTP/1.1\r\n\r\n']) {
      const { code, body } = statusOf(await rawRequest(port, bytes));
      assert.equal(code, 400, JSON.stringify(bytes));
      assert.equal(body.kind, 'Status');
    }
  });

  test('any method gets an answer: CONNECT a 405 Status, unknown methods a 404 Status', async () => {
    for (const [method, want] of [['CONNECT', 405], ['PROPFIND', 404], ['TRACE', 404], ['OPTIONS', 404]] as const) {
      const { code, body } = statusOf(await rawRequest(port, `${method} /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${adminToken}\r\nConnection: close\r\n\r\n`));
      assert.equal(code, want, method);
      assert.equal(body.kind, 'Status', method);
    }
  });

  test('bad escapes and dot segments on the wire are 4xx Statuses', async () => {
    for (const path of ['/api/v1/namespaces/default/pods/%ZZ', '/api/v1/namespaces/default/pods/..', '/api/v1/namespaces/default/pods/%2e%2e']) {
      const { code, body } = statusOf(await rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${adminToken}\r\nConnection: close\r\n\r\n`));
      assert.ok(code >= 400 && code < 500, `${path}: ${code}`);
      assert.equal(body.kind, 'Status', path);
    }
  });

  test('TLS 1.2 offers only AEAD suites with forward secrecy', async () => {
    const connect = (cipher: string) => openssl(['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_2', '-cipher', cipher]);
    for (const weak of ['ECDHE-ECDSA-AES128-SHA', 'ECDHE-ECDSA-AES256-SHA384', 'AES128-SHA', 'AES256-GCM-SHA384', 'ECDHE-ECDSA-AES128-SHA256']) {
      const { ok, out } = await connect(weak);
      assert.ok(!ok || /Cipher is \(NONE\)|handshake failure|no cipher/i.test(out), `${weak} was accepted:\n${out.slice(0, 500)}`);
    }
    for (const strong of ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305']) {
      const { out } = await connect(strong);
      assert.match(out, new RegExp(`Cipher is ${strong}`), `${strong} was refused:\n${out.slice(0, 500)}`);
    }
    const tls13 = await openssl(['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_3']);
    assert.match(tls13.out, /TLSv1\.3/);
  });
});

describe('file modes', () => {
  // The steps startServer takes on a data directory (server.ts), without the controllers.
  async function start(dataDir: string): Promise<SqliteStore> {
    const data = prepareDataDir(dataDir);
    const certs = await ensureServingCerts(dataDir, ['127.0.0.1']);
    const store = new SqliteStore({ path: data.databasePath, compactIntervalMs: 0 });
    writeKubeconfig(data, 'https://127.0.0.1:6443', certs.caPem);
    store.create(`/namespaces/modes-${Date.now()}`, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'modes' } });
    await store.sync();
    return store;
  }

  test('the data directory is 0700 and every secret 0600, tightened at each start', async () => {
    const root = mkdtempSync(join(tmpdir(), 'labkube-modes-'));
    const dataDir = join(root, 'data');
    mkdirSync(dataDir, { mode: 0o755 });
    chmodSync(dataDir, 0o755);
    writeFileSync(join(dataDir, 'admin-token'), 'loose-admin-token\n', { mode: 0o644 });
    writeFileSync(join(dataDir, 'join-token'), 'loose-join-token\n', { mode: 0o644 });
    const mode = (name: string) => statSync(join(dataDir, name)).mode & 0o777;
    const check = () => {
      assert.equal(statSync(dataDir).mode & 0o777, 0o700, 'data dir');
      for (const name of ['admin-token', 'join-token', 'kubeconfig', 'ca.key', 'state.db', 'state.db-wal', 'state.db-shm']) assert.equal(mode(name), 0o600, name);
    };
    try {
      let store = await start(dataDir);
      check();
      store.close();
      for (const name of ['admin-token', 'join-token', 'kubeconfig', 'ca.key', 'state.db']) chmodSync(join(dataDir, name), 0o644);
      chmodSync(dataDir, 0o755);
      store = await start(dataDir);
      check();
      store.close();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
