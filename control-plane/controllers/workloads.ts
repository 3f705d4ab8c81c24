// The workload controllers: Deployment, ReplicaSet, disruption budgets and the garbage collector, on the process's
// shared informers.
import { resourceFor } from '../api/resources.ts';
import type { KubeClient } from '../client/client.ts';
import { DeploymentController } from './deployment.ts';
import { DisruptionController, type BudgetObject } from './disruption.ts';
import type { DeploymentObject } from './deployment-rollout.ts';
import { EventRecorder } from './events.ts';
import { GarbageCollector, collectedResources } from './garbage-collector.ts';
import type { ControllerOptions, InformerFactory, Running } from './index.ts';
import type { PodObject } from './pod-template.ts';
import { ReplicaSetController, type ReplicaSetObject } from './replicaset.ts';

export function startWorkloadControllers(client: KubeClient, options: ControllerOptions, informers: InformerFactory): Running[] {
  const { logger } = options;
  const pods = informers.for<PodObject>(resourceFor('', 'pods')!);
  const replicaSets = informers.for<ReplicaSetObject>(resourceFor('apps', 'replicasets')!);
  const deployments = informers.for<DeploymentObject>(resourceFor('apps', 'deployments')!);

  const replicaSetController = new ReplicaSetController({
    client, replicaSets, pods, logger: logger.child({ controller: 'replicaset' }),
    recorder: new EventRecorder(client, 'replicaset-controller', logger),
  });
  const deploymentController = new DeploymentController({
    client, deployments, replicaSets, pods, logger: logger.child({ controller: 'deployment' }),
    recorder: new EventRecorder(client, 'deployment-controller', logger),
  });
  const disruptionController = new DisruptionController({
    client, pods, replicaSets, deployments, budgets: informers.for<BudgetObject>(resourceFor('policy', 'poddisruptionbudgets')!),
    logger: logger.child({ controller: 'disruption' }),
  });
  const garbageCollector = new GarbageCollector({
    client, logger: logger.child({ controller: 'garbage-collector' }),
    watched: collectedResources.map((resource) => ({ resource, informer: informers.for(resource) })),
  });
  // Not awaited on stop: a run still waiting for its caches would wait forever once they stop.
  void replicaSetController.run();
  void deploymentController.run();
  void disruptionController.run();
  void garbageCollector.run();
  return [{
    async stop() {
      replicaSetController.stop();
      deploymentController.stop();
      disruptionController.stop();
      garbageCollector.stop();
    },
  }];
}
