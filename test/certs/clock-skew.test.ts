// Clock skew: a board without a real-time clock runs minutes off until NTP answers. Its agent
// must still trust the API server's certificate and the certificate signed for it (both are
// backdated an hour), and accept log tokens within ±15 minutes of their window, no further.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { maxClockSkewSeconds, signLogToken, verifyLogToken } from '../../control-plane/api/log-token.ts';
import { ServingCertificate } from '../../agent/serving-cert.ts';
import { ensureServingCerts, signServingCert, x509 } from '../../control-plane/apiserver/certs.ts';

const dir = mkdtempSync(join(tmpdir(), 'labkube-skew-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const minutes = (m: number) => m * 60_000;

/** `openssl verify` of `certPem` against the CA as a machine whose clock reads `at` would. */
function verifyAt(caPath: string, certPem: string, at: number): string {
  const certPath = join(dir, `cert-${at}.pem`);
  writeFileSync(certPath, certPem);
  try {
    return execFileSync('openssl', ['verify', '-attime', String(Math.floor(at / 1000)), '-CAfile', caPath, certPath], { encoding: 'utf8', stdio: 'pipe' });
  } catch (err) {
    return String((err as { stdout?: string; stderr?: string }).stdout ?? '') + String((err as { stderr?: string }).stderr ?? '');
  }
}

test('a board 10 minutes slow trusts a just-made API server certificate, CA and node serving certificate', async () => {
  const serverDir = mkdtempSync(join(dir, 'server-'));
  const certs = await ensureServingCerts(serverDir, ['127.0.0.1']);
  const caPath = join(serverDir, 'ca.crt');
  const ca = { certPem: certs.caPem, keyPem: readFileSync(join(serverDir, 'ca.key'), 'utf8') };
  const agent = new ServingCertificate({ dataDir: join(dir, 'agent'), nodeName: 'board-1', ip: '10.0.0.7', caPem: certs.caPem });
  const nodeCert = (await signServingCert(ca, new x509.Pkcs10CertificateRequest(await agent.csr()))).pem;
  for (const [what, pem] of [['API server', certs.certPem], ['node serving', nodeCert]] as const) {
    assert.match(verifyAt(caPath, pem, Date.now() - minutes(10)), /: OK/, `${what} certificate, clock 10 min slow`);
    assert.match(verifyAt(caPath, pem, Date.now() + minutes(10)), /: OK/, `${what} certificate, clock 10 min fast`);
    // The check is real: two hours slow is before the certificates (and the CA) existed.
    assert.match(verifyAt(caPath, pem, Date.now() - minutes(120)), /not yet valid/, `${what} certificate, clock 2 h slow`);
  }
});

test('a log token is accepted by a board 10 minutes off either way, refused past the bounded skew', () => {
  const { privateKey: key, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const issued = Date.now();
  const iat = Math.floor(issued / 1000);
  const token = signLogToken(key, { node: 'board-1', namespace: 'default', pod: 'web', iat, exp: iat + 60 });
  for (const offset of [0, minutes(10), -minutes(10)]) {
    assert.equal(verifyLogToken(publicKey, token, 'board-1', issued + offset).ok, true, `board clock off by ${offset / 60_000} min`);
  }
  const late = verifyLogToken(publicKey, token, 'board-1', issued + 60_000 + maxClockSkewSeconds * 1000 + 5_000);
  assert.equal(late.ok, false);
  assert.match(!late.ok ? late.reason : '', /expired .* check the board's time/);
  const early = verifyLogToken(publicKey, token, 'board-1', issued - maxClockSkewSeconds * 1000 - 5_000);
  assert.equal(early.ok, false);
  assert.match(!early.ok ? early.reason : '', /in the future .* check the board's time/);
  // Bounded: even the CA's key cannot mint a token that lives longer than ten minutes.
  const long = signLogToken(key, { node: 'board-1', namespace: 'default', pod: 'web', iat, exp: iat + 3600 });
  assert.deepEqual(verifyLogToken(publicKey, long, 'board-1', issued), { ok: false, reason: 'token lifetime too long' });
});
