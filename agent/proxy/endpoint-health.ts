// The proxy's own view of which endpoints are dead, ahead of the control plane's. A failed
// connect marks an endpoint dead at once, so new connections skip it in the very next
// millisecond, long before the node lifecycle controller declares its board NotReady (about
// 40 s) and the EndpointSlice drops it. A background TCP probe brings it back when it answers
// again; after a bounded number of failed probes the mark is forgotten instead (the next
// connection that picks it and fails marks it again), so a stale mark never outlives its cause
// and no timer runs forever for an endpoint that is gone for good.
import net from 'node:net';
import type { Logger } from 'pino';

export interface EndpointHealthOptions {
  /** A dead endpoint is probed this often: a replugged board is back in use within a second. */
  probeIntervalMs?: number;
  /** A probe is off any client's path, so it can wait out a slow SYN-ACK from a busy board. */
  probeTimeoutMs?: number;
  /** 120 probes at 1 s: two minutes, longer than the control plane takes to drop a dead endpoint. */
  maxProbeAttempts?: number;
  logger?: Logger;
}

interface DeadEntry { ip: string; port: number; since: number; attempts: number; timer?: NodeJS.Timeout; probe?: net.Socket }

export class EndpointHealth {
  private readonly dead = new Map<string, DeadEntry>();
  private readonly checking = new Set<string>();
  private readonly deadListeners: ((key: string) => void)[] = [];
  private readonly probeIntervalMs: number;
  private readonly probeTimeoutMs: number;
  private readonly maxProbeAttempts: number;
  private stopped = false;

  constructor(private readonly options: EndpointHealthOptions = {}) {
    this.probeIntervalMs = options.probeIntervalMs ?? 1_000;
    this.probeTimeoutMs = options.probeTimeoutMs ?? 1_000;
    this.maxProbeAttempts = options.maxProbeAttempts ?? 120;
  }

  /** Called when an endpoint turns dead, so connections still waiting on it can move. */
  onDead(listener: (key: string) => void): void { this.deadListeners.push(listener); }

  isDead = (key: string): boolean => this.dead.has(key);

  get deadKeys(): string[] { return [...this.dead.keys()]; }

  markDead(ip: string, port: number, reason: string): void {
    const key = `${ip}:${port}`;
    if (this.stopped || this.dead.has(key)) return;
    const entry: DeadEntry = { ip, port, since: Date.now(), attempts: 0 };
    this.dead.set(key, entry);
    this.options.logger?.info({ endpoint: key, reason }, 'endpoint marked dead');
    this.schedule(key, entry);
    for (const l of this.deadListeners) l(key);
  }

  /**
   * One connect to an endpoint a connection has waited on too long: if it fails within
   * `timeoutMs`, the endpoint is marked dead (and its waiting connections move). A connect that
   * succeeds clears it: the backend is slow, not gone. Concurrent checks of one endpoint share one.
   */
  check(ip: string, port: number, timeoutMs: number): void {
    const key = `${ip}:${port}`;
    if (this.stopped || this.dead.has(key) || this.checking.has(key)) return;
    this.checking.add(key);
    connectOnce(ip, port, timeoutMs, (err) => {
      this.checking.delete(key);
      if (err) this.markDead(ip, port, `stalled, and ${err}`);
    });
  }

  /** Forgets endpoints no Service lists any more: the control plane caught up. */
  retain(keys: ReadonlySet<string>): void {
    for (const key of [...this.dead.keys()]) if (!keys.has(key)) this.forget(key);
  }

  stop(): void {
    this.stopped = true;
    for (const key of [...this.dead.keys()]) this.forget(key);
  }

  private forget(key: string): void {
    const entry = this.dead.get(key);
    if (!entry) return;
    clearTimeout(entry.timer);
    entry.probe?.destroy();
    this.dead.delete(key);
  }

  private schedule(key: string, entry: DeadEntry): void {
    entry.timer = setTimeout(() => this.probe(key, entry), this.probeIntervalMs);
    entry.timer.unref();
  }

  private probe(key: string, entry: DeadEntry): void {
    if (this.dead.get(key) !== entry) return;
    entry.attempts++;
    entry.probe = connectOnce(entry.ip, entry.port, this.probeTimeoutMs, (err) => {
      entry.probe = undefined;
      if (this.dead.get(key) !== entry) return;
      if (!err) {
        this.dead.delete(key);
        this.options.logger?.info({ endpoint: key, deadForMs: Date.now() - entry.since }, 'endpoint answers again');
      } else if (entry.attempts >= this.maxProbeAttempts) {
        this.dead.delete(key);
        this.options.logger?.info({ endpoint: key, attempts: entry.attempts }, 'endpoint still dead; forgetting the mark until a connection fails again');
      } else {
        this.schedule(key, entry);
      }
    });
  }
}

/** Opens and closes one TCP connection; calls back with undefined, or why it failed. */
function connectOnce(host: string, port: number, timeoutMs: number, done: (err: string | undefined) => void): net.Socket {
  const sock = net.connect({ host, port });
  let finished = false;
  const finish = (err: string | undefined) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    sock.destroy();
    done(err);
  };
  const timer = setTimeout(() => finish(`no answer in ${timeoutMs} ms`), timeoutMs);
  timer.unref();
  sock.once('connect', () => finish(undefined));
  sock.once('error', (e) => finish(e.message));
  return sock;
}
