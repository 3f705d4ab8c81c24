// The cluster half of the control plane: the node lifecycle controller (with its taint manager
// and pod GC) and the scheduler. They share one informer per kind, as a SharedInformerFactory.
import type { Lease } from '../api/coordination.ts';
import type { Node, Pod } from '../api/core.ts';
import type { KubeObject } from '../api/meta.ts';
import { resourceFor } from '../api/resources.ts';
import { nodeLeaseNamespace } from '../api/well-known.ts';
import type { KubeClient } from '../client/client.ts';
import { Informer } from '../client/informer.ts';
import { Scheduler } from '../scheduler/scheduler.ts';
import { EventRecorder } from './events.ts';
import type { ControllerOptions, Running } from './index.ts';
import { NodeLifecycleController } from './node-lifecycle.ts';

export function startClusterControllers(client: KubeClient, options: ControllerOptions): Running[] {
  const logger = options.logger;
  const nodes = new Informer<Node & KubeObject>({ client, resource: resourceFor('', 'nodes')!, logger });
  const pods = new Informer<Pod & KubeObject>({ client, resource: resourceFor('', 'pods')!, logger });
  const leases = new Informer<Lease & KubeObject>({ client, resource: resourceFor('coordination.k8s.io', 'leases')!, namespace: nodeLeaseNamespace, logger });

  const nodeLifecycle = new NodeLifecycleController({
    client, nodes, pods, leases,
    recorder: new EventRecorder(client, 'node-controller', logger),
    nodeMonitorGracePeriodMs: options.nodeMonitorGracePeriodMs,
    defaultTolerationSeconds: options.defaultTolerationSeconds,
    logger: logger.child({ controller: 'node-lifecycle' }),
  });
  const scheduler = new Scheduler({
    client, nodes, pods,
    recorder: new EventRecorder(client, 'default-scheduler', logger),
    logger: logger.child({ component: 'scheduler' }),
  });

  const informers = [nodes, pods, leases];
  informers.forEach((i) => i.start());
  const synced = Promise.all(informers.map((i) => i.waitForSync()));
  const running = synced.then(() => Promise.all([nodeLifecycle.run(), scheduler.run()]));
  running.catch((err: unknown) => logger.error({ err: (err as Error).message }, 'cluster controllers stopped'));

  return [{
    async stop() {
      nodeLifecycle.stop();
      await scheduler.stop();
      await Promise.all(informers.map((i) => i.stop()));
    },
  }];
}
