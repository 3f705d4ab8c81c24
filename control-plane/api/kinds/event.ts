// Event: written by every component's event recorder; no spec, and nothing beyond the schema to
// check. Its columns are kubectl's for `get events`, which lead with LAST SEEN, not NAME.
import { Event } from '../core.ts';
import type { KubeObject } from '../meta.ts';
import { age, col, none, wide } from './columns.ts';
import { resource, type KindStrategy } from './strategy.ts';

interface EventView {
  type?: string; reason?: string; message?: string; count?: number;
  firstTimestamp?: string | null; lastTimestamp?: string | null; eventTime?: string | null;
  involvedObject?: { kind?: string; name?: string; fieldPath?: string };
  source?: { component?: string; host?: string }; reportingComponent?: string;
}
const event = (o: KubeObject) => o as unknown as EventView;

/** When an event last happened: lastTimestamp, else eventTime, else creation. */
export const eventLastSeen = (o: KubeObject): string | undefined =>
  event(o).lastTimestamp ?? event(o).eventTime ?? o.metadata.creationTimestamp ?? undefined;

export const eventStrategy: KindStrategy = {
  resource: resource({ group: '', version: 'v1', kind: 'Event', plural: 'events', namespaced: true, shortNames: ['ev'], schema: Event, hasSpec: false }),
  columns: [
    col('Last Seen', (o, now) => age(eventLastSeen(o), now), { description: 'Time when last event occurred' }),
    col('Type', (o) => event(o).type ?? 'Normal', { description: 'Type of event' }),
    col('Reason', (o) => event(o).reason ?? '', { description: 'Reason of event' }),
    col('Object', (o) => `${(event(o).involvedObject?.kind ?? '').toLowerCase()}/${event(o).involvedObject?.name ?? ''}`, { description: 'The object this event is about' }),
    col('Message', (o) => (event(o).message ?? '').trim(), { description: 'Message of event' }),
    wide('Subobject', (o) => event(o).involvedObject?.fieldPath ?? ''),
    wide('Source', (o) => none([event(o).source?.component ?? event(o).reportingComponent, event(o).source?.host].filter(Boolean).join(', '))),
    wide('First Seen', (o, now) => age(event(o).firstTimestamp ?? eventLastSeen(o), now)),
    col('Count', (o) => event(o).count ?? 1, { priority: 1, type: 'integer' }),
    col('Name', (o) => o.metadata.name ?? '', { priority: 1, format: 'name' }),
  ],
};
