// Starts the control plane's controllers. They run in the server's process but talk to the API
// over HTTP with the same client an out-of-process controller would use.
import type { Logger } from 'pino';
import { KubeClient } from '../client/client.ts';
import { NamespaceController } from './namespace.ts';

export interface ControllerOptions { server: string; token: string; ca?: string; logger: Logger }

export function startControllers(options: ControllerOptions): { stop(): Promise<void> } {
  const client = new KubeClient({
    server: options.server, token: options.token, userAgent: 'labkube-controller-manager', ...(options.ca && { ca: options.ca }),
  });
  const namespace = new NamespaceController(client, options.logger.child({ controller: 'namespace' }));
  void namespace.run();
  return {
    async stop() {
      await namespace.stop();
      client.close();
    },
  };
}
