/*
 * The pod network on one node (issue 10): a Docker bridge network `labkube` (device `labkube0`)
 * on the node's podCIDR, routes to the other nodes' podCIDRs via their InternalIPs (routes.ts,
 * flannel's host-gw way), and two iptables chains:
 *
 *   nat    POSTROUTING ─► LABKUBE-POSTROUTING  -s podCIDR ! -d clusterCIDR -j MASQUERADE
 *          (pods reach the world as the node; pod-to-pod keeps its source IP, so Docker's own
 *          masquerade is off on this bridge)
 *   filter FORWARD ─► LABKUBE-FORWARD  -s clusterCIDR -j ACCEPT, -d clusterCIDR -j ACCEPT
 *          (Docker's FORWARD drops new connections into a bridge from outside it; jumped to
 *          first, and moved back to first when a restarted Docker pushes its rules above ours)
 *
 * A sync writes all of it and is harmless to repeat; it runs on Node changes and on a timer,
 * so a cable replugged as eth1, a Docker restart or a flushed table heal within one period.
 *
 * podCIDR changes (the Node was deleted and registered again): the bridge is recreated on the
 * new subnet as soon as no container uses it. Until then the network is not ready and no new
 * sandbox is created: the old pods were deleted with their Node, and the orphan sweep removes
 * their containers within seconds.
 */
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Node, Pod } from '../../control-plane/api/core.ts';
import type { NetworkRuntime } from '../runtime/types.ts';
import { firstAddress, normalizeCidr } from './cidr.ts';
import { runCommand, type CommandRunner } from './exec.ts';
import { Iptables } from './iptables.ts';
import { parseResolvConf, podResolvConf, type DnsPolicy, type PodDnsConfig } from './resolv-conf.ts';
import { RouteSync } from './routes.ts';

/** What a PodWorker needs from the pod network to create sandboxes. */
export interface PodSandboxNetwork {
  /** The image of sandbox containers. */
  readonly sandboxImage: string;
  /** The Docker network sandboxes join; throws PodNetworkNotReadyError before the bridge is on the node's podCIDR. */
  sandboxNetwork(): string;
  /** Writes the pod's resolv.conf and returns the bind mounts for its containers (none for dnsPolicy Default). */
  podMounts(pod: Pod): Promise<string[]>;
  /** Removes the pod's files once its containers are gone. */
  releasePod(uid: string): Promise<void>;
}

export class PodNetworkNotReadyError extends Error {
  readonly code = 'PodNetworkNotReady';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PodNetworkNotReadyError';
  }
}

export interface PodNetworkOptions {
  nodeName: string;
  runtime: NetworkRuntime;
  /** The agent's data dir: pod files go to pods/<uid>/. */
  dataDir: string;
  /** Fixed podCIDR (tests); otherwise the own Node's spec.podCIDR from setNodes(). */
  podCIDR?: string;
  clusterCIDR?: string;
  clusterDomain?: string;
  networkName?: string;
  bridgeName?: string;
  /** Prefix of our iptables chains: tests use their own, so the host's chains are never touched. */
  chainPrefix?: string;
  /** Chains that jump to ours; tests pass chains of their own. */
  parentChains?: { forward: string; postrouting: string };
  sandboxImage?: string;
  iptables?: Iptables;
  routes?: RouteSync;
  run?: CommandRunner;
  hostResolvConf?: string;
  /** Where net.ipv4.ip_forward is switched on; false leaves it alone (tests). */
  ipForwardPath?: string | false;
  resyncMs?: number;
  logger?: Logger;
}

export const defaultClusterCIDR = '10.42.0.0/16';
// Often enough that a replugged cable or a Docker restart heals before a user notices; a sync
// that changes nothing is two `ip` and a few `iptables -C` calls.
const defaultResyncMs = 5_000;
const networkLabel = 'io.labkube.network';

