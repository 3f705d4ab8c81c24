import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { AlreadyExistsError, ConflictError, GoneError, NotFoundError } from '../../control-plane/api/errors.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { MemoryStore } from '../../control-plane/store/memory.ts';
import { SqliteStore } from '../../control-plane/store/sqlite.ts';
import type { Store, StoreEvent } from '../../control-plane/store/types.ts';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'labkube-store-'));
  dirs.push(dir);
  return join(dir, 'state.db');
}

const pod = (name: string, extra: Record<string, unknown> = {}): KubeObject =>
  ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec: { containers: [] }, ...extra });

const stores: [string, () => Store][] = [
  ['SqliteStore', () => new SqliteStore({ path: tempDb(), compactIntervalMs: 0 })],
  ['MemoryStore', () => new MemoryStore({ startRevision: 0 })],
];

for (const [name, make] of stores) {
  describe(`${name} contract`, () => {
    test('gives every write the next revision and writes it into the object', () => {
      const store = make();
      const a = store.create('/pods/default/a', pod('a'));
      const b = store.create('/pods/default/b', pod('b'));
      const a2 = store.update('/pods/default/a', { ...a, spec: { containers: [{ name: 'x' }] } });
      assert.equal(Number(b.metadata.resourceVersion), Number(a.metadata.resourceVersion) + 1);
      assert.equal(Number(a2.metadata.resourceVersion), Number(b.metadata.resourceVersion) + 1);
      assert.equal(store.revision(), Number(a2.metadata.resourceVersion));
      assert.deepEqual(store.get('/pods/default/a'), a2);
      store.close();
    });

    test('rejects a duplicate create, a stale update and a missing key', () => {
      const store = make();
      const a = store.create('/pods/default/a', pod('a'));
      assert.throws(() => store.create('/pods/default/a', pod('a')), AlreadyExistsError);
      store.update('/pods/default/a', a, Number(a.metadata.resourceVersion));
      assert.throws(() => store.update('/pods/default/a', a, Number(a.metadata.resourceVersion)), ConflictError);
      assert.throws(() => store.update('/pods/default/zz', a), NotFoundError);
      assert.throws(() => store.delete('/pods/default/zz'), NotFoundError);
      store.close();
    });

    test('lists only keys under the prefix, in key order', () => {
      const store = make();
      store.create('/pods/default/b', pod('b'));
      store.create('/pods/default/a', pod('a'));
      store.create('/pods/default2/c', pod('c'));
      store.create('/apps/deployments/default/d', pod('d'));
      assert.deepEqual(store.list('/pods/default/').items.map((o) => o.metadata.name), ['a', 'b']);
      assert.deepEqual(store.list('/pods/').items.map((o) => o.metadata.name), ['a', 'b', 'c']);
      store.close();
    });

    test('replays history after a revision, then delivers live writes, with the previous object', async () => {
      const store = make();
      const a = store.create('/pods/default/a', pod('a'));
      const start = Number(a.metadata.resourceVersion);
      store.update('/pods/default/a', { ...a, metadata: { ...a.metadata, labels: { v: '2' } } });
      store.create('/nodes/n1', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } });
      const seen: StoreEvent[] = [];
      await store.sync();
      const stop = store.watch('/pods/', start, (e) => seen.push(e));
      store.delete('/pods/default/a');
      await store.sync();
      stop();
      store.create('/pods/default/late', pod('late'));
      assert.deepEqual(seen.map((e) => e.type), ['MODIFIED', 'DELETED']);
      assert.equal(seen[0]!.prev?.metadata.labels, undefined);
      assert.deepEqual(seen[0]!.object.metadata.labels, { v: '2' });
      assert.equal(seen[1]!.object.metadata.name, 'a');
      assert.equal(seen[1]!.object.metadata.resourceVersion, String(seen[1]!.revision));
      assert.ok(seen[1]!.revision > seen[0]!.revision);
      store.close();
    });
  });
}

