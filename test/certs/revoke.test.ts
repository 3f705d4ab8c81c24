// `labctl node revoke NAME`: the node's credential is refused (401) from then on, through a
// control-plane restart; the join token cannot join the name again while its Node exists;
// deleting the Node lets a (reinstalled) board join again.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ApiError, UnauthorizedError } from '../../control-plane/api/errors.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { KubeClient } from '../../control-plane/client/client.ts';
import { labctl } from '../cli/run.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const nodes = resourceFor('', 'nodes')!;

/** POST /labkube/v1/join with the join token: the status code and the answer. */
async function joinAs(server: TestServer, nodeName: string): Promise<{ code: number; token?: string; message?: string }> {
  const joiner = new KubeClient({ server: server.url, token: server.joinToken, ca: server.caPem });
  try {
    const { token } = await joiner.request<{ token: string }>('POST', '/labkube/v1/join', { nodeName });
    return { code: 201, token };
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    return { code: err.code, message: err.message };
  } finally {
    joiner.close();
  }
}

/** What the node's credential gets when it reads its own Node: 200, or the error's code. */
async function nodeAccess(server: TestServer, token: string): Promise<number> {
  const client = new KubeClient({ server: server.url, token, ca: server.caPem });
  try {
    await client.get(nodes, undefined, 'board-1');
    return 200;
  } catch (err) {
    if (err instanceof UnauthorizedError) return 401;
    throw err;
  } finally {
    client.close();
  }
}

describe('revoking a node', { timeout: 600_000 }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'labkube-revoke-'));
  let server: TestServer | undefined;
  after(async () => {
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('labctl node revoke: 401 from then on, across a restart, until the Node is deleted and the board joins again', async () => {
    server = await startTestServer({ dataDir });
    const joined = await joinAs(server, 'board-1');
    assert.equal(joined.code, 201);
    const nodeClient = new KubeClient({ server: server.url, token: joined.token!, ca: server.caPem });
    await nodeClient.create(nodes, undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'board-1' } } as KubeObject);
    nodeClient.close();
    assert.equal(await nodeAccess(server, joined.token!), 200);

    const byNode = new KubeClient({ server: server.url, token: joined.token!, ca: server.caPem });
    await assert.rejects(byNode.request('POST', '/labkube/v1/nodes/board-1/revoke'), /cannot revoke node credentials/, 'only the admin revokes');
    byNode.close();

    const revoked = await labctl(server.kubeconfigPath, ['node', 'revoke', 'board-1']);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, /^node\/board-1 revoked$/m);
    assert.match(revoked.stderr, /labctl delete node board-1/);
    assert.equal(await nodeAccess(server, joined.token!), 401);
    const rejoin = await joinAs(server, 'board-1');
    assert.equal(rejoin.code, 403, 'the agent\'s automatic re-join with the join token is refused too');
    assert.match(rejoin.message!, /revoked by an admin/);

    const unknown = await labctl(server.kubeconfigPath, ['node', 'revoke', 'no-such-board']);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /holds no credential and does not exist/);

    // The credential is gone from the store, not only from the server's memory.
    server.client.close();
    await server.close();
    server = await startTestServer({ dataDir });
    assert.equal(await nodeAccess(server, joined.token!), 401, 'still refused after a control-plane restart');
    assert.equal((await joinAs(server, 'board-1')).code, 403, 'still revoked after a restart');

    const deleted = await labctl(server.kubeconfigPath, ['delete', 'node', 'board-1']);
    assert.equal(deleted.code, 0, deleted.stderr);
    const fresh = await joinAs(server, 'board-1');
    assert.equal(fresh.code, 201, 'a board may join under the name once the Node is deleted');
    assert.equal(await nodeAccess(server, joined.token!), 401, 'the revoked credential stays refused');
  });
});
