// Cluster DNS, served by every agent from the Services and EndpointSlices it last saw, so name
// lookups keep working on a board cut off from the control plane. Pods get it as their
// nameserver (the pod bridge's gateway, port 53) with Kubernetes' search path
// `<ns>.svc.<domain> svc.<domain> <domain>` and `ndots:5`, so their resolver turns `web` into
// `web.<ns>.svc.cluster.local` before anything leaves the board.
//
// Answers: names under the cluster domain (records.ts) authoritatively, NXDOMAIN for the rest of
// it (an ExternalName is a CNAME, its target's records resolved and added); `<svc>.<ns>.svc` as
// its full name; PTR for ClusterIPs; every other name is forwarded to
// the board's own nameservers (forwarder.ts). Over UDP an answer larger than the client's
// buffer (512 bytes, or its EDNS size) goes back truncated with the TC bit, and the client asks
// again over TCP. Packets are read and written by dns-packet, never by hand.
import dgram from 'node:dgram';
import net from 'node:net';
import { randomInt } from 'node:crypto';
import dnsPacket, { type Answer, type DecodedPacket, type Packet, type Question } from 'dns-packet';
import type { Logger } from 'pino';
import type { Service } from '../../control-plane/api/core.ts';
import type { EndpointSliceLike } from '../proxy/endpoints.ts';
import { forward, nameserversFrom, parseUpstream, type Upstream } from './forwarder.ts';
import { buildRecords, podAddress, type DnsRecords } from './records.ts';

export interface ClusterDnsOptions {
  /** The pod bridge's gateway on a board; 127.0.0.1 in tests. */
  host: string;
  /** 53 on a board; 0 picks a free port (the same one for UDP and TCP). */
  port: number;
  domain?: string;
  /** `ip` or `ip:port`; default: the nameservers of `resolvConfPath`, re-read as it changes. */
  upstreams?: string[];
  resolvConfPath?: string;
  /** Kubernetes' DNS answers with 5 s: a changed ClusterIP is seen within seconds. */
  ttlSeconds?: number;
  /**
   * A pod's resolver waits 5 s per try (glibc's default timeout), so each upstream gets 2 s: a
   * dead first nameserver still leaves time for the second one inside one try of the client.
   */
  upstreamTimeoutMs?: number;
  logger?: Logger;
}

export interface DnsCounters { queries: number; local: number; nxdomain: number; forwarded: number; forwardFailed: number; truncated: number }

const rcode = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4 } as const;
// A DHCP lease that changes the board's resolvers is rare; re-reading resolv.conf at most every
// 30 s follows it without a file read per query.
const resolvConfRefreshMs = 30_000;
// RFC 7766 suggests a server closes an idle TCP connection after a few seconds to tens of seconds.
const tcpIdleMs = 10_000;
// What a client without EDNS can take over UDP (RFC 1035), and the size we offer with EDNS
// (the DNS flag day 2020 value, which avoids IP fragmentation).
const classicUdpSize = 512;
const ednsUdpSize = 1232;

export class ClusterDns {
  private readonly domain: string;
  private readonly ttl: number;
  private readonly upstreamTimeoutMs: number;
  private records: DnsRecords = { names: new Map(), ptr: new Map() };
  private serial = 1;
  private udp?: dgram.Socket;
  private tcp?: net.Server;
  private readonly tcpClients = new Set<net.Socket>();
  private boundPort = 0;
  private upstreamCache?: { at: number; list: Upstream[] };
  readonly counters: DnsCounters = { queries: 0, local: 0, nxdomain: 0, forwarded: 0, forwardFailed: 0, truncated: 0 };

  constructor(private readonly options: ClusterDnsOptions) {
    this.domain = (options.domain ?? 'cluster.local').toLowerCase().replace(/\.$/, '');
    this.ttl = options.ttlSeconds ?? 5;
    this.upstreamTimeoutMs = options.upstreamTimeoutMs ?? 2_000;
  }

  /** The port both listeners are bound to. */
  get port(): number { return this.boundPort; }

  /** Serves from these Services and slices until the next update: the last state seen is kept. */
  update(services: readonly Service[], endpointSlices: readonly EndpointSliceLike[]): void {
    this.records = buildRecords(services, endpointSlices, this.domain);
    this.serial++;
    this.options.logger?.debug({ names: this.records.names.size }, 'cluster DNS records updated');
  }

