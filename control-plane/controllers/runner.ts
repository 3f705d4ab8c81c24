// The worker loop every controller shares: take a key, sync it, and let the outcome decide the
// retry. Success forgets the key's failures; an error requeues it with backoff; `requeueAfter`
// asks to look again later (a timed wait, such as a grace period running out).
import type { Logger } from 'pino';
import { isConflict } from '../api/errors.ts';
import type { WorkQueue } from '../client/workqueue.ts';

export interface SyncResult { requeueAfterMs?: number }

export async function runWorkers(queue: WorkQueue, workers: number, sync: (key: string) => Promise<SyncResult | void>,
  logger?: Logger): Promise<void> {
  const worker = async () => {
    for (let key = await queue.get(); key !== undefined; key = await queue.get()) {
      try {
        const result = await sync(key);
        queue.forget(key);
        if (result?.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
      } catch (err) {
        // Conflicts are routine between controllers writing the same objects: retried at once, not news.
        logger?.[isConflict(err) ? 'debug' : 'warn']({ key, err: (err as Error).message, retries: queue.retries(key) }, 'sync failed; retrying');
        queue.addRateLimited(key);
      } finally {
        queue.done(key);
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
}
