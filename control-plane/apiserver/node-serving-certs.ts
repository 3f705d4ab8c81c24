// Node serving certificates: the CSR an agent sends at join (or to renew), what the control plane
// lets a node put in it, and what it remembers of the certificates it signed.
//
// A node asks for the certificate of its log (and later exec) server, as a kubelet asks with a
// `kubernetes.io/kubelet-serving` CSR and k3s's server signs its agents' at join. The CA that
// signs it is the one kubectl, labctl and every agent trust for the API server, so the rules are
// about what else a node's certificate could impersonate:
//  - Subject: exactly CN=system:node:NAME (O=system:nodes allowed, as a kubelet's), NAME being
//    the node the credential or join is for. Nothing else in the subject.
//  - DNS names: only NAME. The API server dials nodes by IP; the node name is the board's
//    hostname by default, and any other name could be someone else's (the API server's).
//  - IP addresses: at least one (the API server dials the Node's InternalIP and checks it is in
//    the certificate), at most 4, each a unicast address, and none that is
//      - another Node's (in its status.addresses): that is its certificate to hold;
//      - the control plane's own, or loopback, unless the request comes from the control plane's
//        machine itself: a board holding a CA-signed certificate for the API server's address
//        could pose as the API server to kubectl and to every agent.
//    At the first join the Node does not exist yet, so its own addresses cannot be checked
//    against it (k3s trusts what its agent claims, for the same reason); the proxy then checks
//    the address it dials against the certificate (agent-dial.ts).
//  - No other SAN types (e-mail, URI), no CA, no key shorter than P-256 or RSA 2048.
//
// Remembered per node in the store (survives restarts): the SHA-256 fingerprints of the
// certificates the control plane signed for it (the newest and the one before, so a proxy
// request during a renewal is not refused), and whether an admin revoked the node. The API
// server trusts only those fingerprints when it proxies, so a revoked node's certificate, or one
// signed for it before a reset, is refused even though the CA signed it.
import { createPublicKey, X509Certificate } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import { BadRequestError, ForbiddenError } from '../api/errors.ts';
import type { KubeObject } from '../api/meta.ts';
import type { Store } from '../store/types.ts';
import { csrAltNames, localNames, x509 } from './certs.ts';

const recordPrefix = '/labkube.io/nodeservingcerts/';
const nodePrefix = '/nodes/';
const maxIpSans = 4;
// Certificates the proxy trusts per node: the newest and the one it replaced (renewal in flight).
const keptFingerprints = 2;

import { servingCertSubject } from '../api/well-known.ts';

export { servingCertSubject };

export interface NodeServingCertRecord {
  /** SHA-256 fingerprints (hex, lower case) of the certificates signed for the node, newest first. */
  fingerprints: string[];
  /** Set by `labctl node revoke`: the join token may not join this name again while its Node exists. */
  revoked: boolean;
}

export function readServingCertRecord(store: Store, nodeName: string): NodeServingCertRecord | undefined {
  const obj = store.get(recordPrefix + nodeName);
  if (!obj) return undefined;
  return { fingerprints: Array.isArray(obj.fingerprints) ? obj.fingerprints.map(String) : [], revoked: obj.revoked === true };
}

export function writeServingCertRecord(store: Store, nodeName: string, record: NodeServingCertRecord): void {
  const key = recordPrefix + nodeName;
  const obj: KubeObject = { apiVersion: 'labkube.io/v1', kind: 'NodeServingCertificate', metadata: { name: nodeName }, ...record };
  if (store.get(key)) store.update(key, obj);
  else store.create(key, obj);
}

/** The record after signing `fingerprint`: a rotation keeps the previous certificate trusted, a (re)join starts afresh. */
export function withIssued(old: NodeServingCertRecord | undefined, fingerprint: string, keepPrevious: boolean): NodeServingCertRecord {
  const previous = keepPrevious && old && !old.revoked ? old.fingerprints : [];
  return { fingerprints: [fingerprint, ...previous].slice(0, keptFingerprints), revoked: false };
}

/** Where the request came from, and the addresses other nodes hold: what a CSR is judged against. */
export interface CsrContext {
  nodeName: string;
  /** The client's address as the server saw it. */
  remoteAddress: string | undefined;
  store: Store;
}

const normalize = (ip: string) => ip.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1').toLowerCase();

const notUnicast = new BlockList();
notUnicast.addSubnet('0.0.0.0', 8, 'ipv4');
notUnicast.addSubnet('224.0.0.0', 4, 'ipv4'); // multicast
notUnicast.addSubnet('240.0.0.0', 4, 'ipv4'); // reserved, and the broadcast address
notUnicast.addAddress('::', 'ipv6');
notUnicast.addSubnet('ff00::', 8, 'ipv6');
const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');
const family = (ip: string) => (isIP(ip) === 6 ? 'ipv6' : 'ipv4');

/** Addresses that other Nodes report: theirs to hold. */
function addressesOfOtherNodes(store: Store, nodeName: string): Map<string, string> {
  const taken = new Map<string, string>();
  for (const node of store.list(nodePrefix).items) {
    if (node.metadata.name === nodeName) continue;
    const addresses = (node.status as { addresses?: { type: string; address: string }[] } | undefined)?.addresses ?? [];
    for (const a of addresses) if (isIP(a.address)) taken.set(normalize(a.address), node.metadata.name!);
  }
  return taken;
}

