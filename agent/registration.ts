// Joining: trade the join token for a node credential (kept in DATA_DIR/node-token so a restarted
// agent reuses it), then register the Node, or refresh the one a previous run registered.
//
// The join request: POST /labkube/v1/join with `Authorization: Bearer <join token>` and the body
// {"nodeName": NAME, "currentToken": CREDENTIAL, "csr": PEM}, currentToken present when the agent
// has one (a re-join after its credential was refused): it proves the agent is the node that
// holds the name. csr asks for the log server's certificate (serving-cert.ts); the answer
// carries it. A 409 means the name belongs to another credential; only an admin deleting the
// Node frees it. A 403 after `labctl node revoke` too.
//
// The serving certificate is renewed with the node credential (renewServingCert below), on its
// own route: a new certificate needs no new credential.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ApiError, isAlreadyExists, isNotFound, UnauthorizedError } from '../control-plane/api/errors.ts';
import type { Node } from '../control-plane/api/core.ts';
import type { KubeObject } from '../control-plane/api/meta.ts';
import { resourceFor } from '../control-plane/api/resources.ts';
import type { KubeClient } from '../control-plane/client/client.ts';
import { AgentClient } from './api-client.ts';
import { reconnectBackoff, refusedBackoff, retry, RetryBackoff, Wakeup } from './backoff.ts';
import type { ServingCertificate } from './serving-cert.ts';

const nodes = resourceFor('', 'nodes')!;

export interface JoinOptions {
  server: string; ca: string; joinToken: string; nodeName: string; dataDir: string; logger?: Logger;
  /** The credential the server refused, sent along to prove this agent is the node that holds the name. */
  currentToken?: string;
  /** Ends the retries (the agent is stopping). */
  signal?: AbortSignal;
  /** The wait between attempts (the agent's Wakeup ends it early when the control plane is back). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** The log server's certificate: its CSR goes with the join, and it takes the certificate that comes back. */
  servingCert?: ServingCertificate;
}

export interface JoinRequest { nodeName: string; currentToken?: string; csr?: string }
export interface JoinResponse { nodeName: string; token: string; certificate?: string }

export function joinRequest(o: Pick<JoinOptions, 'nodeName' | 'currentToken'>, csr?: string): JoinRequest {
  return { nodeName: o.nodeName, ...(o.currentToken && { currentToken: o.currentToken }), ...(csr && { csr }) };
}

/** The server no longer accepts the credential: it was revoked. (Belongs beside isNotFound in api/errors.ts.) */
export const isUnauthorized = (err: unknown): err is ApiError => err instanceof UnauthorizedError;

/** A refusal (4xx) needs a person to change something; anything else (unreachable, 5xx) passes by itself. */
export const isRefusal = (err: unknown): err is ApiError => err instanceof ApiError && err.code >= 400 && err.code < 500;

/** What to tell the operator about a failed join, and how loudly. */
export function joinFailure(err: unknown, nodeName: string): { level: 'error' | 'warn'; message: string } {
  if (!(err instanceof ApiError) || !isRefusal(err)) return { level: 'warn', message: 'cannot reach the API server to join; retrying' };
  if (err.code === 409) {
    return { level: 'error', message: `node name "${nodeName}" is taken by another credential; an admin must delete node ${nodeName} (labctl delete node ${nodeName}) before this agent can join, or start this agent with another --name` };
  }
  if (err.code === 401) {
    return { level: 'error', message: 'the API server refused the join token; check --token-file against the server\'s DATA_DIR/join-token' };
  }
  return { level: 'error', message: `the API server refused the join: ${err.message}` };
}

