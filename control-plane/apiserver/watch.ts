// `?watch=1`: a stream of newline-delimited JSON events, with Kubernetes' semantics.
//  - No resourceVersion (or "0"): ADDED for every current object, then every later change.
//  - resourceVersion N: every change after N, replayed from the store's history.
//  - A compacted N: one ERROR event carrying a 410 Status, then the stream ends.
//  - An N past the store's revision: the same 410. No client can hold a revision the store has
//    not handed out, and a stream that waits for it would sit silent. Kubernetes waits 3 s and
//    answers 504 "Too large resource version"; its clients relist on that, as ours do on 410.
//    (A resourceVersion that is not a number never gets here: app.ts answers it 400.)
//  - With a label or field selector, an object that starts matching arrives as ADDED and one
//    that stops matching as DELETED, so a client's cache stays exactly the selected set.
import type { ServerResponse } from 'node:http';
import { ApiError, GoneError } from '../api/errors.ts';
import { matchesFields, type FieldSelector } from '../api/fields.ts';
import { matches, type Selector } from '../api/labels.ts';
import type { KubeObject, WatchEvent } from '../api/meta.ts';
import { apiVersionOf, type ResourceType } from '../api/resources.ts';
import type { StoreEvent } from '../store/types.ts';
import { prefixFor, type Registry } from './registry.ts';

export interface WatchRequest {
  resource: ResourceType;
  namespace?: string;
  /** Validated by the caller (query.ts); undefined or 0 means "from now, with the current state first". */
  resourceVersion?: number;
  labels: Selector;
  fields: FieldSelector;
  timeoutSeconds?: number;
  allowBookmarks: boolean;
}

export interface WatchSettings {
  /** How often to send a BOOKMARK to clients that allow them. */
  bookmarkIntervalMs: number;
  /** The longest a watch stays open without a timeoutSeconds; clients reconnect from their last revision. */
  maxTimeoutSeconds: number;
  /** A slow client whose unsent events exceed this is disconnected (it resumes from its revision). */
  maxBufferedBytes: number;
  /** Turns each event into the line sent to the client (tables for kubectl, JSON otherwise). */
  encode?: (event: WatchEvent) => unknown;
}

// A store event fans out to every watcher of its kind: serialise it once, not once per watcher.
const encoded = new WeakMap<StoreEvent, Map<string, string>>();

export function serveWatch(registry: Registry, req: WatchRequest, res: ServerResponse, settings: WatchSettings,
  onClose: () => void): void {
  const { resource } = req;
  const selected = (obj: KubeObject | undefined) =>
    obj !== undefined && matches(req.labels, obj.metadata.labels) && matchesFields(req.fields, obj);
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
  res.flushHeaders();

  let closed = false;
  let lastRevision = 0;
  const timers: NodeJS.Timeout[] = [];
  let unsubscribe: () => void = () => {};
  let batch: string[] = [];
  const close = () => {
    if (closed) return;
    closed = true;
    unsubscribe();
    timers.forEach((t) => clearTimeout(t));
    res.end(batch.join(''));
    batch = [];
    onClose();
  };
  res.on('close', close);

  // Lines are coalesced into one socket write per event-loop turn: under load that is one TLS
  // record for many events instead of one per event per watcher.
  const flush = () => {
    const lines = batch;
    batch = [];
    if (closed || lines.length === 0) return;
    res.write(lines.join(''));
    if (res.writableLength > settings.maxBufferedBytes) close();
  };
  const send = (line: string) => {
    if (closed) return;
    if (batch.push(line) === 1) setImmediate(flush);
  };
  const sendEvent = (event: WatchEvent, cacheKey?: StoreEvent) => {
    // The shared line cache holds plain JSON events; a custom encoding (Tables) is not shared.
    if (!cacheKey || settings.encode) { send(JSON.stringify(settings.encode ? settings.encode(event) : event) + '\n'); return; }
    let lines = encoded.get(cacheKey);
    if (!lines) { lines = new Map(); encoded.set(cacheKey, lines); }
    let line = lines.get(event.type);
    if (line === undefined) {
      line = JSON.stringify(event) + '\n';
      lines.set(event.type, line);
    }
    send(line);
  };

  const onStoreEvent = (e: StoreEvent) => {
    lastRevision = e.revision;
    const now = selected(e.object);
    const before = selected(e.prev);
    if (e.type === 'ADDED') { if (now) sendEvent({ type: 'ADDED', object: e.object }, e); return; }
    if (e.type === 'DELETED') { if (now || before) sendEvent({ type: 'DELETED', object: e.object }, e); return; }
    if (now && before) sendEvent({ type: 'MODIFIED', object: e.object }, e);
    else if (now) sendEvent({ type: 'ADDED', object: e.object }, e);
    else if (before) sendEvent({ type: 'DELETED', object: e.object }, e);
  };

  const rv = req.resourceVersion;
  const prefix = prefixFor(resource, req.namespace);
  try {
    if (rv === undefined || rv === 0) {
      const list = registry.store.list(prefix);
      for (const obj of list.items) if (selected(obj)) sendEvent({ type: 'ADDED', object: obj });
      lastRevision = list.revision;
      unsubscribe = registry.store.watch(prefix, list.revision, onStoreEvent);
    } else {
      const current = registry.store.revision(prefix);
      if (rv > current) throw new GoneError(`too large resource version: ${rv}, current: ${current}`);
      lastRevision = rv;
      unsubscribe = registry.store.watch(prefix, rv, onStoreEvent);
    }
  } catch (err) {
    if (err instanceof ApiError) {
      sendEvent({ type: 'ERROR', object: err.toStatus() as unknown as KubeObject });
      close();
      return;
    }
    close();
    throw err;
  }

  // 0 means unset, as in Kubernetes.
  const timeout = Math.min(req.timeoutSeconds || settings.maxTimeoutSeconds, settings.maxTimeoutSeconds);
  timers.push(setTimeout(close, timeout * 1000));
  if (req.allowBookmarks) {
    const bookmark = () => {
      sendEvent({ type: 'BOOKMARK', object: { apiVersion: apiVersionOf(resource), kind: resource.kind, metadata: { resourceVersion: String(Math.max(lastRevision, registry.store.revision(prefix))) } } });
      timers[1] = setTimeout(bookmark, settings.bookmarkIntervalMs);
    };
    timers[1] = setTimeout(bookmark, settings.bookmarkIntervalMs);
  }
}
