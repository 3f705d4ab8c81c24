// The node proxy: every agent serves every Service, so a client reaches any ready pod on any
// board through its own board. It is kube-proxy's original userspace mode, with what that mode
// lacked to survive a pulled plug (see tcp-connection.ts): a short connect timeout, a retry on
// the next endpoint, a local dead mark ahead of the control plane, and a replay of requests
// whose board died before answering.
//
// One listener per Service port:
//   - NodePort (and LoadBalancer) Services: the listener is bound to <nodePortHost>:<nodePort>
//     itself, so a NodePort needs no iptables at all.
//   - the ClusterIP: the listener takes an ephemeral port (or the NodePort's), and a nat rule
//     `-d <clusterIP>/32 -p tcp --dport <port> -j REDIRECT --to-ports <listener>` in our chain,
//     jumped to from PREROUTING (pods) and OUTPUT (the board itself), sends the traffic there.
//
// Why a proxy and not kube-proxy's DNAT rules: with DNAT the kernel picks the endpoint once per
// connection and cannot take a failed SYN back; a new connection to a dead board waits for the
// client's own timeout until the control plane drops the endpoint, about 40 s later. The proxy
// costs a copy through user space (measured in test/agent/proxy.test.ts) and buys zero failed
// requests.
//
// A Service with no endpoints: the connection is accepted, then reset (the client sees
// ECONNRESET at once). kube-proxy answers the SYN with an ICMP reject instead (ECONNREFUSED);
// a userspace listener cannot refuse one Service's SYNs while it accepts another's.
// UDP Service ports get a session proxy (udp-proxy.ts) with the same dead marks but no replay;
// SCTP ports are not proxied (logged once).
import net from 'node:net';
import type { Logger } from 'pino';
import type { Service } from '../../control-plane/api/core.ts';
import type { Iptables } from '../network/iptables.ts';
import { EndpointHealth } from './endpoint-health.ts';
import { EndpointPicker, planServicePorts, type EndpointSliceLike, type ServicePortPlan } from './endpoints.ts';
import { ProxiedConnection, newCounters, type ProxyCounters } from './tcp-connection.ts';
import { UdpServicePort, type UdpCounters } from './udp-proxy.ts';

export type ProxyIptables = Pick<Iptables, 'ensureChain' | 'ensureJump' | 'replaceRules' | 'deleteChain'>;

export interface ServiceProxyOptions {
  logger?: Logger;
  /** Where NodePort listeners bind: every address of the board, as kube-proxy's NodePorts. */
  nodePortHost?: string;
  /**
   * Where the ClusterIP listeners (ephemeral ports) bind. REDIRECT delivers to the incoming
   * interface's address (the pod bridge's gateway) or to 127.0.0.1, so with iptables this must
   * cover both: 0.0.0.0. Tests without iptables use 127.0.0.1.
   */
  clusterIPHost?: string;
  /** D2's iptables wrapper; absent: no nat rules are written (ClusterIPs then do not route). */
  iptables?: ProxyIptables;
  /** Our nat chain; tests pass their own name so they never touch the agent's. */
  chain?: string;
  /**
   * A LAN's round trip is under a millisecond and a lost SYN is only resent after 1 s, so a
   * connect that has not finished in 250 ms is a dead board (or a lost SYN, which another
   * endpoint answers faster); it still leaves room for a busy Pi's accept queue, and for
   * several tries inside a client's 2 s timeout.
   */
  connectTimeoutMs?: number;
  /**
   * The connect to the last endpoint left to try waits this long: there is nothing to fall back
   * on, and a board whose CPU is saturated (or a lost SYN, resent after 1 s) answers late rather
   * than never. 3 s outlasts a client's 2 s timeout, so the client, not the proxy, gives up first.
   */
  lastConnectTimeoutMs?: number;
  /**
   * A LAN reply comes in milliseconds; after half a second of silence one connect tells a slow
   * backend from a dead board, and a replay still fits in a client's 2 s timeout.
   */
  stallCheckMs?: number;
  /** 64 KiB holds any HTTP request head with room to spare, and bounds memory per connection. */
  replayLimitBytes?: number;
  probeIntervalMs?: number;
  probeTimeoutMs?: number;
  maxProbeAttempts?: number;
}

