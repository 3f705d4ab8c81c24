// The node proxy for one UDP Service port, as kube-proxy's userspace mode did it: each client
// (address:port) gets a session, a socket connected to one endpoint; the endpoint's replies go
// back to the client from the listener. A session ends after `idleMs` without traffic. A
// connected UDP socket learns of a closed port from the ICMP "port unreachable" (ECONNREFUSED):
// the endpoint is then skipped for a few seconds and the session dropped, so the client's next
// datagram (UDP clients retry) starts a session on another endpoint. The TCP side's dead marks
// (a board that stopped answering SYNs) are honoured too. A silent dead board cannot be told from
// a slow one in UDP alone: its sessions end at the idle timeout.
import dgram from 'node:dgram';
import type { Logger } from 'pino';
import type { EndpointHealth } from './endpoint-health.ts';
import type { Endpoint, EndpointPicker } from './endpoints.ts';

export interface UdpCounters { datagrams: number; sessions: number; active: number; noEndpoint: number; refused: number }

// No probe tells a UDP port is back, so a refused endpoint is skipped for a fixed time: a
// restarted pod is back within seconds, a dead one costs a client one lost datagram per period.
const refusedSkipMs = 5_000;

interface Session {
  upstream: dgram.Socket;
  endpoint: Endpoint;
  timer?: NodeJS.Timeout;
  /** Datagrams that arrived before the upstream socket's connect completed (connect is async). */
  queued: Buffer[] | null;
}

export interface UdpPortOptions {
  host: string;
  port: number;
  picker: EndpointPicker;
  health: EndpointHealth;
  /** Linux conntrack forgets an unanswered UDP flow after 30 s; a session lives as long. */
  idleMs?: number;
  logger?: Logger;
}

export class UdpServicePort {
  private readonly sessions = new Map<string, Session>();
  private readonly refusedUntil = new Map<string, number>();
  private socket?: dgram.Socket;
  readonly counters: UdpCounters = { datagrams: 0, sessions: 0, active: 0, noEndpoint: 0, refused: 0 };

  constructor(private readonly options: UdpPortOptions) {}

  get port(): number { return this.socket?.address().port ?? 0; }

  async start(): Promise<void> {
    const sock = dgram.createSocket(this.options.host.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(this.options.port, this.options.host, () => { sock.off('error', reject); resolve(); });
    });
    sock.on('error', (err) => this.options.logger?.warn({ err: err.message }, 'UDP service socket error'));
    sock.on('message', (msg, rinfo) => this.fromClient(msg, rinfo));
    this.socket = sock;
  }

  close(): void {
    for (const key of [...this.sessions.keys()]) this.end(key);
    this.socket?.close();
    this.socket = undefined;
  }

  private fromClient(msg: Buffer, client: dgram.RemoteInfo): void {
    this.counters.datagrams++;
    const key = `${client.address}:${client.port}`;
    let session = this.sessions.get(key);
    if (!session) {
      const now = Date.now();
      for (const [k, until] of this.refusedUntil) if (until <= now) this.refusedUntil.delete(k);
      const skip = (k: string) => this.options.health.isDead(k) || (this.refusedUntil.get(k) ?? 0) > now;
      const endpoint = this.options.picker.order(skip)[0];
      if (!endpoint) { this.counters.noEndpoint++; return; }
      session = this.open(key, client, endpoint);
    }
    this.touch(key, session);
    if (session.queued) session.queued.push(msg);
    else session.upstream.send(msg);
  }

  private open(key: string, client: dgram.RemoteInfo, endpoint: Endpoint): Session {
    const upstream = dgram.createSocket(endpoint.ip.includes(':') ? 'udp6' : 'udp4');
    upstream.connect(endpoint.port, endpoint.ip, () => {
      const s = this.sessions.get(key);
      if (!s || s.upstream !== upstream) return;
      for (const msg of s.queued ?? []) upstream.send(msg);
      s.queued = null;
    });
    upstream.on('message', (reply) => {
      const s = this.sessions.get(key);
      if (s) this.touch(key, s);
      this.socket?.send(reply, client.port, client.address);
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') {
        this.counters.refused++;
        this.refusedUntil.set(endpoint.key, Date.now() + refusedSkipMs);
      }
      this.options.logger?.debug({ endpoint: endpoint.key, err: err.message }, 'UDP session failed');
      this.end(key);
    });
    const session: Session = { upstream, endpoint, queued: [] };
    this.sessions.set(key, session);
    this.counters.sessions++;
    this.counters.active++;
    return session;
  }

  private touch(key: string, session: Session): void {
    clearTimeout(session.timer);
    session.timer = setTimeout(() => this.end(key), this.options.idleMs ?? 30_000);
    session.timer.unref();
  }

  private end(key: string): void {
    const s = this.sessions.get(key);
    if (!s) return;
    this.sessions.delete(key);
    this.counters.active--;
    clearTimeout(s.timer);
    try { s.upstream.close(); } catch { /* already closed after an error */ }
  }
}
