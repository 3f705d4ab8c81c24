// Starts the control plane's controllers and the scheduler. They run in the server's process
// but talk to the API over HTTPS with the same client an out-of-process component would use.
import type { Logger } from 'pino';
import { KubeClient } from '../client/client.ts';
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
}

export interface Running { stop(): Promise<void> }

export function startControllers(options: ControllerOptions): Running {
  const client = new KubeClient({
    server: options.server, token: options.token, userAgent: 'labkube-controller-manager', ...(options.ca && { ca: options.ca }),
  });
  const namespace = new NamespaceController(client, options.logger.child({ controller: 'namespace' }));
  void namespace.run();
  const running: Running[] = [
    { stop: () => namespace.stop() },
    ...startWorkloadControllers(client, options),
    ...startClusterControllers(client, options),
  ];
  return {
    async stop() {
      await Promise.all(running.map((r) => r.stop()));
      client.close();
    },
  };
}
