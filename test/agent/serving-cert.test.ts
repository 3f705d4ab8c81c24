// The agent's serving certificate: a key made on the board, a CSR for the node, and the
// certificate the cluster CA signs from it, served by the log server and swapped when renewed.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { startLogServer } from '../../agent/logs-server.ts';
import { ServingCertificate } from '../../agent/serving-cert.ts';
import { signServingCert, x509, type ClusterCa } from '../../control-plane/apiserver/certs.ts';
import { makeTestCa, selfSigned } from '../certs/test-ca.ts';
import { FakeRuntime } from './fake-runtime.ts';

const dirs: string[] = [];
const tempDir = () => { const d = mkdtempSync(join(tmpdir(), 'labkube-servingcert-')); dirs.push(d); return d; };
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const sign = async (ca: ClusterCa, cert: ServingCertificate) => (await signServingCert(ca, new x509.Pkcs10CertificateRequest(await cert.csr()))).pem;

/** The serial of the certificate a TLS server at 127.0.0.1:port presents, trusting `caPem`. */
function servedSerial(port: number, caPem: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/healthz', ca: caPem, agent: false }, (res) => {
      const serial = (res.socket as import('node:tls').TLSSocket).getPeerX509Certificate()!.serialNumber;
      res.resume();
      res.on('end', () => resolve(serial));
    });
    req.on('error', reject);
  });
}

describe('the agent serving certificate', async () => {
  const ca = await makeTestCa();

  test('the key is made once, private, and the CSR asks for system:node:NAME with the node IP and name', async () => {
    const dataDir = join(tempDir(), 'not-yet', 'agent');
    const first = new ServingCertificate({ dataDir, nodeName: 'board-1', ip: '10.0.0.7', caPem: ca.certPem });
    const keyPath = join(dataDir, 'agent.key');
    assert.equal(statSync(keyPath).mode & 0o777, 0o600);
    const key = readFileSync(keyPath, 'utf8');
    new ServingCertificate({ dataDir, nodeName: 'board-1', ip: '10.0.0.7', caPem: ca.certPem });
    assert.equal(readFileSync(keyPath, 'utf8'), key, 'a second start reuses the key');
    assert.equal(first.tls, undefined, 'no certificate before the control plane signs one');
    assert.ok(first.renewAt() <= Date.now(), 'without a certificate one is due now');

    const csr = new x509.Pkcs10CertificateRequest(await first.csr());
    assert.ok(await csr.verify());
    assert.equal(csr.subject, 'CN=system:node:board-1, O=system:nodes');
    const san = new x509.SubjectAlternativeNameExtension(csr.getExtension('2.5.29.17')!.rawData);
    assert.deepEqual(san.names.toJSON(), [{ type: 'ip', value: '10.0.0.7' }, { type: 'dns', value: 'board-1' }]);
    assert.equal(csr.publicKey.algorithm.name, 'ECDSA');
  });

  test('a certificate the CA signed is saved, loaded at the next start, and due for renewal after two thirds of its life', async () => {
    const dataDir = tempDir();
    const cert = new ServingCertificate({ dataDir, nodeName: 'board-1', ip: '10.0.0.7', caPem: ca.certPem });
    const seen: string[] = [];
    cert.onChange((tls) => seen.push(tls.cert));
    const pem = await sign(ca, cert);
    cert.accept(pem);
    assert.deepEqual(seen, [pem]);
    const again = new ServingCertificate({ dataDir, nodeName: 'board-1', ip: '10.0.0.7', caPem: ca.certPem });
    assert.equal(again.tls?.cert, pem);
    const x = new X509Certificate(pem);
    const from = Date.parse(x.validFrom);
    assert.equal(again.renewAt(), from + (Date.parse(x.validTo) - from) * (2 / 3));
    assert.ok(again.renewAt() > Date.now() + 50 * 86_400_000, 'a fresh 90-day certificate is not due for 50 days');
    const moved = new ServingCertificate({ dataDir, nodeName: 'board-1', ip: '10.0.0.8', caPem: ca.certPem });
    assert.ok(moved.renewAt() <= Date.now(), 'a board whose address changed asks for a certificate at once');
  });

  test('a certificate from another CA, for another key or for another node is refused and not saved', async () => {
    const dataDir = tempDir();
    const cert = new ServingCertificate({ dataDir, nodeName: 'board-1', ip: '10.0.0.7', caPem: ca.certPem });
    const otherCa = await makeTestCa();
    assert.throws(() => cert.accept('not a PEM'), /not a certificate/);
    const impostor = await selfSigned('system:node:board-1', ['10.0.0.7']);
    assert.throws(() => cert.accept(impostor.cert), /not signed by the cluster CA/);
    await assert.rejects(async () => cert.accept(await sign(otherCa, cert)), /not signed by the cluster CA/);
    const otherKey = new ServingCertificate({ dataDir: tempDir(), nodeName: 'board-1', ip: '10.0.0.7', caPem: ca.certPem });
    await assert.rejects(async () => cert.accept(await sign(ca, otherKey)), /not for this agent's key/);
    const sameKeyOtherNode = new ServingCertificate({ dataDir, nodeName: 'board-2', ip: '10.0.0.7', caPem: ca.certPem });
    await assert.rejects(async () => cert.accept(await sign(ca, sameKeyOtherNode)), /not for node board-1/);
    assert.equal(existsSync(join(dataDir, 'agent.crt')), false);
  });

  test('a self-signed agent.crt left by an older agent is ignored: renewal is due at once', async () => {
    const dataDir = tempDir();
    new ServingCertificate({ dataDir, nodeName: 'board-1', ip: '127.0.0.1', caPem: ca.certPem });
    writeFileSync(join(dataDir, 'agent.crt'), (await selfSigned('board-1', ['127.0.0.1'])).cert);
    const cert = new ServingCertificate({ dataDir, nodeName: 'board-1', ip: '127.0.0.1', caPem: ca.certPem });
    assert.equal(cert.tls, undefined);
    assert.ok(cert.renewAt() <= Date.now());
  });

  test('the log server starts on a fresh data directory, serves the signed certificate, and swaps in a renewed one', async () => {
    const dataDir = join(tempDir(), 'not-yet', 'agent');
    const server = await startLogServer({ runtime: new FakeRuntime(), nodeName: 'board-1', ip: '127.0.0.1', port: 0, caPem: ca.certPem, dataDir });
    try {
      assert.ok(server.port > 0);
      assert.ok(existsSync(join(dataDir, 'agent.key')));
      await assert.rejects(servedSerial(server.port, ca.certPem), 'no TLS before a certificate is signed');
      const first = await sign(ca, server.certificate);
      server.certificate.accept(first);
      assert.equal(await servedSerial(server.port, ca.certPem), new X509Certificate(first).serialNumber);
      const renewed = await sign(ca, server.certificate);
      server.certificate.accept(renewed);
      assert.equal(await servedSerial(server.port, ca.certPem), new X509Certificate(renewed).serialNumber);
    } finally {
      await server.close();
    }
  });
});
