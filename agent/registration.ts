// Joining: trade the join token for a node credential (kept in DATA_DIR/node-token so a restarted
// agent reuses it), then register the Node, or refresh the one a previous run registered.
//
// The join request: POST /labkube/v1/join with `Authorization: Bearer <join token>` and the body
// {"nodeName": NAME, "currentToken": CREDENTIAL}, currentToken present when the agent has one (a
// re-join after its credential was refused): it proves the agent is the node that holds the name.
// A 409 means the name belongs to another credential; only an admin deleting the Node frees it.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ApiError, isAlreadyExists, isNotFound, UnauthorizedError } from '../control-plane/api/errors.ts';
import type { Node } from '../control-plane/api/core.ts';
import type { KubeObject } from '../control-plane/api/meta.ts';
import { resourceFor } from '../control-plane/api/resources.ts';
import type { KubeClient } from '../control-plane/client/client.ts';
import { AgentClient } from './api-client.ts';
import { reconnectBackoff, refusedBackoff, retry, RetryBackoff } from './backoff.ts';

const nodes = resourceFor('', 'nodes')!;

export interface JoinOptions {
  server: string; ca: string; joinToken: string; nodeName: string; dataDir: string; logger?: Logger;
  /** The credential the server refused, sent along to prove this agent is the node that holds the name. */
  currentToken?: string;
  /** Ends the retries (the agent is stopping). */
  signal?: AbortSignal;
  /** The wait between attempts (the agent's Wakeup ends it early when the control plane is back). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface JoinRequest { nodeName: string; currentToken?: string }

export function joinRequest(o: Pick<JoinOptions, 'nodeName' | 'currentToken'>): JoinRequest {
  return { nodeName: o.nodeName, ...(o.currentToken && { currentToken: o.currentToken }) };
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
  if (err.code === 401 || err.code === 403) {
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
  try {
    const { token } = await retry(() => joiner.request<{ token: string }>('POST', '/labkube/v1/join', joinRequest(o)), {
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

export { isNotFound };
