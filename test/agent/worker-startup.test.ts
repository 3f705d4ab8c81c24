// What keeps a burst of pod starts cheap: one image inspect for many replicas, one sync per
// start, the Running status written before the start's Events, a short queue of starts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Pod } from '../../control-plane/api/core.ts';
import { EventRecorder } from '../../agent/event-recorder.ts';
import { ImageCache } from '../../agent/image-cache.ts';
import { PodWorker, type PodApi } from '../../agent/pod-worker.ts';
import { StartQueue } from '../../agent/start-queue.ts';
import { FakeRuntime } from './fake-runtime.ts';

const amd64 = { os: 'linux', architecture: 'amd64' };
const pod = (name: string): Pod => ({
  metadata: { name, namespace: 'default', uid: `uid-${name}` },
  spec: { nodeName: 'n1', containers: [{ name: 'main', image: 'nginx:1', imagePullPolicy: 'IfNotPresent' }] },
});

/** Records status writes and events in one list, in the order the worker made them. */
class OrderedApi implements PodApi {
  calls: string[] = [];
  async writeStatus(_p: Pod, s: NonNullable<Pod['status']>) { this.calls.push(`status:${s.phase}`); }
  async finishDeletion() { this.calls.push('deleted'); }
  event(_p: Pod, _t: string, reason: string) { this.calls.push(`event:${reason}`); }
}

test('replicas started together inspect their image once', async () => {
  const rt = new FakeRuntime();
  rt.addImage('nginx:1');
  const images = new ImageCache(rt);
  const workers = Array.from({ length: 5 }, (_, i) =>
    new PodWorker({ pod: pod(`web-${i}`), runtime: rt, api: new OrderedApi(), nodeName: 'n1', nodeIp: '127.0.0.2', platform: amd64, images }));
  await Promise.all(workers.map((w) => w.trigger()));
  assert.equal(rt.inspects, 1);
  assert.equal([...rt.containers.values()].filter((c) => c.status === 'running').length, 5);
  workers.forEach((w) => w.stop());
});

test('the image cache shares one call, forgets misses and failures, and forgets everything on clear', async () => {
  let calls = 0;
  let answer: 'present' | 'absent' | 'fail' = 'absent';
  const images = new ImageCache({
    async inspectImage(ref) {
      calls++;
      if (answer === 'fail') throw new Error('engine down');
      return answer === 'present' ? { id: 'sha256:1', tags: [ref], sizeBytes: 1, os: 'linux', architecture: 'amd64' } : undefined;
    },
  });
  assert.equal(await images.inspect('a:1'), undefined);
  answer = 'present';
  assert.equal((await images.inspect('a:1'))?.id, 'sha256:1', 'a miss is asked again (the image may have been pulled)');
  await Promise.all([images.inspect('a:1'), images.inspect('a:1')]);
  assert.equal(calls, 2);
  images.clear();
  answer = 'fail';
  await assert.rejects(images.inspect('a:1'));
  answer = 'present';
  assert.ok(await images.inspect('a:1'), 'a failure is not remembered');
  assert.equal(calls, 4);
});

test('the start event of a container the worker started does not sync again; a die event does', async () => {
  const rt = new FakeRuntime();
  rt.addImage('nginx:1');
  let lists = 0;
  const list = rt.listContainers.bind(rt);
  rt.listContainers = async (labels) => { lists++; return list(labels); };
  const w = new PodWorker({ pod: pod('web'), runtime: rt, api: new OrderedApi(), nodeName: 'n1', nodeIp: '127.0.0.2', platform: amd64 });
  await w.trigger();
  const [id] = [...rt.containers.keys()];
  const before = lists;
  await w.engineEvent({ action: 'start', containerId: id! });
  assert.equal(lists, before, 'its own start is no news');
  await w.engineEvent({ action: 'start', containerId: id! });
  assert.equal(lists, before + 1, 'a second start (someone ran docker start) is');
  await w.engineEvent({ action: 'die', containerId: id! });
  assert.equal(lists, before + 2);
  w.stop();
});

test('a new pod is reported Running in one status write, before its Created and Started events', async () => {
  const rt = new FakeRuntime();
  rt.addImage('nginx:1');
  const api = new OrderedApi();
  const w = new PodWorker({ pod: pod('web'), runtime: rt, api, nodeName: 'n1', nodeIp: '127.0.0.2', platform: amd64 });
  await w.trigger();
  assert.deepEqual(api.calls, ['status:Running', 'event:Created', 'event:Started']);
  w.stop();
});

test('a deleted pod records Killing before the grace period starts', async () => {
  const rt = new FakeRuntime();
  rt.addImage('nginx:1');
  const api = new OrderedApi();
  const p = pod('web');
  const w = new PodWorker({ pod: p, runtime: rt, api, nodeName: 'n1', nodeIp: '127.0.0.2', platform: amd64 });
  await w.trigger();
  api.calls = [];
  let killingBeforeStop = false;
  rt.stopContainer = async () => { killingBeforeStop = api.calls.includes('event:Killing'); };
  await w.update({ ...p, metadata: { ...p.metadata, deletionTimestamp: new Date().toISOString(), deletionGracePeriodSeconds: 30 } });
  assert.ok(killingBeforeStop);
  assert.deepEqual(api.calls, ['event:Killing', 'deleted']);
});

test('the start queue runs a few at a time, in arrival order, and frees its slot on failure', async () => {
  const queue = new StartQueue(2);
  let active = 0;
  let most = 0;
  const order: number[] = [];
  const job = (i: number) => queue.run(async () => {
    active++; most = Math.max(most, active);
    await new Promise((r) => setTimeout(r, 5));
    active--; order.push(i);
    if (i === 1) throw new Error('engine said no');
  });
  const results = await Promise.allSettled([0, 1, 2, 3, 4].map(job));
  assert.equal(most, 2);
  assert.deepEqual(order, [0, 1, 2, 3, 4]);
  assert.equal(results[1]!.status, 'rejected');
  await queue.run(async () => undefined); // not stuck
});

test('events are sent one at a time, in order, and a failed one does not stop the rest', async () => {
  let active = 0;
  let most = 0;
  const sent: number[] = [];
  let done!: () => void;
  const all = new Promise<void>((r) => { done = r; });
  const recorder = new EventRecorder<number>(async (n) => {
    active++; most = Math.max(most, active);
    await new Promise((r) => setTimeout(r, 2));
    active--;
    if (n === 2) throw new Error('API server unreachable');
    sent.push(n);
    if (n === 4) done();
  });
  for (const n of [1, 2, 3, 4]) recorder.record(n);
  await all;
  assert.equal(most, 1);
  assert.deepEqual(sent, [1, 3, 4]);
});
