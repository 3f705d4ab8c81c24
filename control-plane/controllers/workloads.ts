// Deployment, ReplicaSet and garbage-collector controllers (issue 3 fills this in).
import type { KubeClient } from '../client/client.ts';
import type { ControllerOptions, Running } from './index.ts';

export function startWorkloadControllers(_client: KubeClient, _options: ControllerOptions): Running[] {
  return [];
}