  async start(): Promise<void> {
    // With port 0 the UDP socket picks the port, and TCP must get the same one; another program
    // may hold it for TCP, so a few fresh picks are tried.
    for (let attempt = 0; ; attempt++) {
      const udp = await this.bindUdp(this.options.port);
      const port = udp.address().port;
      try {
        this.tcp = await this.listenTcp(port);
        this.udp = udp;
        this.boundPort = port;
        this.options.logger?.info({ host: this.options.host, port }, 'cluster DNS listening on UDP and TCP');
        return;
      } catch (err) {
        udp.close();
        if (this.options.port !== 0 || attempt >= 4 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      }
    }
  }

  async stop(): Promise<void> {
    for (const s of this.tcpClients) s.destroy();
    await Promise.all([
      this.udp && new Promise<void>((r) => this.udp!.close(() => r())),
      this.tcp && new Promise<void>((r) => this.tcp!.close(() => r())),
    ]);
    this.udp = undefined;
    this.tcp = undefined;
  }

  /** Answers one DNS message; undefined when it deserves no answer at all. Exposed for tests. */
  async answer(msg: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    if (msg.length < 12) return undefined;
    this.counters.queries++;
    let query: DecodedPacket;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return this.errorReply(msg, rcode.FORMERR);
    }
    if (query.type === 'response') return undefined;
    const opcode = (msg.readUInt16BE(2) >> 11) & 0xf;
    if (opcode !== 0) return this.errorReply(msg, rcode.NOTIMP, query);
    const question = query.questions?.[0];
    if (!question) return this.errorReply(msg, rcode.FORMERR);

    const name = question.name.toLowerCase().replace(/\.$/, '');
    let local: string | undefined;
    if (name === this.domain || name.endsWith(`.${this.domain}`)) local = name;
    // `web.default.svc`, asked as it is: the short form of a Service's name.
    else if (/^[^.]+\.[^.]+\.svc$/.test(name)) local = `${name}.${this.domain}`;
    if (local !== undefined || this.records.ptr.has(name)) {
      this.counters.local++;
      return this.encode(await this.localAnswer(query, question.name, local ?? name), query, transport);
    }
    return this.forward(msg, transport, query);
  }

  private async localAnswer(query: DecodedPacket, asked: string, name: string): Promise<Packet> {
    // A string: dns-packet's type list lacks ANY, which clients still ask for.
    const type: string = query.questions![0]!.type;
    const any = type === 'ANY';
    const answers: Answer[] = [];
    const additionals: Answer[] = [];
    const ttl = this.ttl;
    const ptr = this.records.ptr.get(name);
    const records = this.records.names.get(name);
    const pod = podAddress(name, this.domain);
    const exists = !!records || !!ptr || !!pod || name === this.domain;
    if (ptr && (type === 'PTR' || any)) answers.push({ type: 'PTR', name: asked, ttl, data: ptr });
    if (pod && (type === 'A' || any)) answers.push({ type: 'A', name: asked, ttl, data: pod });
    if (records && (type === 'A' || any)) {
      for (const ip of records.a) answers.push({ type: 'A', name: asked, ttl, data: ip });
    }
    if (records && (type === 'SRV' || any)) {
      for (const srv of records.srv) {
        answers.push({ type: 'SRV', name: asked, ttl, data: srv });
        for (const ip of this.records.names.get(srv.target)?.a ?? []) additionals.push({ type: 'A', name: srv.target, ttl, data: ip });
      }
    }
    if (name === this.domain && type === 'SOA') answers.push(this.soa());
    if (records?.cname) {
      answers.push({ type: 'CNAME', name: asked, ttl, data: records.cname });
      // Stub resolvers do not chase a CNAME themselves: the target's records come along.
      if (type !== 'CNAME') answers.push(...await this.chase(records.cname, query.questions![0]!.type));
    }
    if (!exists) this.counters.nxdomain++;
    return {
      type: 'response', id: query.id,
      flags: this.flags(query, exists ? rcode.NOERROR : rcode.NXDOMAIN) | dnsPacket.AUTHORITATIVE_ANSWER,
      questions: query.questions,
      answers,
      // The SOA tells resolvers how long to remember "no such name" or "no such record": the TTL.
      authorities: answers.length === 0 ? [this.soa()] : [],
      additionals,
    };
  }

