// The pod network's pure parts and its decisions, with the host's tools and the engine faked:
// routes to other nodes, Service variables, resolv.conf, the bridge on a changed podCIDR, and
// the worker's sandbox handling.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Node, Pod, Service } from '../../control-plane/api/core.ts';
import { CommandError, type CommandRunner } from '../../agent/network/exec.ts';
import { Iptables } from '../../agent/network/iptables.ts';
import { PodNetwork, type PodSandboxNetwork } from '../../agent/network/pod-network.ts';
import { parseResolvConf, podResolvConf } from '../../agent/network/resolv-conf.ts';
import { RouteSync, desiredRoutes } from '../../agent/network/routes.ts';
import { podServiceEnvironment } from '../../agent/network/service-env.ts';
import { PodWorker, type PodApi } from '../../agent/pod-worker.ts';
import { labelKeys, type NetworkInfo, type NetworkRuntime, type NetworkSpec } from '../../agent/runtime/types.ts';
import { FakeRuntime } from './fake-runtime.ts';

const nodeOf = (name: string, podCIDR: string | undefined, ip: string): Node => ({
  metadata: { name }, spec: { ...(podCIDR && { podCIDR }) }, status: { addresses: [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }] },
});

// --- routes ---------------------------------------------------------------------------------

test('routes go to every other node with a podCIDR, not to this host or its own addresses', () => {
  const nodes = [
    nodeOf('board1', '10.42.1.0/24', '192.168.50.11'), nodeOf('board2', '10.42.2.0/24', '192.168.50.12'),
    nodeOf('board3', undefined, '192.168.50.13'), nodeOf('same-host', '10.42.4.0/24', '192.168.50.11'), nodeOf('test-agent', '10.42.5.0/24', '127.0.0.3'),
  ];
  assert.deepEqual(desiredRoutes(nodes, 'board1', ['192.168.50.11']), [{ podCIDR: '10.42.2.0/24', gateway: '192.168.50.12', node: 'board2' }]);
});

/** An `ip` that keeps a route table and addresses in memory. */
function fakeIp(addresses: { ifname: string; local: string; prefixlen: number }[]) {
  const routes = new Map<string, { dst: string; gateway: string; dev: string }>();
  const calls: string[] = [];
  const run: CommandRunner = async (_file, args) => {
    calls.push(args.join(' '));
    if (args.includes('addr')) {
      const byIf = new Map<string, { local: string; prefixlen: number }[]>();
      for (const a of addresses) byIf.set(a.ifname, [...byIf.get(a.ifname) ?? [], { local: a.local, prefixlen: a.prefixlen }]);
      return { stdout: JSON.stringify([...byIf].map(([ifname, addr_info]) => ({ ifname, addr_info }))), stderr: '' };
    }
    if (args[0] === '-j') return { stdout: JSON.stringify([...routes.values()]), stderr: '' };
    if (args[1] === 'replace') {
      const [, , dst, , gateway] = args;
      const dev = addresses.find((a) => a.local.split('.').slice(0, 3).join('.') === gateway!.split('.').slice(0, 3).join('.'))?.ifname;
      if (!dev) throw new CommandError(`ip ${args.join(' ')}`, 2, 'Error: Nexthop has invalid gateway.');
      routes.set(dst!, { dst: dst!, gateway: gateway!, dev });
      return { stdout: '', stderr: '' };
    }
    if (args[1] === 'del') { routes.delete(args[2]!); return { stdout: '', stderr: '' }; }
    throw new Error(`unexpected ip ${args.join(' ')}`);
  };
  return { run, routes, calls, addresses };
}

