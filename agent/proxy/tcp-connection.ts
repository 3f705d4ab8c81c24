// One client connection through the node proxy, from accept to close. This is where a pulled
// plug stops being the client's problem:
//
//   accepted ──connect(ep1)──► connecting ──connected──► awaiting reply ──first byte──► streaming
//                 ▲   │ refused / no SYN-ACK in            │ reset, FIN or ep marked dead
//                 │   │ connectTimeoutMs: mark ep dead     │ before any reply byte: replay
//                 └───┴──────── next endpoint ◄────────────┘ the buffered request there
//
// Until the upstream's first byte, the client's bytes are kept (up to replayLimitBytes), so a
// board that dies with a request in flight costs the client a retry on another endpoint, not an
// error. A pulled plug sends no reset, so a waiting connection also moves when its endpoint is
// marked dead by any other connection, or by the stall check: after stallCheckMs without a
// reply (then at doubling intervals), one connect to the endpoint tells a slow backend (keep
// waiting) from a dead one. Every endpoint is tried at most once; only when all failed is the client reset. Once a
// reply byte reached the client the connection is committed: a later upstream failure resets
// the client, as a direct connection would.
//
// Replaying means a request may reach two backends if the first one processed it and died
// before answering: the same trade an HTTP proxy makes when it retries on "reset before
// response". Bytes flow both ways with backpressure, and half-close passes through.
import net from 'node:net';
import type { Logger } from 'pino';
import type { EndpointHealth } from './endpoint-health.ts';
import type { Endpoint } from './endpoints.ts';

export interface ProxyCounters {
  accepted: number;
  active: number;
  /** Connects that failed or timed out; each was retried on another endpoint when one was left. */
  connectFailures: number;
  /** Requests re-sent to another endpoint after their upstream died before replying. */
  replays: number;
  /** Clients reset because no endpoint could take them (or none exist). */
  failed: number;
  /** Clients reset because there was no endpoint at all. */
  noEndpoints: number;
}

export const newCounters = (): ProxyCounters => ({ accepted: 0, active: 0, connectFailures: 0, replays: 0, failed: 0, noEndpoints: 0 });

export interface ConnectionContext {
  /** The endpoints to try, best first, fresh for each attempt. */
  candidates(): Endpoint[];
  health: EndpointHealth;
  connectTimeoutMs: number;
  /** For the last endpoint left to try: nothing to fall back on, so waiting longer can only help. */
  lastConnectTimeoutMs: number;
  replayLimitBytes: number;
  /** How long a connection waits for its upstream's first byte before one connect checks the endpoint. */
  stallCheckMs: number;
  counters: ProxyCounters;
  /** Registers a connection waiting for its upstream's first byte, so a dead mark can move it. */
  awaiting(conn: ProxiedConnection, endpointKey: string | undefined): void;
  closed(conn: ProxiedConnection): void;
  logger?: Logger;
}

// Past this, a connection that waits on a reply is checked twice a minute.
const maxStallCheckMs = 30_000;
// How long a finished connection's last reply bytes may take to reach a client that reads
// slowly; a client that reads nothing for this long is gone.
const clientLingerMs = 30_000;

/**
 * Resets rather than closes, so the peer sees a failure at once (Node ≥ 18.3 has resetAndDestroy).
 * Not after end(): libuv refuses to reset a socket that is shutting down, and Node then never
 * closes its handle.
 */
function reset(sock: net.Socket): void {
  if (sock.destroyed) return;
  if (typeof sock.resetAndDestroy === 'function' && sock.readyState === 'open' && !sock.writableEnded) sock.resetAndDestroy();
  else sock.destroy();
}

export class ProxiedConnection {
  private upstream?: net.Socket;
  private endpoint?: Endpoint;
  private connectTimer?: NodeJS.Timeout;
  private stallTimer?: NodeJS.Timeout;
  private readonly tried = new Set<string>();
  /** The client's bytes since accept; null once a reply byte arrived or the limit was passed. */
  private replay: Buffer[] | null = [];
  private replayBytes = 0;
  private clientEnded = false;
  private done = false;

  constructor(private readonly client: net.Socket, private readonly ctx: ConnectionContext) {
    ctx.counters.accepted++;
    ctx.counters.active++;
    client.setNoDelay(true);
    client.on('data', (chunk: Buffer) => this.fromClient(chunk));
    client.on('end', () => { this.clientEnded = true; if (this.upstream?.readyState === 'open' || this.upstream?.readyState === 'writeOnly') this.upstream.end(); });
    client.on('error', (err) => this.close(err));
    client.on('close', () => this.close());
    this.next();
  }

  /** The endpoint this connection waits on was marked dead: move the request elsewhere. */
  endpointDied(): void {
    if (this.upstream && this.replay !== null) this.upstreamLost(this.upstream, 'endpoint marked dead', true);
  }

  get closed(): boolean { return this.done; }

  /** Ends the connection at once (the proxy is stopping or the Service went away). */
  destroy(): void { this.close(new Error('proxy listener closed')); }

  private fromClient(chunk: Buffer): void {
    if (this.replay !== null) {
      this.replay.push(chunk);
      this.replayBytes += chunk.length;
      if (this.replayBytes > this.ctx.replayLimitBytes) {
        if (this.connected) this.dropReplay();
        // While connecting, the buffer is all there is: stop reading until an upstream takes it.
        else this.client.pause();
      }
    }
    if (this.connected) this.write(this.client, this.upstream!, chunk);
  }

  private get connected(): boolean { return this.upstream !== undefined && this.connectTimer === undefined; }

  private dropReplay(): void {
    this.replay = null;
    this.replayBytes = 0;
    this.waitOn(undefined);
  }

