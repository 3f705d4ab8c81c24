// The agent against the real Docker engine: a server and two agents as processes, sharing one
// engine (each touches only containers labelled with its node name).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Pod } from '../../control-plane/api/core.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { eventually, startTestServer, type TestServer } from '../support/server.ts';
import { containersOf, removeContainersOf, startAgentProcess, uniqueName, type AgentProcess } from './support.ts';

const pods = resourceFor('', 'pods')!;
const nodes = resourceFor('', 'nodes')!;
const events = resourceFor('', 'events')!;
let server: TestServer;
let a: AgentProcess;
let b: AgentProcess;
let serverDown = false;
const nameA = uniqueName('node-a');
const nameB = uniqueName('node-b');
const port = 20000 + (process.pid % 20000);

function pod(name: string, node: string, container: Record<string, unknown>, spec: Record<string, unknown> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec: { nodeName: node, containers: [{ name: 'main', ...container }], ...spec } };
}
const getPod = (name: string) => server.client.get<Pod & KubeObject>(pods, 'default', name);
const waitPod = (name: string, check: (p: Pod) => boolean, ms = 20_000, what = `pod ${name}`) =>
  eventually(async () => { const p = await getPod(name); return check(p) && p; }, ms, what);
const gone = (name: string) => getPod(name).then(() => false, () => true);

before(async () => {
  server = await startTestServer();
  a = startAgentProcess(server, nameA, '127.0.0.2', ['--crash-backoff', '2']);
  b = startAgentProcess(server, nameB, '127.0.0.3', ['--crash-backoff', '2']);
  // Two agents starting through tsx on a loaded 2-core machine (load 50 measured) take over 30 s.
  await eventually(async () => (await server.client.list(nodes)).items.length === 2, 120_000, 'two nodes registered');
});

after(async () => {
  await Promise.all([a?.kill('SIGKILL'), b?.kill('SIGKILL')]);
  removeContainersOf([nameA, nameB]);
  if (serverDown) await server?.stop().catch(() => undefined); // the API is already closed; this removes the data dir
  else await server?.stop();
});

test('registers the Node with capacity, allocatable, arch, InternalIP and the log port', async () => {
  const node = await server.client.get(nodes, undefined, nameA) as KubeObject & { status: NonNullable<import('../../control-plane/api/core.ts').Node['status']> };
  assert.equal(node.metadata.labels!['kubernetes.io/arch'], process.arch === 'x64' ? 'amd64' : process.arch);
  assert.deepEqual(node.status.addresses!.find((x) => x.type === 'InternalIP'), { type: 'InternalIP', address: '127.0.0.2' });
  assert.ok(Number(node.status.capacity!.cpu) >= 1);
  assert.match(String(node.status.allocatable!.cpu), /^\d+m$/);
  assert.ok(node.status.daemonEndpoints!.kubeletEndpoint!.Port > 0);
  assert.match(node.metadata.annotations!['labkube.io/image-platforms']!, /nginx:latest/);
  // Usage is not on the Node any more: it goes to the metrics API (test/metrics).
  assert.equal(node.metadata.annotations!['labkube.io/memory-usage'], undefined);
});

test('nginx pods run on both nodes and answer HTTP on their hostPort at the node IP', async () => {
  await server.client.create(pods, 'default', pod('web-a', nameA, { image: 'nginx', ports: [{ containerPort: 80, hostPort: port }] }));
  await server.client.create(pods, 'default', pod('web-b', nameB, { image: 'nginx', ports: [{ containerPort: 80, hostPort: port }] }));
  for (const [name, ip] of [['web-a', '127.0.0.2'], ['web-b', '127.0.0.3']] as const) {
    const p = await waitPod(name, (x) => x.status?.phase === 'Running');
    assert.equal(p.status!.hostIP, ip);
    assert.match(p.status!.podIP!, /^\d+\.\d+\.\d+\.\d+$/);
    assert.equal(p.status!.conditions!.find((c) => c.type === 'Ready')!.status, 'True');
    const res = await eventually(() => fetch(`http://${ip}:${port}/`).catch(() => undefined), 10_000, `HTTP ${ip}`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /nginx/i);
  }
});

test('killing an agent with SIGKILL and starting it again restarts no container', async () => {
  await waitPod('web-a', (x) => x.status?.phase === 'Running');
  const before = containersOf(nameA).filter((c) => c.running);
  assert.ok(before.length >= 1);
  await a.kill('SIGKILL');
  a = startAgentProcess(server, nameA, '127.0.0.2', ['--crash-backoff', '2'], a.dataDir);
  await eventually(() => /agent ready/.test(a.output()), 90_000, 'agent back');
  await new Promise((r) => setTimeout(r, 1000)); // a restart would show within its first sync
  const afterRestart = containersOf(nameA).filter((c) => c.running);
  assert.deepEqual(afterRestart.map((c) => [c.id, c.startedAt]).sort(), before.map((c) => [c.id, c.startedAt]).sort());
  const p = await getPod('web-a');
  assert.equal(p.status!.containerStatuses![0]!.restartCount, 0);
});

