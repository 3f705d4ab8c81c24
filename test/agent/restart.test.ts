// An agent restart evicts nothing (issue 14). The control plane runs with its defaults (6 s
// grace, 2 s toleration): an agent killed right after a heartbeat and started again 3 s, then
// 5 s, later must renew its Lease before the node is given up, so no pod is evicted, deleted or
// replaced, and the containers are the same ones. The agent runs as boards run it, the bundle on
// node with the board's node flags and environment; the time from its start to its first
// heartbeat is measured.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Pod } from '../../control-plane/api/core.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { eventually, startTestServer, type TestServer } from '../support/server.ts';
import { boardNodeOptions, buildAgentBundle, containersOf, removeContainersOf, runSleepingPods, startAgentProcess, uniqueName, type AgentLaunch, type AgentProcess } from './support.ts';

const pods = resourceFor('', 'pods')!;
const events = resourceFor('', 'events')!;
const leases = resourceFor('coordination.k8s.io', 'leases')!;
const nodeName = uniqueName('restart');
let server: TestServer;
let agent: AgentProcess;
let bundleDir: string;
let launch: AgentLaunch;
const agents: AgentProcess[] = [];
// The defaults of `labkube server`: a node is Unknown 6 s after its last heartbeat, its pods go 2 s later.
const graceMs = 6_000;
const tolerationMs = 2_000;

const renewTime = async () => (await server.client.get<KubeObject & { spec: { renewTime?: string } }>(leases, 'kube-node-lease', nodeName)).spec.renewTime;

function launchAgent(dataDir?: string): AgentProcess {
  const a = startAgentProcess(server, nameOf(), '127.0.0.4', [], dataDir, launch);
  agents.push(a);
  return a;
}
const nameOf = () => nodeName;

before(async () => {
  server = await startTestServer();
  bundleDir = mkdtempSync(join(tmpdir(), 'labkube-agent-bundle-'));
  launch = { script: await buildAgentBundle(bundleDir), ...boardNodeOptions() };
  agent = launchAgent();
  await eventually(() => /agent ready/.test(agent.output()), 90_000, 'agent ready')
    .catch((err: Error) => { throw new Error(`${err.message}\n${agent.output().slice(-3000)}`); });
  await runSleepingPods(server.client, nodeName, ['steady-a', 'steady-b']);
});

after(async () => {
  await Promise.all(agents.map((a) => a.kill('SIGKILL')));
  removeContainersOf([nodeName]);
  await server?.stop();
  if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
});

for (const gapMs of [3_000, 5_000]) {
  test(`an agent killed and started again ${gapMs / 1000} s later evicts nothing and keeps its containers`, { timeout: 120_000 }, async (t) => {
    const podsBefore = (await server.client.list<Pod & KubeObject>(pods, 'default')).items.map((p) => [p.metadata.name, p.metadata.uid]).sort();
    const eventsBefore = new Set((await server.client.list(events, 'default')).items.map((e) => e.metadata.name));
    const containersBefore = containersOf(nodeName).filter((c) => c.running).map((c) => [c.id, c.startedAt]).sort();
    assert.equal(containersBefore.length, 2);

    // Kill it right after a heartbeat, so the gap is the whole restart.
    const last = await renewTime();
    const lastBeat = await eventually(async () => { const r = await renewTime(); return r !== last && r; }, 10_000, 'a heartbeat');
    await agent.kill('SIGKILL');
    const killedAt = Date.now();
    // The restart gap is the scenario itself, not a wait for a condition.
    await new Promise((r) => setTimeout(r, gapMs));
    const startedAt = Date.now();
    agent = launchAgent(agent.dataDir);
    await eventually(async () => (await renewTime()) !== lastBeat, 15_000, 'the first heartbeat after the restart');
    const firstBeatMs = Date.now() - startedAt;
    const reported = await eventually(() => /first heartbeat/.test(agent.output()) && /"sinceProcessStartMs":(\d+)/.exec(agent.output())?.[1], 10_000, 'the first heartbeat logged');
    t.diagnostic(`restart after ${gapMs} ms: first heartbeat seen ${firstBeatMs} ms after the spawn (${reported ?? '?'} ms after process start by the agent's clock), ${Date.now() - killedAt} ms after the kill`);

    // Past the moment the node would have been given up and its pods evicted.
    await eventually(() => Date.now() > killedAt + graceMs + tolerationMs + 3_000 && /agent ready/.test(agent.output()), 60_000, 'the eviction deadline passed and the agent ready');
    const reasons = (await server.client.list<KubeObject & { reason?: string }>(events, 'default')).items
      .filter((e) => !eventsBefore.has(e.metadata.name)).map((e) => e.reason ?? '');
    // NotReady for a moment is not an eviction; it is counted, for the figures. An eviction fails the test.
    t.diagnostic(`NodeNotReady events: ${reasons.filter((r) => r === 'NodeNotReady').length}`);
    assert.deepEqual(reasons.filter((r) => ['TaintManagerEviction', 'DeletionByTaintManager', 'Killing'].includes(r)), []);
    const podsAfter = (await server.client.list<Pod & KubeObject>(pods, 'default')).items;
    assert.deepEqual(podsAfter.map((p) => [p.metadata.name, p.metadata.uid]).sort(), podsBefore);
    assert.ok(podsAfter.every((p) => !p.metadata.deletionTimestamp && p.status?.phase === 'Running'));
    assert.deepEqual(containersOf(nodeName).filter((c) => c.running).map((c) => [c.id, c.startedAt]).sort(), containersBefore);
    assert.doesNotMatch(agent.output(), /unhandled rejection|uncaught/i);
  });
}
