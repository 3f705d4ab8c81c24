// Partitions heal fast (issue 14): a board cut off from the control plane for 75 s, longer than
// every backoff's cap (the pod watch's 30 s), while one of its pods is deleted (rescheduled
// elsewhere, as the node lifecycle controller does to an unreachable node's pods). When the
// cable is back, the board must drop that pod's container within seconds, not after a backoff
// that grew during the outage, and keep the other one.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { labelKeys } from '../../agent/runtime/types.ts';
import { eventually, startTestServer, type TestServer } from '../support/server.ts';
import { CableProxy } from './cable-proxy.ts';
import { removeContainersOf, runSleepingPods, startAgentProcess, uniqueName, type AgentProcess } from './support.ts';

const pods = resourceFor('', 'pods')!;
const nodeName = uniqueName('partition');
let server: TestServer;
let proxy: CableProxy;
let agent: AgentProcess;
const uids: Record<string, string> = {};
// The cable pull: 75 s, past the informer's 30 s cap and the watch's 45 s idle limit.
const outageMs = 75_000;
// The README promises 5 s; a machine shared by a whole test suite gets twice that here, and the
// figure is printed.
const goneWithinMs = 10_000;

/** The running containers of one pod. Asynchronous: the API server and the cable proxy run in this process and must not stall while docker answers. */
const runningFor = async (uid: string) => (await promisify(execFile)('docker', ['ps', '-q', '--filter', `label=io.labkube.node=${nodeName}`, '--filter', `label=${labelKeys.uid}=${uid}`],
  { encoding: 'utf8' })).stdout.split('\n').filter(Boolean);

before(async () => {
  // 600 s: the control plane must not evict the pods itself; the test deletes one, as a failover would.
  server = await startTestServer({ defaultTolerationSeconds: 600 });
  proxy = new CableProxy(Number(new URL(server.url).port));
  const proxyPort = await proxy.listen();
  agent = startAgentProcess({ ...server, url: `https://127.0.0.1:${proxyPort}` }, nodeName, '127.0.0.6');
  await eventually(() => /agent ready/.test(agent.output()), 90_000, 'agent ready')
    .catch((err: Error) => { throw new Error(`${err.message}\n${agent.output().slice(-3000)}`); });
  Object.assign(uids, await runSleepingPods(server.client, nodeName, ['moved-away', 'stays']));
});

after(async () => {
  await agent?.kill('SIGKILL');
  removeContainersOf([nodeName]);
  proxy?.close();
  await server?.stop();
});

test('after a 75 s partition, the container of a pod deleted meanwhile is gone within seconds of the cable coming back', { timeout: 240_000 }, async (t) => {
  const [stays] = await runningFor(uids.stays!);
  assert.ok(stays);
  const unpluggedAt = Date.now();
  proxy.unplug();
  await eventually(() => /cannot renew the node lease/.test(agent.output()), 60_000, 'the agent noticing the partition');
  await server.client.delete(pods, 'default', 'moved-away', { gracePeriodSeconds: 0 });
  // The outage's length is the scenario: wait it out, watching the agent back off meanwhile.
  await eventually(() => Date.now() - unpluggedAt >= outageMs, outageMs + 5_000, 'the outage to last');
  assert.equal((await runningFor(uids['moved-away']!)).length, 1, 'cut off, the board keeps running what it has');
  const longestWait = Math.max(0, ...[...agent.output().matchAll(/"resource":"pods"[^\n]*"retryInMs":(\d+)/g)].map((m) => Number(m[1])));
  t.diagnostic(`longest pod list/watch backoff during the outage: ${longestWait} ms`);

  const pluggedAt = Date.now();
  proxy.plug();
  await eventually(async () => { await new Promise((r) => setTimeout(r, 200)); return (await runningFor(uids['moved-away']!)).length === 0; }, 60_000, 'the stale container gone')
    .catch((err: Error) => { throw new Error(`${err.message}\n${agent.output().slice(-3000)}`); });
  const goneMs = Date.now() - pluggedAt;
  // LABKUBE_PARTITION_DUMP=file keeps the agent's log, with the moment of the replug, for a post-mortem.
  if (process.env.LABKUBE_PARTITION_DUMP) writeFileSync(process.env.LABKUBE_PARTITION_DUMP, `plugged at ${pluggedAt}\n${agent.output()}`);
  t.diagnostic(`stale container gone ${goneMs} ms after the cable was back`);
  assert.ok(goneMs <= goneWithinMs, `the stale container stayed ${goneMs} ms after reconnecting`);
  assert.deepEqual(await runningFor(uids.stays!), [stays]);
  assert.doesNotMatch(agent.output(), /unhandled rejection|uncaught/i);
});
