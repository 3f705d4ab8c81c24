// The node proxy on loopback: real TCP backends on 127.0.0.x, dead ones simulated as a closed
// port, a server that resets without replying, and a backend process frozen with SIGSTOP (its
// kernel still holds the listening socket but nothing answers: a pulled plug, as seen from here).
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Service } from '../../control-plane/api/core.ts';
import { EndpointPicker, planServicePorts, type EndpointSliceLike } from '../../agent/proxy/endpoints.ts';
import { ServiceProxy, type ProxyIptables } from '../../agent/proxy/service-proxy.ts';

const logger = pino({ level: process.env.LABKUBE_TEST_LOG ?? 'silent' });

// ---- fixtures ----

interface PortSpec { name?: string; port: number; nodePort?: number; protocol?: 'TCP' | 'UDP' }

function service(name: string, spec: { type?: Service['spec']['type']; clusterIP?: string; ports: PortSpec[]; namespace?: string }): Service {
  return {
    apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: spec.namespace ?? 'default' },
    spec: { type: spec.type ?? 'ClusterIP', clusterIP: spec.clusterIP ?? '10.43.0.10', ports: spec.ports },
  };
}

interface EndpointSpec { ip: string; ready?: boolean; serving?: boolean; terminating?: boolean; nodeName?: string }

function slice(svc: string, name: string, endpoints: EndpointSpec[], ports: { name?: string; port: number; protocol?: string }[], namespace = 'default'): EndpointSliceLike {
  return {
    metadata: { name, namespace, labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip], nodeName: e.nodeName,
      conditions: { ready: e.ready, serving: e.serving, terminating: e.terminating },
    })),
    ports: ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' })),
  };
}

/** One slice for a Service whose backends each listen on their own port (loopback has no pod IPs). */
function slicesFor(svc: string, backends: { host: string; port: number }[]): EndpointSliceLike[] {
  return backends.map((b, i) => slice(svc, `${svc}-${i}`, [{ ip: b.host, ready: true }], [{ port: b.port }]));
}

async function until<T>(check: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Backend { name: string; host: string; port: number; served: number; close(): Promise<void>; kill(): void }

/** An HTTP backend answering its own name; `kill` drops the listener and resets every connection, as a killed pod. */
async function httpBackend(name: string, host: string, port = 0): Promise<Backend> {
  const sockets = new Set<net.Socket>();
  const b: Backend = { name, host, port: 0, served: 0, close: async () => {}, kill: () => {} };
  const server = http.createServer((req, res) => {
    b.served++;
    req.resume();
    req.on('end', () => res.end(name));
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((r) => server.listen(port, host, r));
  b.port = (server.address() as net.AddressInfo).port;
  b.close = () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); });
  b.kill = () => { server.close(); for (const s of sockets) s.resetAndDestroy(); };
  return b;
}

interface FrozenBackend { host: string; port: number; child: ChildProcess; freeze(): void; stop(): void }

/**
 * An HTTP backend in its own process, with a listen backlog of 1. SIGSTOP freezes it: connections
 * it holds get no reply, and once its accept queue is full the kernel drops new SYNs, so connects
 * time out, as to a board whose plug was pulled. `/hang` is never answered.
 */
async function processBackend(name: string, host: string): Promise<FrozenBackend> {
  const script = `
    const http = require('node:http');
    const s = http.createServer((req, res) => { if (req.url !== '/hang') res.end(${JSON.stringify(name)}); });
    s.listen({ host: ${JSON.stringify(host)}, port: 0, backlog: 1 }, () => console.log(s.address().port));`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('exit', (code) => reject(new Error(`backend exited with ${code}`)));
  });
  return { host, port, child, freeze: () => child.kill('SIGSTOP'), stop: () => { child.kill('SIGKILL'); } };
}

/** Opens connections to a frozen backend until its accept queue is full (a connect gets no answer). */
async function fillBacklog(host: string, port: number): Promise<net.Socket[]> {
  const held: net.Socket[] = [];
  for (let i = 0; i < 10; i++) {
    const s = net.connect({ host, port });
    s.on('error', () => {});
    held.push(s);
    const connected = await new Promise<boolean>((r) => {
      const t = setTimeout(() => r(false), 300);
      s.once('connect', () => { clearTimeout(t); r(true); });
    });
    if (!connected) return held;
  }
  throw new Error('the backlog never filled');
}

