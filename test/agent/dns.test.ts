// Cluster DNS on loopback, asked by node's resolver (c-ares) and by raw dns-packet queries over
// TCP; the board's nameservers are a fake upstream on loopback, so nothing leaves the machine.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dnsPacket, { type Answer, type DecodedPacket } from 'dns-packet';
import { pino } from 'pino';
import type { Service } from '../../control-plane/api/core.ts';
import { ClusterDns } from '../../agent/dns/cluster-dns.ts';
import { nameserversFrom, parseUpstream } from '../../agent/dns/forwarder.ts';
import type { EndpointSliceLike } from '../../agent/proxy/endpoints.ts';

const logger = pino({ level: process.env.LABKUBE_TEST_LOG ?? 'silent' });

function service(name: string, clusterIP: string, ports: { name?: string; port: number; protocol?: 'TCP' | 'UDP' }[] = [{ port: 80 }], namespace = 'default'): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { type: 'ClusterIP', clusterIP, ports } };
}

function slice(svc: string, endpoints: { ip: string; ready?: boolean; hostname?: string }[], namespace = 'default'): EndpointSliceLike {
  return {
    metadata: { name: `${svc}-x`, namespace, labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    endpoints: endpoints.map((e) => ({ addresses: [e.ip], hostname: e.hostname, conditions: { ready: e.ready ?? true } })),
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  };
}

// ---- a fake upstream nameserver (the board's own) ----

const bigAnswer = Array.from({ length: 60 }, (_, i) => `192.0.2.${i + 1}`);

interface FakeUpstream { port: number; udpQueries: number; tcpQueries: number; close(): Promise<void> }

function upstreamReply(query: DecodedPacket, transport: 'udp' | 'tcp'): Buffer {
  const q = query.questions![0]!;
  const base = { type: 'response' as const, id: query.id, flags: dnsPacket.RECURSION_AVAILABLE | dnsPacket.RECURSION_DESIRED, questions: query.questions };
  if (q.name === 'example.test' && q.type === 'A') return dnsPacket.encode({ ...base, answers: [{ type: 'A', name: q.name, ttl: 60, data: '192.0.2.10' }] });
  if (q.name === 'big.example.test' && q.type === 'A') {
    // Over UDP the answer does not fit: the upstream sets TC, as a real server would.
    if (transport === 'udp') return dnsPacket.encode({ ...base, flags: base.flags | dnsPacket.TRUNCATED_RESPONSE });
    return dnsPacket.encode({ ...base, answers: bigAnswer.map((ip): Answer => ({ type: 'A', name: q.name, ttl: 60, data: ip })) });
  }
  return dnsPacket.encode({ ...base, flags: base.flags | 3 });
}

async function fakeUpstream(): Promise<FakeUpstream> {
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
  const port = udp.address().port;
  const up: FakeUpstream = { port, udpQueries: 0, tcpQueries: 0, close: async () => {} };
  udp.on('message', (msg, rinfo) => { up.udpQueries++; udp.send(upstreamReply(dnsPacket.decode(msg), 'udp'), rinfo.port, rinfo.address); });
  const tcp = net.createServer((s) => {
    let buf = Buffer.alloc(0);
    s.on('error', () => {});
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
      up.tcpQueries++;
      const reply = upstreamReply(dnsPacket.decode(buf.subarray(2, 2 + buf.readUInt16BE(0))), 'tcp');
      const len = Buffer.alloc(2);
      len.writeUInt16BE(reply.length);
      s.end(Buffer.concat([len, reply]));
    });
  });
  await new Promise<void>((r) => tcp.listen(port, '127.0.0.1', r));
  up.close = async () => { udp.close(); await new Promise((r) => tcp.close(r)); };
  return up;
}

/** A nameserver that never answers: a dead first upstream. */
async function silentUpstream(): Promise<{ port: number; close(): void }> {
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
  return { port: udp.address().port, close: () => udp.close() };
}

