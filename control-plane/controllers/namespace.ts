// The namespace controller: deleting a namespace deletes what is in it. A deleted namespace is
// Terminating while it holds the `kubernetes` finalizer; this controller deletes every object in
// it, waits until they are gone (pods wait for their node to stop them), then finalizes it.
import type { Logger } from 'pino';
import { isNotFound } from '../api/errors.ts';
import type { KubeObject } from '../api/meta.ts';
import { resourceFor, resources } from '../api/resources.ts';
import type { KubeClient } from '../client/client.ts';
import { Informer } from '../client/informer.ts';
import { WorkQueue } from '../client/workqueue.ts';
import { runWorkers } from './runner.ts';

const namespaces = resourceFor('', 'namespaces')!;
// Pods take up to their grace period to stop: look again every second until they are gone.
const recheckRemainingMs = 1_000;

export class NamespaceController {
  readonly informer: Informer;
  readonly queue = new WorkQueue();

  constructor(private readonly client: KubeClient, private readonly logger?: Logger) {
    this.informer = new Informer({ client, resource: namespaces, ...(logger && { logger }) });
    const enqueue = (ns: KubeObject) => { if (ns.metadata.deletionTimestamp) this.queue.add(ns.metadata.name!); };
    this.informer.on({ add: enqueue, update: (_old, ns) => enqueue(ns) });
  }

  async run(workers = 1): Promise<void> {
    this.informer.start();
    await this.informer.waitForSync();
    await runWorkers(this.queue, workers, async (name) => {
      const remaining = await this.sync(name);
      return remaining > 0 ? { requeueAfterMs: recheckRemainingMs } : {};
    }, this.logger);
  }

  async stop(): Promise<void> {
    this.queue.shutDown();
    await this.informer.stop();
  }

  /** Deletes the namespace's content; returns how many objects are still there. */
  async sync(name: string): Promise<number> {
    const ns = this.informer.get(name);
    if (!ns?.metadata.deletionTimestamp) return 0;
    let remaining = 0;
    for (const r of resources.filter((res) => res.namespaced)) {
      const list = await this.client.list(r, name);
      remaining += list.items.length;
      for (const obj of list.items) {
        if (obj.metadata.deletionTimestamp) continue;
        try {
          await this.client.delete(r, name, obj.metadata.name!, { propagationPolicy: 'Background' });
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
    }
    if (remaining === 0) {
      await this.client.update(namespaces, { ...ns, spec: { ...(ns.spec as object), finalizers: [] } }, 'finalize');
      this.logger?.info({ namespace: name }, 'namespace finalized');
    }
    return remaining;
  }
}