test('route sync adds, keeps, removes, and heals a route when the interface comes back under another name', async () => {
  const ip = fakeIp([{ ifname: 'eth0', local: '192.168.50.11', prefixlen: 24 }]);
  const routes = new RouteSync({ nodeName: 'board1', run: ip.run });
  const nodes = [nodeOf('board1', '10.42.1.0/24', '192.168.50.11'), nodeOf('board2', '10.42.2.0/24', '192.168.50.12'), nodeOf('board3', '10.42.3.0/24', '192.168.50.13')];
  assert.deepEqual((await routes.sync(nodes)).added, ['10.42.2.0/24', '10.42.3.0/24']);
  assert.ok(ip.calls.includes('route replace 10.42.2.0/24 via 192.168.50.12 proto 76'));
  assert.deepEqual(await routes.sync(nodes), { added: [], removed: [], failed: [] }, 'a sync with nothing to change writes nothing');

  // The cable is pulled: the kernel drops the interface's routes and a replace fails until it is back.
  ip.routes.clear();
  ip.addresses.splice(0);
  const unplugged = await routes.sync(nodes);
  assert.deepEqual(unplugged.failed.map((f) => f.podCIDR), ['10.42.2.0/24', '10.42.3.0/24']);
  ip.addresses.push({ ifname: 'eth1', local: '192.168.50.11', prefixlen: 24 });
  assert.deepEqual((await routes.sync(nodes)).added, ['10.42.2.0/24', '10.42.3.0/24']);
  assert.equal(ip.routes.get('10.42.2.0/24')?.dev, 'eth1');

  // board3 is deleted; a route on a stale device is rewritten.
  ip.routes.set('10.42.2.0/24', { dst: '10.42.2.0/24', gateway: '192.168.50.12', dev: 'eth0' });
  const after = await routes.sync(nodes.slice(0, 2));
  assert.deepEqual(after, { added: ['10.42.2.0/24'], removed: ['10.42.3.0/24'], failed: [] });
  assert.deepEqual(await routes.removeAll(), ['10.42.2.0/24']);
  assert.equal(ip.routes.size, 0);
});

// --- Service environment ----------------------------------------------------------------------

const svc = (name: string, namespace: string, clusterIP: string, ports: Service['spec']['ports']): Service =>
  ({ metadata: { name, namespace }, spec: { clusterIP, ports } });

test('Service variables are those the kubelet writes, for the pod namespace and default/kubernetes', () => {
  const services = [
    svc('web-front', 'shop', '10.43.0.12', [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }]),
    svc('kubernetes', 'default', '10.43.0.1', [{ name: 'https', port: 443 }]),
    svc('headless', 'shop', 'None', [{ port: 80 }]),
    svc('elsewhere', 'other', '10.43.0.20', [{ port: 80 }]),
  ];
  assert.deepEqual(podServiceEnvironment(services, 'shop'), [
    'KUBERNETES_SERVICE_HOST=10.43.0.1', 'KUBERNETES_SERVICE_PORT=443', 'KUBERNETES_SERVICE_PORT_HTTPS=443',
    'KUBERNETES_PORT=tcp://10.43.0.1:443', 'KUBERNETES_PORT_443_TCP=tcp://10.43.0.1:443', 'KUBERNETES_PORT_443_TCP_PROTO=tcp',
    'KUBERNETES_PORT_443_TCP_PORT=443', 'KUBERNETES_PORT_443_TCP_ADDR=10.43.0.1',
    'WEB_FRONT_SERVICE_HOST=10.43.0.12', 'WEB_FRONT_SERVICE_PORT=80', 'WEB_FRONT_SERVICE_PORT_HTTP=80', 'WEB_FRONT_SERVICE_PORT_DNS=53',
    'WEB_FRONT_PORT=tcp://10.43.0.12:80',
    'WEB_FRONT_PORT_80_TCP=tcp://10.43.0.12:80', 'WEB_FRONT_PORT_80_TCP_PROTO=tcp', 'WEB_FRONT_PORT_80_TCP_PORT=80', 'WEB_FRONT_PORT_80_TCP_ADDR=10.43.0.12',
    'WEB_FRONT_PORT_53_UDP=udp://10.43.0.12:53', 'WEB_FRONT_PORT_53_UDP_PROTO=udp', 'WEB_FRONT_PORT_53_UDP_PORT=53', 'WEB_FRONT_PORT_53_UDP_ADDR=10.43.0.12',
  ]);
  assert.deepEqual(podServiceEnvironment(services, 'shop', false).filter((e) => e.startsWith('WEB')), [], 'enableServiceLinks: false keeps only kubernetes');
});

// --- resolv.conf ------------------------------------------------------------------------------