/** A TCP query by hand: length prefix, one message, one reply. */
function tcpQuery(port: number, name: string, type: 'A' | 'AAAA' | 'SRV'): Promise<DecodedPacket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    s.on('connect', () => s.write(dnsPacket.streamEncode({ type: 'query', id: 4242, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] })));
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) { s.destroy(); resolve(dnsPacket.decode(buf.subarray(2))); }
    });
    s.on('error', reject);
  });
}

const rcodeOf = (p: DecodedPacket) => (p as DecodedPacket & { rcode: string }).rcode;

/**
 * What a pod's resolver does with `options ndots:5` and the search path D2 writes: a name with
 * fewer than 5 dots is tried with each search suffix first, moving on only on NXDOMAIN.
 */
async function podLookup(resolver: Resolver, name: string, namespace: string): Promise<string[]> {
  const search = [`${namespace}.svc.cluster.local`, 'svc.cluster.local', 'cluster.local'];
  const candidates = name.split('.').length - 1 >= 5 ? [name] : [...search.map((s) => `${name}.${s}`), name];
  for (const candidate of candidates) {
    try {
      return await resolver.resolve4(candidate);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOTFOUND') throw err;
    }
  }
  throw new Error(`${name}: not found`);
}

describe('cluster DNS', () => {
  let upstream: FakeUpstream;
  let dns: ClusterDns;
  let resolver: Resolver;

  before(async () => {
    upstream = await fakeUpstream();
    dns = new ClusterDns({ host: '127.0.0.1', port: 0, upstreams: [`127.0.0.1:${upstream.port}`], logger });
    await dns.start();
    dns.update([
      service('web', '10.43.0.10', [{ name: 'http', port: 80 }]),
      service('db', '10.43.0.11', [{ port: 5432 }], 'data'),
      service('peers', 'None', [{ name: 'http', port: 80 }]),
      service('pending', '', [{ port: 80 }]),
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'ext', namespace: 'default' }, spec: { type: 'ExternalName', externalName: 'example.test' } },
    ], [
      slice('web', [{ ip: '10.42.1.5' }]),
      slice('peers', [{ ip: '10.42.1.7', hostname: 'peer-0' }, { ip: '10.42.2.7' }, { ip: '10.42.3.7', ready: false }]),
    ]);
    resolver = new Resolver({ timeout: 2_000, tries: 1 });
    resolver.setServers([`127.0.0.1:${dns.port}`]);
  });
  after(async () => { await dns.stop(); await upstream.close(); });

  test('every form of a Service name a pod uses resolves to its ClusterIP', async () => {
    for (const name of ['web', 'web.default', 'web.default.svc', 'web.default.svc.cluster.local']) {
      assert.deepEqual(await podLookup(resolver, name, 'default'), ['10.43.0.10'], name);
    }
    assert.deepEqual(await podLookup(resolver, 'db.data', 'default'), ['10.43.0.11']);
    assert.deepEqual(await podLookup(resolver, 'db', 'data'), ['10.43.0.11']);
    assert.deepEqual(await resolver.resolve4('web.default.svc'), ['10.43.0.10'], 'asked as it is, without the search path');
    assert.deepEqual(await resolver.resolve4('WEB.Default.SVC.cluster.local'), ['10.43.0.10'], 'names are case-insensitive');
    assert.equal(upstream.udpQueries + upstream.tcpQueries, 0, 'no cluster name leaks to the upstream');
  });

  test('a headless Service resolves to its ready endpoints, each also by its own name', async () => {
    assert.deepEqual((await resolver.resolve4('peers.default.svc.cluster.local')).sort(), ['10.42.1.7', '10.42.2.7']);
    assert.deepEqual(await resolver.resolve4('peer-0.peers.default.svc.cluster.local'), ['10.42.1.7']);
    assert.deepEqual(await resolver.resolve4('10-42-2-7.peers.default.svc.cluster.local'), ['10.42.2.7']);
    const srv = await resolver.resolveSrv('_http._tcp.peers.default.svc.cluster.local');
    assert.deepEqual(srv.map((r) => r.name).sort(), ['10-42-2-7.peers.default.svc.cluster.local', 'peer-0.peers.default.svc.cluster.local']);
  });

  test('named ports have SRV records, ClusterIPs PTR records, and pod names their address', async () => {
    assert.deepEqual(await resolver.resolveSrv('_http._tcp.web.default.svc.cluster.local'),
      [{ name: 'web.default.svc.cluster.local', port: 80, priority: 0, weight: 100 }]);
    assert.deepEqual(await resolver.reverse('10.43.0.10'), ['web.default.svc.cluster.local']);
    assert.deepEqual(await resolver.resolve4('10-42-1-9.default.pod.cluster.local'), ['10.42.1.9']);
  });

  test('unknown cluster names are NXDOMAIN, and AAAA of a known name is an empty answer', async () => {
    for (const name of ['nope.default.svc.cluster.local', 'pending.default.svc.cluster.local', 'web.other.svc.cluster.local', 'x.cluster.local']) {
      await assert.rejects(resolver.resolve4(name), { code: 'ENOTFOUND' }, name);
    }
    await assert.rejects(resolver.resolve6('web.default.svc.cluster.local'), { code: 'ENODATA' });
    const reply = await tcpQuery(dns.port, 'nope.default.svc.cluster.local', 'A');
    assert.equal(rcodeOf(reply), 'NXDOMAIN');
    assert.equal(reply.flag_aa, true);
    assert.equal(reply.authorities![0]!.type, 'SOA', 'the SOA bounds negative caching to the TTL');
    assert.equal(upstream.udpQueries + upstream.tcpQueries, 0);
  });

  test('other names are forwarded to the board\'s nameservers, over UDP and over TCP', async () => {
    assert.deepEqual(await resolver.resolve4('example.test'), ['192.0.2.10']);
    assert.equal(upstream.udpQueries, 1);
    const reply = await tcpQuery(dns.port, 'example.test', 'A');
    assert.equal(reply.id, 4242);
    assert.deepEqual(reply.answers!.map((a) => (a as { data: unknown }).data), ['192.0.2.10']);
    assert.equal(upstream.tcpQueries, 1);
    await assert.rejects(resolver.resolve4('missing.test'), { code: 'ENOTFOUND' });
  });

  test('an ExternalName Service is a CNAME to its target, with the target\'s addresses', async () => {
    const reply = await tcpQuery(dns.port, 'ext.default.svc.cluster.local', 'A');
    assert.deepEqual(reply.answers!.map((a) => [a.type, (a as { data: unknown }).data]), [['CNAME', 'example.test'], ['A', '192.0.2.10']]);
    assert.deepEqual(await podLookup(resolver, 'ext', 'default'), ['192.0.2.10']);
  });

  test('a truncated upstream answer makes the client retry over TCP, which gets the whole answer', async () => {
    const before = upstream.tcpQueries;
    assert.deepEqual(await resolver.resolve4('big.example.test'), bigAnswer);
    assert.equal(upstream.tcpQueries, before + 1);
  });

  test('a local answer too large for UDP is truncated, and complete over TCP', async () => {
    const many = Array.from({ length: 100 }, (_, i) => ({ ip: `10.42.${Math.floor(i / 200) + 5}.${i + 1}` }));
    const local = new ClusterDns({ host: '127.0.0.1', port: 0, upstreams: [], logger });
    await local.start();
    try {
      local.update([service('many', 'None')], [slice('many', many)]);
      const r = new Resolver({ timeout: 2_000, tries: 1 });
      r.setServers([`127.0.0.1:${local.port}`]);
      assert.equal((await r.resolve4('many.default.svc.cluster.local')).length, 100);
      assert.ok(local.counters.truncated >= 1);
    } finally {
      await local.stop();
    }
  });

  test('a dead first nameserver is skipped after the timeout; with none answering the client gets SERVFAIL', async () => {
    const silent = await silentUpstream();
    const local = new ClusterDns({ host: '127.0.0.1', port: 0, upstreams: [`127.0.0.1:${silent.port}`, `127.0.0.1:${upstream.port}`], upstreamTimeoutMs: 200, logger });
    const dead = new ClusterDns({ host: '127.0.0.1', port: 0, upstreams: [`127.0.0.1:${silent.port}`], upstreamTimeoutMs: 200, logger });
    await local.start();
    await dead.start();
    try {
      const r = new Resolver({ timeout: 3_000, tries: 1 });
      r.setServers([`127.0.0.1:${local.port}`]);
      assert.deepEqual(await r.resolve4('example.test'), ['192.0.2.10']);
      r.setServers([`127.0.0.1:${dead.port}`]);
      await assert.rejects(r.resolve4('example.test'), { code: 'ESERVFAIL' });
    } finally {
      await local.stop();
      await dead.stop();
      silent.close();
    }
  });

  test('names follow updates, and stay as last seen when no update comes', async () => {
    const local = new ClusterDns({ host: '127.0.0.1', port: 0, upstreams: [], logger });
    await local.start();
    try {
      const r = new Resolver({ timeout: 2_000, tries: 1 });
      r.setServers([`127.0.0.1:${local.port}`]);
      local.update([service('api', '10.43.0.50')], []);
      assert.deepEqual(await r.resolve4('api.default.svc.cluster.local'), ['10.43.0.50']);
      local.update([service('api', '10.43.0.51')], []);
      assert.deepEqual(await r.resolve4('api.default.svc.cluster.local'), ['10.43.0.51']);
      local.update([], []);
      await assert.rejects(r.resolve4('api.default.svc.cluster.local'), { code: 'ENOTFOUND' });
    } finally {
      await local.stop();
    }
  });

  test('malformed messages get FORMERR, other opcodes NOTIMP, and responses no answer', async () => {
    const garbage = Buffer.from('abcdefghijklmnopqrstuvwxyz');
    const formerr = dnsPacket.decode((await dns.answer(garbage, 'udp'))!);
    assert.equal(rcodeOf(formerr), 'FORMERR');
    assert.equal(formerr.id, garbage.readUInt16BE(0));
    const notify = dnsPacket.encode({ type: 'query', id: 7, questions: [{ type: 'SOA', name: 'cluster.local' }] });
    notify.writeUInt16BE(notify.readUInt16BE(2) | (4 << 11), 2);
    assert.equal(rcodeOf(dnsPacket.decode((await dns.answer(notify, 'udp'))!)), 'NOTIMP');
    assert.equal(await dns.answer(dnsPacket.encode({ type: 'response', id: 8, questions: [{ type: 'A', name: 'x' }] }), 'udp'), undefined);
    assert.equal(await dns.answer(Buffer.alloc(3), 'udp'), undefined);
  });

  test('upstreams come from resolv.conf, with ports and IPv6 forms parsed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'labkube-dns-'));
    const path = join(dir, 'resolv.conf');
    writeFileSync(path, '# generated\nsearch lan\nnameserver 192.168.1.1\n  nameserver fe80::1%eth0\noptions ndots:1\n');
    assert.deepEqual(nameserversFrom(path), ['192.168.1.1', 'fe80::1']);
    assert.deepEqual(nameserversFrom(join(dir, 'missing')), []);
    assert.deepEqual(['1.1.1.1', '127.0.0.1:5353', '::1', '[::1]:5353'].map(parseUpstream), [
      { host: '1.1.1.1', port: 53 }, { host: '127.0.0.1', port: 5353 }, { host: '::1', port: 53 }, { host: '::1', port: 5353 },
    ]);
  });
});