interface Result { ok: boolean; body?: string; error?: string; ms: number }

/** One HTTP GET on a new connection, failing after `timeoutMs` as the client does. */
function get(port: number, path = '/', timeoutMs = 2_000, host = '127.0.0.1'): Promise<Result> {
  const start = performance.now();
  return new Promise((resolve) => {
    const req = http.get({ host, port, path, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ ok: res.statusCode === 200, body, ms: performance.now() - start }));
      res.on('error', (err) => resolve({ ok: false, error: err.message, ms: performance.now() - start }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ ok: false, error: err.message, ms: performance.now() - start }));
  });
}

/** The client: a request on a new connection every `intervalMs`, whatever the previous ones do. */
async function steadyClient(port: number, count: number, intervalMs: number, at: Record<number, () => void> = {}): Promise<Result[]> {
  const pending: Promise<Result>[] = [];
  for (let i = 0; i < count; i++) {
    at[i]?.();
    pending.push(get(port));
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return Promise.all(pending);
}

const failures = (results: Result[]) => results.filter((r) => !r.ok).map((r) => r.error ?? r.body);

function newProxy(extra: ConstructorParameters<typeof ServiceProxy>[0] = {}): ServiceProxy {
  return new ServiceProxy({ logger, clusterIPHost: '127.0.0.1', nodePortHost: '127.0.0.1', ...extra });
}

function listenPort(proxy: ServiceProxy, svc: string): number {
  const l = proxy.listeners().find((x) => x.service === `default/${svc}`);
  assert.ok(l, `no listener for ${svc}`);
  return l.listenPort;
}

// ---- endpoint choice ----

describe('endpoint choice', () => {
  test('only ready endpoints serve, an unset ready counts as ready, and duplicates across slices appear once', () => {
    const svc = service('web', { ports: [{ port: 80 }] });
    const plans = planServicePorts([svc], [
      slice('web', 'web-a', [{ ip: '10.42.1.2', ready: true }, { ip: '10.42.1.3', ready: false }, { ip: '10.42.2.2' }], [{ port: 8080 }]),
      slice('web', 'web-b', [{ ip: '10.42.1.2', ready: true }], [{ port: 8080 }]),
      slice('web', 'other-ns', [{ ip: '10.42.9.9', ready: true }], [{ port: 8080 }], 'kube-system'),
    ]);
    assert.equal(plans.length, 1);
    assert.deepEqual(plans[0]!.endpoints.map((e) => e.key), ['10.42.1.2:8080', '10.42.2.2:8080']);
  });

  test('with no ready endpoint, the serving ones that terminate take the traffic, as kube-proxy does', () => {
    const plans = planServicePorts([service('web', { ports: [{ port: 80 }] })], [
      slice('web', 'web-a', [
        { ip: '10.42.1.2', ready: false, serving: true, terminating: true },
        { ip: '10.42.1.3', ready: false, serving: false, terminating: true },
        { ip: '10.42.1.4', ready: false },
      ], [{ port: 8080 }]),
    ]);
    assert.deepEqual(plans[0]!.endpoints.map((e) => e.key), ['10.42.1.2:8080']);
  });

  test('named ports resolve per slice, by name and protocol, so pods may use different target ports', () => {
    const svc = service('web', { type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30080 }, { name: 'dns', port: 53, protocol: 'UDP' }] });
    const plans = planServicePorts([svc], [
      slice('web', 'web-a', [{ ip: '10.42.1.2' }], [{ name: 'http', port: 8080 }, { name: 'dns', port: 5353, protocol: 'UDP' }]),
      slice('web', 'web-b', [{ ip: '10.42.2.2' }], [{ name: 'http', port: 9090 }]),
    ]);
    const http = plans.find((p) => p.portName === 'http')!;
    assert.equal(http.nodePort, 30080);
    assert.equal(http.key, 'default/web:http/TCP');
    assert.deepEqual(http.endpoints.map((e) => e.key), ['10.42.1.2:8080', '10.42.2.2:9090']);
    const dns = plans.find((p) => p.portName === 'dns')!;
    assert.equal(dns.protocol, 'UDP');
    assert.deepEqual(dns.endpoints.map((e) => e.key), ['10.42.1.2:5353']);
  });

  test('a ClusterIP Service has no NodePort, a headless one no ClusterIP, and an ExternalName one is not served', () => {
    const plans = planServicePorts([
      service('a', { ports: [{ port: 80, nodePort: 30001 }] }),
      service('b', { clusterIP: 'None', ports: [{ port: 80 }] }),
      service('c', { type: 'ExternalName', ports: [{ port: 80 }] }),
    ], []);
    assert.deepEqual(plans.map((p) => [p.name, p.clusterIP, p.nodePort]), [['a', '10.43.0.10', undefined], ['b', undefined, undefined]]);
  });

  test('the picker rotates over the endpoints and tries the ones marked dead last', () => {
    const eps = ['a', 'b', 'c'].map((ip) => ({ ip, port: 1, key: ip }));
    const picker = new EndpointPicker(eps);
    const alive = () => false;
    assert.deepEqual([0, 1, 2, 3].map(() => picker.order(alive)[0]!.key), ['a', 'b', 'c', 'a']);
    const bDead = (k: string) => k === 'b';
    assert.deepEqual(picker.order(bDead).map((e) => e.key), ['c', 'a', 'b']);
    assert.deepEqual(picker.order(bDead).map((e) => e.key), ['c', 'a', 'b']);
    picker.set([eps[0]!]);
    assert.deepEqual(picker.order(alive).map((e) => e.key), ['a']);
    picker.set([]);
    assert.deepEqual(picker.order(alive), []);
  });
});