test('a crashing container goes into CrashLoopBackOff with growing delays', async () => {
  await server.client.create(pods, 'default', pod('crash', nameB, { image: 'busybox', imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'exit 1'] }));
  const seen = new Map<number, number>();
  let backoffSeen = false;
  await eventually(async () => {
    const s = (await getPod('crash')).status?.containerStatuses?.[0];
    if (s && !seen.has(s.restartCount)) seen.set(s.restartCount, Date.now());
    if (s?.state?.waiting?.reason === 'CrashLoopBackOff') backoffSeen = true;
    return (s?.restartCount ?? 0) >= 3;
  }, 30_000, 'three restarts');
  assert.ok(backoffSeen, 'reported CrashLoopBackOff while waiting');
  const gap1 = seen.get(2)! - seen.get(1)!; // base backoff: 2 s in this test
  const gap2 = seen.get(3)! - seen.get(2)!; // doubled: 4 s
  assert.ok(gap1 >= 1500, `first delay ${gap1} ms`);
  assert.ok(gap2 > gap1 * 1.4, `delays grow: ${gap1} ms then ${gap2} ms`);
  const p = await getPod('crash');
  assert.equal(p.status!.phase, 'Running');
  assert.equal(p.status!.containerStatuses![0]!.lastState?.terminated?.exitCode, 1);
  assert.equal(p.status!.containerStatuses![0]!.lastState?.terminated?.reason, 'Error');
});

test('a bad image gives ErrImagePull then ImagePullBackOff, with an Event', async () => {
  await server.client.create(pods, 'default', pod('badimg', nameA, { image: 'no-such-registry.invalid/nothing:1' }));
  const reasons = new Set<string>();
  await eventually(async () => {
    const r = (await getPod('badimg')).status?.containerStatuses?.[0]?.state?.waiting?.reason;
    if (r) reasons.add(r);
    return reasons.has('ErrImagePull') && reasons.has('ImagePullBackOff');
  }, 15_000, 'ErrImagePull then ImagePullBackOff').catch((err: Error) => {
    throw new Error(`${err.message}; seen ${[...reasons]}; agent log: ${a.output().slice(-2000)}`);
  });
  assert.equal((await getPod('badimg')).status!.phase, 'Pending');
  const evs = await server.client.list(events, 'default');
  assert.ok(evs.items.some((e) => (e.involvedObject as { name: string }).name === 'badimg' && e.reason === 'Failed'));
});

test('a pod that exits 0 with restartPolicy Never is Succeeded/Completed', async () => {
  await server.client.create(pods, 'default', pod('once', nameB, { image: 'busybox', imagePullPolicy: 'Never', command: ['true'] }, { restartPolicy: 'Never' }));
  const p = await waitPod('once', (x) => x.status?.phase === 'Succeeded');
  assert.equal(p.status!.containerStatuses![0]!.state!.terminated!.reason, 'Completed');
});

test('deleting pods stops their containers and leaves none behind', async () => {
  const before = containersOf(nameB).length;
  assert.ok(before > 0);
  for (const name of ['web-b', 'crash', 'once']) await server.client.delete(pods, 'default', name);
  await eventually(async () => (await Promise.all(['web-b', 'crash', 'once'].map(gone))).every(Boolean), 40_000, 'pods gone');
  assert.deepEqual(containersOf(nameB), []);
});

test('an orphan (a container whose pod is gone) is removed within 5 s', async () => {
  // A container labelled for node B with a pod uid the API server never had.
  const { execFileSync } = await import('node:child_process');
  execFileSync('docker', ['run', '-d', '--label', `io.labkube.node=${nameB}`, '--label', 'io.labkube.pod.uid=0000-orphan',
    '--label', 'io.labkube.pod.namespace=default', '--label', 'io.labkube.pod.name=ghost', '--label', 'io.labkube.container.name=main',
    '--label', 'io.labkube.restart-count=0', 'busybox', 'sleep', '300'], { stdio: 'ignore' });
  const t0 = Date.now();
  await eventually(() => containersOf(nameB).length === 0, 5_000, 'orphan removed');
  assert.ok(Date.now() - t0 < 5_000);
});

test('pods keep running and crashed containers restart while the API server is down', async () => {
  await server.client.create(pods, 'default', pod('edge', nameA, { image: 'busybox', imagePullPolicy: 'Never', command: ['sh', '-c', 'sleep 2; exit 3'] }));
  await waitPod('edge', (x) => x.status?.phase === 'Running');
  // The control plane goes away (watches cut too); agents keep their containers.
  const closing = server.app.close();
  server.app.server.closeAllConnections();
  await closing;
  serverDown = true;
  const web = containersOf(nameA).find((c) => c.name.includes('_web-a_'))!;
  await eventually(() => containersOf(nameA).some((c) => /_edge_.*_1$/.test(c.name)), 15_000, 'edge restarted offline');
  const still = containersOf(nameA).find((c) => c.id === web.id)!;
  assert.equal(still.running, true);
  assert.equal(still.startedAt, web.startedAt);
});
