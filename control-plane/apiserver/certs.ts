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
/** The cluster CA as the API server holds it: the certificate, and the key that signs with it. */
export interface ClusterCa { certPem: string; keyPem: string }

const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
// A lab CA outlives many boards; ten years matches k3s's CA. Serving certs are reissued at start.
const caYears = 10;
const certYears = 1;
// Every certificate made here starts an hour before it is made. A board without a real-time clock
// (a Raspberry Pi) can run minutes behind until NTP answers, and TLS refuses a certificate that
// is "not yet valid": the API server's own, reissued at each start, and a node's serving
// certificate. A certificate is of no use before it exists, so the backdate costs nothing; an
// hour is six times the 10 minutes of skew labkube promises to tolerate.
export const notBeforeBackdateMs = 60 * 60_000;
// A node's serving certificate lasts 90 days and the agent renews it after two thirds of that
// (agent/serving-cert.ts): a board that is off for a month still comes back with a valid one,
// and a stolen key is useless within a season even if nobody revokes the node.
export const nodeServingCertDays = 90;

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
    serialNumber: '01', name: 'CN=labkube-ca', notBefore: new Date(Date.now() - notBeforeBackdateMs), notAfter: yearsFromNow(caYears),
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
    notBefore: new Date(Date.now() - notBeforeBackdateMs), notAfter: yearsFromNow(certYears),
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

/** A random positive 128-bit serial, as RFC 5280 asks (and the CA/B forum's 64 bits of entropy). */
function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}

export interface IssuedCert { pem: string; serial: string; /** SHA-256 of the DER, hex, lower case. */ fingerprint: string; notAfter: Date }

/**
 * Signs a node's serving certificate from its CSR (already checked by node-certs.ts): the CSR's
 * subject, key and subjectAltNames, for serverAuth only, from an hour ago for
 * `nodeServingCertDays`.
 */
export async function signServingCert(ca: ClusterCa, csr: x509.Pkcs10CertificateRequest, now = new Date()): Promise<IssuedCert> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const publicKey = csr.publicKey;
  const san = csrAltNames(csr);
  const ecdsa = publicKey.algorithm.name === 'ECDSA';
  // The authority key id names the CA's own subject key id; a CA made here has none, and then
  // the issuer name alone links the chain (a computed id could disagree with a CA made elsewhere).
  const caKeyId = caCert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  const notAfter = new Date(now.getTime() + nodeServingCertDays * 86_400_000);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(), subject: csr.subject, issuer: caCert.subject,
    notBefore: new Date(now.getTime() - notBeforeBackdateMs), notAfter,
    signingKey: await importKey(ca.keyPem), publicKey, signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      // An RSA key is used for key exchange too in TLS 1.2 suites without forward secrecy; ECDSA only signs.
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | (ecdsa ? 0 : x509.KeyUsageFlags.keyEncipherment), true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      ...(caKeyId ? [new x509.AuthorityKeyIdentifierExtension(caKeyId)] : []),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      ...(san.length ? [new x509.SubjectAlternativeNameExtension(san)] : []),
    ],
  });
  const fingerprint = Buffer.from(await cert.getThumbprint('SHA-256')).toString('hex');
  return { pem: cert.toString('pem'), serial: cert.serialNumber, fingerprint, notAfter };
}

/** The subjectAltNames a CSR asks for (its extensionRequest attribute). */
export function csrAltNames(csr: x509.Pkcs10CertificateRequest): x509.JsonGeneralNames {
  const ext = csr.getExtension('2.5.29.17'); // id-ce-subjectAltName
  return ext ? new x509.SubjectAlternativeNameExtension(ext.rawData).names.toJSON() : [];
}

export { x509 };
