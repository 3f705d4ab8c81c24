import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GoneError } from '../../control-plane/api/errors.ts';
import type { KubeObject, WatchEvent } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { buildTestApp, asAdmin, podManifest } from '../support/app.ts';
import { eventually } from '../support/server.ts';
import { KubeClient } from '../../control-plane/client/client.ts';
import { MemoryStore } from '../../control-plane/store/memory.ts';
import { RoutedStore } from '../../control-plane/store/routed.ts';
import { SqliteStore } from '../../control-plane/store/sqlite.ts';
import type { FastifyInstance } from 'fastify';

const pods = resourceFor('', 'pods')!;
let app: FastifyInstance;
let client: KubeClient;
let sqlite: SqliteStore;

before(async () => {
  sqlite = new SqliteStore({ path: ':memory:', compactIntervalMs: 0, historyRevisions: 5, historyAgeMs: 3_600_000 });
  const store = new RoutedStore(sqlite, new MemoryStore(), ['/coordination.k8s.io/leases/']);
  app = await buildTestApp({ store, watch: { bookmarkIntervalMs: 100 } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address() as { port: number };
  client = new KubeClient({ server: `http://127.0.0.1:${address.port}`, token: asAdmin.authorization.slice(7) });
});
after(async () => { client.close(); await app.close(); });

/**
 * Collects events until `until` says stop (or a minute passes), then aborts the watch. `act` runs
 * once the watch is open and past its initial state: the first BOOKMARK (sent every 100 ms here)
 * says so, however long a loaded machine took to get there. Bookmarks are left out of the events
 * unless the query asked for them.
 */
async function collect(query: Parameters<KubeClient['watch']>[2], act: () => Promise<void>, until: (events: WatchEvent[]) => boolean,
  namespace = 'default'): Promise<WatchEvent[]> {
  const events: WatchEvent[] = [];
  const abort = new AbortController();
  let open = false;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => { resolveDone = r; });
  const watching = client.watch(pods, namespace, { ...query, allowWatchBookmarks: true }, (e) => {
    if (e.type === 'BOOKMARK') open = true;
    if (e.type === 'BOOKMARK' && !query.allowWatchBookmarks) return;
    events.push(e);
    if (until(events)) resolveDone();
  }, abort.signal);
  await Promise.race([eventually(() => open, 60_000, 'the watch to open'), done]);
  await act();
  await Promise.race([done, watching, new Promise((r) => setTimeout(r, 60_000))]);
  abort.abort();
  await watching.catch(() => {});
  return events;
}

describe('watch', () => {
  test('starts with ADDED for existing objects when no resourceVersion is given, then streams changes', async () => {
    await client.create(pods, 'default', podManifest('w-existing') as KubeObject);
    const events = await collect({}, async () => {
      const p = await client.create(pods, 'default', podManifest('w-new') as KubeObject);
      await client.patch(pods, 'default', 'w-new', { metadata: { labels: { v: '2' } } });
      await client.delete(pods, 'default', p.metadata.name!);
    }, (ev) => ev.some((e) => e.type === 'DELETED'));
    const names = events.map((e) => `${e.type} ${e.object.metadata.name}`);
    assert.ok(names.includes('ADDED w-existing'));
    const tail = names.filter((n) => n.endsWith('w-new'));
    assert.deepEqual(tail, ['ADDED w-new', 'MODIFIED w-new', 'DELETED w-new']);
  });

  test('replays every change after a resourceVersion, in order', async () => {
    const a = await client.create(pods, 'default', podManifest('w-replay') as KubeObject);
    await client.patch(pods, 'default', 'w-replay', { metadata: { labels: { step: '1' } } });
    await client.patch(pods, 'default', 'w-replay', { metadata: { labels: { step: '2' } } });
    const events = await collect({ resourceVersion: a.metadata.resourceVersion }, async () => {}, (ev) => ev.length >= 2);
    const mine = events.filter((e) => e.object.metadata.name === 'w-replay');
    assert.deepEqual(mine.map((e) => e.object.metadata.labels?.step), ['1', '2']);
    const revisions = events.map((e) => Number(e.object.metadata.resourceVersion));
    assert.deepEqual(revisions, [...revisions].sort((x, y) => x - y));
  });

  test('turns selector transitions into ADDED and DELETED', async () => {
    await client.create(pods, 'default', { ...podManifest('w-sel'), metadata: { name: 'w-sel', labels: { role: 'other' } } } as KubeObject);
    const events = await collect({ labelSelector: 'role=chosen' }, async () => {
      await client.patch(pods, 'default', 'w-sel', { metadata: { labels: { role: 'chosen' } } });
      await client.patch(pods, 'default', 'w-sel', { metadata: { labels: { role: 'chosen', x: 'y' } } });
      await client.patch(pods, 'default', 'w-sel', { metadata: { labels: { role: 'other' } } });
    }, (ev) => ev.length >= 3);
    assert.deepEqual(events.map((e) => e.type), ['ADDED', 'MODIFIED', 'DELETED']);
  });

  test('sends BOOKMARK events carrying the current revision when asked', async () => {
    const events = await collect({ allowWatchBookmarks: true, resourceVersion: String(sqlite.revision()) }, async () => {},
      (ev) => ev.some((e) => e.type === 'BOOKMARK'));
    const bookmark = events.find((e) => e.type === 'BOOKMARK');
    assert.ok(bookmark);
    assert.equal(bookmark.object.metadata.resourceVersion, String(sqlite.revision()));
  });

  test('ends the stream after timeoutSeconds', async () => {
    const started = Date.now();
    await client.watch(pods, 'default', { timeoutSeconds: 1, resourceVersion: String(sqlite.revision()) }, () => {});
    assert.ok(Date.now() - started >= 900);
  });

  test('answers a watch from a compacted revision with an ERROR event carrying 410', async () => {
    const first = await client.create(pods, 'default', podManifest('w-old') as KubeObject);
    for (let i = 0; i < 10; i++) await client.patch(pods, 'default', 'w-old', { metadata: { labels: { i: String(i) } } });
    sqlite.compact();
    await assert.rejects(client.watch(pods, 'default', { resourceVersion: first.metadata.resourceVersion }, () => {}), GoneError);
    const res = await app.inject({ method: 'GET', url: `/api/v1/namespaces/default/pods?watch=1&resourceVersion=${first.metadata.resourceVersion}`, headers: asAdmin });
    assert.equal(res.statusCode, 200);
    const event = JSON.parse(res.body.trim());
    assert.equal(event.type, 'ERROR');
    assert.equal(event.object.code, 410);
    assert.equal(event.object.reason, 'Expired');
  });

  test('counts open watches in the metrics', async () => {
    const abort = new AbortController();
    let open = false;
    const watching = client.watch(pods, 'default', { allowWatchBookmarks: true }, (e) => { if (e.type === 'BOOKMARK') open = true; }, abort.signal);
    await eventually(() => open, 60_000, 'the watch to open');
    const metrics = (await app.inject({ method: 'GET', url: '/metrics', headers: asAdmin })).body;
    assert.match(metrics, /apiserver_registered_watchers\{resource="pods"\} [1-9]/);
    abort.abort();
    await watching;
  });
});
