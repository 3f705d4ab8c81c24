// Records Events: every decision a person would want to see in `describe`. Repeats of the same
// event (same object, reason and message) bump `count` instead of adding objects, as upstream.
import type { Logger } from 'pino';
import { isNotFound } from '../api/errors.ts';
import type { KubeObject } from '../api/meta.ts';
import { timestamp } from '../api/objects.ts';
import { resourceFor } from '../api/resources.ts';
import type { KubeClient } from '../client/client.ts';

const events = resourceFor('', 'events')!;

export type EventType = 'Normal' | 'Warning';

export class EventRecorder {
  /** dedupe key -> event name, so a repeat patches the count of the Event already written. */
  private readonly seen = new Map<string, { name: string; count: number }>();

  constructor(private readonly client: KubeClient, private readonly component: string, private readonly logger?: Logger,
    private readonly host?: string) {}

  /** Fire and forget: an Event that cannot be written must never stop the controller. */
  record(obj: KubeObject, type: EventType, reason: string, message: string): void {
    void this.write(obj, type, reason, message).catch((err: unknown) => {
      this.logger?.warn({ reason, err: (err as Error).message }, 'could not record event');
    });
  }

  async write(obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const namespace = obj.metadata.namespace ?? 'default';
    const key = `${obj.metadata.uid}/${type}/${reason}/${message}`;
    const now = timestamp();
    const prev = this.seen.get(key);
    if (prev) {
      prev.count++;
      try {
        await this.client.patch(events, namespace, prev.name, { count: prev.count, lastTimestamp: now });
        return;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    const created = await this.client.create(events, namespace, {
      apiVersion: 'v1', kind: 'Event',
      metadata: { generateName: `${obj.metadata.name}.`, namespace },
      involvedObject: {
        apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name, uid: obj.metadata.uid,
        resourceVersion: obj.metadata.resourceVersion, ...(obj.metadata.namespace && { namespace: obj.metadata.namespace }),
      },
      reason, message, type, count: 1, firstTimestamp: now, lastTimestamp: now,
      source: { component: this.component, ...(this.host && { host: this.host }) },
      reportingComponent: this.component, reportingInstance: this.host ?? this.component,
    });
    this.seen.set(key, { name: created.metadata.name!, count: 1 });
    if (this.seen.size > 4096) this.seen.delete(this.seen.keys().next().value!); // bounded memory
  }
}
