// Certificates for tests: a cluster CA made the way the control plane makes its own, and
// certificates the CA did not sign.
import { webcrypto } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureServingCerts, x509, type ClusterCa } from '../../control-plane/apiserver/certs.ts';

/** A fresh cluster CA (certificate and key), as `labkube server` makes on first start. */
export async function makeTestCa(): Promise<ClusterCa> {
  const dir = mkdtempSync(join(tmpdir(), 'labkube-test-ca-'));
  try {
    const { caPem } = await ensureServingCerts(dir, ['127.0.0.1']);
    return { certPem: caPem, keyPem: readFileSync(join(dir, 'ca.key'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A self-signed certificate and key for `cn` with the given IP SANs: what an impostor would serve. */
export async function selfSigned(cn: string, ips: string[]): Promise<{ cert: string; key: string }> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '02', name: `CN=${cn}`, notBefore: new Date(Date.now() - 3_600_000), notAfter: new Date(Date.now() + 86_400_000),
    keys, signingAlgorithm: algorithm,
    extensions: [new x509.SubjectAlternativeNameExtension(ips.map((value) => ({ type: 'ip' as const, value })))],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as webcrypto.CryptoKey);
  return { cert: cert.toString('pem'), key: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') };
}
