// Joining: trade the join token for a node credential (kept in DATA_DIR/node-token so a restarted
// agent reuses it), then register the Node, or refresh the one a previous run registered.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { isAlreadyExists, isNotFound } from '../control-plane/api/errors.ts';
import type { Node } from '../control-plane/api/core.ts';
import type { KubeObject } from '../control-plane/api/meta.ts';
import { resourceFor } from '../control-plane/api/resources.ts';
import { KubeClient } from '../control-plane/client/client.ts';

const nodes = resourceFor('', 'nodes')!;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface JoinOptions { server: string; ca: string; joinToken: string; nodeName: string; dataDir: string; logger?: Logger }

/** The node credential: the saved one, or a new one from the join endpoint (retried until the server answers). */
export async function obtainCredential(o: JoinOptions, forceRejoin = false): Promise<string> {
  const path = join(o.dataDir, 'node-token');
  if (!forceRejoin && existsSync(path)) return readFileSync(path, 'utf8').trim();
  const joiner = new KubeClient({ server: o.server, token: o.joinToken, ca: o.ca, userAgent: `labkube-agent/${o.nodeName}` });
  // Kubernetes' reflector backoff: 1 s doubling to 30 s.
  for (let delay = 1_000; ; delay = Math.min(delay * 2, 30_000)) {
    try {
      const { token } = await joiner.request<{ token: string }>('POST', '/labkube/v1/join', { nodeName: o.nodeName });
      joiner.close();
      mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
      writeFileSync(path, `${token}\n`, { mode: 0o600 });
      return token;
    } catch (err) {
      o.logger?.warn({ err: (err as Error).message, retryInMs: delay }, 'join failed');
      await sleep(delay);
    }
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
