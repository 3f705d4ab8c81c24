/// <reference lib="dom" />
// One resource kept in the browser, as client/informer.ts keeps it on the server: list, then
// watch from the list's resourceVersion; a 410 Gone (or an ERROR event carrying one) relists, and
// objects missing from the new list are deleted; a broken connection (a control-plane restart)
// retries after a backoff and resumes from the last revision seen.
import type { KubeObject, WatchEvent } from '../api/meta.ts';
import { Api, ApiRequestError, type ListResponse } from './api.ts';

export type Change = 'added' | 'modified' | 'deleted';

export interface ReflectorEvents {
  change(change: Change, obj: KubeObject, old: KubeObject | undefined): void;
  /** After a list has replaced the cache. */
  listed(): void;
  /** The connection failed; the next attempt is in `retryMs`. */
  failed(err: unknown, retryMs: number): void;
  /** A list or watch succeeded after a failure. */
  recovered(): void;
  /** The credential was refused (401) or this resource is not readable (403): no retry. */
  refused(err: ApiRequestError): void;
}

export const objectKey = (o: KubeObject) => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name!);

// The server's informers back off from 1 s to 30 s; a room watching a pulled plug wants the
// picture back within seconds of the control plane, and one browser's retries cost nothing.
const firstRetryMs = 1_000;
const maxRetryMs = 5_000;
// The server caps a watch at 30 min anyway; a shorter one also proves the connection is alive.
const watchTimeoutSeconds = 300;

export interface ReflectorOptions {
  api: Api;
  /** The resource's collection: watched here, and listed here unless `listPath` says otherwise. */
  path: string;
  /** A list of the same objects, at the same revision, in a smaller form (the pods: see pod-projection.ts). */
  listPath?: string;
  /** Applied to every object, listed or watched, before it is kept. */
  project?: (obj: KubeObject) => KubeObject;
  on: ReflectorEvents;
  /** Awaited before the first watch (the page's first lists go before any watch). Default: none. */
  beforeWatch?: Promise<void>;
  /** Tests drive the backoff. */
  sleep?: (ms: number) => Promise<void>;
}

export class Reflector {
  readonly items = new Map<string, KubeObject>();
  private revision: string | undefined;
  private failing = false;
  private readonly api: Api;
  private readonly path: string;
  private readonly listPath: string;
  private readonly project: (obj: KubeObject) => KubeObject;
  private readonly on: ReflectorEvents;
  private readonly beforeWatch: Promise<void>;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(options: ReflectorOptions) {
    this.api = options.api;
    this.path = options.path;
    this.listPath = options.listPath ?? options.path;
    this.project = options.project ?? ((obj) => obj);
    this.on = options.on;
    this.beforeWatch = options.beforeWatch ?? Promise.resolve();
    this.sleep = options.sleep ?? ((ms) => new Promise<void>((r) => setTimeout(r, ms)));
  }

  async run(signal: AbortSignal): Promise<void> {
    let retryMs = firstRetryMs;
    while (!signal.aborted) {
      try {
        if (this.revision === undefined) await this.list();
        await this.beforeWatch;
        await this.watch(signal);
        retryMs = firstRetryMs;
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof ApiRequestError && (err.code === 401 || err.code === 403)) { this.on.refused(err); return; }
        if (err instanceof ApiRequestError && err.code === 410) { this.revision = undefined; continue; }
        this.failing = true;
        this.on.failed(err, retryMs);
        await this.sleep(retryMs);
        retryMs = Math.min(retryMs * 2, maxRetryMs);
      }
    }
  }

  private async list(): Promise<void> {
    const list = await this.api.get<ListResponse<KubeObject>>(this.listPath);
    const seen = new Set<string>();
    for (const item of list.items) {
      const obj = this.project(item);
      const key = objectKey(obj);
      seen.add(key);
      const old = this.items.get(key);
      if (old?.metadata.resourceVersion === obj.metadata.resourceVersion) continue;
      this.items.set(key, obj);
      this.on.change(old ? 'modified' : 'added', obj, old);
    }
    for (const [key, old] of this.items) {
      if (!seen.has(key)) { this.items.delete(key); this.on.change('deleted', old, old); }
    }
    // For the bench's account of the first picture: when each list was in and indexed.
    performance.mark(`labkube:listed ${this.path}`);
    this.revision = list.metadata.resourceVersion;
    this.recover();
    this.on.listed();
  }

  private async watch(signal: AbortSignal): Promise<void> {
    const sep = this.path.includes('?') ? '&' : '?';
    const url = `${this.path}${sep}watch=1&allowWatchBookmarks=true&timeoutSeconds=${watchTimeoutSeconds}&resourceVersion=${this.revision}`;
    let opened = false;
    await this.api.watch(url, (e) => {
      if (!opened) { opened = true; this.recover(); }
      this.apply(e);
    }, signal);
  }

  private apply(e: WatchEvent<KubeObject>): void {
    if (e.type === 'ERROR') {
      const status = e.object as unknown as { code?: number; message?: string };
      throw new ApiRequestError(status.code ?? 500, status.message ?? 'watch error');
    }
    this.revision = e.object.metadata.resourceVersion ?? this.revision;
    if (e.type === 'BOOKMARK') return;
    const obj = this.project(e.object);
    const key = objectKey(obj);
    const old = this.items.get(key);
    if (e.type === 'DELETED') {
      this.items.delete(key);
      this.on.change('deleted', obj, old);
    } else {
      this.items.set(key, obj);
      this.on.change(old ? 'modified' : 'added', obj, old);
    }
  }

  private recover(): void {
    if (!this.failing) return;
    this.failing = false;
    this.on.recovered();
  }
}
