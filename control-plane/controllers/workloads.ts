// The workload controllers: Deployment, ReplicaSet and the garbage collector. They share one
// informer per kind (as client-go's SharedInformerFactory), so each kind is listed and watched
// once however many controllers read it.
import type { KubeObject } from '../api/meta.ts';
import type { ResourceType } from '../api/resources.ts';
import type { KubeClient } from '../client/client.ts';
import { Informer } from '../client/informer.ts';
import { DeploymentController } from './deployment.ts';
import type { DeploymentObject } from './deployment-rollout.ts';
import { EventRecorder } from './events.ts';
import { GarbageCollector, collectedResources } from './garbage-collector.ts';
import type { ControllerOptions, Running } from './index.ts';
import type { PodObject } from './pod-template.ts';
import { ReplicaSetController, type ReplicaSetObject } from './replicaset.ts';

export function startWorkloadControllers(client: KubeClient, options: ControllerOptions): Running[] {
  const { logger } = options;
  const informers = new Map<string, Informer>();
  for (const resource of collectedResources) {
    informers.set(resource.kind, new Informer({ client, resource, logger: logger.child({ informer: resource.plural }) }));
  }
  // The controllers read their kinds through the typed view of the same shared informer.
  const typed = <T extends KubeObject>(kind: string) => informers.get(kind) as unknown as Informer<T>;
  const pods = typed<PodObject>('Pod');
  const replicaSets = typed<ReplicaSetObject>('ReplicaSet');
  const deployments = typed<DeploymentObject>('Deployment');

  const replicaSetController = new ReplicaSetController({
    client, replicaSets, pods, logger: logger.child({ controller: 'replicaset' }),
    recorder: new EventRecorder(client, 'replicaset-controller', logger),
  });
  const deploymentController = new DeploymentController({
    client, deployments, replicaSets, pods, logger: logger.child({ controller: 'deployment' }),
    recorder: new EventRecorder(client, 'deployment-controller', logger),
  });
  const garbageCollector = new GarbageCollector({
    client, logger: logger.child({ controller: 'garbage-collector' }),
    watched: collectedResources.map((resource: ResourceType) => ({ resource, informer: informers.get(resource.kind)! })),
  });
  for (const informer of informers.values()) informer.start();
  // Not awaited on stop: a run still waiting for its caches would wait forever once they stop.
  void replicaSetController.run();
  void deploymentController.run();
  void garbageCollector.run();
  return [{
    async stop() {
      replicaSetController.stop();
      deploymentController.stop();
      garbageCollector.stop();
      await Promise.all([...informers.values()].map((i) => i.stop()));
    },
  }];
}
