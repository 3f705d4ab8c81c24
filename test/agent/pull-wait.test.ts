import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PullFailures, pullImage, localImagePullWaitMs } from '../../agent/hooks/pull-image.ts';
import { FakeRuntime } from './fake-runtime.ts';

const amd64 = { os: 'linux', architecture: 'amd64' };

test('a registry that does not answer holds a pod with a present image for at most the local-image wait', async () => {
  const rt = new FakeRuntime();
  rt.addImage('nginx');
  // An offline board's resolver: the pull fails only after 25 s.
  rt.pullImage = (ref: string) => new Promise((_resolve, reject) => { const t = setTimeout(() => reject(new Error(`lookup ${ref}: i/o timeout`)), 25_000); t.unref(); });
  const failures = new PullFailures();
  const t0 = Date.now();
  const r = await pullImage(rt, { image: 'nginx' }, amd64, failures);
  const took = Date.now() - t0;
  assert.ok(r.ok && r.ok, JSON.stringify(r));
  assert.ok(took >= localImagePullWaitMs - 50 && took < localImagePullWaitMs + 1_000, `took ${took} ms`);
  // The starts right behind it do not wait again.
  const t1 = Date.now();
  assert.ok((await pullImage(rt, { image: 'nginx' }, amd64, failures)).ok);
  assert.ok(Date.now() - t1 < 500);
});
