// Starts the control plane's controllers and the scheduler. They run in the server's process
// but talk to the API over HTTPS with the same client an out-of-process component would use,
// and share one informer per kind (client-go's SharedInformerFactory): each kind is listed and
// watched once however many controllers read it.
import type { Logger } from 'pino';
import type { KubeObject } from '../api/meta.ts';
import type { ResourceType } from '../api/resources.ts';
import { KubeClient } from '../client/client.ts';
import { Informer } from '../client/informer.ts';
import { startClusterControllers } from './cluster.ts';
import { NamespaceController } from './namespace.ts';
import { startWorkloadControllers } from './workloads.ts';

export interface ControllerOptions {
  server: string;
  token: string;
  ca?: string;
  logger: Logger;
  /** A node whose Lease is older than this is NotReady (Unknown) and tainted unreachable. */
  nodeMonitorGracePeriodMs: number;
  /** How long pods tolerate an unreachable node, unless a pod's own toleration says otherwise. */
  defaultTolerationSeconds: number;
  /** The range node pod CIDRs are cut from; default 10.42.0.0/16 (k3s's). */
  clusterCidr?: string;
  /** The prefix length of each node's pod CIDR; default 24. */
  nodeCidrMaskSize?: number;
}

export interface Running { stop(): Promise<void> }

/** One informer per resource for the whole process; `start` starts them, later ones start at once. */
export class InformerFactory {
  private readonly informers = new Map<ResourceType, Informer>();
  private started = false;

  constructor(private readonly client: KubeClient, private readonly logger: Logger) {}

  for<T extends KubeObject>(resource: ResourceType): Informer<T> {
    let informer = this.informers.get(resource);
    if (!informer) {
      informer = new Informer({ client: this.client, resource, logger: this.logger.child({ informer: resource.plural }) });
      this.informers.set(resource, informer);
      if (this.started) informer.start();
    }
    // Controllers read their kinds through a typed view of the one shared informer.
    return informer as unknown as Informer<T>;
  }

  start(): void {
    this.started = true;
    for (const informer of this.informers.values()) informer.start();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
  }
}

export function startControllers(options: ControllerOptions): Running {
  const client = new KubeClient({
    server: options.server, token: options.token, userAgent: 'labkube-controller-manager', ...(options.ca && { ca: options.ca }),
  });
  const informers = new InformerFactory(client, options.logger);
  const namespace = new NamespaceController(client, options.logger.child({ controller: 'namespace' }));
  void namespace.run();
  const running: Running[] = [
    { stop: () => namespace.stop() },
    ...startWorkloadControllers(client, options, informers),
    ...startClusterControllers(client, options, informers),
  ];
  informers.start();
  return {
    async stop() {
      await Promise.all(running.map((r) => r.stop()));
      await informers.stop();
      client.close();
    },
  };
}
