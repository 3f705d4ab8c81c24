// Short-lived tokens the API server presents to an agent's log server. The control plane signs
// them with its CA key (ECDSA P-256, DATA_DIR/ca.key); an agent verifies them with the CA
// certificate it already holds to trust the API server. No shared secret is distributed, a
// token names one node and one pod, and it expires within a minute: a token seen on the lab
// network opens nothing else. Pure node:crypto so the agent bundle stays small.
import { X509Certificate, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

export interface LogTokenClaims {
  /** The node whose agent may accept the token. */
  node: string;
  namespace: string;
  pod: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
}

const prefix = 'lklog1';
// A proxied request reaches the agent within milliseconds; a minute tolerates clock skew between boards.
export const defaultLogTokenTtlSeconds = 60;

export function signLogToken(privateKeyPem: string | KeyObject, claims: LogTokenClaims): string {
  const key = typeof privateKeyPem === 'string' ? createPrivateKey(privateKeyPem) : privateKeyPem;
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const signature = sign('sha256', Buffer.from(`${prefix}.${payload}`), { key, dsaEncoding: 'ieee-p1363' });
  return `${prefix}.${payload}.${signature.toString('base64url')}`;
}

export function publicKeyFromCa(caPem: string): KeyObject {
  return createPublicKey(new X509Certificate(caPem).publicKey.export({ type: 'spki', format: 'pem' }));
}

/** Returns the claims when the token is genuine, unexpired and for `node`; otherwise a reason. */
export function verifyLogToken(publicKey: KeyObject, token: string, node: string, now = Date.now()):
  { ok: true; claims: LogTokenClaims } | { ok: false; reason: string } {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== prefix) return { ok: false, reason: 'not a log token' };
  const genuine = verify('sha256', Buffer.from(`${prefix}.${parts[1]}`), { key: publicKey, dsaEncoding: 'ieee-p1363' },
    Buffer.from(parts[2]!, 'base64url'));
  if (!genuine) return { ok: false, reason: 'bad signature' };
  let claims: LogTokenClaims;
  try {
    claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as LogTokenClaims;
  } catch {
    return { ok: false, reason: 'malformed claims' }; // signed by the CA yet unparsable: refuse, never guess
  }
  if (claims.node !== node) return { ok: false, reason: `token is for node "${claims.node}"` };
  if (typeof claims.exp !== 'number' || claims.exp * 1000 < now) return { ok: false, reason: 'token expired' };
  return { ok: true, claims };
}
