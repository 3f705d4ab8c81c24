// Pod sandboxes on a real pod network (Docker on this machine): one network namespace per pod,
// its IP from the podCIDR, resolv.conf, hostPorts, sandbox death, adoption, kill order, and the
// pod network's own iptables chains. Everything here is the test's own: a bridge on a subnet
// no lab uses, chains under a test prefix jumped to from test-only parent chains (the host's
// FORWARD and POSTROUTING are never touched), and one route, to an address on that bridge.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Pod } from '../../control-plane/api/core.ts';
import { killContainers } from '../../agent/hooks/kill.ts';
import { cidrContains } from '../../agent/network/cidr.ts';
import { Iptables } from '../../agent/network/iptables.ts';
import { PodNetwork } from '../../agent/network/pod-network.ts';
import { RouteSync } from '../../agent/network/routes.ts';
import { PodWorker, type PodApi } from '../../agent/pod-worker.ts';
import { DockerRuntime } from '../../agent/runtime/docker.ts';
import { labelKeys } from '../../agent/runtime/types.ts';
import { eventually } from '../support/server.ts';
import { removeContainersOf, uniqueName } from './support.ts';

const node = uniqueName('d2t-sbx');
const tag = `${process.pid % 100000}`;
const subnet = '10.42.250.0/24';
const networkName = `d2t-net-${tag}`;
const bridgeName = `d2t${tag}`;
const prefix = `D2T${tag}`;
const parents = { forward: `${prefix}-PFWD`, postrouting: `${prefix}-PPOST` };
const runtime = new DockerRuntime();
const iptables = new Iptables();
const dataDir = mkdtempSync(join(tmpdir(), 'labkube-d2t-sandbox-'));
const hostResolv = join(dataDir, 'host-resolv.conf');
const hostPort = 20000 + (process.pid % 10000);
let net: PodNetwork;

/** Records status writes and events. */
class RecordingApi implements PodApi {
  statuses: NonNullable<Pod['status']>[] = [];
  events: string[] = [];
  async writeStatus(_p: Pod, s: NonNullable<Pod['status']>) { this.statuses.push(s); }
  async finishDeletion() { /* the test deletes nothing on a server */ }
  event(_p: Pod, _t: string, reason: string) { this.events.push(reason); }
  get last() { return this.statuses.at(-1); }
}

