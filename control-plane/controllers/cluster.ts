// Node lifecycle controller and scheduler (issue 3 fills this in).
import type { KubeClient } from '../client/client.ts';
import type { ControllerOptions, Running } from './index.ts';

export function startClusterControllers(_client: KubeClient, _options: ControllerOptions): Running[] {
  return [];
}