describe('SqliteStore durability and history', () => {
  test('commits the writes of one turn together and tells watchers only after the commit', async () => {
    const path = tempDb();
    const store = new SqliteStore({ path, compactIntervalMs: 0 });
    const seen: StoreEvent[] = [];
    store.watch('/pods/', undefined, (e) => seen.push(e));
    for (let i = 0; i < 20; i++) store.create(`/pods/default/p${i}`, pod(`p${i}`));
    assert.equal(seen.length, 0, 'no watcher hears of a write before it is on disk');
    const other = new SqliteStore({ path, compactIntervalMs: 0 });
    assert.equal(other.list('/pods/').items.length, 0, 'another reader does not see the open batch');
    await store.sync();
    assert.equal(seen.length, 20);
    assert.equal(other.list('/pods/').items.length, 20);
    other.close();
    store.close();
  });

  test('a failed write leaves the rest of its batch intact', async () => {
    const store = new SqliteStore({ path: tempDb(), compactIntervalMs: 0 });
    store.create('/pods/default/a', pod('a'));
    assert.throws(() => store.create('/pods/default/a', pod('a')), AlreadyExistsError);
    store.create('/pods/default/b', pod('b'));
    await store.sync();
    assert.deepEqual(store.list('/pods/').items.map((o) => o.metadata.name), ['a', 'b']);
    assert.equal(store.revision(), 2);
    store.close();
  });

  test('keeps every write across a reopen, and continues the revision sequence', () => {
    const path = tempDb();
    let store = new SqliteStore({ path, compactIntervalMs: 0 });
    for (let i = 0; i < 50; i++) store.create(`/pods/default/p${i}`, pod(`p${i}`));
    store.delete('/pods/default/p0');
    const rev = store.revision();
    store.close();
    store = new SqliteStore({ path, compactIntervalMs: 0 });
    assert.equal(store.revision(), rev);
    assert.equal(store.list('/pods/').items.length, 49);
    const next = store.create('/pods/default/new', pod('new'));
    assert.equal(Number(next.metadata.resourceVersion), rev + 1);
    store.close();
  });

  test('compacts history by count and answers a watch from before it with 410 Gone', async () => {
    const store = new SqliteStore({ path: tempDb(), compactIntervalMs: 0, historyRevisions: 10, historyAgeMs: 3_600_000 });
    let obj = store.create('/pods/default/a', pod('a'));
    for (let i = 0; i < 30; i++) obj = store.update('/pods/default/a', { ...obj, metadata: { ...obj.metadata, labels: { i: String(i) } } });
    await store.sync();
    const compacted = store.compact();
    assert.equal(compacted, store.revision() - 10);
    assert.throws(() => store.watch('/pods/', compacted - 1, () => {}), GoneError);
    const events: StoreEvent[] = [];
    store.watch('/pods/', compacted, (e) => events.push(e))();
    assert.equal(events.length, 10);
    assert.ok(events.every((e) => e.prev !== undefined), 'the write before each retained event is kept as its prev');
    assert.equal(store.get('/pods/default/a')?.metadata.labels?.i, '29');
    store.close();
  });

  test('compacts history by age even when the count bound is not reached', async () => {
    let now = 1_000_000;
    const store = new SqliteStore({ path: tempDb(), compactIntervalMs: 0, historyRevisions: 1000, historyAgeMs: 60_000, now: () => now });
    store.create('/pods/default/old', pod('old'));
    now += 120_000;
    store.create('/pods/default/new', pod('new'));
    await store.sync();
    assert.equal(store.compact(), store.revision() - 1);
    assert.equal(store.list('/pods/').items.length, 2, 'compaction never drops current objects');
    store.close();
  });

  test('keeps the compaction point across a reopen', async () => {
    const path = tempDb();
    let store = new SqliteStore({ path, compactIntervalMs: 0, historyRevisions: 2 });
    for (let i = 0; i < 10; i++) store.create(`/pods/default/p${i}`, pod(`p${i}`));
    await store.sync();
    const c = store.compact();
    store.close();
    store = new SqliteStore({ path, compactIntervalMs: 0 });
    assert.equal(store.compactedRevision(), c);
    assert.throws(() => store.watch('/pods/', c - 1, () => {}), GoneError);
    store.close();
  });
});

describe('MemoryStore', () => {
  test('starts above any revision a previous process handed out, so old watchers relist', () => {
    const store = new MemoryStore();
    assert.ok(store.revision() > Date.now() * 1000 - 10_000_000);
    assert.throws(() => store.watch('/coordination.k8s.io/leases/', 5, () => {}), GoneError);
  });

  test('bounds its history and reports the compacted revision', () => {
    const store = new MemoryStore({ startRevision: 0, historyEvents: 5 });
    for (let i = 0; i < 20; i++) store.create(`/leases/n${i}`, pod(`n${i}`));
    assert.equal(store.compactedRevision(), 15);
    const seen: StoreEvent[] = [];
    store.watch('/leases/', 15, (e) => seen.push(e))();
    assert.equal(seen.length, 5);
  });
});