export class PodNetwork implements PodSandboxNetwork {
  readonly sandboxImage: string;
  readonly networkName: string;
  readonly bridgeName: string;
  readonly clusterCIDR: string;
  private readonly clusterDomain: string;
  private readonly iptables: Iptables;
  private readonly routes: RouteSync;
  private readonly chains: { forward: string; postrouting: string };
  private readonly parents: { forward: string; postrouting: string };
  private nodes: Node[] = [];
  private cidr?: string;
  private bridgeReady = false;
  private timer?: NodeJS.Timeout;
  private syncing?: Promise<void>;
  private again?: string;
  private lastWarning?: string;
  /** The podCIDR each chain was last filled for: a resync that changes nothing rewrites nothing. */
  private readonly rulesWritten = new Map<string, string>();

  constructor(private readonly o: PodNetworkOptions) {
    const run = o.run ?? runCommand;
    this.sandboxImage = o.sandboxImage ?? 'labkube/pause:latest';
    this.networkName = o.networkName ?? 'labkube';
    this.bridgeName = o.bridgeName ?? 'labkube0';
    this.clusterCIDR = normalizeCidr(o.clusterCIDR ?? defaultClusterCIDR);
    this.clusterDomain = o.clusterDomain ?? 'cluster.local';
    this.iptables = o.iptables ?? new Iptables({ run });
    this.routes = o.routes ?? new RouteSync({ nodeName: o.nodeName, run, ...(o.logger && { logger: o.logger }) });
    const prefix = o.chainPrefix ?? 'LABKUBE';
    this.chains = { forward: `${prefix}-FORWARD`, postrouting: `${prefix}-POSTROUTING` };
    this.parents = o.parentChains ?? { forward: 'FORWARD', postrouting: 'POSTROUTING' };
    if (o.podCIDR) this.cidr = normalizeCidr(o.podCIDR);
  }

  get podCIDR(): string | undefined { return this.cidr; }
  /** The bridge's address: the pods' gateway and their DNS server. */
  get gateway(): string | undefined { return this.cidr && firstAddress(this.cidr); }
  get ready(): boolean { return this.bridgeReady; }

  /** Syncs now and then every resync period. */
  async start(): Promise<this> {
    await this.sync('start');
    const period = this.o.resyncMs ?? defaultResyncMs;
    this.timer = setInterval(() => void this.sync('periodic resync (interfaces, Docker restarts)'), period);
    return this;
  }

  /** Stops the timer; the bridge, rules and routes stay (pods keep working while the agent restarts). */
  stop(): void { clearInterval(this.timer); this.timer = undefined; }

  /** The Nodes the agent watches: the own one's podCIDR, and every other one's route. */
  setNodes(nodes: Node[]): Promise<void> {
    this.nodes = nodes;
    const own = nodes.find((n) => n.metadata.name === this.o.nodeName)?.spec?.podCIDR;
    if (!this.o.podCIDR && own && normalizeCidr(own) !== this.cidr) {
      this.o.logger?.info({ podCIDR: own, before: this.cidr }, 'node podCIDR assigned');
      this.cidr = normalizeCidr(own);
      this.bridgeReady = false;
    }
    return this.sync('nodes changed');
  }

  /** One sync at a time; a request during one runs once more after it. Never throws: failures are logged and retried. */
  sync(reason: string): Promise<void> {
    if (this.syncing) { this.again = reason; return this.syncing; }
    this.syncing = (async () => {
      let why: string | undefined = reason;
      while (why) {
        this.again = undefined;
        try {
          await this.syncOnce();
          this.lastWarning = undefined;
        } catch (err) {
          const message = (err as Error).message;
          if (message !== this.lastWarning) this.o.logger?.warn({ reason: why, err: message }, 'pod network sync failed; retrying on the next resync');
          this.lastWarning = message;
        }
        why = this.again;
      }
      this.syncing = undefined;
    })();
    return this.syncing;
  }

  sandboxNetwork(): string {
    if (!this.cidr) throw new PodNetworkNotReadyError('the node has no podCIDR yet');
    if (!this.bridgeReady) throw new PodNetworkNotReadyError(`the pod network ${this.networkName} is not on ${this.cidr} yet`);
    return this.networkName;
  }

