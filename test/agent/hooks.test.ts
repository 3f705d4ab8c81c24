// The pod worker's hooks and the worker itself against an in-memory runtime.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateKeyPairSync } from 'node:crypto';
import type { Pod } from '../../control-plane/api/core.ts';
import { CrashBackoff } from '../../agent/backoff.ts';
import { containerConfig } from '../../agent/hooks/create.ts';
import { killContainers } from '../../agent/hooks/kill.ts';
import { ProbeVerdict } from '../../agent/hooks/probe.ts';
import { PullFailures, pullImage, pullPolicyOf } from '../../agent/hooks/pull-image.ts';
import { buildPodStatus, podPhase } from '../../agent/hooks/report.ts';
import { platformMatches } from '../../agent/images.ts';
import { signLogToken, verifyLogToken } from '../../control-plane/api/log-token.ts';
import { PodWorker, type PodApi } from '../../agent/pod-worker.ts';
import { FakeRuntime } from './fake-runtime.ts';

const amd64 = { os: 'linux', architecture: 'amd64' };
const pod = (over: Partial<Pod['spec']> = {}, image = 'nginx'): Pod => ({
  metadata: { name: 'web', namespace: 'default', uid: 'uid-1234-5678' },
  spec: { nodeName: 'n1', containers: [{ name: 'main', image, ports: [{ containerPort: 80, hostPort: 8080 }], resources: { limits: { cpu: '500m', memory: '64Mi' } } }], ...over },
});

class RecordingApi implements PodApi {
  statuses: NonNullable<Pod['status']>[] = [];
  events: string[] = [];
  deleted = 0;
  async writeStatus(_p: Pod, s: NonNullable<Pod['status']>) { this.statuses.push(s); }
  async finishDeletion() { this.deleted++; }
  event(_p: Pod, _t: string, reason: string) { this.events.push(reason); }
  get last() { return this.statuses[this.statuses.length - 1]!; }
}

test('pull policy defaults to Always for :latest or no tag and IfNotPresent for other tags', () => {
  assert.equal(pullPolicyOf({ image: 'nginx' }), 'Always');
  assert.equal(pullPolicyOf({ image: 'nginx:latest' }), 'Always');
  assert.equal(pullPolicyOf({ image: 'registry:5000/lab/sensor:1.2' }), 'IfNotPresent');
  assert.equal(pullPolicyOf({ image: 'nginx@sha256:abc' }), 'IfNotPresent');
  assert.equal(pullPolicyOf({ image: 'nginx', imagePullPolicy: 'Never' }), 'Never');
});

test('an offline pull of a present image runs the local image with a warning, and is not retried at once', async () => {
  const rt = new FakeRuntime();
  rt.addImage('nginx');
  rt.pullError = 'dial tcp: no such host';
  const failures = new PullFailures();
  const r = await pullImage(rt, { image: 'nginx' }, amd64, failures);
  assert.ok(r.ok && r.warning?.includes('using the image already present'));
  await pullImage(rt, { image: 'nginx' }, amd64, failures);
  assert.equal(rt.pulls.length, 1);
});

test('an image for another platform fails with ImagePlatformMismatch instead of exec format error', async () => {
  const rt = new FakeRuntime();
  rt.addImage('sensor:1', 'arm64');
  const r = await pullImage(rt, { image: 'sensor:1' }, amd64);
  assert.equal(r.ok, false);
  assert.ok(!r.ok && r.reason === 'ImagePlatformMismatch' && /linux\/arm64.*linux\/amd64/.test(r.message));
  assert.equal(platformMatches({ os: 'linux', architecture: 'arm', variant: 'v6' }, { os: 'linux', architecture: 'arm', variant: 'v7' }), true);
});

test('create builds labels, hostPort on the node IP and limits from resources', () => {
  const c = containerConfig(pod(), pod().spec.containers[0]!, { nodeName: 'n1', nodeIp: '127.0.0.2', restartCount: 3 });
  assert.equal(c.labels['io.labkube.pod.uid'], 'uid-1234-5678');
  assert.equal(c.labels['io.labkube.restart-count'], '3');
  assert.deepEqual(c.ports, [{ containerPort: 80, protocol: 'tcp', hostPort: 8080, hostIp: '127.0.0.2' }]);
  assert.equal(c.nanoCpus, 500_000_000);
  assert.equal(c.memoryBytes, 64 * 1024 * 1024);
});

