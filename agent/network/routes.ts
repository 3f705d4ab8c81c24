// Routes to the other nodes' pod CIDRs, flannel's host-gw way: `<podCIDR> via <node's
// InternalIP>` on whatever interface reaches that node, no overlay. Every route we add carries
// our own protocol number, so a sync touches only our routes and `uninstall` finds them all.
// A sync compares the routes the kernel has with the ones the Nodes ask for: a route whose
// device no longer reaches its gateway (a replugged cable back as eth1), or that the kernel
// dropped with its interface, is written again; routes to nodes that are gone are removed.
import type { Logger } from 'pino';
import type { Node } from '../../control-plane/api/core.ts';
import { runCommand, type CommandRunner } from './exec.ts';
import { cidrContains, parseCidr } from './cidr.ts';

/** 0x4c ('L'): a route protocol number no routing daemon uses, so our routes are ours alone. */
export const labkubeRouteProto = 76;

export interface PeerRoute { podCIDR: string; gateway: string; node: string }
interface KernelRoute { dst: string; gateway?: string; dev?: string }
interface LocalAddress { ifname: string; address: string; prefixlen: number }

export interface RouteSyncOptions {
  nodeName: string;
  run?: CommandRunner;
  ipPath?: string;
  proto?: number;
  logger?: Logger;
}

export interface RouteSyncResult { added: string[]; removed: string[]; failed: { podCIDR: string; error: string }[] }

/** The routes this node wants: every other node's podCIDR via its InternalIP, unless that address is this host's own. */
export function desiredRoutes(nodes: Node[], nodeName: string, localAddresses: string[]): PeerRoute[] {
  const local = new Set(localAddresses);
  const own = nodes.find((n) => n.metadata.name === nodeName)?.spec?.podCIDR;
  const routes: PeerRoute[] = [];
  for (const n of nodes) {
    const podCIDR = n.spec?.podCIDR;
    const gateway = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
    if (n.metadata.name === nodeName || !podCIDR || !gateway || !parseCidr(podCIDR)) continue;
    // Agents sharing one host (tests) reach each other's pods without routes.
    if (local.has(gateway) || gateway.startsWith('127.') || podCIDR === own) continue;
    routes.push({ podCIDR, gateway, node: n.metadata.name! });
  }
  return routes.sort((a, b) => a.podCIDR.localeCompare(b.podCIDR));
}

export class RouteSync {
  private readonly run: CommandRunner;
  private readonly ip: string;
  private readonly proto: string;
  private readonly warned = new Map<string, string>();

  constructor(private readonly options: RouteSyncOptions) {
    this.run = options.run ?? runCommand;
    this.ip = options.ipPath ?? 'ip';
    this.proto = String(options.proto ?? labkubeRouteProto);
  }

  /** The host's IPv4 addresses with their interfaces. */
  async localAddresses(): Promise<LocalAddress[]> {
    const { stdout } = await this.run(this.ip, ['-j', '-4', 'addr', 'show']);
    const links = JSON.parse(stdout || '[]') as { ifname: string; addr_info?: { local: string; prefixlen: number }[] }[];
    return links.flatMap((l) => (l.addr_info ?? []).map((a) => ({ ifname: l.ifname, address: a.local, prefixlen: a.prefixlen })));
  }

  /** Routes this agent added (our protocol number), as the kernel has them. */
  async installed(): Promise<KernelRoute[]> {
    const { stdout } = await this.run(this.ip, ['-j', '-4', 'route', 'show', 'table', 'main', 'proto', this.proto]);
    return JSON.parse(stdout || '[]') as KernelRoute[];
  }

  /** Brings our routes in step with `nodes`. A route that cannot be written (no interface reaches its gateway yet) is retried on the next sync. */
  async sync(nodes: Node[]): Promise<RouteSyncResult> {
    const addresses = await this.localAddresses();
    const want = desiredRoutes(nodes, this.options.nodeName, addresses.map((a) => a.address));
    const have = new Map((await this.installed()).map((r) => [r.dst, r]));
    const result: RouteSyncResult = { added: [], removed: [], failed: [] };
    for (const r of want) {
      const current = have.get(r.podCIDR);
      have.delete(r.podCIDR);
      const dev = addresses.find((a) => cidrContains(`${a.address}/${a.prefixlen}`, r.gateway))?.ifname;
      if (current && current.gateway === r.gateway && (!dev || current.dev === dev)) continue;
      try {
        await this.run(this.ip, ['route', 'replace', r.podCIDR, 'via', r.gateway, 'proto', this.proto]);
        result.added.push(r.podCIDR);
        this.warned.delete(r.podCIDR);
      } catch (err) {
        const error = (err as Error).message;
        result.failed.push({ podCIDR: r.podCIDR, error });
        // Once per distinct failure: an unplugged cable fails every sync until it comes back.
        if (this.warned.get(r.podCIDR) !== error) this.options.logger?.warn({ podCIDR: r.podCIDR, via: r.gateway, node: r.node, err: error }, 'pod route not installed');
        this.warned.set(r.podCIDR, error);
      }
    }
    for (const dst of have.keys()) {
      await this.remove(dst);
      result.removed.push(dst);
    }
    if (result.added.length || result.removed.length) this.options.logger?.info(result, 'pod routes changed');
    return result;
  }

  /** Removes every route this agent added. */
  async removeAll(): Promise<string[]> {
    const routes = await this.installed();
    for (const r of routes) await this.remove(r.dst);
    return routes.map((r) => r.dst);
  }

  private async remove(dst: string): Promise<void> {
    try {
      await this.run(this.ip, ['route', 'del', dst, 'proto', this.proto, 'table', 'main']);
    } catch (err) {
      // Gone already (its interface went down with it) is what we wanted.
      if (!/No such process|Cannot find/i.test((err as Error).message)) throw err;
    }
  }
}
