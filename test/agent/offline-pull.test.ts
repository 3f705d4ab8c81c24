// Quiet logs on an offline board (issue 14): an `nginx` (`:latest`, pull policy Always) pod
// falls back to the local image when the registry cannot be reached, says so once per image,
// and leaves that registry alone for a while (1 min doubling to 30 min) instead of a warning and
// a DNS timeout on every pod start. A successful pull ends the backoff.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Pod } from '../../control-plane/api/core.ts';
import { PullFailures, pullImage, registryOf } from '../../agent/hooks/pull-image.ts';
import { PodWorker, type PodApi } from '../../agent/pod-worker.ts';
import { FakeRuntime } from './fake-runtime.ts';

const amd64 = { os: 'linux', architecture: 'amd64' };
const offline = 'Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on 127.0.0.53:53: no such host';
const minute = 60_000;

class Clock { now = 1_000_000; read = () => this.now; advance(ms: number) { this.now += ms; } }

test('an unreachable registry is tried once, then left alone 1, 2, 4 ... 30 min; the warning is said once per image', async () => {
  const rt = new FakeRuntime();
  rt.addImage('nginx');
  rt.addImage('busybox');
  rt.pullError = offline;
  const clock = new Clock();
  const failures = new PullFailures(undefined, clock.read);

  const first = await pullImage(rt, { image: 'nginx' }, amd64, failures);
  assert.ok(first.ok && /using the image already present.*not tried again for 1 min/.test(first.warning ?? ''), JSON.stringify(first));
  // Thirty more pod starts within the minute: no pull, no warning, the local image at once.
  for (let i = 0; i < 30; i++) {
    const again = await pullImage(rt, { image: 'nginx' }, amd64, failures);
    assert.ok(again.ok && again.warning === undefined);
  }
  // Another image from the same registry: that registry is known unreachable, so no pull either; its own warning, once.
  const other = await pullImage(rt, { image: 'busybox' }, amd64, failures);
  assert.ok(other.ok && other.warning !== undefined);
  assert.equal((await pullImage(rt, { image: 'busybox' }, amd64, failures)).ok && rt.pulls.length, 1);

  // The backoff doubles up to 30 minutes; each retry fails quietly.
  const waits: number[] = [];
  for (let i = 0; i < 7; i++) {
    const wait = failures.blocked('nginx')!.retryInMs;
    waits.push(wait / minute);
    clock.advance(wait);
    const r = await pullImage(rt, { image: 'nginx' }, amd64, failures);
    assert.ok(r.ok && r.warning === undefined);
  }
  assert.deepEqual(waits, [1, 2, 4, 8, 16, 30, 30]);
  assert.equal(rt.pulls.length, 8);

  // Online again: the next try pulls, and the backoff and the said-once warning start over.
  clock.advance(failures.blocked('nginx')!.retryInMs);
  rt.pullError = undefined;
  const pulled = await pullImage(rt, { image: 'nginx' }, amd64, failures);
  assert.ok(pulled.ok && pulled.pulled);
  assert.equal(failures.blocked('busybox'), undefined, 'a successful pull from docker.io ends its backoff');
  rt.pullError = offline;
  const offlineAgain = await pullImage(rt, { image: 'nginx' }, amd64, failures);
  assert.ok(offlineAgain.ok && offlineAgain.warning !== undefined, 'offline again after being online: said again');
  assert.equal(failures.blocked('nginx')!.retryInMs, minute);
});

test('an image that is not here is still pulled while its registry backs off, once per burst', async () => {
  const rt = new FakeRuntime();
  rt.addImage('nginx');
  rt.pullError = offline;
  const clock = new Clock();
  const failures = new PullFailures(undefined, clock.read);
  await pullImage(rt, { image: 'nginx' }, amd64, failures);
  const absent = await pullImage(rt, { image: 'redis' }, amd64, failures);
  assert.ok(!absent.ok && absent.reason === 'ErrImagePull');
  assert.equal(rt.pulls.length, 2, 'the absent image was tried: nothing else can run it');
  await pullImage(rt, { image: 'redis' }, amd64, failures);
  assert.equal(rt.pulls.length, 2, 'its replicas in the same burst do not try again');
  clock.advance(31_000);
  rt.pullError = undefined;
  const later = await pullImage(rt, { image: 'redis' }, amd64, failures);
  assert.ok(later.ok && later.pulled);
});

test('a refusal (no such tag upstream) backs off that image only, not its registry', async () => {
  const rt = new FakeRuntime();
  rt.addImage('lab/sensor');
  rt.addImage('nginx');
  rt.pullError = 'pull access denied for lab/sensor, repository does not exist or may require \'docker login\'';
  const failures = new PullFailures();
  await pullImage(rt, { image: 'lab/sensor' }, amd64, failures);
  assert.ok(failures.blocked('lab/sensor'));
  assert.equal(failures.blocked('nginx'), undefined);
  assert.equal(registryOf('registry.lab:5000/sensor:1'), 'registry.lab:5000');
  assert.equal(registryOf('nginx'), 'docker.io');
});

test('thirty nginx pods on an offline board: one pull attempt, one PullFailedUsingLocalImage Event', async () => {
  const rt = new FakeRuntime();
  rt.addImage('nginx');
  rt.pullError = offline;
  const failures = new PullFailures();
  const events: string[] = [];
  const api: PodApi = { async writeStatus() {}, async finishDeletion() {}, event(_p, _t, reason) { events.push(reason); } };
  const pod = (i: number): Pod => ({ metadata: { name: `web-${i}`, namespace: 'default', uid: `uid-${i}` }, spec: { nodeName: 'n1', containers: [{ name: 'main', image: 'nginx' }] } });
  const workers = Array.from({ length: 30 }, (_, i) =>
    new PodWorker({ pod: pod(i), runtime: rt, api, nodeName: 'n1', nodeIp: '127.0.0.2', platform: amd64, pullFailures: failures }));
  for (const w of workers) await w.trigger();
  assert.equal([...rt.containers.values()].filter((c) => c.status === 'running').length, 30);
  assert.equal(rt.pulls.length, 1);
  assert.deepEqual(events.filter((r) => r === 'PullFailedUsingLocalImage'), ['PullFailedUsingLocalImage']);
  workers.forEach((w) => w.stop());
});
