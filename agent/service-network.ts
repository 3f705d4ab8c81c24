/*
 * What makes Services work on this node (issue 10), fed by three cluster-wide informers:
 *
 *   Nodes ─────────────► PodNetwork   the `labkube` bridge on this node's podCIDR, routes to
 *                                     every other node's podCIDR, forward/masquerade rules
 *   Services ─┬────────► ServiceProxy NodePort listeners and ClusterIP redirects, with connect
 *   Endpoint- ┤                       retry and replay so a dead board costs no request
 *   Slices    └────────► ClusterDns   `web.default.svc.cluster.local` on the bridge gateway
 *   Services ──────────► serviceEnv   WEB_SERVICE_HOST and friends for new containers
 *
 * All of it serves from the informers' caches, so a board cut off from the control plane keeps
 * routing, proxying and answering names with what it last saw.
 *
 * `--pod-network none` (tests that run several agents on one engine, hosts without iptables)
 * turns all of it off: containers stay on Docker's default bridge, as before issue 10.
 */
import type { Logger } from 'pino';
import type { Node, Service } from '../control-plane/api/core.ts';
import type { EndpointSlice } from '../control-plane/api/discovery.ts';
import type { KubeObject } from '../control-plane/api/meta.ts';
import { resourceFor } from '../control-plane/api/resources.ts';
import type { KubeClient } from '../control-plane/client/client.ts';
import { Informer } from '../control-plane/client/informer.ts';
import { ClusterDns } from './dns/cluster-dns.ts';
import { Iptables } from './network/iptables.ts';
import { podNetworkFor, type PodNetwork, type PodNetworkMode } from './network/pod-network.ts';
import { podServiceEnvironment } from './network/service-env.ts';
import { ServiceProxy } from './proxy/service-proxy.ts';
import type { NetworkRuntime } from './runtime/types.ts';

export interface ServiceNetworkOptions {
  client: KubeClient;
  nodeName: string;
  runtime: NetworkRuntime;
  dataDir: string;
  mode: PodNetworkMode;
  clusterCIDR: string;
  /** The cluster DNS port on the bridge gateway; 53 on a board. */
  dnsPort: number;
  logger: Logger;
}

// The DNS server binds to the bridge's gateway, which exists only once the bridge does; until
// then (and if the address goes away) it tries again this often.
const dnsRetryMs = 2_000;

export class ServiceNetwork {
  readonly podNetwork?: PodNetwork;
  private readonly nodes: Informer<Node & KubeObject>;
  private readonly services: Informer<Service & KubeObject>;
  private readonly slices: Informer<EndpointSlice & KubeObject>;
  private proxy?: ServiceProxy;
  private dns?: ClusterDns;
  private dnsTimer?: NodeJS.Timeout;
  private dnsHost?: string;
  private dnsSync?: Promise<void>;
  private stopped = false;

  private constructor(private readonly o: ServiceNetworkOptions, podNetwork: PodNetwork | undefined) {
    this.podNetwork = podNetwork;
    const { client, logger } = o;
    this.nodes = new Informer({ client, resource: resourceFor('', 'nodes')!, logger });
    this.services = new Informer({ client, resource: resourceFor('', 'services')!, logger });
    this.slices = new Informer({ client, resource: resourceFor('discovery.k8s.io', 'endpointslices')!, logger });
  }

  /** Builds the node's networking, or undefined in `none` mode or where iptables does not work. */
  static async create(o: ServiceNetworkOptions): Promise<ServiceNetwork | undefined> {
    const podNetwork = await podNetworkFor(o.mode, {
      nodeName: o.nodeName, runtime: o.runtime, dataDir: o.dataDir, clusterCIDR: o.clusterCIDR, logger: o.logger.child({ component: 'pod-network' }),
    });
    return podNetwork && new ServiceNetwork(o, podNetwork);
  }

  /** Starts watching and serving; resolves once Services are known, so new pods get their environment. */
  async start(): Promise<void> {
    const log = this.o.logger;
    await this.podNetwork!.start();
    this.proxy = new ServiceProxy({ logger: log.child({ component: 'service-proxy' }), iptables: new Iptables() });
    const nodesChanged = () => void this.podNetwork!.setNodes(this.nodes.list()).then(() => this.ensureDns());
    this.nodes.on({ add: nodesChanged, update: nodesChanged, delete: nodesChanged });
    const servicesChanged = () => this.servicesChanged();
    for (const informer of [this.services, this.slices] as Informer[]) {
      informer.on({ add: servicesChanged, update: servicesChanged, delete: servicesChanged });
    }
    for (const informer of [this.nodes, this.services, this.slices] as Informer[]) informer.start();
    this.dnsTimer = setInterval(() => void this.ensureDns(), dnsRetryMs);
    await Promise.all([this.nodes.waitForSync(), this.services.waitForSync(), this.slices.waitForSync()]);
  }

  /** The Service variables for a new container in `namespace` (Kubernetes' enableServiceLinks). */
  serviceEnv = (namespace: string, enableServiceLinks: boolean): string[] =>
    podServiceEnvironment(this.services.list(), namespace, enableServiceLinks);

  /** Stops watching and serving; the bridge, routes and rules stay, so pods keep their network while the agent restarts. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.dnsTimer);
    this.podNetwork?.stop();
    await Promise.all([this.nodes.stop(), this.services.stop(), this.slices.stop()]);
    await this.proxy?.stop();
    await this.dns?.stop();
  }

  private servicesChanged(): void {
    const services = this.services.list();
    const slices = this.slices.list();
    void this.proxy?.update(services, slices).catch((err: unknown) =>
      this.o.logger.warn({ err: (err as Error).message }, 'service proxy update failed; the next change retries'));
    this.dns?.update(services, slices);
  }

  /** Starts the DNS server on the bridge gateway once there is one; harmless to call again, one run at a time. */
  private ensureDns(): Promise<void> {
    this.dnsSync ??= this.syncDns().finally(() => { this.dnsSync = undefined; });
    return this.dnsSync;
  }

  private async syncDns(): Promise<void> {
    const gateway = this.podNetwork?.gateway;
    if (this.stopped || !gateway || !this.podNetwork?.ready) return;
    if (this.dns && this.dnsHost === gateway) return;
    // A new podCIDR (the Node was deleted and joined again) moves the gateway: follow it.
    await this.dns?.stop().catch(() => undefined);
    this.dnsHost = gateway;
    const dns = new ClusterDns({ host: gateway, port: this.o.dnsPort, logger: this.o.logger.child({ component: 'cluster-dns' }) });
    this.dns = dns;
    try {
      await dns.start();
      dns.update(this.services.list(), this.slices.list());
      this.o.logger.info({ address: `${gateway}:${this.o.dnsPort}` }, 'cluster DNS serving');
    } catch (err) {
      this.dns = undefined;
      this.dnsHost = undefined;
      await dns.stop().catch(() => undefined);
      this.o.logger.warn({ err: (err as Error).message, address: gateway, retryInMs: dnsRetryMs }, 'cluster DNS could not listen yet');
    }
  }
}
