// Kubernetes' Python client (Debian's python3-kubernetes, run by /usr/bin/python3) against
// labkube: its watch must see every pod of a Deployment scaled up and down, and create, scale,
// patch, delete and errors must decode into its generated models. python_client.py is the client
// side; this file drives it and checks what it printed.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { runCommand, startCommand } from '../cli/run.ts';
import { startHollowNodes, type HollowNode } from '../support/hollow-node.ts';
import { eventually, startTestServer, type TestServer } from '../support/server.ts';

const script = fileURLToPath(new URL('./python_client.py', import.meta.url));
type Line = Record<string, unknown>;
const lines = (text: string): Line[] => text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);

describe('the official Python client against labkube', { timeout: 180_000 }, () => {
  let server: TestServer;
  let hollow: HollowNode[];
  const python = async (...args: string[]) => {
    const run = await runCommand('/usr/bin/python3', [script, server.kubeconfigPath, ...args], { timeoutMs: 60_000 });
    assert.equal(run.code, 0, run.stderr);
    return lines(run.stdout);
  };

  before(async () => {
    server = await startTestServer();
    hollow = await startHollowNodes(server, 2, { name: 'py' });
  });
  after(async () => {
    await Promise.all(hollow.map((h) => h.stop()));
    await server.stop();
  });

  test('a watch sees every pod come and go through a scale up and down; the writes decode', async () => {
    const watcher = startCommand('/usr/bin/python3', [script, server.kubeconfigPath, 'watch', '150']);
    try {
      await eventually(() => lines(watcher.output()).some((l) => l.type === 'LISTED'), 30_000, 'the watch to start');
      const [created, nodes] = await python('crud');
      assert.deepEqual(created, { step: 'created', name: 'py', replicas: 1 });
      assert.deepEqual(nodes, { step: 'nodes', count: 1, more: true });
      assert.deepEqual(await python('scale', '4'), [{ step: 'scaled', replicas: 4 }]);
      const events = () => lines(watcher.output());
      const named = (type: string) => new Set(events().filter((e) => e.type === type).map((e) => e.name));
      await eventually(() => named('ADDED').size === 4, 60_000, 'four pods added');
      await eventually(() => events().some((e) => e.type === 'MODIFIED' && e.phase === 'Running'), 60_000, 'a pod running');
      assert.deepEqual(await python('scale', '1'), [{ step: 'scaled', replicas: 1 }]);
      await eventually(() => named('DELETED').size === 3, 60_000, `three pods deleted (saw ${JSON.stringify(events().slice(-5))})`);
      assert.deepEqual(await python('patch'), [{ step: 'patched', labels: { team: 'lab' } }]);
      const [deleted, error] = await python('delete');
      assert.deepEqual(deleted, { step: 'deleted', kind: 'V1Status' });
      assert.deepEqual(error, { step: 'error', status: 404, reason: 'NotFound' });
      await eventually(() => named('DELETED').size === 4, 60_000, 'the last pod deleted with its deployment');
    } finally {
      await watcher.stop();
    }
  });
});