test('resolv.conf: cluster DNS first with the host search domains, Default and None as the kubelet', () => {
  const host = parseResolvConf('# generated\nnameserver 192.0.2.53\ndomain old.example\nsearch lab.example\noptions edns0\n');
  const base = { namespace: 'shop', clusterDomain: 'cluster.local', nameserver: '10.42.1.1', host };
  assert.equal(podResolvConf({ ...base, policy: 'ClusterFirst' }),
    'nameserver 10.42.1.1\nsearch shop.svc.cluster.local svc.cluster.local cluster.local lab.example\noptions ndots:5\n');
  assert.equal(podResolvConf({ ...base, policy: 'Default' }), undefined, 'the engine copies the node file');
  assert.equal(podResolvConf({ ...base, policy: 'None', dnsConfig: { nameservers: ['1.1.1.1'], searches: ['x.example'], options: [{ name: 'ndots', value: '2' }] } }),
    'nameserver 1.1.1.1\nsearch x.example\noptions ndots:2\n');
});

// --- the bridge -------------------------------------------------------------------------------

class FakeNetworks implements NetworkRuntime {
  readonly networks = new Map<string, NetworkInfo>();
  readonly log: string[] = [];
  async inspectNetwork(name: string) { const n = this.networks.get(name); return n && { ...n }; }
  async createNetwork(spec: NetworkSpec) {
    this.log.push(`create ${spec.subnet}`);
    this.networks.set(spec.name, { name: spec.name, id: spec.name, subnet: spec.subnet, gateway: spec.gateway, options: spec.options, labels: spec.labels, containers: [] });
  }
  async removeNetwork(name: string) { this.log.push(`remove ${this.networks.get(name)?.subnet}`); this.networks.delete(name); }
}

/** iptables that accepts everything: the chain logic has its own tests. */
const quietIptables = () => new Iptables({ run: async (_f, args) => ({ stdout: args.includes('-S') ? '-N X\n' : '', stderr: '' }) });
const noRoutes = (nodeName: string) => new RouteSync({ nodeName, run: async () => ({ stdout: '[]', stderr: '' }) });

test('the bridge follows the node podCIDR, and is recreated on a new one only once no container uses it', async () => {
  const docker = new FakeNetworks();
  const net = new PodNetwork({ nodeName: 'b1', runtime: docker, dataDir: '/nonexistent', iptables: quietIptables(), routes: noRoutes('b1'), ipForwardPath: false });
  assert.throws(() => net.sandboxNetwork(), /no podCIDR/);
  await net.setNodes([nodeOf('b1', '10.42.1.0/24', '192.0.2.11')]);
  assert.equal(net.sandboxNetwork(), 'labkube');
  assert.equal(net.gateway, '10.42.1.1');
  assert.equal(docker.networks.get('labkube')?.options['com.docker.network.bridge.name'], 'labkube0');

  docker.networks.get('labkube')!.containers.push('sandbox-of-an-old-pod');
  await net.setNodes([nodeOf('b1', '10.42.7.0/24', '192.0.2.11')]);
  assert.throws(() => net.sandboxNetwork(), /not on 10.42.7.0\/24/);
  assert.deepEqual(docker.log, ['create 10.42.1.0/24']);
  docker.networks.get('labkube')!.containers.splice(0);
  await net.sync('test');
  assert.equal(net.sandboxNetwork(), 'labkube');
  assert.deepEqual(docker.log, ['create 10.42.1.0/24', 'remove 10.42.1.0/24', 'create 10.42.7.0/24']);
});

test('offline after a reboot, the podCIDR comes from the bridge this node made; the API corrects it later', async () => {
  const docker = new FakeNetworks();
  const before = new PodNetwork({ nodeName: 'b1', runtime: docker, dataDir: '/nonexistent', iptables: quietIptables(), routes: noRoutes('b1'), ipForwardPath: false });
  await before.setNodes([nodeOf('b1', '10.42.4.0/24', '192.0.2.11')]);
  // The agent restarts with the control plane down: no Node, but Docker kept the network.
  const after = new PodNetwork({ nodeName: 'b1', runtime: docker, dataDir: '/nonexistent', iptables: quietIptables(), routes: noRoutes('b1'), ipForwardPath: false });
  await after.sync('start');
  assert.equal(after.podCIDR, '10.42.4.0/24');
  assert.equal(after.sandboxNetwork(), 'labkube');
  assert.deepEqual(docker.log, ['create 10.42.4.0/24'], 'the network is kept, not recreated');
  // Another node's network is not taken.
  const other = new PodNetwork({ nodeName: 'b2', runtime: docker, dataDir: '/nonexistent', iptables: quietIptables(), routes: noRoutes('b2'), ipForwardPath: false });
  await other.sync('start');
  assert.equal(other.podCIDR, undefined);
  // When the API answers with another podCIDR, the bridge follows it.
  await after.setNodes([nodeOf('b1', '10.42.9.0/24', '192.0.2.11')]);
  assert.equal(after.podCIDR, '10.42.9.0/24');
  assert.equal(after.sandboxNetwork(), 'labkube');
});

