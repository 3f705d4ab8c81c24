// The pod checkpoint on the board's SD card (agent/checkpoint.ts): what it keeps, that it is
// written atomically with mode 0600, and that it is written only when what it keeps changes.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PodCheckpoint, type CheckpointedPod } from '../../agent/checkpoint.ts';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function dataDir(): string { const d = mkdtempSync(join(tmpdir(), 'labkube-checkpoint-')); dirs.push(d); return d; }

const pod = (name: string, extra: Partial<CheckpointedPod> = {}): CheckpointedPod => ({
  apiVersion: 'v1', kind: 'Pod',
  metadata: { name, namespace: 'default', uid: `uid-${name}`, resourceVersion: '7', labels: { app: 'web' } },
  spec: { nodeName: 'n1', containers: [{ name: 'main', image: 'nginx' }] },
  status: { phase: 'Running', podIP: '172.17.0.9' },
  ...extra,
} as CheckpointedPod);

test('keeps what running a pod needs, written atomically with mode 0600', () => {
  const dir = dataDir();
  const cp = new PodCheckpoint({ dataDir: dir, nodeName: 'n1' });
  cp.save([pod('b'), pod('a'), pod('done', { status: { phase: 'Succeeded' } } as Partial<CheckpointedPod>)]);
  cp.flush();
  assert.equal(statSync(cp.path).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(dir), ['pods.json'], 'no temporary file left behind');
  const loaded = new PodCheckpoint({ dataDir: dir, nodeName: 'n1' }).load();
  assert.deepEqual(loaded.map((p) => p.metadata.name), ['a', 'b', 'done']);
  assert.equal(loaded[0]!.metadata.resourceVersion, undefined);
  assert.equal(loaded[0]!.status, undefined, 'a running pod\'s status is not kept: it changes all day');
  assert.deepEqual(loaded[2]!.status, { phase: 'Succeeded' }, 'a finished pod must not run again after a reboot');
  assert.deepEqual(loaded[0]!.metadata.labels, { app: 'web' });
  assert.deepEqual(loaded[0]!.spec, pod('a').spec);
});

test('is not rewritten when only statuses or resourceVersions changed, and a burst is one write', () => {
  const dir = dataDir();
  const cp = new PodCheckpoint({ dataDir: dir, nodeName: 'n1' });
  cp.save([pod('a')]);
  cp.save([pod('a'), pod('b')]);
  cp.flush();
  assert.equal(cp.writes, 1);
  const before = statSync(cp.path);
  cp.save([pod('b', { status: { phase: 'Running', podIP: '172.17.0.10' } } as Partial<CheckpointedPod>), { ...pod('a'), metadata: { ...pod('a').metadata, resourceVersion: '99' } }]);
  cp.flush();
  assert.equal(cp.writes, 1);
  const after = statSync(cp.path);
  assert.deepEqual([after.ino, after.mtimeMs], [before.ino, before.mtimeMs]);
  // A restarted agent that finds the same pods writes nothing either.
  const restarted = new PodCheckpoint({ dataDir: dir, nodeName: 'n1' });
  restarted.load();
  restarted.save([pod('a'), pod('b')]);
  restarted.flush();
  assert.equal(restarted.writes, 0);
  // A real change is written.
  restarted.save([pod('a')]);
  restarted.flush();
  assert.equal(restarted.writes, 1);
  assert.deepEqual(restarted.load().map((p) => p.metadata.name), ['a']);
});

test('a checkpoint of another node, or an unreadable one, runs nothing', () => {
  const dir = dataDir();
  const cp = new PodCheckpoint({ dataDir: dir, nodeName: 'n1' });
  cp.save([pod('a')]);
  cp.flush();
  assert.deepEqual(new PodCheckpoint({ dataDir: dir, nodeName: 'n2' }).load(), []);
  writeFileSync(cp.path, '{"version":1,"node":"n1","pods":[{');
  assert.deepEqual(new PodCheckpoint({ dataDir: dir, nodeName: 'n1' }).load(), []);
  assert.deepEqual(new PodCheckpoint({ dataDir: join(dir, 'missing'), nodeName: 'n1' }).load(), []);
  assert.equal(existsSync(join(dir, 'missing')), false);
  assert.match(readFileSync(cp.path, 'utf8'), /^\{"version":1/);
});