const webPod: Pod = {
  metadata: { name: 'web', namespace: 'shop', uid: `uid-web-${tag}` },
  spec: {
    nodeName: node, terminationGracePeriodSeconds: 2,
    containers: [
      { name: 'nginx', image: 'nginx:latest', imagePullPolicy: 'IfNotPresent', ports: [{ containerPort: 80, hostPort }] },
      { name: 'client', image: 'busybox:latest', imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'], env: [{ name: 'FOO', value: 'own' }] },
    ],
  },
};

function newWorker(api: RecordingApi): PodWorker {
  return new PodWorker({
    pod: webPod, runtime, api, nodeName: node, nodeIp: '127.0.0.1', platform: { os: 'linux', architecture: 'amd64' }, podNetwork: net,
    serviceEnv: (ns) => [`WEB_SERVICE_HOST=10.43.0.12`, `NS_SEEN=${ns}`, 'FOO=from-service'],
  });
}

const containersOf = () => runtime.listContainers({ [labelKeys.node]: node });
const byName = async (name: string) => (await containersOf()).find((c) => c.labels[labelKeys.container] === name && c.status === 'running');
const exec = async (name: string, cmd: string[]) => {
  const c = await byName(name);
  assert.ok(c, `${name} runs`);
  return runtime.exec(c.id, cmd, 10_000);
};

/** GET over HTTP with a short timeout; only to loopback or to an address routed to the test's bridge. */
function get(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: '/', timeout: 2_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** The network rule: a packet to a pod address only when the kernel routes it to our bridge. */
function assertRoutedToOurBridge(ip: string): void {
  const route = execFileSync('ip', ['route', 'get', ip], { encoding: 'utf8' });
  assert.match(route, new RegExp(`dev ${bridgeName}\\b`), `route to ${ip}: ${route}`);
}

before(async () => {
  writeFileSync(hostResolv, 'nameserver 192.0.2.53\nsearch lab.example corp.example\noptions timeout:2\n');
  await iptables.ensureChain('filter', parents.forward);
  await iptables.ensureChain('nat', parents.postrouting);
  net = new PodNetwork({
    nodeName: node, runtime, dataDir, podCIDR: subnet, networkName, bridgeName, chainPrefix: prefix, parentChains: parents,
    hostResolvConf: hostResolv, ipForwardPath: false,
    // A route protocol number of its own: the test touches no route but the one it adds to its bridge.
    routes: new RouteSync({ nodeName: node, proto: 249 }),
  });
  await net.start();
  net.stop(); // the test syncs when it wants to
});

after(async () => {
  removeContainersOf([node]);
  await net.uninstall().catch(() => { /* asserted by its own test; clean up regardless */ });
  await runtime.removeNetwork(networkName);
  for (const [table, chain] of [['filter', parents.forward], ['nat', parents.postrouting], ['filter', `${prefix}-FORWARD`], ['nat', `${prefix}-POSTROUTING`]] as const) {
    await iptables.deleteChain(table, chain);
  }
  rmSync(dataDir, { recursive: true, force: true });
});

test('the pod network is a bridge on the podCIDR with masquerade and forward chains', async () => {
  const info = await runtime.inspectNetwork(networkName);
  assert.equal(info?.subnet, subnet);
  assert.equal(info?.gateway, '10.42.250.1');
  assert.equal(info?.options['com.docker.network.bridge.enable_ip_masquerade'], 'false');
  assertRoutedToOurBridge('10.42.250.77');
  assert.deepEqual(await iptables.listRules('nat', `${prefix}-POSTROUTING`), [
    `-A ${prefix}-POSTROUTING -s ${subnet} ! -d 10.42.0.0/16 -m comment --comment "labkube: pod traffic leaving the cluster" -j MASQUERADE`,
  ]);
  assert.equal((await iptables.listRules('filter', `${prefix}-FORWARD`)).length, 2);
  assert.match((await iptables.listRules('filter', parents.forward))[0] ?? '', new RegExp(`-j ${prefix}-FORWARD$`));
  assert.match((await iptables.listRules('nat', parents.postrouting))[0] ?? '', new RegExp(`-j ${prefix}-POSTROUTING$`));
});

test('a pod gets a sandbox: one IP from the podCIDR, localhost shared, resolv.conf, hostPort, Service env', async () => {
  const api = new RecordingApi();
  const worker = newWorker(api);
  try {
    const status = await eventually(async () => {
      await worker.trigger();
      return api.last?.phase === 'Running' && api.last.podIP ? api.last : undefined;
    }, 30_000, 'pod running with an IP');
    const ip = status.podIP!;
    assert.ok(cidrContains(subnet, ip) && ip !== '10.42.250.1', `podIP ${ip} from ${subnet}`);
    const sandbox = (await containersOf()).find((c) => c.labels[labelKeys.container] === 'POD');
    assert.equal(sandbox?.ip, ip, 'the podIP is the sandbox address');

    const viaLocalhost = await eventually(async () => {
      const r = await exec('client', ['wget', '-q', '-O', '-', 'http://127.0.0.1:80/']);
      return r.exitCode === 0 ? r.output : undefined;
    }, 15_000, 'nginx on localhost from the other container');
    assert.match(viaLocalhost, /nginx/i);

    assertRoutedToOurBridge(ip);
    assert.match(await get(ip, 80), /nginx/i);
    assert.match(await get('127.0.0.1', hostPort), /nginx/i, 'the hostPort is published on the sandbox');

    const resolv = await exec('client', ['cat', '/etc/resolv.conf']);
    assert.equal(resolv.output, [
      'nameserver 10.42.250.1',
      'search shop.svc.cluster.local svc.cluster.local cluster.local lab.example corp.example',
      'options ndots:5', '',
    ].join('\n'));
    const env = (await exec('client', ['env'])).output.split('\n');
    assert.ok(env.includes('WEB_SERVICE_HOST=10.43.0.12'));
    assert.ok(env.includes('NS_SEEN=shop'));
    assert.ok(env.includes('FOO=own') && !env.includes('FOO=from-service'), 'the container env wins over a Service variable');
  } finally {
    worker.stop();
  }
});

test('an agent restart adopts the sandbox and containers without restarting any', async () => {
  const before = (await containersOf()).map((c) => `${c.id}:${c.startedAt}`).sort();
  assert.equal(before.length, 3);
  const api = new RecordingApi();
  const worker = newWorker(api);
  await worker.trigger();
  worker.stop();
  assert.deepEqual((await containersOf()).map((c) => `${c.id}:${c.startedAt}`).sort(), before);
  assert.deepEqual(api.events, []);
});

test('a dead sandbox is replaced and the pod containers restart in the new one', async () => {
  const old = (await containersOf()).find((c) => c.labels[labelKeys.container] === 'POD')!;
  execFileSync('docker', ['kill', old.id], { stdio: 'ignore' });
  const api = new RecordingApi();
  const worker = newWorker(api);
  try {
    const sandbox = await eventually(async () => {
      await worker.trigger();
      const all = await containersOf();
      const s = all.find((c) => c.labels[labelKeys.container] === 'POD' && c.status === 'running');
      const apps = all.filter((c) => c.labels[labelKeys.container] !== 'POD' && c.status === 'running');
      return s && s.id !== old.id && apps.length === 2 && apps.every((a) => a.labels[labelKeys.sandbox] === s.id) ? s : undefined;
    }, 30_000, 'new sandbox with both containers');
    assert.ok(api.events.includes('SandboxChanged'));
    assert.equal(sandbox.labels[labelKeys.restartCount], '1');
    assert.ok(!(await containersOf()).some((c) => c.id === old.id), 'the dead sandbox is removed');
    await eventually(() => api.last?.podIP === sandbox.ip && api.last?.containerStatuses?.every((s) => s.restartCount === 1), 10_000, 'status on the new sandbox');
    const r = await eventually(async () => {
      const x = await exec('client', ['wget', '-q', '-O', '-', 'http://127.0.0.1:80/']);
      return x.exitCode === 0 ? x : undefined;
    }, 15_000, 'localhost works in the new sandbox');
    assert.match(r.output, /nginx/i);
  } finally {
    worker.stop();
  }
});

test('an orphaned pod is removed, its sandbox after its containers', async () => {
  const listed = await runtime.listContainerLabels({ [labelKeys.node]: node });
  // The sandbox, two running containers, and the two exited before the sandbox changed (kept for logs --previous).
  assert.equal(listed.length, 5);
  const removed: string[] = [];
  const spy = Object.create(runtime) as DockerRuntime;
  spy.removeContainer = async (id: string) => { await runtime.removeContainer(id); removed.push(listed.find((c) => c.id === id)!.labels[labelKeys.container]!); };
  await killContainers(spy, listed, 1);
  assert.equal(removed.at(-1), 'POD');
  assert.deepEqual(await containersOf(), []);
});

test('deleting the pod removes its containers and its files', async () => {
  const api = new RecordingApi();
  const worker = newWorker(api);
  await eventually(async () => { await worker.trigger(); return api.last?.phase === 'Running'; }, 30_000, 'pod running');
  assert.ok(existsSync(join(dataDir, 'pods', webPod.metadata.uid!, 'resolv.conf')));
  await worker.remove();
  assert.equal(worker.isFinished, true);
  assert.deepEqual(await containersOf(), []);
  assert.ok(!existsSync(join(dataDir, 'pods', webPod.metadata.uid!)));
});

test('a route to a peer podCIDR goes via its InternalIP and leaves with the peer', async () => {
  // The peer's address is on the test bridge, so the route points at the bridge this test made.
  const peer = { metadata: { name: `${node}-peer` }, spec: { podCIDR: '10.42.251.0/24' }, status: { addresses: [{ type: 'InternalIP', address: '10.42.250.200' }] } };
  const self = { metadata: { name: node }, spec: { podCIDR: subnet }, status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }] } };
  await net.setNodes([self, peer]);
  const ours = () => execFileSync('ip', ['-4', 'route', 'show', 'proto', '249'], { encoding: 'utf8' }).trim();
  // (`linkdown` follows while no container is on the bridge.)
  assert.match(ours(), new RegExp(`^10\\.42\\.251\\.0/24 via 10\\.42\\.250\\.200 dev ${bridgeName}\\b`));
  await net.setNodes([self]);
  assert.equal(ours(), '');
  await net.setNodes([self, peer]);
  assert.notEqual(ours(), '', 'uninstall (below) removes it');
});

test('uninstall removes the chains, their jumps and the network', async () => {
  await net.uninstall();
  assert.equal(await runtime.inspectNetwork(networkName), undefined);
  assert.equal(await iptables.chainExists('filter', `${prefix}-FORWARD`), false);
  assert.equal(await iptables.chainExists('nat', `${prefix}-POSTROUTING`), false);
  assert.deepEqual(await iptables.listRules('filter', parents.forward), []);
  assert.deepEqual(await iptables.listRules('nat', parents.postrouting), []);
  assert.equal(execFileSync('ip', ['-4', 'route', 'show', 'proto', '249'], { encoding: 'utf8' }).trim(), '');
});