// --- the worker and its sandbox ----------------------------------------------------------------

class Api implements PodApi {
  statuses: NonNullable<Pod['status']>[] = [];
  events: string[] = [];
  async writeStatus(_p: Pod, s: NonNullable<Pod['status']>) { this.statuses.push(s); }
  async finishDeletion() { /* nothing on a server */ }
  event(_p: Pod, _t: string, reason: string) { this.events.push(reason); }
}

class FakeSandboxNetwork implements PodSandboxNetwork {
  readonly sandboxImage = 'labkube/pause:latest';
  ready = true;
  released: string[] = [];
  sandboxNetwork() { if (!this.ready) throw new Error('the node has no podCIDR yet'); return 'labkube'; }
  async podMounts(pod: Pod) { return [`/data/pods/${pod.metadata.uid}/resolv.conf:/etc/resolv.conf:ro`]; }
  async releasePod(uid: string) { this.released.push(uid); }
}

const twoContainers = (extra: Partial<Pod['spec']> = {}): Pod => ({
  metadata: { name: 'p', namespace: 'default', uid: 'uid-p' },
  spec: {
    nodeName: 'n1', terminationGracePeriodSeconds: 1, ...extra,
    containers: [
      { name: 'a', image: 'nginx:1', ports: [{ containerPort: 80, hostPort: 8080 }] },
      { name: 'b', image: 'nginx:1', env: [{ name: 'X', value: '1' }] },
    ],
  },
});

function setup(pod: Pod, network?: FakeSandboxNetwork) {
  const rt = new FakeRuntime();
  rt.addImage('nginx:1');
  rt.addImage('labkube/pause:latest');
  rt.networkIps.set('labkube', '10.42.1.5');
  const api = new Api();
  const worker = new PodWorker({
    pod, runtime: rt, api, nodeName: 'n1', nodeIp: '192.0.2.11', platform: { os: 'linux', architecture: 'amd64' },
    ...(network && { podNetwork: network }), serviceEnv: () => ['WEB_SERVICE_HOST=10.43.0.9', 'X=service'],
  });
  const byName = (name: string) => [...rt.containers.values()].filter((c) => c.labels[labelKeys.container] === name);
  return { rt, api, worker, byName };
}

test('the sandbox comes first; containers join its namespace; ports, mounts and podIP belong to it', async () => {
  const network = new FakeSandboxNetwork();
  const { api, worker, byName } = setup(twoContainers(), network);
  await worker.trigger();
  const [sandbox] = byName('POD');
  assert.ok(sandbox && sandbox.status === 'running');
  assert.equal(sandbox.config.networkMode, 'labkube');
  assert.deepEqual(sandbox.config.ports, [{ containerPort: 80, protocol: 'tcp', hostPort: 8080, hostIp: '192.0.2.11' }]);
  for (const name of ['a', 'b']) {
    const [c] = byName(name);
    assert.equal(c?.config.networkMode, `container:${sandbox.id}`);
    assert.equal(c?.labels[labelKeys.sandbox], sandbox.id);
    assert.deepEqual(c?.config.ports, []);
    assert.deepEqual(c?.config.binds, ['/data/pods/uid-p/resolv.conf:/etc/resolv.conf:ro']);
  }
  assert.deepEqual(byName('b')[0]?.config.env, ['WEB_SERVICE_HOST=10.43.0.9', 'X=1']);
  assert.equal(api.statuses.at(-1)?.podIP, '10.42.1.5');
  assert.equal(api.statuses.at(-1)?.phase, 'Running');
  worker.stop();
});

