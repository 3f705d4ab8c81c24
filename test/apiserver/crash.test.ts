// kill -9 at any moment loses no acknowledged write: a stream of creates from concurrent clients,
// a SIGKILL in the middle, a restart, and every create the server answered 201 is still there.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { podManifest } from '../support/app.ts';
import { freePort, kill, spawnServer } from '../support/process.ts';
import { eventually } from '../support/server.ts';

const pods = resourceFor('', 'pods')!;
const dataDir = mkdtempSync(join(tmpdir(), 'labkube-crash-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

const writers = 8;
// Each round's SIGKILL lands after this many acknowledged creates, while the writers keep going:
// counted, not timed, so a slow machine still kills mid-stream with enough writes to check.
const killAfterWrites = [70, 130, 40];

test('SIGKILL during a stream of writes loses no acknowledged write', async () => {
  const port = await freePort();
  const acknowledged = new Map<string, string>(); // name -> resourceVersion the server answered
  let lastRevision = 0;
  for (const [round, writes] of killAfterWrites.entries()) {
    const server = await spawnServer(dataDir, port);
    let stop = false;
    let acknowledgedThisRound = 0;
    const loops = Array.from({ length: writers }, async (_, w) => {
      for (let i = 0; !stop && i < 5000; i++) {
        const name = `r${round}-w${w}-${i}`;
        try {
          const created = await server.client.create(pods, 'default', podManifest(name) as KubeObject);
          acknowledged.set(name, created.metadata.resourceVersion!);
          acknowledgedThisRound++;
        } catch {
          return; // the server died under us: this write was never acknowledged
        }
      }
    });
    await eventually(() => acknowledgedThisRound >= writes, 120_000, `${writes} acknowledged writes in round ${round}`);
    await kill(server, 'SIGKILL');
    stop = true;
    await Promise.all(loops);

    const restarted = await spawnServer(dataDir, port);
    const list = await restarted.client.list(pods, 'default');
    const stored = new Map(list.items.map((p) => [p.metadata.name!, p.metadata.resourceVersion!]));
    const lost = [...acknowledged.keys()].filter((name) => !stored.has(name));
    assert.deepEqual(lost, [], `round ${round}: acknowledged writes lost after SIGKILL`);
    // Controllers may have written the pod since (the scheduler records Unschedulable): never older.
    for (const [name, rv] of acknowledged) assert.ok(Number(stored.get(name)) >= Number(rv), `${name} is at least at the acknowledged revision`);
    assert.ok(Number(list.metadata.resourceVersion) >= lastRevision, 'revisions never go backwards');
    lastRevision = Number(list.metadata.resourceVersion);
    await kill(restarted, 'SIGTERM');
  }
  assert.ok(acknowledged.size > 100, `only ${acknowledged.size} writes were acknowledged: the test proved little`);
});
