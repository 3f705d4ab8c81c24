// Edge autonomy across reboots (issue 14), on the real Docker engine. The agent checkpoints the
// pods bound to it; the control plane is stopped, the agent restarted and its containers removed
// (a board rebooted during an outage): the agent starts them again from the checkpoint. The
// control plane comes back with one of the pods deleted meanwhile: that pod's container goes,
// the other stays, never duplicated.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Pod } from '../../control-plane/api/core.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { freePort, kill, type ServerProcess } from '../support/process.ts';
import { eventually, type TestServer } from '../support/server.ts';
import { labelKeys } from '../../agent/runtime/types.ts';
import { CableProxy } from './cable-proxy.ts';
import { containersOf, removeContainersOf, runSleepingPods, startAgentProcess, startServerProcess, uniqueName, type AgentProcess } from './support.ts';

const pods = resourceFor('', 'pods')!;
const nodeName = uniqueName('edge');
let dataDir: string;
let port: number;
let server: ServerProcess;
let proxy: CableProxy;
let proxyPort: number;
let agent: AgentProcess;
const agents: AgentProcess[] = [];
const servers: ServerProcess[] = [];
const uids: Record<string, string> = {};

// 600 s: the outage must not make the control plane evict the pods; the agent is what is tested.
const serverArgs = ['--default-toleration-seconds', '600'];
async function startServer(): Promise<ServerProcess> {
  const s = await startServerProcess(dataDir, port, serverArgs);
  servers.push(s);
  return s;
}
function launchAgent(agentDataDir?: string): AgentProcess {
  const a = startAgentProcess({ url: `https://127.0.0.1:${proxyPort}`, dataDir } as TestServer, nodeName, '127.0.0.5', ['--lease-interval', '1'], agentDataDir);
  agents.push(a);
  return a;
}
const checkpointPath = () => join(agent.dataDir, 'pods.json');
const checkpointUids = () => {
  try {
    return (JSON.parse(readFileSync(checkpointPath(), 'utf8')) as { pods: KubeObject[] }).pods.map((p) => p.metadata.uid).sort();
  } catch {
    return [];
  }
};
const running = () => containersOf(nodeName).filter((c) => c.running);
/** The running containers of one pod, by its uid label: one `docker ps`, light enough to poll. */
const runningFor = (uid: string) => execFileSync('docker', ['ps', '-q', '--no-trunc', '--filter', `label=io.labkube.node=${nodeName}`, '--filter', `label=${labelKeys.uid}=${uid}`],
  { encoding: 'utf8' }).split('\n').filter(Boolean);
/** Polls that run the docker CLI, spaced out: each call is a process, and the machine is shared. */
const spaced = <T>(check: () => T) => async () => { await new Promise((r) => setTimeout(r, 400)); return check(); };

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'labkube-edge-'));
  port = await freePort();
  server = await startServer();
  proxy = new CableProxy(port);
  proxyPort = await proxy.listen();
  agent = launchAgent();
  await eventually(() => /agent ready/.test(agent.output()), 90_000, 'agent ready')
    .catch((err: Error) => { throw new Error(`${err.message}\n${agent.output().slice(-3000)}`); });
  Object.assign(uids, await runSleepingPods(server.client, nodeName, ['keep', 'deleted-meanwhile']));
});

after(async () => {
  await Promise.all(agents.map((a) => a.kill('SIGKILL')));
  removeContainersOf([nodeName]);
  await Promise.all(servers.map((s) => kill(s)));
  proxy?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  for (const a of agents) rmSync(a.dataDir, { recursive: true, force: true });
});

test('the pods bound to the node are checkpointed, mode 0600, and not rewritten when nothing changed', { timeout: 120_000 }, async () => {
  await eventually(() => checkpointUids().join() === Object.values(uids).sort().join(), 15_000, 'both pods in the checkpoint');
  const first = statSync(checkpointPath());
  assert.equal(first.mode & 0o777, 0o600);
  // An agent restart with the control plane up lists the same pods and writes their statuses: the card is not written.
  await agent.kill('SIGKILL');
  agent = launchAgent(agent.dataDir);
  await eventually(() => /agent ready/.test(agent.output()), 90_000, 'agent ready again');
  await eventually(async () => (await server.client.list<Pod & KubeObject>(pods, 'default')).items.every((p) => p.status?.phase === 'Running'), 30_000, 'pods running');
  const again = statSync(checkpointPath());
  assert.deepEqual([again.ino, again.mtimeMs], [first.ino, first.mtimeMs], 'the checkpoint was rewritten though nothing changed');
});

test('rebooted during an outage, the board starts its pods from the checkpoint', { timeout: 180_000 }, async () => {
  await kill(server);
  await agent.kill('SIGKILL');
  // The reboot: the engine comes back without the pods' containers.
  removeContainersOf([nodeName]);
  assert.equal(running().length, 0);
  agent = launchAgent(agent.dataDir);
  await eventually(spaced(() => runningFor(uids.keep!).length === 1 && runningFor(uids['deleted-meanwhile']!).length === 1), 90_000, 'both pods running from the checkpoint')
    .catch((err: Error) => { throw new Error(`${err.message}\n${agent.output().slice(-3000)}`); });
  // The agent's log reaches us a moment after the containers it started.
  await eventually(() => /running the pods of the local checkpoint/.test(agent.output()), 10_000, 'the checkpoint named in the log');
  assert.equal(agent.child.exitCode, null);
});

test('when the control plane answers again, a pod deleted meanwhile is stopped and the other kept, not duplicated', { timeout: 240_000 }, async (t) => {
  const [kept] = runningFor(uids.keep!);
  assert.ok(kept);
  // The control plane comes back, but the board cannot reach it yet: the pod is deleted meanwhile.
  proxy.unplug();
  server = await startServer();
  await server.client.delete(pods, 'default', 'deleted-meanwhile', { gracePeriodSeconds: 0 });
  const pluggedAt = Date.now();
  proxy.plug();
  await eventually(spaced(() => runningFor(uids['deleted-meanwhile']!).length === 0), 60_000, 'the deleted pod\'s container gone')
    .catch((err: Error) => { throw new Error(`${err.message} (plugged at ${pluggedAt})\n${agent.output().slice(-3000)}`); });
  t.diagnostic(`the deleted pod's container was gone ${Date.now() - pluggedAt} ms after the control plane was reachable again`);
  await eventually(() => /agent ready/.test(agent.output()), 60_000, 'agent ready');
  await eventually(async () => (await server.client.get<Pod & KubeObject>(pods, 'default', 'keep')).status?.phase === 'Running', 30_000, 'keep Running');
  await eventually(() => checkpointUids().join() === uids.keep, 15_000, 'the checkpoint holding only the kept pod');
  assert.deepEqual(running().map((c) => c.id), [kept]);
  assert.doesNotMatch(agent.output(), /unhandled rejection|uncaught/i);
});