  async podMounts(pod: Pod): Promise<string[]> {
    const spec = pod.spec as Pod['spec'] & { dnsConfig?: PodDnsConfig };
    let policy = (spec.dnsPolicy ?? 'ClusterFirst') as DnsPolicy;
    // As the kubelet: a host-network pod asks for ClusterFirstWithHostNet to get cluster DNS.
    if (spec.hostNetwork && policy === 'ClusterFirst') policy = 'Default';
    const nameserver = this.gateway;
    if (!nameserver && policy !== 'Default' && policy !== 'None') throw new PodNetworkNotReadyError('no cluster DNS address: the node has no podCIDR yet');
    const host = parseResolvConf(await readFile(this.o.hostResolvConf ?? '/etc/resolv.conf', 'utf8').catch(() => ''));
    const text = podResolvConf({
      policy, namespace: pod.metadata.namespace ?? 'default', clusterDomain: this.clusterDomain, nameserver: nameserver ?? '', host,
      ...(spec.dnsConfig && { dnsConfig: spec.dnsConfig }),
    });
    if (text === undefined) return [];
    const dir = this.podDir(pod.metadata.uid!);
    await mkdir(dir, { recursive: true });
    const path = join(dir, 'resolv.conf');
    // Written in place, not renamed over: running containers hold a bind mount of this inode.
    await writeFile(path, text);
    return [`${path}:/etc/resolv.conf:ro`];
  }

  async releasePod(uid: string): Promise<void> {
    await rm(this.podDir(uid), { recursive: true, force: true });
  }

  /** Removes the files of pods this node no longer runs (deleted while the agent was down); for the orphan sweep. */
  async sweepPodFiles(liveUids: Set<string>): Promise<void> {
    const dir = join(this.o.dataDir, 'pods');
    const entries = await readdir(dir).catch(() => [] as string[]);
    const live = new Set([...liveUids].map((uid) => uid.replace(/[^A-Za-z0-9-]/g, '_')));
    await Promise.all(entries.filter((e) => !live.has(e)).map((e) => rm(join(dir, e), { recursive: true, force: true })));
  }

  /** Removes our routes, chains and jumps, and the bridge network (its containers must be gone first). */
  async uninstall(): Promise<void> {
    this.stop();
    await this.syncing;
    const removed = await this.routes.removeAll();
    await this.iptables.deleteChain('nat', this.chains.postrouting);
    await this.iptables.deleteChain('filter', this.chains.forward);
    this.rulesWritten.clear();
    await this.o.runtime.removeNetwork(this.networkName);
    this.bridgeReady = false;
    this.o.logger?.info({ routes: removed, network: this.networkName }, 'pod network uninstalled');
  }

  private podDir(uid: string): string { return join(this.o.dataDir, 'pods', uid.replace(/[^A-Za-z0-9-]/g, '_')); }

  private async syncOnce(): Promise<void> {
    if (!this.cidr) await this.adoptExistingBridge();
    if (!this.cidr) return; // nothing to build until the node IPAM controller assigns one
    await this.ensureForwarding();
    await this.ensureBridge(this.cidr);
    await this.ensureRules(this.cidr);
    await this.routes.sync(this.nodes);
  }

  /**
   * Before the API has said this node's podCIDR (a board rebooted while the control plane is
   * down), the bridge network this agent made for this node is still on the last podCIDR the
   * API assigned: Docker keeps networks across reboots. Taking it lets the checkpointed pods
   * (checkpoint.ts) start in their sandboxes offline; setNodes() corrects it if the API says
   * otherwise once it answers.
   */
  private async adoptExistingBridge(): Promise<void> {
    const existing = await this.o.runtime.inspectNetwork(this.networkName);
    if (!existing?.subnet || existing.labels[networkLabel] !== 'pod' || existing.labels['io.labkube.node'] !== this.o.nodeName) return;
    if (existing.options['com.docker.network.bridge.name'] !== this.bridgeName) return;
    this.cidr = normalizeCidr(existing.subnet);
    this.o.logger?.info({ podCIDR: this.cidr, network: this.networkName }, 'podCIDR taken from the existing pod network until the API says it');
  }

