// The cluster's own certificate authority and the API server's serving certificate, made on
// first start (a lab has no PKI). kubectl sends a bearer token only over TLS, so the API is HTTPS
// from the first day; the kubeconfig carries the CA so kubectl and labctl verify the server.
import { webcrypto } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export interface ServingCerts { caPem: string; certPem: string; keyPem: string }

const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
// A lab CA outlives many boards; ten years matches k3s's CA. Serving certs are reissued at start.
const caYears = 10;
const certYears = 1;

function yearsFromNow(years: number): Date {
  const d = new Date();
  d.setFullYear(d.getFullYear() + years);
  return d;
}

async function exportKey(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key as webcrypto.CryptoKey);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function importKey(pem: string): Promise<CryptoKey> {
  return webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decode(pem)[0]!, algorithm, true, ['sign']) as Promise<CryptoKey>;
}

/** Every name and address a client on the lab network might use for this machine. */
export function localNames(extra: string[] = []): string[] {
  const ips = Object.values(networkInterfaces()).flat().filter((i) => i && !i.internal).map((i) => i!.address);
  return [...new Set(['localhost', hostname(), '127.0.0.1', '::1', ...ips, ...extra])];
}

async function newCa(): Promise<{ cert: x509.X509Certificate; keys: CryptoKeyPair }> {
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: 'CN=labkube-ca', notBefore: new Date(Date.now() - 60_000), notAfter: yearsFromNow(caYears),
    keys, signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  return { cert, keys };
}

export async function ensureServingCerts(dataDir: string, names: string[]): Promise<ServingCerts> {
  const caCertPath = join(dataDir, 'ca.crt');
  const caKeyPath = join(dataDir, 'ca.key');
  let caPem: string;
  let caKey: CryptoKey;
  let caName: string;
  if (existsSync(caCertPath) && existsSync(caKeyPath)) {
    chmodSync(caKeyPath, 0o600); // tightened at every start, as the tokens are (bootstrap.ts)
    caPem = readFileSync(caCertPath, 'utf8');
    caKey = await importKey(readFileSync(caKeyPath, 'utf8'));
    caName = new x509.X509Certificate(caPem).subject;
  } else {
    const ca = await newCa();
    caPem = ca.cert.toString('pem');
    caKey = ca.keys.privateKey;
    caName = ca.cert.subject;
    writeFileSync(caKeyPath, await exportKey(caKey), { mode: 0o600 });
    writeFileSync(caCertPath, caPem, { mode: 0o644 });
  }
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']) as CryptoKeyPair;
  const isIp = (n: string) => /^[\d.]+$/.test(n) || n.includes(':');
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: Date.now().toString(16), subject: 'CN=labkube-apiserver', issuer: caName,
    notBefore: new Date(Date.now() - 60_000), notAfter: yearsFromNow(certYears),
    signingKey: caKey, publicKey: keys.publicKey, signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names.map((n) => ({ type: isIp(n) ? 'ip' as const : 'dns' as const, value: n }))),
    ],
  });
  return { caPem, certPem: cert.toString('pem'), keyPem: await exportKey(keys.privateKey) };
}
