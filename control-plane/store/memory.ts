// An in-memory store with the same contract as the SQLite one. It holds Leases: a heartbeat
// every 2 s from every board must never reach the SD card. Lost on restart by design: agents
// renew within one interval, and the node lifecycle controller waits a full grace period first.
import { AlreadyExistsError, ConflictError, GoneError, NotFoundError } from '../api/errors.ts';
import type { KubeObject } from '../api/meta.ts';
import { WatcherSet, type JsonListResult, type ListResult, type Store, type StoreEvent, type StoreEventType, type Unsubscribe } from './types.ts';

export interface MemoryStoreOptions {
  /** Events kept for watches to resume from. */
  historyEvents?: number;
  /**
   * The first revision. Seeded from the clock so that revisions from a previous process are
   * always older: a watcher resuming from one gets 410 Gone and relists instead of missing events.
   */
  startRevision?: number;
}

// 100 nodes renewing every 2 s make 50 events/s: 2,000 events is 40 s to reconnect in.
const defaultHistoryEvents = 2_000;

export class MemoryStore implements Store {
  private readonly objects = new Map<string, { revision: number; value: KubeObject }>();
  private readonly history: StoreEvent[] = [];
  private readonly watchers = new WatcherSet();
  private readonly historyEvents: number;
  private rev: number;
  private compactRev: number;

  constructor(options: MemoryStoreOptions = {}) {
    this.historyEvents = options.historyEvents ?? defaultHistoryEvents;
    this.rev = options.startRevision ?? Date.now() * 1000;
    this.compactRev = this.rev;
  }

  get(key: string): KubeObject | undefined {
    const entry = this.objects.get(key);
    return entry ? structuredClone(entry.value) : undefined;
  }

  list(prefix: string): ListResult {
    const items = this.entries(prefix).map((e) => structuredClone(e.value));
    return { items, revision: this.rev };
  }

  listJson(prefix: string): JsonListResult {
    return { items: this.entries(prefix).map((e) => JSON.stringify(e.value)), revision: this.rev };
  }

  private entries(prefix: string) {
    return [...this.objects.entries()].filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, e]) => e);
  }

  create(key: string, obj: KubeObject): KubeObject {
    if (this.objects.has(key)) throw new AlreadyExistsError();
    return this.write('ADDED', key, obj);
  }

  update(key: string, obj: KubeObject, expectedRevision?: number): KubeObject {
    this.currentOrThrow(key, expectedRevision);
    return this.write('MODIFIED', key, obj);
  }

  delete(key: string, expectedRevision?: number): KubeObject {
    const prev = this.currentOrThrow(key, expectedRevision);
    return this.write('DELETED', key, prev.value);
  }

  watch(prefix: string, afterRevision: number | undefined, onEvent: (event: StoreEvent) => void): Unsubscribe {
    if (afterRevision !== undefined) {
      if (afterRevision < this.compactRev) throw new GoneError(`too old resource version: ${afterRevision} (${this.compactRev})`);
      for (const e of this.history) if (e.revision > afterRevision && e.key.startsWith(prefix)) onEvent(e);
    }
    return this.watchers.add(prefix, onEvent);
  }

  sync(): Promise<void> { return Promise.resolve(); }
  revision(): number { return this.rev; }
  compactedRevision(): number { return this.compactRev; }
  close(): void { this.objects.clear(); }

  private currentOrThrow(key: string, expectedRevision?: number) {
    const entry = this.objects.get(key);
    if (!entry) throw new NotFoundError();
    if (expectedRevision !== undefined && expectedRevision !== entry.revision) throw new ConflictError();
    return entry;
  }

  private write(type: StoreEventType, key: string, obj: KubeObject): KubeObject {
    const revision = ++this.rev;
    const stored: KubeObject = structuredClone({ ...obj, metadata: { ...obj.metadata, resourceVersion: String(revision) } });
    const prev = this.objects.get(key)?.value;
    if (type === 'DELETED') this.objects.delete(key);
    else this.objects.set(key, { revision, value: stored });
    const event: StoreEvent = { type, key, revision, object: stored, ...(prev ? { prev } : {}) };
    this.history.push(event);
    if (this.history.length > this.historyEvents) {
      const dropped = this.history.splice(0, this.history.length - this.historyEvents);
      this.compactRev = dropped[dropped.length - 1]!.revision;
    }
    this.watchers.emit(event);
    return structuredClone(stored);
  }
}
