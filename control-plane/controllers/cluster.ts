// The cluster half of the control plane: the node lifecycle controller (with its taint manager
// and pod GC), node IPAM, the scheduler, and the Endpoints and EndpointSlice controllers that
// turn Services and pods into endpoints. All on the process's shared informers.
import type { Lease } from '../api/coordination.ts';
import type { KubeObject } from '../api/meta.ts';
import { resourceFor } from '../api/resources.ts';
import { nodeLeaseNamespace } from '../api/well-known.ts';
import type { KubeClient } from '../client/client.ts';
import type { Informer } from '../client/informer.ts';
import { Scheduler, type Watchable } from '../scheduler/scheduler.ts';
import { EndpointsController, type EndpointsObject, type NodeObject, type ServiceObject } from './endpoints.ts';
import { EndpointSliceController, type EndpointSliceObject } from './endpointslice.ts';
import { EventRecorder } from './events.ts';
import type { ControllerOptions, InformerFactory, Running } from './index.ts';
import { NodeIpamController } from './node-ipam.ts';
import { NodeLifecycleController } from './node-lifecycle.ts';
import type { PodObject } from './pod-template.ts';

export function startClusterControllers(client: KubeClient, options: ControllerOptions, informers: InformerFactory): Running[] {
  const logger = options.logger;
  const nodes = informers.for<NodeObject>(resourceFor('', 'nodes')!);
  const pods = informers.for<PodObject>(resourceFor('', 'pods')!);
  const services = informers.for<ServiceObject>(resourceFor('', 'services')!);
  const endpoints = informers.for<EndpointsObject>(resourceFor('', 'endpoints')!);
  const endpointSlices = informers.for<EndpointSliceObject>(resourceFor('discovery.k8s.io', 'endpointslices')!);
  const leases = inNamespace(informers.for<Lease & KubeObject>(resourceFor('coordination.k8s.io', 'leases')!), nodeLeaseNamespace);

  const nodeLifecycle = new NodeLifecycleController({
    client, nodes, pods, leases,
    recorder: new EventRecorder(client, 'node-controller', logger),
    nodeMonitorGracePeriodMs: options.nodeMonitorGracePeriodMs,
    defaultTolerationSeconds: options.defaultTolerationSeconds,
    logger: logger.child({ controller: 'node-lifecycle' }),
  });
  const nodeIpam = new NodeIpamController({
    client, nodes, recorder: new EventRecorder(client, 'node-controller', logger),
    ...(options.clusterCidr && { clusterCidr: options.clusterCidr }),
    ...(options.nodeCidrMaskSize && { nodeCidrMaskSize: options.nodeCidrMaskSize }),
    logger: logger.child({ controller: 'node-ipam' }),
  });
  const scheduler = new Scheduler({
    client, nodes, pods,
    recorder: new EventRecorder(client, 'default-scheduler', logger),
    logger: logger.child({ component: 'scheduler' }),
  });
  const endpointsController = new EndpointsController({
    client, services, pods, nodes, endpoints,
    recorder: new EventRecorder(client, 'endpoint-controller', logger),
    logger: logger.child({ controller: 'endpoints' }),
  });
  const endpointSliceController = new EndpointSliceController({
    client, services, pods, nodes, endpointSlices,
    recorder: new EventRecorder(client, 'endpoint-slice-controller', logger),
    logger: logger.child({ controller: 'endpointslice' }),
  });

  const synced = Promise.all([nodes, pods, leases].map((i) => i.waitForSync()));
  const running = synced.then(() => Promise.all([nodeLifecycle.run(), scheduler.run()]));
  running.catch((err: unknown) => logger.error({ err: (err as Error).message }, 'cluster controllers stopped'));
  // Not awaited on stop: a run still waiting for its caches would wait forever once they stop.
  void nodeIpam.run();
  void endpointsController.run();
  void endpointSliceController.run();

  return [{
    async stop() {
      nodeLifecycle.stop();
      nodeIpam.stop();
      endpointsController.stop();
      endpointSliceController.stop();
      await scheduler.stop();
    },
  }];
}

/** The shared informer seen through one namespace: the node lifecycle controller reads only node Leases. */
function inNamespace<T extends KubeObject>(informer: Informer<T>, namespace: string): Watchable<T> & { waitForSync(): Promise<void> } {
  const mine = (o: T) => o.metadata.namespace === namespace;
  return {
    get: (key) => { const o = informer.get(key); return o && mine(o) ? o : undefined; },
    list: () => informer.list().filter(mine),
    waitForSync: () => informer.waitForSync(),
    on: (h) => informer.on({
      add: (o) => { if (mine(o)) h.add?.(o); },
      update: (old, o) => { if (mine(o)) h.update?.(old, o); },
      delete: (o) => { if (mine(o)) h.delete?.(o); },
    }),
  };
}
