// Short-lived tokens the API server presents to an agent's log, exec, attach and port-forward
// endpoints: signed here by the control plane, checked there by the agent, so the format lives in
// the layer both import. The control plane signs them with its CA key (ECDSA P-256,
// DATA_DIR/ca.key); an agent verifies them with the CA certificate it already holds to trust the
// API server. No shared secret is distributed, a
// token names one node and one pod, and it expires within a minute: a token seen on the lab
// network opens nothing else. Pure node:crypto so the agent bundle stays small.
import { X509Certificate, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

export interface LogTokenClaims {
  /** The node whose agent may accept the token. */
  node: string;
  namespace: string;
  pod: string;
  /** What the token opens: the pod's logs when absent, a command in it (pods/exec), or its main process's streams (pods/attach). */
  verb?: 'exec' | 'attach' | 'portforward';
  /** Issued at, by the control plane's clock, seconds since the epoch (absent from tokens of older servers). */
  iat?: number;
  /** Expiry, seconds since the epoch. */
  exp: number;
}

const prefix = 'lklog1';
// A proxied request reaches the agent within milliseconds: the minute is for a loaded machine.
export const defaultLogTokenTtlSeconds = 60;
// The board's clock may disagree with the control plane's: a Pi has no real-time clock and runs
// minutes off until NTP answers. The agent accepts a token from `maxClockSkewSeconds` before it
// was issued until as long after it expired, by its own clock. Bounded: a token lives at most
// its lifetime plus twice this, on any board, so one read off a board stays a short-lived key to
// one pod's logs. 15 minutes covers the 10 labkube promises, with room.
export const maxClockSkewSeconds = 15 * 60;
// The longest lifetime (exp - iat) an agent accepts, so no token the CA signed lives for long.
const maxTokenLifetimeSeconds = 10 * 60;

export function signLogToken(privateKeyPem: string | KeyObject, claims: LogTokenClaims): string {
  const key = typeof privateKeyPem === 'string' ? createPrivateKey(privateKeyPem) : privateKeyPem;
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const signature = sign('sha256', Buffer.from(`${prefix}.${payload}`), { key, dsaEncoding: 'ieee-p1363' });
  return `${prefix}.${payload}.${signature.toString('base64url')}`;
}

export function publicKeyFromCa(caPem: string): KeyObject {
  return createPublicKey(new X509Certificate(caPem).publicKey.export({ type: 'spki', format: 'pem' }));
}

/**
 * Checks a request's bearer token for one node, pod and verb (undefined: logs), as the agent's
 * log, exec, attach and port-forward endpoints do: undefined when it may pass, else the HTTP
 * refusal (401 for a token that is not genuine or has lapsed, 403 for another pod or verb).
 */
export function refuseRequest(publicKey: KeyObject, authorization: string | undefined, node: string, now: number,
  want: { namespace: string; pod: string; verb?: LogTokenClaims['verb'] }): { code: 401 | 403; reason: string; message: string } | undefined {
  const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1] ?? '';
  const verdict = verifyLogToken(publicKey, token, node, now);
  if (!verdict.ok) return { code: 401, reason: 'Unauthorized', message: verdict.reason };
  const { claims } = verdict;
  if (claims.namespace !== want.namespace || claims.pod !== want.pod) return { code: 403, reason: 'Forbidden', message: 'token is for another pod' };
  if (claims.verb !== want.verb) return { code: 403, reason: 'Forbidden', message: `token is for ${claims.verb ?? 'logs'}, not ${want.verb ?? 'logs'}` };
  return undefined;
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
  if (typeof claims.exp !== 'number') return { ok: false, reason: 'token has no expiry' };
  const seconds = now / 1000;
  if (claims.exp + maxClockSkewSeconds < seconds) {
    return { ok: false, reason: `token expired ${Math.round(seconds - claims.exp)} s ago by this board's clock (more than the ${maxClockSkewSeconds} s of clock skew allowed: check the board's time)` };
  }
  if (claims.iat !== undefined) {
    if (typeof claims.iat !== 'number' || claims.exp - claims.iat > maxTokenLifetimeSeconds) return { ok: false, reason: 'token lifetime too long' };
    if (claims.iat - maxClockSkewSeconds > seconds) {
      return { ok: false, reason: `token issued ${Math.round(claims.iat - seconds)} s in the future by this board's clock (more than the ${maxClockSkewSeconds} s of clock skew allowed: check the board's time)` };
    }
  }
  return { ok: true, claims };
}