/**
 * Parses and checks a node's serving-certificate CSR (PEM). Throws 400 for a CSR that is not one
 * (unparsable, bad signature, weak key) and 403 for one that asks for a name or an address the
 * node may not hold; returns it when it may be signed.
 */
export async function checkServingCsr(pem: string, ctx: CsrContext): Promise<x509.Pkcs10CertificateRequest> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch (err) {
    throw new BadRequestError(`csr is not a PEM-encoded PKCS#10 certificate signing request: ${(err as Error).message}`);
  }
  if (!(await csr.verify().catch(() => false))) throw new BadRequestError('csr is not signed by the key it carries');
  checkKey(csr);
  const node = ctx.nodeName;
  const refuse = (why: string) => new ForbiddenError(`node "${node}" may not have this serving certificate: ${why}`);

  const expected = servingCertSubject(node);
  const attributes = csr.subjectName.toJSON().flatMap((rdn) => Object.entries(rdn).flatMap(([type, values]) => values.map((v) => [type, v] as const)));
  const cn = attributes.filter(([t]) => t === 'CN').map(([, v]) => v);
  if (cn.length !== 1 || cn[0] !== expected) throw refuse(`the subject must be CN=${expected}, not ${csr.subject || 'empty'}`);
  const other = attributes.filter(([t, v]) => t !== 'CN' && !(t === 'O' && v === 'system:nodes'));
  if (other.length > 0) throw refuse(`the subject may hold only CN=${expected} and O=system:nodes, not ${other.map(([t, v]) => `${t}=${v}`).join(', ')}`);

  const names = csrAltNames(csr);
  const ips: string[] = [];
  for (const name of names) {
    if (name.type === 'dns') {
      if (name.value !== node) throw refuse(`DNS name "${name.value}" is not the node's name`);
    } else if (name.type === 'ip') {
      ips.push(normalize(name.value));
    } else {
      throw refuse(`a ${name.type} subjectAltName is not allowed (only the node's name and addresses)`);
    }
  }
  if (ips.length === 0) throw refuse('it names no IP address (the API server dials the node by its InternalIP)');
  if (ips.length > maxIpSans) throw refuse(`it names ${ips.length} addresses; at most ${maxIpSans}`);

  const remote = ctx.remoteAddress ? normalize(ctx.remoteAddress) : undefined;
  const own = new Set(localNames().filter((n) => isIP(n)).map(normalize));
  // A process on the control plane's own machine is inside its trust boundary already.
  const fromControlPlaneMachine = remote !== undefined && (loopback.check(remote, family(remote)) || own.has(remote));
  const taken = addressesOfOtherNodes(ctx.store, node);
  for (const ip of ips) {
    if (notUnicast.check(ip, family(ip))) throw refuse(`${ip} is not a unicast address`);
    const holder = taken.get(ip);
    if (holder) throw refuse(`${ip} is an address of node "${holder}"`);
    if (!fromControlPlaneMachine && (loopback.check(ip, family(ip)) || own.has(ip))) {
      throw refuse(`${ip} is ${loopback.check(ip, family(ip)) ? 'a loopback address' : 'an address of the control plane'}, and the request comes from ${remote ?? 'elsewhere'}`);
    }
  }
  return csr;
}

function checkKey(csr: x509.Pkcs10CertificateRequest): void {
  const key = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
  const d = key.asymmetricKeyDetails ?? {};
  const ok = (key.asymmetricKeyType === 'ec' && ['prime256v1', 'secp384r1'].includes(String(d.namedCurve))) ||
    (key.asymmetricKeyType === 'rsa' && (d.modulusLength ?? 0) >= 2048) || key.asymmetricKeyType === 'ed25519';
  if (!ok) throw new BadRequestError(`csr key ${key.asymmetricKeyType} ${d.namedCurve ?? d.modulusLength ?? ''} is too weak or unknown: use ECDSA P-256 or P-384, RSA of 2048 bits or more, or Ed25519`);
}

/**
 * Why the control plane does not trust `cert` as node `nodeName`'s serving certificate, or
 * undefined when it does: it names the node and is one the control plane signed for it and still
 * trusts (not revoked, not replaced twice since). The chain to the CA and the address are TLS's
 * to check (agent-dial.ts).
 */
export function untrustedReason(store: Store, nodeName: string, cert: X509Certificate): string | undefined {
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1];
  if (cn !== servingCertSubject(nodeName)) return `it is the certificate of "${cn ?? cert.subject}", not of ${servingCertSubject(nodeName)}`;
  const record = readServingCertRecord(store, nodeName);
  if (record?.revoked) return `node "${nodeName}" was revoked`;
  const fingerprint = cert.fingerprint256.replaceAll(':', '').toLowerCase();
  if (!record?.fingerprints.includes(fingerprint)) return 'it is not a certificate the control plane signed for this node (or it was replaced since)';
  return undefined;
}