test('without a ready network the pod waits in ContainerCreating and says why, once', async () => {
  const network = new FakeSandboxNetwork();
  network.ready = false;
  const { rt, api, worker } = setup(twoContainers(), network);
  await worker.trigger();
  await worker.trigger();
  assert.equal(rt.containers.size, 0);
  const waiting = api.statuses.at(-1)?.containerStatuses?.[0]?.state?.waiting;
  assert.equal(waiting?.reason, 'ContainerCreating');
  assert.match(waiting?.message ?? '', /Failed to create pod sandbox: the node has no podCIDR yet/);
  assert.deepEqual(api.events, ['FailedCreatePodSandBox']);
  network.ready = true;
  await worker.trigger();
  assert.equal(api.statuses.at(-1)?.phase, 'Running');
  worker.stop();
});

test('a dead sandbox stops the containers, is replaced, and they restart in the new one', async () => {
  const { rt, api, worker, byName } = setup(twoContainers(), new FakeSandboxNetwork());
  await worker.trigger();
  const [old] = byName('POD');
  rt.exit(old!.id, 137);
  await worker.trigger();
  const sandboxes = byName('POD');
  assert.equal(sandboxes.length, 1);
  assert.notEqual(sandboxes[0]!.id, old!.id);
  assert.equal(sandboxes[0]!.labels[labelKeys.restartCount], '1');
  for (const name of ['a', 'b']) {
    const running = byName(name).filter((c) => c.status === 'running');
    assert.equal(running.length, 1);
    assert.equal(running[0]!.labels[labelKeys.sandbox], sandboxes[0]!.id);
    assert.equal(running[0]!.labels[labelKeys.restartCount], '1');
  }
  assert.ok(api.events.includes('SandboxChanged'));
  worker.stop();
});

test('deletion removes app containers before the sandbox and releases the pod files', async () => {
  const network = new FakeSandboxNetwork();
  const { rt, worker } = setup(twoContainers(), network);
  await worker.trigger();
  const order: string[] = [];
  const remove = rt.removeContainer.bind(rt);
  rt.removeContainer = async (id: string) => { order.push(rt.containers.get(id)!.labels[labelKeys.container]!); await remove(id); };
  await worker.remove();
  assert.equal(order.at(-1), 'POD');
  assert.equal(order.length, 3);
  assert.deepEqual(network.released, ['uid-p']);
});

test('a host-network pod runs in the node namespace with the node IP and no sandbox', async () => {
  const { api, worker, byName } = setup(twoContainers({ hostNetwork: true }), new FakeSandboxNetwork());
  await worker.trigger();
  assert.deepEqual(byName('POD'), []);
  assert.equal(byName('a')[0]?.config.networkMode, 'host');
  assert.equal(api.statuses.at(-1)?.podIP, '192.0.2.11');
  worker.stop();
});

test('without a pod network, containers keep Docker default bridge and their own IP', async () => {
  const { api, worker, byName } = setup(twoContainers());
  await worker.trigger();
  assert.deepEqual(byName('POD'), []);
  assert.equal(byName('a')[0]?.config.networkMode, undefined);
  assert.deepEqual(byName('a')[0]?.config.ports, [{ containerPort: 80, protocol: 'tcp', hostPort: 8080, hostIp: '192.0.2.11' }]);
  assert.equal(api.statuses.at(-1)?.podIP, '172.17.0.9');
  worker.stop();
});

test('pod files live under the data dir and go with the pod', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'labkube-d2t-net-'));
  try {
    const net = new PodNetwork({ nodeName: 'b1', runtime: new FakeNetworks(), dataDir: dir, podCIDR: '10.42.3.0/24', hostResolvConf: join(dir, 'missing'), ipForwardPath: false });
    const [mount] = await net.podMounts(twoContainers());
    assert.equal(mount, `${join(dir, 'pods', 'uid-p', 'resolv.conf')}:/etc/resolv.conf:ro`);
    assert.deepEqual(await net.podMounts(twoContainers({ dnsPolicy: 'Default' })), []);
    await net.podMounts({ ...twoContainers(), metadata: { name: 'q', namespace: 'default', uid: 'uid-q' } });
    await net.sweepPodFiles(new Set(['uid-q']));
    assert.deepEqual(readdirSync(join(dir, 'pods')), ['uid-q']);
    await net.releasePod('uid-q');
    assert.deepEqual(readdirSync(join(dir, 'pods')), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