  /** The records of an ExternalName's target: asked upstream (UDP, then TCP if truncated). */
  private async chase(target: string, type: Question['type']): Promise<Answer[]> {
    const local = this.records.names.get(target);
    if (local) return local.a.map((ip): Answer => ({ type: 'A', name: target, ttl: this.ttl, data: ip }));
    const query = dnsPacket.encode({ type: 'query', id: randomInt(65536), flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name: target }] });
    try {
      let reply = dnsPacket.decode(await forward(this.upstreams(), query, 'udp', this.upstreamTimeoutMs));
      if (reply.flag_tc) reply = dnsPacket.decode(await forward(this.upstreams(), query, 'tcp', this.upstreamTimeoutMs));
      return reply.answers ?? [];
    } catch (err) {
      this.options.logger?.debug({ target, err: (err as Error).message }, 'could not resolve an ExternalName target');
      return [];
    }
  }

  private soa(): Answer {
    return {
      type: 'SOA', name: this.domain, ttl: this.ttl,
      data: {
        mname: `ns.dns.${this.domain}`, rname: `hostmaster.${this.domain}`, serial: this.serial,
        // CoreDNS's values for its cluster zone; `minimum` is the negative-caching TTL.
        refresh: 7200, retry: 1800, expire: 86400, minimum: this.ttl,
      },
    };
  }

  private flags(query: DecodedPacket, code: number): number {
    return (query.flag_rd ? dnsPacket.RECURSION_DESIRED : 0) | dnsPacket.RECURSION_AVAILABLE | code;
  }

  /** Encodes an answer, with EDNS if the query had it, truncated (TC) if UDP cannot carry it. */
  private encode(reply: Packet, query: DecodedPacket, transport: 'udp' | 'tcp'): Buffer {
    const opt = query.additionals?.find((a) => a.type === 'OPT');
    if (opt) reply.additionals = [...reply.additionals ?? [], { type: 'OPT', name: '.', udpPayloadSize: ednsUdpSize, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }];
    const buf = dnsPacket.encode(reply);
    const limit = opt && 'udpPayloadSize' in opt ? Math.max(classicUdpSize, Math.min(opt.udpPayloadSize, ednsUdpSize)) : classicUdpSize;
    if (transport === 'tcp' || buf.length <= limit) return buf;
    this.counters.truncated++;
    return dnsPacket.encode({ ...reply, flags: (reply.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE, answers: [], authorities: [], additionals: opt ? reply.additionals!.slice(-1) : [] });
  }

  /** An error reply: the query's id and flags, and its question when it parses (resolvers check it). */
  private errorReply(msg: Buffer, code: number, query?: DecodedPacket): Buffer {
    const flags = (msg.readUInt16BE(2) & (0x7800 | dnsPacket.RECURSION_DESIRED)) | dnsPacket.RECURSION_AVAILABLE | code;
    if (query) return dnsPacket.encode({ type: 'response', id: query.id, flags, questions: query.questions });
    const reply = Buffer.alloc(12);
    msg.copy(reply, 0, 0, 2);
    reply.writeUInt16BE(0x8000 | flags, 2);
    return reply;
  }

  private async forward(msg: Buffer, transport: 'udp' | 'tcp', query: DecodedPacket): Promise<Buffer> {
    const upstreams = this.upstreams();
    try {
      const reply = await forward(upstreams, msg, transport, this.upstreamTimeoutMs);
      this.counters.forwarded++;
      return reply;
    } catch (err) {
      this.counters.forwardFailed++;
      this.options.logger?.debug({ name: query.questions?.[0]?.name, err: (err as Error).message, upstreams: upstreams.map((u) => `${u.host}:${u.port}`) }, 'forwarding failed');
      return this.errorReply(msg, rcode.SERVFAIL, query);
    }
  }

  private upstreams(): Upstream[] {
    if (this.options.upstreams) return this.withoutSelf(this.options.upstreams.map(parseUpstream));
    const now = Date.now();
    if (!this.upstreamCache || now - this.upstreamCache.at > resolvConfRefreshMs) {
      this.upstreamCache = { at: now, list: this.withoutSelf(nameserversFrom(this.options.resolvConfPath).map(parseUpstream)) };
    }
    return this.upstreamCache.list;
  }

  /** Never forwards to ourselves: a loop that would end only in timeouts. */
  private withoutSelf(list: Upstream[]): Upstream[] {
    const wildcard = this.options.host === '0.0.0.0' || this.options.host === '::';
    return list.filter((u) => !(u.port === this.boundPort && (u.host === this.options.host || wildcard)));
  }

  private bindUdp(port: number): Promise<dgram.Socket> {
    return new Promise((resolve, reject) => {
      const sock = dgram.createSocket(net.isIPv6(this.options.host) ? 'udp6' : 'udp4');
      sock.once('error', reject);
      sock.bind(port, this.options.host, () => {
        sock.off('error', reject);
        sock.on('error', (err) => this.options.logger?.warn({ err: err.message }, 'cluster DNS UDP socket error'));
        sock.on('message', (msg, rinfo) => {
          this.answer(msg, 'udp').then((reply) => {
            if (reply) sock.send(reply, rinfo.port, rinfo.address);
          }, (err) => this.options.logger?.warn({ err: (err as Error).message }, 'DNS query failed'));
        });
        resolve(sock);
      });
    });
  }

  private listenTcp(port: number): Promise<net.Server> {
    const server = net.createServer((sock) => this.serveTcp(sock));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.options.host, port }, () => {
        server.off('error', reject);
        server.on('error', (err) => this.options.logger?.warn({ err: err.message }, 'cluster DNS TCP listener error'));
        resolve(server);
      });
    });
  }

  /** Length-prefixed messages (RFC 1035 4.2.2), several per connection, answered as they complete. */
  private serveTcp(sock: net.Socket): void {
    this.tcpClients.add(sock);
    sock.setTimeout(tcpIdleMs, () => sock.destroy());
    sock.on('close', () => this.tcpClients.delete(sock));
    sock.on('error', () => { /* the client went away; nothing to answer */ });
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        this.answer(msg, 'tcp').then((reply) => {
          if (!reply || sock.destroyed) return;
          const len = Buffer.alloc(2);
          len.writeUInt16BE(reply.length);
          sock.write(Buffer.concat([len, reply]));
        }, (err) => this.options.logger?.warn({ err: (err as Error).message }, 'DNS query failed'));
      }
    });
  }
}