  /**
   * Registers (or clears) the endpoint this connection waits on for a first reply byte. A power
   * cut leaves such a connection silent, not reset: the dead mark another connection's failed
   * connect sets moves it, and so does the stall check when no other connection comes along.
   */
  private waitOn(ep: Endpoint | undefined): void {
    clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    this.ctx.awaiting(this, ep?.key);
    if (!ep) return;
    // Checks at 1, 3, 7... times stallCheckMs: a long poll that legitimately waits costs a
    // handful of connects, not two a second.
    const check = (delayMs: number) => {
      this.stallTimer = setTimeout(() => {
        this.ctx.health.check(ep.ip, ep.port, this.ctx.connectTimeoutMs);
        check(Math.min(delayMs * 2, maxStallCheckMs));
      }, delayMs);
    };
    check(this.ctx.stallCheckMs);
  }

  /** Writes with backpressure: a full destination pauses the source until it drains. */
  private write(from: net.Socket, to: net.Socket, chunk: Buffer): void {
    if (!to.write(chunk) && !from.isPaused()) {
      from.pause();
      to.once('drain', () => { if (!this.done) from.resume(); });
    }
  }

  private next(): void {
    if (this.done) return;
    const untried = this.ctx.candidates().filter((e) => !this.tried.has(e.key));
    const ep = untried[0];
    if (!ep) {
      if (this.tried.size === 0) this.ctx.counters.noEndpoints++;
      else this.ctx.counters.failed++;
      this.ctx.logger?.warn({ client: this.client.remoteAddress, tried: [...this.tried] }, this.tried.size ? 'no endpoint took the connection' : 'service has no endpoints');
      this.close(undefined, true);
      return;
    }
    this.tried.add(ep.key);
    this.endpoint = ep;
    const sock = net.connect({ host: ep.ip, port: ep.port, allowHalfOpen: true });
    this.upstream = sock;
    // Under load every endpoint can be slower than the short timeout: the last one gets the long one.
    const timeoutMs = untried.length > 1 ? this.ctx.connectTimeoutMs : Math.max(this.ctx.connectTimeoutMs, this.ctx.lastConnectTimeoutMs);
    this.connectTimer = setTimeout(() => this.connectFailed(sock, ep, `no answer in ${timeoutMs} ms`), timeoutMs);
    sock.once('connect', () => this.attach(sock));
    sock.on('error', (err) => {
      if (sock !== this.upstream) return;
      if (this.connectTimer) this.connectFailed(sock, ep, err.message);
      else if (this.replay !== null) this.upstreamLost(sock, err.message, true);
      else this.close(err, true);
    });
  }

  private connectFailed(sock: net.Socket, ep: Endpoint, reason: string): void {
    if (sock !== this.upstream) return;
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    this.upstream = undefined;
    sock.destroy();
    this.ctx.counters.connectFailures++;
    this.ctx.health.markDead(ep.ip, ep.port, `connect: ${reason}`);
    this.ctx.logger?.debug({ endpoint: ep.key, reason }, 'connect failed; trying the next endpoint');
    this.next();
  }

  private attach(sock: net.Socket): void {
    if (sock !== this.upstream || this.done) { sock.destroy(); return; }
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    sock.setNoDelay(true);
    // A board that vanishes under an established connection is noticed by the kernel this way.
    sock.setKeepAlive(true, 10_000);
    sock.on('data', (chunk: Buffer) => {
      if (sock !== this.upstream) return;
      if (this.replay !== null) this.dropReplay();
      this.write(sock, this.client, chunk);
    });
    sock.on('end', () => {
      if (sock !== this.upstream) return;
      if (this.replay !== null) this.upstreamLost(sock, 'closed before replying', false);
      else this.client.end();
    });
    sock.on('close', () => {
      if (sock === this.upstream && this.replay === null && this.clientEnded) this.close();
    });
    if (this.replay !== null) {
      this.waitOn(this.endpoint);
      for (const chunk of this.replay) sock.write(chunk);
      if (this.replayBytes > this.ctx.replayLimitBytes) this.dropReplay();
    }
    if (this.clientEnded) { sock.end(); return; }
    // The client may be paused by a full buffer or by the upstream it had before a replay.
    if (!this.client.isPaused()) return;
    if (sock.writableNeedDrain) sock.once('drain', () => { if (!this.done) this.client.resume(); });
    else this.client.resume();
  }

  /** The upstream failed before replying: replay the request on the next endpoint. */
  private upstreamLost(sock: net.Socket, reason: string, markDead: boolean): void {
    if (sock !== this.upstream) return;
    this.upstream = undefined;
    sock.destroy();
    const ep = this.endpoint!;
    this.waitOn(undefined);
    if (markDead) this.ctx.health.markDead(ep.ip, ep.port, `upstream: ${reason}`);
    this.ctx.counters.replays++;
    this.ctx.logger?.debug({ endpoint: ep.key, reason, bytes: this.replayBytes }, 'upstream lost before replying; replaying');
    this.next();
  }

  private close(err?: Error, resetClient = false): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.connectTimer);
    this.ctx.counters.active--;
    this.waitOn(undefined);
    this.ctx.closed(this);
    if (err) this.ctx.logger?.debug({ err: err.message, endpoint: this.endpoint?.key }, 'proxied connection failed');
    if (this.upstream) { if (err) reset(this.upstream); else this.upstream.destroy(); }
    if (err || resetClient) reset(this.client);
    else if (this.client.writableLength > 0) {
      // A slow client still has reply bytes queued here: destroying would cut them off. End it
      // instead, so they go out first and the socket closes itself; a client that never reads
      // is dropped after a while.
      this.client.end();
      setTimeout(() => this.client.destroy(), clientLingerMs).unref();
    } else this.client.destroy();
  }
}
