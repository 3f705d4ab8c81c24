// Joining with a CSR: the control plane signs a node's serving certificate with the cluster CA
// when the CSR asks only for what the node may hold, and refuses it, changing nothing, when not.
import assert from 'node:assert/strict';
import { webcrypto, X509Certificate } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { x509, type ClusterCa } from '../../control-plane/apiserver/certs.ts';
import { adminToken, buildTestApp, joinToken } from '../support/app.ts';
import { makeTestCa } from './test-ca.ts';

const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

/** A CSR (PEM) with this subject and these subjectAltNames. */
async function csrFor(subject: string, names: x509.JsonGeneralNames): Promise<string> {
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']) as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: subject, keys, signingAlgorithm: algorithm,
    extensions: names.length ? [new x509.SubjectAlternativeNameExtension(names)] : [],
  });
  return csr.toString('pem');
}
const nodeCsr = (node: string, ip: string) => csrFor(`CN=system:node:${node}, O=system:nodes`, [{ type: 'ip', value: ip }, { type: 'dns', value: node }]);

async function post(app: FastifyInstance, url: string, token: string, body: unknown, remoteAddress = '10.0.0.7') {
  const res = await app.inject({
    method: 'POST', url, remoteAddress,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    payload: JSON.stringify(body),
  });
  return { status: res.statusCode, body: res.json() as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any -- a join answer or a Status
}

const recordKey = (node: string) => `/labkube.io/nodeservingcerts/${node}`;

describe('joining with a certificate signing request', async () => {
  let ca: ClusterCa;
  let app: FastifyInstance;
  before(async () => {
    ca = await makeTestCa();
    app = await buildTestApp({ caPem: ca.certPem, podLogSigningKeyPem: ca.keyPem });
    // A node that already holds 10.0.0.9.
    const res = await app.inject({
      method: 'POST', url: '/api/v1/nodes', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'board-9' }, status: { addresses: [{ type: 'InternalIP', address: '10.0.0.9' }] } }),
    });
    assert.equal(res.statusCode, 201);
  });
  after(() => app.close());

  test('a good CSR is signed by the cluster CA for the node, its address and name, backdated and for 90 days', async () => {
    const res = await post(app, '/labkube/v1/join', joinToken, { nodeName: 'board-1', csr: await nodeCsr('board-1', '10.0.0.7') });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.ok(res.body.token);
    const cert = new X509Certificate(res.body.certificate);
    const caCert = new X509Certificate(ca.certPem);
    assert.ok(cert.checkIssued(caCert) && cert.verify(caCert.publicKey), 'signed by the cluster CA');
    assert.equal(cert.subject, 'CN=system:node:board-1\nO=system:nodes');
    assert.equal(cert.subjectAltName, 'IP Address:10.0.0.7, DNS:board-1');
    assert.equal(cert.ca, false);
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'serverAuth only');
    assert.ok(Date.parse(cert.validFrom) <= Date.now() - 10 * 60_000, 'a board 10 minutes slow accepts it');
    const days = (Date.parse(cert.validTo) - Date.now()) / 86_400_000;
    assert.ok(days > 89 && days <= 90, `lasts 90 days, not ${days}`);
    const record = app.registry.store.get(recordKey('board-1'));
    assert.deepEqual(record?.fingerprints, [cert.fingerprint256.replaceAll(':', '').toLowerCase()]);
  });

  test('a CSR naming another node, or an address or name the node may not hold, is refused with a 4xx and changes nothing', async () => {
    const refused: [string, string, RegExp, string?][] = [
      ['another node', await nodeCsr('board-2', '10.0.0.8'), /subject must be CN=system:node:board-3/],
      ['another node\'s address', await nodeCsr('board-3', '10.0.0.9'), /10\.0\.0\.9 is an address of node "board-9"/],
      ['a foreign DNS name', await csrFor('CN=system:node:board-3', [{ type: 'ip', value: '10.0.0.8' }, { type: 'dns', value: 'kubernetes' }]), /DNS name "kubernetes"/],
      ['loopback, asked from the network', await nodeCsr('board-3', '127.0.0.1'), /127\.0\.0\.1 is a loopback address/],
      ['an extra subject attribute', await csrFor('CN=system:node:board-3, O=system:masters', [{ type: 'ip', value: '10.0.0.8' }]), /O=system:masters/],
      ['a URI', await csrFor('CN=system:node:board-3', [{ type: 'ip', value: '10.0.0.8' }, { type: 'url', value: 'spiffe://x' }]), /url subjectAltName/],
      ['no address', await csrFor('CN=system:node:board-3', [{ type: 'dns', value: 'board-3' }]), /no IP address/],
      ['not a CSR', 'garbage', /not a PEM-encoded PKCS#10/, 'BadRequest'],
    ];
    for (const [what, csr, message, reason = 'Forbidden'] of refused) {
      const res = await post(app, '/labkube/v1/join', joinToken, { nodeName: 'board-3', csr });
      assert.equal(res.status, reason === 'Forbidden' ? 403 : 400, what);
      assert.equal(res.body.kind, 'Status', what);
      assert.equal(res.body.reason, reason, what);
      assert.match(res.body.message, message, what);
    }
    assert.equal(app.authenticator.hasCredential('board-3'), false, 'no credential was issued');
    assert.equal(app.registry.store.get(recordKey('board-3')), undefined, 'no certificate was recorded');
  });

  test('a refused CSR at rotation leaves the current credential and certificate in place', async () => {
    const joined = await post(app, '/labkube/v1/join', joinToken, { nodeName: 'board-4', csr: await nodeCsr('board-4', '10.0.0.4') });
    assert.equal(joined.status, 201);
    const before = app.registry.store.get(recordKey('board-4'))?.fingerprints;
    const res = await post(app, '/labkube/v1/join', joined.body.token, { nodeName: 'board-4', csr: await nodeCsr('board-4', '10.0.0.9') });
    assert.equal(res.status, 403);
    assert.ok(app.authenticator.isCredentialOf('board-4', joined.body.token), 'the old credential still works');
    assert.deepEqual(app.registry.store.get(recordKey('board-4'))?.fingerprints, before);
  });

  test('the node renews its certificate with its credential; the previous one stays trusted until the next', async () => {
    const joined = await post(app, '/labkube/v1/join', joinToken, { nodeName: 'board-5', csr: await nodeCsr('board-5', '10.0.0.5') });
    const url = '/labkube/v1/nodes/board-5/serving-certificate';
    const first = await post(app, url, joined.body.token, { csr: await nodeCsr('board-5', '10.0.0.5') });
    assert.equal(first.status, 201, JSON.stringify(first.body));
    const second = await post(app, url, joined.body.token, { csr: await nodeCsr('board-5', '10.0.0.5') });
    const fp = (pem: string) => new X509Certificate(pem).fingerprint256.replaceAll(':', '').toLowerCase();
    assert.deepEqual(app.registry.store.get(recordKey('board-5'))?.fingerprints, [fp(second.body.certificate), fp(first.body.certificate)]);
    assert.ok(app.authenticator.isCredentialOf('board-5', joined.body.token), 'renewing keeps the credential');

    const other = await post(app, '/labkube/v1/join', joinToken, { nodeName: 'board-6' });
    const byOther = await post(app, url, other.body.token, { csr: await nodeCsr('board-5', '10.0.0.5') });
    assert.equal(byOther.status, 403);
    assert.match(byOther.body.message, /only node "board-5"/);
    assert.equal((await post(app, url, joinToken, { csr: await nodeCsr('board-5', '10.0.0.5') })).status, 403);
    assert.equal((await post(app, url, joined.body.token, { csr: await nodeCsr('board-6', '10.0.0.6') })).status, 403);
  });

  test('a join without a CSR still works (older agents); an API server without a CA joins a board without a certificate', async () => {
    assert.equal((await post(app, '/labkube/v1/join', joinToken, { nodeName: 'board-7' })).status, 201);
    const bare = await buildTestApp();
    try {
      const joined = await post(bare, '/labkube/v1/join', joinToken, { nodeName: 'board-7', csr: await nodeCsr('board-7', '10.0.0.7') });
      assert.equal(joined.status, 201);
      assert.equal(joined.body.certificate, undefined);
      const res = await post(bare, '/labkube/v1/nodes/board-7/serving-certificate', joined.body.token, { csr: await nodeCsr('board-7', '10.0.0.7') });
      assert.equal(res.status, 503);
      assert.match(res.body.message, /no cluster CA/);
    } finally {
      await bare.close();
    }
  });
});
