// The log server's self-signed certificate, made with node:crypto alone.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import https from 'node:https';
import { test } from 'node:test';
import { ipBytes, selfSignedCert } from '../../agent/serving-cert.ts';

test('the certificate names the node, covers its IP and name, is self-signed and lasts the days asked', () => {
  const now = new Date('2026-01-01T00:00:00Z');
  const { cert } = selfSignedCert('board-1', '10.0.0.7', 3650, now);
  const x = new X509Certificate(cert);
  assert.equal(x.subject, 'CN=board-1');
  assert.equal(x.issuer, 'CN=board-1');
  assert.equal(x.subjectAltName, 'IP Address:10.0.0.7, DNS:board-1');
  assert.ok(x.verify(x.publicKey));
  assert.equal(new Date(x.validFrom).getTime(), now.getTime() - 60_000);
  assert.equal(new Date(x.validTo).toISOString(), '2035-12-30T00:00:00.000Z');
  assert.equal(x.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
});

test('validity past 2049 is a GeneralizedTime', () => {
  const x = new X509Certificate(selfSignedCert('n', '127.0.0.1', 365, new Date('2060-06-01T00:00:00Z')).cert);
  assert.equal(new Date(x.validTo).getUTCFullYear(), 2061);
});

test('IPv6 addresses are encoded in full', () => {
  assert.equal(ipBytes('fe80::1:2').toString('hex'), 'fe800000000000000000000000010002');
  assert.equal(ipBytes('::1').toString('hex'), '00000000000000000000000000000001');
  assert.throws(() => ipBytes('board-1'));
});

test('a TLS client that trusts the certificate connects to the node IP', async () => {
  const tls = selfSignedCert('board-1', '127.0.0.1', 1);
  const server = https.createServer(tls, (_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  try {
    const body = await new Promise<string>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port, ca: tls.cert }, (res) => { let b = ''; res.on('data', (d) => { b += d; }); res.on('end', () => resolve(b)); }).on('error', reject);
    });
    assert.equal(body, 'ok');
  } finally {
    server.close();
  }
});

test('the log server starts on a fresh data directory, before any join has created it', async () => {
  const { mkdtempSync, rmSync, existsSync, readFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { startLogServer } = await import('../../agent/logs-server.ts');
  const { FakeRuntime } = await import('./fake-runtime.ts');
  const root = mkdtempSync(join(tmpdir(), 'labkube-logsrv-'));
  const dataDir = join(root, 'not-yet', 'agent');
  const ca = selfSignedCert('labkube-ca', '127.0.0.1', 1).cert;
  try {
    const server = await startLogServer({ runtime: new FakeRuntime(), nodeName: 'board-1', ip: '127.0.0.1', port: 0, caPem: ca, dataDir });
    assert.ok(server.port > 0);
    assert.ok(existsSync(join(dataDir, 'agent.key')));
    assert.match(readFileSync(join(dataDir, 'agent.crt'), 'utf8'), /BEGIN CERTIFICATE/);
    await server.close();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
