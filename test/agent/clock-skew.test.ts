// Clock skew (issue 14): a Raspberry Pi has no real-time clock and may boot 10 minutes off. Two
// boards, one 10 minutes behind and one 10 minutes ahead (a fake clock loaded into each agent
// process: test/agent/skewed-clock.mjs; the machine's clock is untouched), must join, heartbeat
// and run pods normally against a control plane with its default grace (6 s) and toleration
// (2 s): never NotReady, nothing evicted, and their pods' logs readable through the API server
// (the log token the server signs is checked by the board's clock).
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { Node, Pod } from '../../control-plane/api/core.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { eventually, startTestServer, type TestServer } from '../support/server.ts';
import { removeContainersOf, sourceAgent, startAgentProcess, uniqueName, type AgentProcess } from './support.ts';

const pods = resourceFor('', 'pods')!;
const nodes = resourceFor('', 'nodes')!;
const events = resourceFor('', 'events')!;
const leases = resourceFor('coordination.k8s.io', 'leases')!;
const skewMs = 10 * 60_000;
const boards = [{ name: uniqueName('behind'), ip: '127.0.0.7', skew: -skewMs }, { name: uniqueName('ahead'), ip: '127.0.0.8', skew: skewMs }];
let server: TestServer;
const agents: AgentProcess[] = [];
// The server's defaults: 6 s grace and 2 s toleration. Watched for several times that long.
const watchMs = 20_000;

/** GET as text through the API server (pod logs are not JSON). */
function getText(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, server.url), { ca: server.caPem, headers: { Authorization: `Bearer ${server.adminToken}` } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const readyOf = (n: Node | undefined) => n?.status?.conditions?.find((c) => c.type === 'Ready')?.status;

before(async () => {
  server = await startTestServer();
  const clock = pathToFileURL(join(import.meta.dirname, 'skewed-clock.mjs')).href;
  for (const b of boards) {
    agents.push(startAgentProcess(server, b.name, b.ip, [], undefined,
      { ...sourceAgent, nodeFlags: ['--import', clock], env: { LABKUBE_CLOCK_SKEW_MS: String(b.skew) } }));
  }
  for (const a of agents) {
    await eventually(() => /agent ready/.test(a.output()), 120_000, `${a.name} ready`)
      .catch((err: Error) => { throw new Error(`${err.message}\n${a.output().slice(-3000)}`); });
  }
});

after(async () => {
  await Promise.all(agents.map((a) => a.kill('SIGKILL')));
  removeContainersOf(boards.map((b) => b.name));
  await server?.stop();
});

test('boards 10 minutes behind and ahead join, heartbeat with their own clock, and run pods', { timeout: 180_000 }, async () => {
  for (const b of boards) {
    // The skew is real: the Lease carries the board's time.
    const lease = await eventually(() => server.client.get<KubeObject & { spec: { renewTime: string } }>(leases, 'kube-node-lease', b.name), 30_000, `${b.name} lease`);
    const off = Date.parse(lease.spec.renewTime) - Date.now();
    assert.ok(Math.abs(off - b.skew) < 60_000, `${b.name}: renewTime is ${off} ms off, expected about ${b.skew}`);
    await server.client.create(pods, 'default', {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: `${b.skew < 0 ? 'behind' : 'ahead'}-pod`, namespace: 'default' },
      spec: { nodeName: b.name, containers: [{ name: 'main', image: 'busybox', imagePullPolicy: 'Never', command: ['sh', '-c', 'echo hello from a skewed board; sleep 3600'] }] },
    } as KubeObject);
  }
  await eventually(async () => (await server.client.list<Pod & KubeObject>(pods, 'default')).items.filter((p) => p.status?.phase === 'Running').length === 2, 90_000, 'both pods running');
  const uids = (await server.client.list<Pod & KubeObject>(pods, 'default')).items.map((p) => p.metadata.uid).sort();

  // Watch both Nodes for several grace periods: Ready throughout, judged by the server's own clock.
  const start = Date.now();
  const seen = new Set<string>();
  await eventually(async () => {
    for (const b of boards) seen.add(`${b.name}=${readyOf(await server.client.get<Node & KubeObject>(nodes, undefined, b.name))}`);
    return Date.now() - start >= watchMs;
  }, watchMs + 30_000, 'the watch window');
  assert.deepEqual([...seen].sort(), boards.map((b) => `${b.name}=True`).sort());
  const reasons = (await server.client.list<KubeObject & { reason?: string }>(events, 'default')).items.map((e) => e.reason);
  assert.deepEqual(reasons.filter((r) => ['NodeNotReady', 'TaintManagerEviction', 'Killing'].includes(r ?? '')), []);
  const after = (await server.client.list<Pod & KubeObject>(pods, 'default')).items;
  assert.deepEqual(after.map((p) => p.metadata.uid).sort(), uids);
  assert.ok(after.every((p) => p.status?.phase === 'Running' && !p.metadata.deletionTimestamp));
  for (const a of agents) assert.doesNotMatch(a.output(), /unhandled rejection|uncaught/i);
});

test('logs of pods on skewed boards are readable through the API server (the log token allows for the skew)', { timeout: 60_000 }, async () => {
  for (const name of ['behind-pod', 'ahead-pod']) {
    const res = await eventually(async () => { const r = await getText(`/api/v1/namespaces/default/pods/${name}/log`); return r.status === 200 && r; }, 30_000, `${name} logs`)
      .catch(async (err: Error) => { throw new Error(`${err.message}: ${JSON.stringify(await getText(`/api/v1/namespaces/default/pods/${name}/log`))}`); });
    assert.match(res.body, /hello from a skewed board/);
  }
});