/** The node credential: the saved one, or a new one from the join endpoint (retried until the server gives one). */
export async function obtainCredential(o: JoinOptions, forceRejoin = false): Promise<string> {
  const path = join(o.dataDir, 'node-token');
  if (!forceRejoin && existsSync(path)) return readFileSync(path, 'utf8').trim();
  const joiner = new AgentClient({ server: o.server, token: o.joinToken, ca: o.ca, userAgent: `labkube-agent/${o.nodeName}` });
  const unreachable = new RetryBackoff(reconnectBackoff);
  const refused = new RetryBackoff(refusedBackoff);
  let lastMessage = '';
  // Made once per join, not per attempt: the CSR does not change while the control plane is away.
  const csr = await o.servingCert?.csr();
  try {
    const { token, certificate } = await retry(() => joiner.request<JoinResponse>('POST', '/labkube/v1/join', joinRequest(o, csr)), {
      backoff: (err) => (isRefusal(err) ? refused : unreachable),
      onError: (err, retryInMs) => {
        const { level, message } = joinFailure(err, o.nodeName);
        // A refusal is said once at error level; its repeats, every half minute, only at debug.
        const say = message === lastMessage && level === 'error' ? 'debug' : level;
        lastMessage = message;
        o.logger?.[say]({ node: o.nodeName, err: (err as Error).message, retryInMs }, message);
      },
      signal: o.signal, sleep: o.sleep,
    });
    mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
    writeFileSync(path, `${token}\n`, { mode: 0o600 });
    if (certificate) o.servingCert?.accept(certificate);
    return token;
  } finally {
    joiner.close();
  }
}

/** Creates the Node, or brings an existing one up to date (labels, annotations, status). */
export async function registerNode(client: KubeClient, node: Node): Promise<void> {
  try {
    await client.create(nodes, undefined, node as KubeObject);
    return;
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
  }
  const name = node.metadata.name!;
  await client.patch(nodes, undefined, name, { metadata: { labels: node.metadata.labels, annotations: node.metadata.annotations } });
  await client.patch(nodes, undefined, name, { status: node.status }, 'merge', 'status');
}

export interface RenewalOptions {
  certificate: ServingCertificate;
  /** The agent's API client: it holds the node credential, the current one after a re-join. */
  client: Pick<AgentClient, 'request'>;
  nodeName: string;
  logger?: Logger;
  /** Ends the renewals (the agent is stopping). */
  signal: AbortSignal;
  /** The wait between failed attempts (the agent's Wakeup ends it early when the control plane is back). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

// The longest single wait before looking at the certificate again: a timer cannot wait 60 days
// (setTimeout's limit is 24.8), and a suspended board's timers run late.
const maxRenewalWaitMs = 6 * 3_600_000;

/**
 * Keeps the serving certificate renewed while the agent runs: asks for a new one when it is due
 * (renewAt), at once when there is none (an agent that joined before certificates were signed,
 * or whose address changed), retrying with backoff while the control plane is away. A certificate
 * a join brings meanwhile restarts the wait. Resolves when `signal` aborts.
 */
export async function renewServingCert(o: RenewalOptions): Promise<void> {
  const changed = new Wakeup();
  const stopListening = o.certificate.onChange(() => changed.wake());
  const unreachable = new RetryBackoff(reconnectBackoff);
  const refused = new RetryBackoff(refusedBackoff);
  const path = `/labkube/v1/nodes/${encodeURIComponent(o.nodeName)}/serving-certificate`;
  let lastRefusal = '';
  try {
    while (!o.signal.aborted) {
      const dueInMs = o.certificate.renewAt() - Date.now();
      if (dueInMs > 0) {
        await changed.sleep(Math.min(dueInMs, maxRenewalWaitMs), o.signal);
        continue;
      }
      await retry(async () => {
        if (o.certificate.renewAt() > Date.now()) return; // a re-join brought one while this waited
        const csr = await o.certificate.csr();
        const { certificate } = await o.client.request<{ certificate: string }>('POST', path, { csr });
        o.certificate.accept(certificate);
      }, {
        backoff: (err) => (isRefusal(err) ? refused : unreachable),
        onError: (err, retryInMs) => {
          // A refusal is said once at error level (an older server without the route: 404); its repeats only at debug.
          const message = (err as Error).message;
          const level = !isRefusal(err) ? 'warn' : message === lastRefusal ? 'debug' : 'error';
          if (isRefusal(err)) lastRefusal = message;
          o.logger?.[level]({ node: o.nodeName, err: message, retryInMs },
            'cannot get a serving certificate for the log server; the API server proxies no logs without a valid one');
        },
        signal: o.signal, sleep: o.sleep,
      });
      unreachable.reset();
      refused.reset();
    }
  } catch (err) {
    if (!o.signal.aborted) throw err;
  } finally {
    stopListening();
  }
}

export { isNotFound };