test('crash backoff restarts at once, then waits 10 s, 20 s, and resets after 10 minutes of clean running', () => {
  const b = new CrashBackoff();
  assert.equal(b.readyAt(0, 1000), 1000);
  b.restarted(1000);
  assert.equal(b.readyAt(1000, 2000), 12_000);
  b.restarted(12_000);
  assert.equal(b.readyAt(12_000, 13_000), 33_000);
  b.restarted(33_000);
  assert.equal(b.readyAt(33_000, 33_000 + 600_000), 633_000);
});

test('probe verdicts change only when a threshold is crossed', () => {
  const v = new ProbeVerdict({ failureThreshold: 3 }, true);
  assert.equal(v.record(false), false);
  assert.equal(v.record(false), false);
  assert.equal(v.record(false), true);
  assert.equal(v.passing, false);
  assert.equal(v.record(true), true);
});

test('phase follows the kubelet: backing-off Always pods are Running, Never pods with a failure are Failed', () => {
  const crashed = { name: 'm', ready: false, restartCount: 1, image: 'x', imageID: '', state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 1 } } };
  assert.equal(podPhase([crashed], 'Always'), 'Running');
  const failed = { name: 'm', ready: false, restartCount: 0, image: 'x', imageID: '', state: { terminated: { exitCode: 2 } } };
  assert.equal(podPhase([failed], 'Never'), 'Failed');
  assert.equal(podPhase([{ ...failed, state: { terminated: { exitCode: 0 } } }], 'OnFailure'), 'Succeeded');
  const s = buildPodStatus(pod(), [{ spec: pod().spec.containers[0]!, ready: false, started: false, waiting: { reason: 'ErrImagePull' } }], { hostIp: '127.0.0.2' });
  assert.equal(s.phase, 'Pending');
  assert.equal(s.conditions!.find((c) => c.type === 'Ready')!.status, 'False');
});

test('the worker starts a pod, reports Running, restarts a crash with the restart count in a label, and deletes', async () => {
  const rt = new FakeRuntime();
  rt.addImage('busybox:1');
  const api = new RecordingApi();
  let now = 1_000_000;
  const p = pod({}, 'busybox:1');
  const w = new PodWorker({ pod: p, runtime: rt, api, nodeName: 'n1', nodeIp: '127.0.0.2', platform: amd64, now: () => now });
  await w.trigger();
  assert.equal(api.last.phase, 'Running');
  assert.equal(api.last.containerStatuses![0]!.state!.running !== undefined, true);
  const [first] = [...rt.containers.keys()];
  rt.exit(first!, 1, new Date(now));
  await w.trigger();
  assert.equal(api.last.containerStatuses![0]!.restartCount, 1, 'first restart is immediate');
  const second = [...rt.containers.values()].find((c) => c.labels['io.labkube.restart-count'] === '1')!;
  rt.exit(second.id, 1, new Date(now));
  await w.trigger();
  assert.equal(api.last.containerStatuses![0]!.state!.waiting!.reason, 'CrashLoopBackOff');
  now += 10_000;
  await w.trigger();
  assert.equal(api.last.containerStatuses![0]!.restartCount, 2);
  assert.ok(rt.containers.size <= 2, 'keeps at most the current and the previous container');
  await w.update({ ...p, metadata: { ...p.metadata, deletionTimestamp: new Date().toISOString(), deletionGracePeriodSeconds: 0 } });
  assert.equal(rt.containers.size, 0);
  assert.equal(api.deleted, 1);
  w.stop();
});

test('kill is idempotent', async () => {
  const rt = new FakeRuntime();
  rt.addImage('busybox:1');
  const id = await rt.createContainer({ name: 'x', image: 'busybox:1', env: [], labels: {}, ports: [] });
  await rt.startContainer(id);
  const list = await rt.listContainers({});
  await killContainers(rt, list, 1);
  await killContainers(rt, list, 1);
  assert.equal(rt.containers.size, 0);
});

test('a log token is accepted only by its node, unexpired and genuine', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const claims = { node: 'n1', namespace: 'default', pod: 'web', exp: Math.floor(Date.now() / 1000) + 60 };
  const token = signLogToken(privateKey, claims);
  assert.deepEqual(verifyLogToken(publicKey, token, 'n1'), { ok: true, claims });
  assert.equal(verifyLogToken(publicKey, token, 'n2').ok, false);
  assert.equal(verifyLogToken(other.publicKey, token, 'n1').ok, false);
  assert.equal(verifyLogToken(publicKey, signLogToken(privateKey, { ...claims, exp: 1 }), 'n1').ok, false);
});
