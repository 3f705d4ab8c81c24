// The store's narrow interface. The API server is its only writer and needs nothing more than
// this, so a distributed backend can replace SQLite later without touching the API server.
//
// Keys are `/{group/}{plural}/{namespace}/{name}` (no namespace segment for cluster-scoped kinds).
// Every write gets the next revision of its store, written into the object as
// metadata.resourceVersion. Watches see every write after a revision, in order, exactly once.
import type { KubeObject } from '../api/meta.ts';

export type StoreEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: StoreEventType;
  key: string;
  revision: number;
  /** The object after the write; for DELETED, its last state with the deletion's revision. */
  object: KubeObject;
  /** The object before the write, when the store still has it (label-selector watches need it). */
  prev?: KubeObject;
}

export interface ListResult { items: KubeObject[]; revision: number }

/** A list as the stored JSON text of each object: what a plain list sends, without parsing it first. */
export interface JsonListResult { items: string[]; revision: number }

export type Unsubscribe = () => void;

export interface Store {
  get(key: string): KubeObject | undefined;
  /** Every current object whose key starts with `prefix`, in key order, and the store's revision. */
  list(prefix: string): ListResult;
  /** The same objects as `list`, each as its JSON text. */
  listJson(prefix: string): JsonListResult;
  /** Throws AlreadyExistsError when the key exists. */
  create(key: string, obj: KubeObject): KubeObject;
  /** Throws NotFoundError, or ConflictError when `expectedRevision` is given and stale. */
  update(key: string, obj: KubeObject, expectedRevision?: number): KubeObject;
  /** Throws NotFoundError, or ConflictError when `expectedRevision` is given and stale. */
  delete(key: string, expectedRevision?: number): KubeObject;
  /**
   * Calls `onEvent` for every write under `prefix` after `afterRevision` (replayed from history,
   * then live), or only live writes when it is undefined. Throws GoneError when the history
   * before `afterRevision` has been compacted. Events are delivered synchronously at commit.
   */
  watch(prefix: string, afterRevision: number | undefined, onEvent: (event: StoreEvent) => void): Unsubscribe;
  /**
   * Resolves once every write made so far is durable. Writes return at once and are committed
   * together (group commit); the API server awaits this before it answers any request, so no
   * client learns of a write that a crash could still lose.
   */
  sync(): Promise<void>;
  /** The latest revision handed out (by the store that holds `prefix`, where stores are routed). */
  revision(prefix?: string): number;
  /** Revisions below this may be gone; a watch or list from before it gets 410 Gone. */
  compactedRevision(): number;
  close(): void;
}

export const revisionOf = (obj: KubeObject): number => Number(obj.metadata.resourceVersion ?? 0);

/** Shared bookkeeping for watchers: both stores fan out the same way. */
export class WatcherSet {
  private readonly watchers = new Set<{ prefix: string; onEvent: (e: StoreEvent) => void; after: number }>();

  /** Live events under `prefix`; those at or below `after` were already replayed and are skipped. */
  add(prefix: string, onEvent: (e: StoreEvent) => void, after = -Infinity): Unsubscribe {
    const watcher = { prefix, onEvent, after };
    this.watchers.add(watcher);
    return () => { this.watchers.delete(watcher); };
  }

  emit(event: StoreEvent): void {
    for (const w of this.watchers) {
      if (event.revision > w.after && event.key.startsWith(w.prefix)) w.onEvent(event);
    }
  }

  get size(): number { return this.watchers.size; }
}
