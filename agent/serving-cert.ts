// The agent's serving certificate (its log server's; exec and port-forward later), signed by the
// cluster CA: the kubelet's serving-certificate CSR flow, as k3s runs it at join.
//
//   DATA_DIR/agent.key  ECDSA P-256, made on the board (node:crypto), never leaves it
//   DATA_DIR/agent.crt  CN=system:node:NAME, SANs the node IP and name, from the control plane
//
// The agent sends a PKCS#10 CSR with its join (registration.ts) or, to renew, on its own
// (renewServingCert there); the control plane checks it and signs it (apiserver/join.ts). Until
// a certificate arrives the log server has none to serve, and nothing would call it: the API
// server only dials a node that joined.
//
// The CSR is encoded by csr.ts with node:crypto (an X.509 library held about 8 MB of a board's
// memory once a join had loaded it). Reading and checking certificates uses node:crypto's
// X509Certificate (Node 15.6+; the agent runs on Node 18).
import { createPrivateKey, generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { makeCsr } from './csr.ts';

import { servingCertSubject } from '../control-plane/api/well-known.ts';

export { servingCertSubject };

// Renew after two thirds of the lifetime, as the kubelet rotates at 70-90%: a month of a 90-day
// certificate is left for a board that is off or cut off when the time comes.
const renewAtFraction = 2 / 3;

export interface ServingTls { key: string; cert: string }

export interface ServingCertOptions {
  dataDir: string; nodeName: string; ip: string;
  /** The cluster CA certificate: the one the certificate must be signed by. */
  caPem: string;
  logger?: Logger;
}

/** The key, the certificate when there is a good one, the CSR to ask for one, and who to tell when it changes. */
export class ServingCertificate {
  private readonly keyPath: string;
  private readonly certPath: string;
  private readonly key: KeyObject;
  private readonly keyPem: string;
  private readonly ca: X509Certificate;
  private cert?: X509Certificate;
  private certPem?: string;
  private readonly listeners = new Set<(tls: ServingTls) => void>();

  constructor(private readonly o: ServingCertOptions) {
    this.keyPath = join(o.dataDir, 'agent.key');
    this.certPath = join(o.dataDir, 'agent.crt');
    this.ca = new X509Certificate(o.caPem);
    if (existsSync(this.keyPath)) {
      this.keyPem = readFileSync(this.keyPath, 'utf8');
    } else {
      this.keyPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
      // The log server starts before the first join, which is what creates the directory otherwise.
      mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
      writeFileSync(this.keyPath, this.keyPem, { mode: 0o600 });
    }
    this.key = createPrivateKey(this.keyPem);
    if (existsSync(this.certPath)) {
      const pem = readFileSync(this.certPath, 'utf8');
      const why = this.unusable(pem);
      if (why) o.logger?.info({ reason: why }, 'the serving certificate on disk is not usable; a new one is asked for at join');
      else this.use(pem);
    }
  }

  /** The key and certificate to serve, once the control plane signed one. */
  get tls(): ServingTls | undefined {
    return this.certPem ? { key: this.keyPem, cert: this.certPem } : undefined;
  }

  /** When to ask for a new certificate (epoch ms): now without one or when the node IP is not in it, else after two thirds of its life. */
  renewAt(): number {
    if (!this.cert || !this.cert.checkIP(this.o.ip)) return Date.now();
    const from = Date.parse(this.cert.validFrom);
    const to = Date.parse(this.cert.validTo);
    return from + (to - from) * renewAtFraction;
  }

  /** A PKCS#10 CSR (PEM) for this node's name and IP, signed with the key. */
  async csr(): Promise<string> {
    return makeCsr(this.key, { commonName: servingCertSubject(this.o.nodeName), organization: 'system:nodes', ips: [this.o.ip], dnsNames: [this.o.nodeName] });
  }

  /** Takes a certificate the control plane signed: checked, saved, and handed to whoever serves with it. */
  accept(pem: string): void {
    const why = this.unusable(pem);
    if (why) throw new Error(`the control plane sent a serving certificate this agent cannot use: ${why}`);
    writeFileSync(this.certPath, pem, { mode: 0o644 });
    this.use(pem);
    this.o.logger?.info({ notAfter: this.cert!.validTo, serial: this.cert!.serialNumber }, 'serving certificate signed by the cluster CA');
    for (const listener of this.listeners) listener(this.tls!);
  }

  /** Calls `listener` with every new certificate; returns the unsubscribe. */
  onChange(listener: (tls: ServingTls) => void): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  private use(pem: string): void {
    this.certPem = pem;
    this.cert = new X509Certificate(pem);
  }

  /** Why `pem` is no serving certificate for this node, key and CA (a self-signed one from before, a lapsed one), or undefined. */
  private unusable(pem: string): string | undefined {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(pem);
    } catch (err) {
      return `not a certificate: ${(err as Error).message}`;
    }
    if (!cert.checkIssued(this.ca) || !cert.verify(this.ca.publicKey)) return 'not signed by the cluster CA';
    if (!cert.checkPrivateKey(this.key)) return 'not for this agent\'s key';
    if (!cert.subject.split('\n').includes(`CN=${servingCertSubject(this.o.nodeName)}`)) return `not for node ${this.o.nodeName} (${cert.subject})`;
    if (Date.parse(cert.validTo) <= Date.now()) return `expired on ${cert.validTo}`;
    return undefined;
  }
}
