// Sends the queries cluster DNS does not answer itself to the board's own nameservers, over the
// protocol the client used (CoreDNS's forward plugin does the same): a UDP answer with the TC bit
// goes back as it is, and the client's resolver asks again over TCP, which is forwarded over
// TCP. Each UDP query gets its own socket, so its source port is random (no reply spoofing by
// guessing one port) and no query ids need rewriting. Upstreams are tried in order.
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';

export interface Upstream { host: string; port: number }

/** Parses `1.1.1.1`, `1.1.1.1:5353`, `::1`, `[::1]:5353`. */
export function parseUpstream(s: string): Upstream {
  const bracketed = /^\[(.+)\](?::(\d+))?$/.exec(s);
  if (bracketed) return { host: bracketed[1]!, port: Number(bracketed[2] ?? 53) };
  const hostPort = /^([^:]+):(\d+)$/.exec(s);
  if (hostPort) return { host: hostPort[1]!, port: Number(hostPort[2]) };
  return { host: s, port: 53 };
}

/** The nameservers of a resolv.conf (the board's own resolvers). */
export function nameserversFrom(resolvConfPath = '/etc/resolv.conf'): string[] {
  let text: string;
  try {
    text = readFileSync(resolvConfPath, 'utf8');
  } catch {
    return []; // no resolv.conf: nothing to forward to, and lookups outside the cluster fail (SERVFAIL)
  }
  return text.split('\n')
    .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
    .filter((s): s is string => !!s)
    .map((s) => s.replace(/%.*$/, '')); // a link-local address's zone cannot be used by Node
}

/** Asks one upstream over UDP; resolves with its reply (matching id), rejects on timeout. */
export function queryUdp(upstream: Upstream, query: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket(net.isIPv6(upstream.host) ? 'udp6' : 'udp4');
    const id = query.readUInt16BE(0);
    const timer = setTimeout(() => done(new Error(`no answer from ${upstream.host}:${upstream.port} in ${timeoutMs} ms`)), timeoutMs);
    const done = (err: Error | undefined, reply?: Buffer) => {
      clearTimeout(timer);
      sock.close();
      if (err) reject(err); else resolve(reply!);
    };
    sock.on('message', (msg, rinfo) => {
      // Only the upstream's reply to this query counts; anything else on the port is noise.
      if (msg.length < 12 || msg.readUInt16BE(0) !== id || rinfo.port !== upstream.port) return;
      done(undefined, msg);
    });
    sock.on('error', (err) => done(err));
    sock.send(query, upstream.port, upstream.host);
  });
}

/** Asks one upstream over TCP (2-byte length prefix, RFC 1035 4.2.2). */
export function queryTcp(upstream: Upstream, query: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: upstream.host, port: upstream.port });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => done(new Error(`no answer from ${upstream.host}:${upstream.port} over TCP in ${timeoutMs} ms`)), timeoutMs);
    const done = (err: Error | undefined, reply?: Buffer) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err); else resolve(reply!);
    };
    sock.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(query.length);
      sock.end(Buffer.concat([len, query]));
    });
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) done(undefined, buf.subarray(2, 2 + buf.readUInt16BE(0)));
    });
    sock.on('end', () => done(new Error(`${upstream.host}:${upstream.port} closed the connection without a full answer`)));
    sock.on('error', (err) => done(err));
  });
}

/** Tries each upstream in turn; rejects with the last error when none answered. */
export async function forward(upstreams: readonly Upstream[], query: Buffer, transport: 'udp' | 'tcp', timeoutMs: number): Promise<Buffer> {
  let last: Error = new Error('no upstream nameservers');
  for (const u of upstreams) {
    try {
      return await (transport === 'udp' ? queryUdp(u, query, timeoutMs) : queryTcp(u, query, timeoutMs));
    } catch (err) {
      last = err as Error;
    }
  }
  throw last;
}
