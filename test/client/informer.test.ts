import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConnectionError, type KubeClient } from '../../control-plane/client/client.ts';
import { GoneError } from '../../control-plane/api/errors.ts';
import type { KubeList, KubeObject, WatchEvent } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { Informer } from '../../control-plane/client/informer.ts';
import { WorkQueue } from '../../control-plane/client/workqueue.ts';

const pods = resourceFor('', 'pods')!;
const pod = (name: string, rv: string): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', resourceVersion: rv } });

/** A scripted API: each list and watch call takes the next step. */
function scriptedClient(lists: KubeObject[][], watches: ((emit: (e: WatchEvent) => void) => Promise<void>)[]) {
  const calls: string[] = [];
  let rv = 100;
  const client = {
    async list(): Promise<KubeList> {
      calls.push('list');
      const items = lists.shift() ?? [];
      return { apiVersion: 'v1', kind: 'PodList', metadata: { resourceVersion: String(++rv) }, items };
    },
    async watch(_r: unknown, _ns: unknown, query: { resourceVersion?: string }, onEvent: (e: WatchEvent) => void, signal?: AbortSignal) {
      calls.push(`watch@${query.resourceVersion}`);
      const step = watches.shift();
      if (!step) return new Promise<void>((resolve) => signal?.addEventListener('abort', () => resolve()));
      return step(onEvent);
    },
  } as unknown as KubeClient;
  return { client, calls };
}

describe('Informer', () => {
  test('lists, then watches from the list revision, keeping the cache current', async () => {
    const { client, calls } = scriptedClient([[pod('a', '1')]], [async (emit) => {
      emit({ type: 'ADDED', object: pod('b', '102') });
      emit({ type: 'MODIFIED', object: pod('a', '103') });
      emit({ type: 'DELETED', object: pod('b', '104') });
    }]);
    const seen: string[] = [];
    const informer = new Informer({ client, resource: pods, delay: async () => {} }).on({
      add: (o) => seen.push(`add ${o.metadata.name}`), update: (_o, n) => seen.push(`update ${n.metadata.name}`), delete: (o) => seen.push(`delete ${o.metadata.name}`),
    }).start();
    await informer.waitForSync();
    await new Promise((r) => setTimeout(r, 20));
    await informer.stop();
    assert.deepEqual(calls.slice(0, 3), ['list', 'watch@101', 'watch@104']);
    assert.deepEqual(seen, ['add a', 'add b', 'update a', 'delete b']);
    assert.deepEqual(informer.list().map((o) => o.metadata.name), ['a']);
  });

  test('relists on 410 Gone and fires delete for objects missing from the new list', async () => {
    const { client, calls } = scriptedClient([[pod('a', '1'), pod('b', '2')], [pod('b', '2')]], [async () => { throw new GoneError(); }]);
    const deleted: string[] = [];
    const informer = new Informer({ client, resource: pods, delay: async () => {} }).on({ delete: (o) => deleted.push(o.metadata.name!) }).start();
    await new Promise((r) => setTimeout(r, 30));
    await informer.stop();
    assert.deepEqual(calls.slice(0, 3), ['list', 'watch@101', 'list']);
    assert.deepEqual(deleted, ['a']);
  });

  test('backs off from 1 s doubling to 30 s while the server is unreachable, resuming from its revision', async () => {
    const fail = async () => { throw new ConnectionError('https://x', new Error('ECONNREFUSED')); };
    const { client, calls } = scriptedClient([[]], Array.from({ length: 7 }, () => fail));
    const delays: number[] = [];
    const informer = new Informer({ client, resource: pods, delay: async (ms) => { delays.push(ms); } }).start();
    await new Promise((r) => setTimeout(r, 30));
    await informer.stop();
    assert.deepEqual(delays.slice(0, 7), [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    assert.ok(calls.slice(1).every((c) => c === 'watch@101'), 'a broken connection resumes the watch instead of relisting');
  });
});

describe('WorkQueue', () => {
  test('hands a key to one worker at a time and requeues it if it changed meanwhile', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('a');
    assert.equal(q.length, 1);
    const key = await q.get();
    q.add('a');
    assert.equal(q.length, 0, 'not queued again while it is being processed');
    q.done(key!);
    assert.equal(await q.get(), 'a');
  });

  test('keeps the earliest of several delays for one key', async () => {
    const q = new WorkQueue();
    q.addAfter('k', 10_000);
    q.addAfter('k', 5);
    const started = Date.now();
    assert.equal(await q.get(), 'k');
    assert.ok(Date.now() - started < 1000);
    q.shutDown();
  });

  test('retries with per-key exponential backoff and forgets on success', async () => {
    const q = new WorkQueue({ baseDelayMs: 5 });
    const started = Date.now();
    q.addRateLimited('k');
    q.addRateLimited('k');
    assert.equal(q.retries('k'), 2);
    assert.equal(await q.get(), 'k');
    assert.ok(Date.now() - started >= 4);
    q.forget('k');
    assert.equal(q.retries('k'), 0);
    q.shutDown();
    assert.equal(await q.get(), undefined);
  });
});