// ---- nat rules ----

describe('nat rules', () => {
  function fakeIptables() {
    const calls: string[] = [];
    const rules = new Map<string, string[][]>();
    const ipt: ProxyIptables = {
      ensureChain: async (table, chain) => { calls.push(`ensureChain ${table} ${chain}`); },
      ensureJump: async (table, from, to, position) => { calls.push(`ensureJump ${table} ${from} ${to} ${position}`); },
      replaceRules: async (table, chain, r) => { calls.push(`replaceRules ${table} ${chain} ${r.length}`); rules.set(chain, r); },
      deleteChain: async (table, chain) => { calls.push(`deleteChain ${table} ${chain}`); rules.delete(chain); },
    };
    return { ipt, calls, rules };
  }

  test('each ClusterIP port is redirected to its listener from PREROUTING and OUTPUT, and stop removes the chain', async () => {
    const { ipt, calls, rules } = fakeIptables();
    const chain = `LKTEST-${process.pid}`;
    const proxy = newProxy({ iptables: ipt, chain });
    try {
      await proxy.update([
        service('web', { clusterIP: '10.43.0.20', ports: [{ name: 'http', port: 80 }] }),
        service('headless', { clusterIP: 'None', ports: [{ port: 80 }] }),
        service('syslog', { clusterIP: '10.43.0.21', ports: [{ port: 514, protocol: 'UDP' }] }),
      ], []);
      const port = listenPort(proxy, 'web');
      const udpPort = proxy.listeners().find((l) => l.protocol === 'UDP')!.listenPort;
      assert.deepEqual(rules.get(chain), [[
        '-m', 'comment', '--comment', 'default/syslog:/UDP', '-d', '10.43.0.21/32', '-p', 'udp', '-m', 'udp', '--dport', '514',
        '-j', 'REDIRECT', '--to-ports', String(udpPort),
      ], [
        '-m', 'comment', '--comment', 'default/web:http/TCP', '-d', '10.43.0.20/32', '-p', 'tcp', '-m', 'tcp', '--dport', '80',
        '-j', 'REDIRECT', '--to-ports', String(port),
      ]]);
      assert.ok(calls.includes(`ensureJump nat PREROUTING ${chain} first`) && calls.includes(`ensureJump nat OUTPUT ${chain} first`));
      const before = calls.length;
      await proxy.update([
        service('web', { clusterIP: '10.43.0.20', ports: [{ name: 'http', port: 80 }] }),
        service('syslog', { clusterIP: '10.43.0.21', ports: [{ port: 514, protocol: 'UDP' }] }),
      ], []);
      assert.equal(calls.length, before, 'an unchanged rule set is not written again');
    } finally {
      await proxy.stop();
    }
    assert.equal(calls.at(-1), `deleteChain nat ${chain}`);
  });
});