export const defaultChain = 'LABKUBE-SERVICES';
const defaultConnectTimeoutMs = 250;
const defaultLastConnectTimeoutMs = 3_000;
const defaultReplayLimitBytes = 64 * 1024;
const defaultStallCheckMs = 500;

interface UdpListener {
  plan: ServicePortPlan;
  requestedPort: number;
  host: string;
  port: number;
  picker: EndpointPicker;
  udp: UdpServicePort;
}

interface Listener {
  plan: ServicePortPlan;
  /** What was asked of listen(): the NodePort, or 0 for an ephemeral port. */
  requestedPort: number;
  host: string;
  server: net.Server;
  port: number;
  picker: EndpointPicker;
  connections: Set<ProxiedConnection>;
  counters: ProxyCounters;
}

/** What `listeners()` reports about one Service port, for tests and debugging. */
export interface ListenerInfo {
  service: string;
  portName: string;
  port: number;
  clusterIP?: string;
  nodePort?: number;
  /** The address the listener is bound to. */
  host: string;
  listenPort: number;
  endpoints: string[];
  protocol: 'TCP' | 'UDP';
  /** TCP ports; UDP ports have `udpCounters`. */
  counters: ProxyCounters;
  udpCounters?: UdpCounters;
}

interface State { services: readonly Service[]; slices: readonly EndpointSliceLike[] }

