// A PKCS#10 certificate request (RFC 2986) for the agent's serving certificate, encoded here with
// node:crypto and a few lines of DER, not with an X.509 library: @peculiar/x509 and its ASN.1
// stack held about 8 MB of a board's memory for the agent's whole life once a join had loaded
// them, and a board has 1 GB. The request is the one shape the control plane signs
// (apiserver/join.ts parses and checks it with @peculiar/x509): an ECDSA P-256 key, the subject
// CN=system:node:NAME, O=system:nodes, and a subjectAltName of the node's IP and name.
import { createPublicKey, sign, type KeyObject } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

const tag = { integer: 0x02, bitString: 0x03, octetString: 0x04, oid: 0x06, utf8String: 0x0c, sequence: 0x30, set: 0x31, attributes: 0xa0, dnsName: 0x82, ipAddress: 0x87 };
const oids = {
  commonName: '2.5.4.3', organization: '2.5.4.10', extensionRequest: '1.2.840.113549.1.9.14',
  subjectAltName: '2.5.29.17', ecdsaWithSha256: '1.2.840.10045.4.3.2',
};

/** One DER element: tag, definite length, contents. */
function der(t: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  const n = body.length;
  const length = n < 0x80 ? Buffer.from([n]) : (() => {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    return Buffer.from([0x80 | bytes.length, ...bytes]);
  })();
  return Buffer.concat([Buffer.from([t]), length, body]);
}

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number) as [number, number, ...number[]];
  const bytes = [40 * a + b];
  for (const arc of rest) {
    const base128 = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) base128.unshift(0x80 | (v & 0x7f));
    bytes.push(...base128);
  }
  return der(tag.oid, Buffer.from(bytes));
}

/** An IP address as the 4 or 16 bytes of an iPAddress name. */
export function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  if (!isIPv6(ip)) throw new Error(`not an IP address: ${ip}`);
  let text = ip.replace(/%.*$/, '');
  // A trailing dotted quad (::ffff:192.0.2.1) is the last two groups.
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad[1]!.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, -quad[1]!.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') as [string, string] : [text, undefined];
  const groups = (s: string) => (s ? s.split(':') : []);
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

const attribute = (type: string, value: string) => der(tag.set, der(tag.sequence, oid(type), der(tag.utf8String, Buffer.from(value))));

/** The PEM of a CSR signed with `key` (ECDSA P-256) for `subject` = CN, O and the SANs. */
export function makeCsr(key: KeyObject, subject: { commonName: string; organization: string; ips: string[]; dnsNames: string[] }): string {
  const names = der(tag.sequence, attribute(oids.commonName, subject.commonName), attribute(oids.organization, subject.organization));
  const sans = der(tag.sequence,
    ...subject.ips.map((ip) => der(tag.ipAddress, ipBytes(ip))),
    ...subject.dnsNames.map((dns) => der(tag.dnsName, Buffer.from(dns, 'ascii'))));
  const extensions = der(tag.sequence, der(tag.sequence, oid(oids.subjectAltName), der(tag.octetString, sans)));
  const info = der(tag.sequence,
    der(tag.integer, Buffer.from([0])),
    names,
    createPublicKey(key).export({ type: 'spki', format: 'der' }),
    der(tag.attributes, der(tag.sequence, oid(oids.extensionRequest), der(tag.set, extensions))));
  const signature = sign('sha256', info, key); // DER (r, s), as the signature's BIT STRING holds it
  const request = der(tag.sequence, info, der(tag.sequence, oid(oids.ecdsaWithSha256)), der(tag.bitString, Buffer.from([0]), signature));
  const base64 = request.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE REQUEST-----\n${base64}\n-----END CERTIFICATE REQUEST-----\n`;
}