  private async ensureForwarding(): Promise<void> {
    const path = this.o.ipForwardPath ?? '/proc/sys/net/ipv4/ip_forward';
    if (path === false) return;
    if ((await readFile(path, 'utf8')).trim() !== '1') await writeFile(path, '1\n');
  }

  private async ensureBridge(cidr: string): Promise<void> {
    const { runtime } = this.o;
    const gateway = firstAddress(cidr);
    const existing = await runtime.inspectNetwork(this.networkName);
    const matches = existing && existing.subnet === cidr && existing.gateway === gateway
      && existing.options['com.docker.network.bridge.name'] === this.bridgeName;
    if (matches) { this.bridgeReady = true; return; }
    this.bridgeReady = false;
    if (existing) {
      if (existing.containers.length > 0) {
        throw new PodNetworkNotReadyError(`network ${this.networkName} is on ${existing.subnet ?? 'another subnet'}, the node's podCIDR is ${cidr}; `
          + `waiting for its ${existing.containers.length} container(s) to go before recreating it`);
      }
      this.o.logger?.info({ network: this.networkName, from: existing.subnet, to: cidr }, 'recreating the pod network on the new podCIDR');
      await runtime.removeNetwork(this.networkName);
    }
    await runtime.createNetwork({
      name: this.networkName, subnet: cidr, gateway,
      options: {
        'com.docker.network.bridge.name': this.bridgeName,
        // Pod-to-pod traffic keeps its source IP; LABKUBE-POSTROUTING masquerades only what leaves the cluster.
        'com.docker.network.bridge.enable_ip_masquerade': 'false',
      },
      labels: { [networkLabel]: 'pod', 'io.labkube.node': this.o.nodeName },
    });
    this.bridgeReady = true;
    this.o.logger?.info({ network: this.networkName, bridge: this.bridgeName, podCIDR: cidr, gateway }, 'pod network created');
  }

  private async ensureRules(cidr: string): Promise<void> {
    const comment = (text: string) => ['-m', 'comment', '--comment', text];
    await this.ensureChainRules('nat', this.chains.postrouting, this.parents.postrouting, cidr, [
      ['-s', cidr, '!', '-d', this.clusterCIDR, ...comment('labkube: pod traffic leaving the cluster'), '-j', 'MASQUERADE'],
    ]);
    await this.ensureChainRules('filter', this.chains.forward, this.parents.forward, cidr, [
      ['-s', this.clusterCIDR, ...comment('labkube: from pods'), '-j', 'ACCEPT'],
      ['-d', this.clusterCIDR, ...comment('labkube: to pods'), '-j', 'ACCEPT'],
    ]);
  }

  /** Fills `chain` when its rules were written for another podCIDR or lost some (a flush), and keeps the parent's jump first. */
  private async ensureChainRules(table: 'nat' | 'filter', chain: string, parent: string, cidr: string, rules: string[][]): Promise<void> {
    const ipt = this.iptables;
    await ipt.ensureChain(table, chain);
    const key = `${table}/${chain}`;
    if (this.rulesWritten.get(key) !== cidr || (await ipt.listRules(table, chain)).length !== rules.length) {
      await ipt.replaceRules(table, chain, rules);
      this.rulesWritten.set(key, cidr);
    }
    await ipt.ensureJump(table, parent, chain, 'first', ['-m', 'comment', '--comment', 'labkube pod network']);
  }
}

export type PodNetworkMode = 'auto' | 'none';

/**
 * The agent's `--pod-network` flag: `none` keeps every container on Docker's default bridge
 * (tests, hosts without iptables); `auto` builds the pod network when iptables works here.
 */
export async function podNetworkFor(mode: PodNetworkMode, options: PodNetworkOptions): Promise<PodNetwork | undefined> {
  if (mode === 'none') return undefined;
  const iptables = options.iptables ?? new Iptables({ ...(options.run && { run: options.run }) });
  if (!(await iptables.available())) {
    options.logger?.warn('iptables is not usable here (not root, or no kernel support): pods stay on Docker\'s default bridge, without a pod network');
    return undefined;
  }
  return new PodNetwork({ ...options, iptables });
}