export class ServiceProxy {
  private readonly listenersByKey = new Map<string, Listener>();
  private readonly udpByKey = new Map<string, UdpListener>();
  private readonly health: EndpointHealth;
  private readonly waiting = new Map<string, Set<ProxiedConnection>>();
  private readonly waitingOn = new Map<ProxiedConnection, string>();
  private readonly unsupportedLogged = new Set<string>();
  private readonly chain: string;
  private appliedRules: string | undefined;
  /** Set at the first attempt to write the chain, so stop removes even a half-written one. */
  private wroteChain = false;
  private pending: State | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: ServiceProxyOptions = {}) {
    this.chain = options.chain ?? defaultChain;
    this.health = new EndpointHealth({
      probeIntervalMs: options.probeIntervalMs, probeTimeoutMs: options.probeTimeoutMs,
      maxProbeAttempts: options.maxProbeAttempts, logger: options.logger,
    });
    this.health.onDead((key) => {
      for (const conn of [...this.waiting.get(key) ?? []]) conn.endpointDied();
    });
  }

  /**
   * Serves exactly these Services with these EndpointSlices. Calls are coalesced: while one
   * sync runs, only the latest state is kept for the next, and every caller's promise resolves
   * once a state at least as new as its own is in place.
   */
  update(services: readonly Service[], endpointSlices: readonly EndpointSliceLike[]): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.pending = { services, slices: endpointSlices };
    this.running ??= this.drain();
    return this.running;
  }

  listeners(): ListenerInfo[] {
    const info = (l: Listener | UdpListener) => ({
      service: `${l.plan.namespace}/${l.plan.name}`, portName: l.plan.portName, port: l.plan.port,
      clusterIP: l.plan.clusterIP, nodePort: l.plan.nodePort, host: l.host, listenPort: l.port,
      endpoints: l.picker.endpoints.map((e) => e.key),
    });
    return [
      ...[...this.listenersByKey.values()].map((l) => ({ ...info(l), protocol: 'TCP' as const, counters: { ...l.counters } })),
      ...[...this.udpByKey.values()].map((l) => ({ ...info(l), protocol: 'UDP' as const, counters: newCounters(), udpCounters: { ...l.udp.counters } })),
    ];
  }

  /** Endpoints this proxy currently skips, ahead of the control plane. */
  get deadEndpoints(): string[] { return this.health.deadKeys; }

  /** Closes every listener and connection, and removes the nat chain if this proxy wrote it. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.pending = undefined;
    await this.running;
    this.health.stop();
    await Promise.all([...this.listenersByKey.values()].map((l) => this.close(l)));
    this.listenersByKey.clear();
    for (const l of this.udpByKey.values()) l.udp.close();
    this.udpByKey.clear();
    if (this.options.iptables && this.wroteChain) {
      try {
        await this.options.iptables.deleteChain('nat', this.chain);
      } catch (err) {
        this.options.logger?.warn({ err: (err as Error).message, chain: this.chain }, 'could not remove the service chain');
      }
      this.appliedRules = undefined;
    }
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending && !this.stopped) {
        const state = this.pending;
        this.pending = undefined;
        await this.sync(state);
      }
    } finally {
      this.running = undefined;
    }
  }

  private async sync({ services, slices }: State): Promise<void> {
    const log = this.options.logger;
    const plans = new Map<string, ServicePortPlan>();
    const udpPlans = new Map<string, ServicePortPlan>();
    for (const plan of planServicePorts(services, slices)) {
      if (plan.protocol === 'SCTP') {
        if (!this.unsupportedLogged.has(plan.key)) log?.warn({ service: plan.key }, 'SCTP service ports are not proxied');
        this.unsupportedLogged.add(plan.key);
        continue;
      }
      if (plan.clusterIP || plan.nodePort) (plan.protocol === 'TCP' ? plans : udpPlans).set(plan.key, plan);
    }

    for (const [key, l] of this.listenersByKey) {
      const plan = plans.get(key);
      if (!plan || (plan.nodePort ?? 0) !== l.requestedPort) {
        this.listenersByKey.delete(key);
        await this.close(l);
      }
    }
    for (const [key, l] of this.udpByKey) {
      const plan = udpPlans.get(key);
      if (!plan || (plan.nodePort ?? 0) !== l.requestedPort) {
        this.udpByKey.delete(key);
        l.udp.close();
      }
    }
    for (const plan of plans.values()) {
      const existing = this.listenersByKey.get(plan.key);
      if (existing) {
        existing.plan = plan;
        existing.picker.set(plan.endpoints);
        continue;
      }
      try {
        this.listenersByKey.set(plan.key, await this.open(plan));
      } catch (err) {
        // Left out of the map, so the next update tries again (a NodePort another program holds).
        log?.error({ service: plan.key, nodePort: plan.nodePort, err: (err as Error).message }, 'could not listen for service');
      }
    }
    for (const plan of udpPlans.values()) {
      const existing = this.udpByKey.get(plan.key);
      if (existing) {
        existing.plan = plan;
        existing.picker.set(plan.endpoints);
        continue;
      }
      try {
        this.udpByKey.set(plan.key, await this.openUdp(plan));
      } catch (err) {
        log?.error({ service: plan.key, nodePort: plan.nodePort, err: (err as Error).message }, 'could not listen for service');
      }
    }
    const all = [...plans.values(), ...udpPlans.values()];
    this.health.retain(new Set(all.flatMap((p) => p.endpoints.map((e) => e.key))));
    await this.syncRules();
    log?.debug({ listeners: this.listenersByKey.size, dead: this.health.deadKeys }, 'service proxy synced');
  }

  private async open(plan: ServicePortPlan): Promise<Listener> {
    const requestedPort = plan.nodePort ?? 0;
    const host = plan.nodePort ? this.options.nodePortHost ?? '0.0.0.0' : this.options.clusterIPHost ?? '0.0.0.0';
    const counters = newCounters();
    const picker = new EndpointPicker(plan.endpoints);
    const connections = new Set<ProxiedConnection>();
    const logger = this.options.logger?.child({ service: plan.key });
    const server = net.createServer({ allowHalfOpen: true }, (client) => {
      const conn = new ProxiedConnection(client, {
        candidates: () => picker.order(this.health.isDead),
        health: this.health,
        connectTimeoutMs: this.options.connectTimeoutMs ?? defaultConnectTimeoutMs,
        lastConnectTimeoutMs: this.options.lastConnectTimeoutMs ?? defaultLastConnectTimeoutMs,
        replayLimitBytes: this.options.replayLimitBytes ?? defaultReplayLimitBytes,
        stallCheckMs: this.options.stallCheckMs ?? defaultStallCheckMs,
        counters,
        awaiting: (c, key) => this.setAwaiting(c, key),
        closed: (c) => connections.delete(c),
        logger,
      });
      if (!conn.closed) connections.add(conn);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port: requestedPort }, () => { server.off('error', reject); resolve(); });
    });
    server.on('error', (err) => logger?.error({ err: err.message }, 'service listener failed'));
    const port = (server.address() as net.AddressInfo).port;
    this.options.logger?.info({ service: plan.key, host, port, endpoints: plan.endpoints.length }, 'service listener open');
    return { plan, requestedPort, host, server, port, picker, connections, counters };
  }

  private async openUdp(plan: ServicePortPlan): Promise<UdpListener> {
    const requestedPort = plan.nodePort ?? 0;
    const host = plan.nodePort ? this.options.nodePortHost ?? '0.0.0.0' : this.options.clusterIPHost ?? '0.0.0.0';
    const picker = new EndpointPicker(plan.endpoints);
    const udp = new UdpServicePort({ host, port: requestedPort, picker, health: this.health, logger: this.options.logger?.child({ service: plan.key }) });
    await udp.start();
    this.options.logger?.info({ service: plan.key, host, port: udp.port, endpoints: plan.endpoints.length }, 'service listener open');
    return { plan, requestedPort, host, port: udp.port, picker, udp };
  }

  private async close(l: Listener): Promise<void> {
    for (const conn of [...l.connections]) conn.destroy();
    l.connections.clear();
    await new Promise<void>((resolve) => l.server.close(() => resolve()));
    this.options.logger?.info({ service: l.plan.key, port: l.port }, 'service listener closed');
  }

  private setAwaiting(conn: ProxiedConnection, key: string | undefined): void {
    const old = this.waitingOn.get(conn);
    if (old === key) return;
    if (old !== undefined) {
      const set = this.waiting.get(old)!;
      set.delete(conn);
      if (set.size === 0) this.waiting.delete(old);
      this.waitingOn.delete(conn);
    }
    if (key !== undefined) {
      this.waitingOn.set(conn, key);
      const set = this.waiting.get(key);
      if (set) set.add(conn); else this.waiting.set(key, new Set([conn]));
    }
  }

  private async syncRules(): Promise<void> {
    const ipt = this.options.iptables;
    if (!ipt) return;
    const rules = natRules([...this.listenersByKey.values(), ...this.udpByKey.values()].map((l) => ({ plan: l.plan, listenPort: l.port })));
    const text = JSON.stringify(rules);
    if (text === this.appliedRules) return;
    this.wroteChain = true;
    try {
      await ipt.ensureChain('nat', this.chain);
      await ipt.replaceRules('nat', this.chain, rules);
      // Jumps after the rules, so no packet enters a half-filled chain; first, ahead of
      // Docker's DOCKER chain, as kube-proxy puts KUBE-SERVICES.
      const match = ['-m', 'comment', '--comment', 'labkube service portals'];
      await ipt.ensureJump('nat', 'PREROUTING', this.chain, 'first', match);
      await ipt.ensureJump('nat', 'OUTPUT', this.chain, 'first', match);
      this.appliedRules = text;
    } catch (err) {
      this.options.logger?.error({ err: (err as Error).message, chain: this.chain }, 'could not write service rules; retrying on the next update');
    }
  }
}

/** The nat rules that send each ClusterIP:port to its listener (args after `-A CHAIN`). */
export function natRules(listeners: { plan: ServicePortPlan; listenPort: number }[]): string[][] {
  return listeners
    .filter((l) => l.plan.clusterIP)
    .sort((a, b) => a.plan.key.localeCompare(b.plan.key))
    .map(({ plan, listenPort }) => [
      '-m', 'comment', '--comment', plan.key,
      '-d', `${plan.clusterIP}/32`, '-p', plan.protocol.toLowerCase(), '-m', plan.protocol.toLowerCase(), '--dport', String(plan.port),
      '-j', 'REDIRECT', '--to-ports', String(listenPort),
    ]);
}
