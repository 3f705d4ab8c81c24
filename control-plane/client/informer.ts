// An informer: list, then watch from the list's resourceVersion, keeping a local cache and
// calling handlers on changes. A 410 Gone relists (and objects missing from the new list fire
// `delete`); a broken connection resumes from the last revision after a backoff from 1 s
// doubling to 30 s. Objects in the cache are shared: copy one before changing it.
import type { Logger } from 'pino';
import { isGone } from '../api/errors.ts';
import type { KubeObject, WatchEvent } from '../api/meta.ts';
import type { ResourceType } from '../api/resources.ts';
import type { KubeClient } from './client.ts';

export interface InformerOptions {
  client: KubeClient;
  resource: ResourceType;
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  logger?: Logger;
  /** Waits between reconnects; injected so tests can drive it. */
  delay?: (ms: number) => Promise<void>;
}

export interface InformerHandlers<T> {
  add?: (obj: T) => void;
  update?: (oldObj: T, newObj: T) => void;
  delete?: (obj: T) => void;
}

export const objectKey = (obj: KubeObject): string =>
  (obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name!);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
// Kubernetes' reflector backs off from 1 s up to 30 s between failed list/watch attempts.
const initialBackoffMs = 1_000;
const maxBackoffMs = 30_000;

export class Informer<T extends KubeObject = KubeObject> {
  private readonly cache = new Map<string, T>();
  private readonly handlers: InformerHandlers<T>[] = [];
  private readonly abort = new AbortController();
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private revision: string | undefined;
  private running?: Promise<void>;

  constructor(private readonly options: InformerOptions) {}

  on(handlers: InformerHandlers<T>): this { this.handlers.push(handlers); return this; }

  get(key: string): T | undefined { return this.cache.get(key); }
  list(): T[] { return [...this.cache.values()]; }
  get hasSynced(): boolean { return this.synced; }

  waitForSync(): Promise<void> {
    return this.synced ? Promise.resolve() : new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  start(): this {
    this.running ??= this.run();
    return this;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  private async run(): Promise<void> {
    const delay = this.options.delay ?? sleep;
    let backoff = initialBackoffMs;
    while (!this.abort.signal.aborted) {
      try {
        if (this.revision === undefined) { await this.relist(); backoff = initialBackoffMs; } // a good list is a good connection
        await this.watchOnce();
        backoff = initialBackoffMs; // the stream ended normally (timeout): resume at once
      } catch (err) {
        if (this.abort.signal.aborted) return;
        if (isGone(err)) {
          this.revision = undefined;
          continue;
        }
        this.options.logger?.warn({ resource: this.options.resource.plural, err: (err as Error).message, retryInMs: backoff }, 'list/watch failed');
        await delay(backoff);
        backoff = Math.min(backoff * 2, maxBackoffMs);
      }
    }
  }

  private async relist(): Promise<void> {
    const { client, resource, namespace, labelSelector, fieldSelector } = this.options;
    const list = await client.list<T>(resource, namespace, { labelSelector, fieldSelector });
    const fresh = new Map(list.items.map((o) => [objectKey(o), { ...o, apiVersion: o.apiVersion ?? list.apiVersion, kind: o.kind ?? list.kind.replace(/List$/, '') }]));
    for (const [key, old] of this.cache) {
      if (!fresh.has(key)) { this.cache.delete(key); this.emit('delete', old); }
    }
    for (const [key, obj] of fresh) {
      const old = this.cache.get(key);
      this.cache.set(key, obj);
      if (!old) this.emit('add', obj);
      else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.emit('update', obj, old);
    }
    this.revision = list.metadata.resourceVersion;
    if (!this.synced) {
      this.synced = true;
      this.syncWaiters.splice(0).forEach((w) => w());
    }
  }

  private async watchOnce(): Promise<void> {
    const { client, resource, namespace, labelSelector, fieldSelector } = this.options;
    await client.watch(resource, namespace, {
      resourceVersion: this.revision, allowWatchBookmarks: true, labelSelector, fieldSelector,
    }, (event) => this.apply(event as WatchEvent<T>), this.abort.signal);
  }

  private apply(event: WatchEvent<T>): void {
    const obj = event.object;
    this.revision = obj.metadata.resourceVersion ?? this.revision;
    if (event.type === 'BOOKMARK') return;
    const key = objectKey(obj);
    const old = this.cache.get(key);
    if (event.type === 'DELETED') {
      this.cache.delete(key);
      this.emit('delete', obj);
      return;
    }
    this.cache.set(key, obj);
    if (old) this.emit('update', obj, old);
    else this.emit('add', obj);
  }

  private emit(type: 'add' | 'update' | 'delete', obj: T, old?: T): void {
    for (const h of this.handlers) {
      if (type === 'add') h.add?.(obj);
      else if (type === 'update') h.update?.(old!, obj);
      else h.delete?.(obj);
    }
  }
}
