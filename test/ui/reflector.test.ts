// The browser's reflector with a list in another form: it lists from `listPath`, watches `path`
// from that list's revision, keeps every object in the projected form however it arrived, and
// after a 410 relists from `listPath` again. A fake Api stands in for fetch.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KubeObject, WatchEvent } from '../../control-plane/api/meta.ts';
import type { Api, ApiRequestError } from '../../control-plane/ui/api.ts';
import { Reflector, type Change } from '../../control-plane/ui/reflector.ts';

const pod = (name: string, rv: string, extra: Record<string, unknown> = {}): KubeObject =>
  ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', resourceVersion: rv }, ...extra });
const cut = (obj: KubeObject): KubeObject => ({ apiVersion: obj.apiVersion, kind: obj.kind, metadata: obj.metadata });

describe('a reflector with a list path and a projection', () => {
  test('lists the cut form, watches the full one, keeps both cut, and relists the cut form after a 410', async () => {
    const gets: string[] = [];
    const watches: string[] = [];
    const lists = [
      { metadata: { resourceVersion: '5' }, items: [cut(pod('a', '4')), cut(pod('b', '5'))] },
      { metadata: { resourceVersion: '9' }, items: [cut(pod('a', '8'))] },
    ];
    const streams: WatchEvent<KubeObject>[][] = [
      [{ type: 'ADDED', object: pod('c', '6', { spec: { containers: [] } }) },
        { type: 'ERROR', object: { kind: 'Status', code: 410, message: 'too old' } as unknown as KubeObject }],
    ];
    const abort = new AbortController();
    const changes: string[] = [];
    const fake = {
      get: async (path: string) => { gets.push(path); return lists.shift(); },
      watch: async (path: string, onEvent: (e: WatchEvent<KubeObject>) => void) => {
        watches.push(path);
        const events = streams.shift();
        if (!events) { abort.abort(); return; }
        for (const e of events) onEvent(e);
      },
    } as unknown as Api;
    const reflector = new Reflector({
      api: fake, path: '/api/v1/pods', listPath: '/ui/lists/pods', project: cut,
      on: {
        change: (change: Change, obj) => changes.push(`${change} ${obj.metadata.name}@${obj.metadata.resourceVersion}`),
        listed: () => changes.push('listed'),
        failed: (err) => assert.fail(String(err)),
        recovered: () => undefined,
        refused: (err: ApiRequestError) => assert.fail(err.message),
      },
      sleep: async () => undefined,
    });
    await reflector.run(abort.signal);
    assert.deepEqual(gets, ['/ui/lists/pods', '/ui/lists/pods']);
    assert.match(watches[0]!, /^\/api\/v1\/pods\?watch=1&.*resourceVersion=5$/);
    assert.match(watches[1]!, /resourceVersion=9$/);
    assert.deepEqual(changes, ['added a@4', 'added b@5', 'listed', 'added c@6', 'modified a@8', 'deleted b@5', 'deleted c@6', 'listed']);
    assert.deepEqual([...reflector.items.values()], [cut(pod('a', '8'))]);
  });
});