describe('nat rules in a private network namespace', () => {
  // A child in its own network namespace (unshare --net) has its own lo and its own iptables
  // tables: the rules are real, and neither the host's chains nor any packet outside the
  // namespace is touched (10.43.0.0/16 is routed to that namespace's lo).
  test('a connection to the ClusterIP is redirected through the proxy to a backend, and stop removes the rules', async () => {
    const repo = join(import.meta.dirname, '..', '..');
    const script = `
      import http from 'node:http';
      import { execFileSync } from 'node:child_process';
      import { Iptables } from ${JSON.stringify(join(repo, 'agent/network/iptables.ts'))};
      import { ServiceProxy } from ${JSON.stringify(join(repo, 'agent/proxy/service-proxy.ts'))};
      execFileSync('ip', ['link', 'set', 'lo', 'up']);
      execFileSync('ip', ['route', 'add', '10.43.0.0/16', 'dev', 'lo', 'src', '127.0.0.1']);
      const backend = http.createServer((req, res) => res.end('via the ClusterIP'));
      await new Promise((r) => backend.listen(0, '127.0.0.2', r));
      const proxy = new ServiceProxy({ iptables: new Iptables(), chain: 'LKTEST-SERVICES' });
      await proxy.update(
        [{ metadata: { name: 'web', namespace: 'default' }, spec: { type: 'ClusterIP', clusterIP: '10.43.0.10', ports: [{ port: 80 }] } }],
        [{ metadata: { name: 'web-x', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
           endpoints: [{ addresses: ['127.0.0.2'] }], ports: [{ name: '', port: backend.address().port }] }]);
      const body = await new Promise((resolve, reject) => {
        const req = http.get({ host: '10.43.0.10', port: 80, agent: false, timeout: 5000 }, (res) => {
          let b = ''; res.on('data', (d) => { b += d; }); res.on('end', () => resolve(b));
        });
        req.on('timeout', () => req.destroy(new Error('no answer through the ClusterIP')));
        req.on('error', reject);
      });
      const rules = execFileSync('iptables', ['-t', 'nat', '-S']).toString();
      await proxy.stop();
      const after = execFileSync('iptables', ['-t', 'nat', '-S']).toString();
      backend.close();
      console.log(JSON.stringify({ body, rules, after, listenPort: proxy.listeners().length }));`;
    const loader = join(repo, 'node_modules/tsx/dist/loader.mjs');
    const out = await new Promise<string>((resolve, reject) => {
      execFile('unshare', ['--net', '--', process.execPath, '--import', loader, '--input-type=module', '-e', script], { timeout: 30_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
    });
    const { body, rules, after } = JSON.parse(out.trim().split('\n').at(-1)!) as { body: string; rules: string; after: string };
    assert.equal(body, 'via the ClusterIP');
    assert.match(rules, /-A PREROUTING -m comment --comment "labkube service portals" -j LKTEST-SERVICES/);
    assert.match(rules, /-A OUTPUT -m comment --comment "labkube service portals" -j LKTEST-SERVICES/);
    assert.match(rules, /-A LKTEST-SERVICES -d 10\.43\.0\.10\/32 -p tcp -m comment --comment "default\/web:\/TCP" -m tcp --dport 80 -j REDIRECT --to-ports \d+/);
    assert.doesNotMatch(after, /LKTEST/);
  });
});

// ---- proxying ----

describe('service proxy', () => {
  const cleanups: (() => unknown)[] = [];
  after(async () => { for (const c of cleanups.reverse()) await c(); });

  test('balances a ClusterIP listener and a NodePort listener over the ready backends', async () => {
    const a = await httpBackend('a', '127.0.0.2');
    const b = await httpBackend('b', '127.0.0.3');
    const proxy = newProxy();
    cleanups.push(() => proxy.stop(), () => a.close(), () => b.close());
    const nodePort = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
    });
    await proxy.update([
      service('web', { ports: [{ port: 80 }] }),
      service('np', { type: 'NodePort', ports: [{ port: 80, nodePort }] }),
    ], [...slicesFor('web', [a, b]), ...slicesFor('np', [a, b])]);
    const np = proxy.listeners().find((l) => l.service === 'default/np')!;
    assert.equal(np.listenPort, nodePort);
    for (const port of [listenPort(proxy, 'web'), nodePort]) {
      const bodies = await Promise.all([1, 2, 3, 4].map(async () => (await get(port)).body));
      // Sequential round robin would alternate; concurrent requests still must reach both.
      assert.deepEqual(new Set(bodies), new Set(['a', 'b']));
    }
  });

  test('a Service without endpoints resets connections at once, and serves once endpoints appear', async () => {
    const a = await httpBackend('a', '127.0.0.2');
    const proxy = newProxy();
    cleanups.push(() => proxy.stop(), () => a.close());
    await proxy.update([service('empty', { ports: [{ port: 80 }] })], []);
    const port = listenPort(proxy, 'empty');
    const r = await get(port);
    assert.equal(r.ok, false);
    assert.match(r.error ?? '', /ECONNRESET|socket hang up/);
    assert.ok(r.ms < 1_000, `reset took ${r.ms} ms`);
    await proxy.update([service('empty', { ports: [{ port: 80 }] })], slicesFor('empty', [a]));
    assert.equal(listenPort(proxy, 'empty'), port, 'the listener is kept across endpoint changes');
    assert.equal((await get(port)).body, 'a');
    await proxy.update([], []);
    assert.equal(proxy.listeners().length, 0);
    assert.equal((await get(port)).ok, false, 'a deleted Service closes its listener');
  });

  test('a refused endpoint is retried on the next one, skipped at once, and used again when it answers', async () => {
    const a = await httpBackend('a', '127.0.0.2');
    const gone = await httpBackend('gone', '127.0.0.3');
    const gonePort = gone.port;
    await gone.close();
    const proxy = newProxy({ probeIntervalMs: 50 });
    cleanups.push(() => proxy.stop(), () => a.close());
    await proxy.update([service('web', { ports: [{ port: 80 }] })], slicesFor('web', [gone, a]));
    const port = listenPort(proxy, 'web');
    const results = [];
    for (let i = 0; i < 10; i++) results.push(await get(port));
    assert.deepEqual(failures(results), []);
    const counters = proxy.listeners()[0]!.counters;
    assert.equal(counters.connectFailures, 1, 'after the first failure the dead endpoint is skipped');
    assert.deepEqual(proxy.deadEndpoints, [`127.0.0.3:${gonePort}`]);
    const back = await httpBackend('back', '127.0.0.3', gonePort);
    cleanups.push(() => back.close());
    await until(() => proxy.deadEndpoints.length === 0, 'the probe to bring the endpoint back');
    const bodies = new Set<string>();
    for (let i = 0; i < 4; i++) bodies.add((await get(port)).body!);
    assert.deepEqual(bodies, new Set(['a', 'back']));
  });

  test('a request whose backend resets before replying is replayed on another backend', async () => {
    const a = await httpBackend('a', '127.0.0.2');
    const rude = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
    await new Promise<void>((r) => rude.listen(0, '127.0.0.3', r));
    const rudePort = (rude.address() as net.AddressInfo).port;
    const proxy = newProxy();
    cleanups.push(() => proxy.stop(), () => a.close(), () => new Promise((r) => rude.close(r)));
    await proxy.update([service('web', { ports: [{ port: 80 }] })], slicesFor('web', [{ host: '127.0.0.3', port: rudePort }, a]));
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map(() => get(listenPort(proxy, 'web'))));
    assert.deepEqual(failures(results), []);
    assert.ok(results.every((r) => r.body === 'a'));
    assert.ok(proxy.listeners()[0]!.counters.replays >= 1);
  });

  test('zero failed requests while one of two backends is killed mid-run', async () => {
    const a = await httpBackend('a', '127.0.0.2');
    const b = await httpBackend('b', '127.0.0.3');
    const proxy = newProxy();
    cleanups.push(() => proxy.stop(), () => a.close());
    await proxy.update([service('web', { ports: [{ port: 80 }] })], slicesFor('web', [a, b]));
    const results = await steadyClient(listenPort(proxy, 'web'), 150, 5, { 50: () => b.kill() });
    assert.deepEqual(failures(results), []);
    assert.ok(b.served > 10 && a.served > 75, `a served ${a.served}, b ${b.served}`);
  });

  test('zero failed requests while one of two backends freezes as a pulled plug does', async (t) => {
    const a = await httpBackend('a', '127.0.0.2');
    const b = await processBackend('b', '127.0.0.3');
    const proxy = newProxy();
    cleanups.push(() => proxy.stop(), () => a.close(), () => b.stop());
    await proxy.update([service('web', { ports: [{ port: 80 }] })], slicesFor('web', [a, b]));
    const results = await steadyClient(listenPort(proxy, 'web'), 100, 20, { 40: () => b.freeze() });
    assert.deepEqual(failures(results), []);
    const bodies = results.map((r) => r.body);
    assert.ok(bodies.slice(0, 40).includes('b') && bodies.slice(45).every((x) => x === 'a'), bodies.join(''));
    assert.ok(proxy.deadEndpoints.includes(`127.0.0.3:${b.port}`));
    const worst = Math.max(...results.map((r) => r.ms));
    t.diagnostic(`slowest request ${worst.toFixed(0)} ms; ${proxy.listeners()[0]!.counters.replays} replayed, ${proxy.listeners()[0]!.counters.connectFailures} connects failed`);
    assert.ok(worst < 2_000, `slowest request took ${worst} ms`);
  });

  test('a request in flight on a backend that freezes is replayed once a connect to it fails', async () => {
    const a = await httpBackend('a', '127.0.0.2');
    const b = await processBackend('b', '127.0.0.3');
    const proxy = newProxy();
    const held: net.Socket[] = [];
    cleanups.push(() => proxy.stop(), () => a.close(), () => b.stop(), () => held.forEach((s) => s.destroy()));
    // b first in the list: the first connection goes to b, which holds /hang without answering.
    await proxy.update([service('web', { ports: [{ port: 80 }] })], slicesFor('web', [b, a]));
    const inFlight = get(listenPort(proxy, 'web'), '/hang');
    await until(() => proxy.listeners()[0]!.counters.active === 1 && proxy.listeners()[0]!.counters.accepted === 1, 'the request to reach b');
    b.freeze();
    held.push(...await fillBacklog(b.host, b.port));
    const r = await inFlight;
    assert.equal(r.body, 'a');
    assert.ok(r.ms < 2_000, `the replayed request took ${r.ms} ms`);
    assert.equal(proxy.listeners()[0]!.counters.replays, 1);
  });

  test('bytes pass both ways with backpressure and half-close: 8 MiB up, 16 MiB down', async () => {
    const down = Buffer.alloc(16 * 1024 * 1024, 7);
    const backend = net.createServer({ allowHalfOpen: true }, (s) => {
      const hash = createHash('sha256');
      let n = 0;
      s.on('data', (d: Buffer) => { hash.update(d); n += d.length; });
      s.on('end', () => { s.write(`${n} ${hash.digest('hex')}\n`); s.end(down); });
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.2', r));
    const proxy = newProxy();
    cleanups.push(() => proxy.stop(), () => new Promise((r) => backend.close(r)));
    await proxy.update([service('bulk', { ports: [{ port: 9 }] })], slicesFor('bulk', [{ host: '127.0.0.2', port: (backend.address() as net.AddressInfo).port }]));
    const up = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < up.length; i++) up[i] = i % 251;
    const received = await new Promise<Buffer>((resolve, reject) => {
      const c = net.connect({ host: '127.0.0.1', port: listenPort(proxy, 'bulk'), allowHalfOpen: true });
      const chunks: Buffer[] = [];
      c.on('data', (d: Buffer) => {
        chunks.push(d);
        // A slow reader: the proxy must hold the backend back, not buffer 16 MiB.
        c.pause();
        setTimeout(() => c.resume(), 1);
      });
      c.on('end', () => resolve(Buffer.concat(chunks)));
      c.on('error', reject);
      c.end(up);
    });
    const nl = received.indexOf('\n');
    assert.equal(received.subarray(0, nl).toString(), `${up.length} ${createHash('sha256').update(up).digest('hex')}`);
    assert.ok(received.subarray(nl + 1).equals(down));
    await until(() => proxy.listeners()[0]!.counters.active === 0, 'the connection to close');
  });

  test('stop closes listeners and open connections', async () => {
    const silent = net.createServer((s) => s.on('error', () => {}));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.2', r));
    const proxy = newProxy();
    cleanups.push(() => new Promise((r) => silent.close(r)));
    await proxy.update([service('web', { ports: [{ port: 80 }] })], slicesFor('web', [{ host: '127.0.0.2', port: (silent.address() as net.AddressInfo).port }]));
    const port = listenPort(proxy, 'web');
    const c = net.connect({ host: '127.0.0.1', port });
    c.on('error', () => {});
    const closed = new Promise((r) => c.once('close', r));
    await until(() => proxy.listeners()[0]!.counters.active === 1, 'the connection');
    await proxy.stop();
    await closed;
    const refused = await new Promise<string>((r) => net.connect({ host: '127.0.0.1', port }).on('error', (e: NodeJS.ErrnoException) => r(e.code!)).on('connect', () => r('connected')));
    assert.equal(refused, 'ECONNREFUSED');
    assert.deepEqual(proxy.listeners(), []);
  });

  test('UDP datagrams reach a backend and its replies come back; a refused port moves the client to another', async () => {
    const echo = dgram.createSocket('udp4');
    await new Promise<void>((r) => echo.bind(0, '127.0.0.2', r));
    echo.on('message', (msg, rinfo) => echo.send(Buffer.concat([Buffer.from('echo:'), msg]), rinfo.port, rinfo.address));
    // A port with nothing bound answers with ICMP port unreachable, as a dead pod on a live board.
    const closed = dgram.createSocket('udp4');
    await new Promise<void>((r) => closed.bind(0, '127.0.0.3', r));
    const closedPort = closed.address().port;
    closed.close();
    const proxy = newProxy();
    const client = dgram.createSocket('udp4');
    cleanups.push(() => proxy.stop(), () => echo.close(), () => client.close());
    const udpService = service('dns', { ports: [{ port: 53, protocol: 'UDP' }] });
    await proxy.update([udpService], [slice('dns', 'dns-a', [{ ip: '127.0.0.3' }], [{ port: closedPort, protocol: 'UDP' }]),
      slice('dns', 'dns-b', [{ ip: '127.0.0.2' }], [{ port: echo.address().port, protocol: 'UDP' }])]);
    const l = proxy.listeners().find((x) => x.protocol === 'UDP')!;
    const replies: string[] = [];
    client.on('message', (m) => replies.push(m.toString()));
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
    // A UDP client retries on silence, as a resolver does; the first try may hit the closed port.
    for (let i = 0; i < 10 && replies.length === 0; i++) {
      client.send(`q${i}`, l.listenPort, '127.0.0.1');
      await until(() => replies.length > 0, 'a reply', 200).catch(() => undefined);
    }
    assert.match(replies[0] ?? '', /^echo:q\d$/);
    // The first session went to the closed port (first in the list), was refused, and the retry moved.
    const counters = proxy.listeners().find((x) => x.protocol === 'UDP')!.udpCounters!;
    assert.equal(counters.refused, 1);
    assert.equal(counters.sessions, 2);
  });

  test('the added latency of the proxy over a direct connection is small', async (t) => {
    const a = await httpBackend('a', '127.0.0.2');
    const proxy = newProxy();
    cleanups.push(() => proxy.stop(), () => a.close());
    await proxy.update([service('web', { ports: [{ port: 80 }] })], slicesFor('web', [a]));
    const port = listenPort(proxy, 'web');
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    const direct: number[] = [];
    const proxied: number[] = [];
    // Interleaved pairs, so a burst of load from other tests on this machine hits both alike;
    // the overhead is the median of the pairs' differences.
    for (let i = 0; i < 300; i++) {
      const d = await get(a.port, '/', 2_000, a.host);
      const p = await get(port);
      assert.ok(d.ok && p.ok);
      direct.push(d.ms);
      proxied.push(p.ms);
    }
    const overhead = median(proxied.map((p, i) => p - direct[i]!));
    t.diagnostic(`HTTP GET on a new connection, median of 300: direct ${median(direct).toFixed(3)} ms, proxied ${median(proxied).toFixed(3)} ms, overhead ${overhead.toFixed(3)} ms`);
    // Client, proxy and backend share one event loop here, on a shared machine: the bound is
    // generous; on an idle machine the overhead is a fraction of a millisecond.
    assert.ok(overhead < 5, `proxy overhead ${overhead} ms`);
  });
});
