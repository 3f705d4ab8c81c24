// An HTTP client for the labkube (and Kubernetes) API. Controllers, the agent and the CLI all use
// it; errors come back as the shared ApiError classes, rebuilt from the server's Status.
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { ApiError, ServiceUnavailableError } from '../api/errors.ts';
import type { KubeList, KubeObject, Status, WatchEvent } from '../api/meta.ts';
import type { ResourceType } from '../api/resources.ts';

export interface ClientOptions {
  server: string;
  token: string;
  /** PEM of the cluster CA that signed the server's certificate (https servers). */
  ca?: string;
  userAgent?: string;
}

export interface ListQuery { labelSelector?: string; fieldSelector?: string; limit?: number; continue?: string }
export interface WatchQuery extends ListQuery { resourceVersion?: string; allowWatchBookmarks?: boolean; timeoutSeconds?: number }
export type PatchKind = 'merge' | 'strategic' | 'json';

const patchContentType: Record<PatchKind, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
};

/** The server could not be reached at all (refused, reset, DNS): one line naming the URL and cause. */
export class ConnectionError extends ServiceUnavailableError {
  constructor(url: string, cause: unknown) {
    const err = cause as { code?: string; message?: string };
    super(`cannot reach the API server at ${url}: ${err.code ?? err.message}`);
  }
}

export function resourcePath(r: ResourceType, namespace?: string, name?: string, subresource?: string): string {
  let path = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  if (r.namespaced && namespace) path += `/namespaces/${encodeURIComponent(namespace)}`;
  path += `/${r.plural}`;
  if (name) path += `/${encodeURIComponent(name)}`;
  if (subresource) path += `/${subresource}`;
  return path;
}

function queryString(q: object): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== '') params.set(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : '';
}

async function readAll(res: IncomingMessage): Promise<string> {
  let text = '';
  res.setEncoding('utf8');
  for await (const chunk of res) text += chunk as string;
  return text;
}

export class KubeClient {
  private readonly agent: http.Agent;
  private readonly url: URL;

  constructor(readonly options: ClientOptions) {
    this.url = new URL(options.server);
    // Keep connections open: controllers and agents make many small requests.
    this.agent = this.url.protocol === 'https:'
      ? new https.Agent({ keepAlive: true, ...(options.ca && { ca: options.ca }) })
      : new http.Agent({ keepAlive: true });
  }

  async request<T>(method: string, path: string, body?: unknown, contentType = 'application/json', signal?: AbortSignal): Promise<T> {
    const res = await this.send(method, path, body, contentType, signal);
    const text = await readAll(res);
    if (res.statusCode! >= 400) throw errorFrom(res.statusCode!, text);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  close(): void { this.agent.destroy(); }

  get<T extends KubeObject = KubeObject>(r: ResourceType, namespace: string | undefined, name: string): Promise<T> {
    return this.request('GET', resourcePath(r, namespace, name));
  }

  list<T extends KubeObject = KubeObject>(r: ResourceType, namespace?: string, query: ListQuery = {}): Promise<KubeList<T>> {
    return this.request('GET', resourcePath(r, namespace) + queryString(query));
  }

  create<T extends KubeObject = KubeObject>(r: ResourceType, namespace: string | undefined, obj: KubeObject): Promise<T> {
    return this.request('POST', resourcePath(r, namespace), obj);
  }

  update<T extends KubeObject = KubeObject>(r: ResourceType, obj: KubeObject, subresource?: 'status' | 'finalize'): Promise<T> {
    return this.request('PUT', resourcePath(r, obj.metadata.namespace, obj.metadata.name, subresource), obj);
  }

  patch<T extends KubeObject = KubeObject>(r: ResourceType, namespace: string | undefined, name: string, patch: unknown,
    kind: PatchKind = 'merge', subresource?: string): Promise<T> {
    return this.request('PATCH', resourcePath(r, namespace, name, subresource), patch, patchContentType[kind]);
  }

  delete(r: ResourceType, namespace: string | undefined, name: string,
    options: { gracePeriodSeconds?: number; propagationPolicy?: string; preconditions?: { uid?: string } } = {}): Promise<KubeObject | Status> {
    return this.request('DELETE', resourcePath(r, namespace, name), { apiVersion: 'v1', kind: 'DeleteOptions', ...options });
  }

  /**
   * Streams watch events to `onEvent` until the server ends the stream, `signal` aborts, or the
   * connection fails (then it throws). An ERROR event is thrown as the ApiError it carries.
   */
  async watch(r: ResourceType, namespace: string | undefined, query: WatchQuery, onEvent: (e: WatchEvent) => void,
    signal?: AbortSignal): Promise<void> {
    const path = resourcePath(r, namespace) + queryString({ ...query, watch: 1 });
    const res = await this.send('GET', path, undefined, undefined, signal);
    if (res.statusCode! >= 400) throw errorFrom(res.statusCode!, await readAll(res));
    res.setEncoding('utf8');
    let buffered = '';
    try {
      for await (const chunk of res) {
        buffered += chunk as string;
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          if (!line.trim()) continue;
          const event = JSON.parse(line) as WatchEvent;
          if (event.type === 'ERROR') {
            const status = event.object as unknown as Status;
            throw ApiError.fromStatus(status, status.code ?? 500);
          }
          onEvent(event);
        }
      }
    } catch (err) {
      if (signal?.aborted) return;
      throw err;
    }
  }

  private send(method: string, path: string, body: unknown, contentType?: string, signal?: AbortSignal): Promise<IncomingMessage> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { Authorization: `Bearer ${this.options.token}`, Accept: 'application/json' };
    if (this.options.userAgent) headers['User-Agent'] = this.options.userAgent;
    if (payload !== undefined) {
      headers['Content-Type'] = contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    const transport = this.url.protocol === 'https:' ? https : http;
    const attempt = (retried: boolean): Promise<IncomingMessage> => new Promise((resolve, reject) => {
      let answered = false;
      const req = transport.request(new URL(path, this.url), { method, headers, agent: this.agent, ...(signal && { signal }) }, (res) => {
        answered = true;
        resolve(res);
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        // A kept-alive socket the server closed just as we reused it: the request never reached
        // the server, so sending it again is safe (the retry Node's documentation recommends).
        // Not once the server answered: a watch reset mid-stream is the caller's to see, and a
        // re-sent request nobody awaits would reject unhandled.
        if (!retried && !answered && req.reusedSocket && err.code === 'ECONNRESET' && !signal?.aborted) {
          resolve(attempt(true));
          return;
        }
        reject(signal?.aborted ? err : new ConnectionError(this.options.server, err));
      });
      req.end(payload);
    });
    return attempt(false);
  }
}

function errorFrom(code: number, text: string): ApiError {
  try {
    const status = JSON.parse(text) as Partial<Status>;
    if (status.kind === 'Status') return ApiError.fromStatus(status, code);
  } catch { /* not a Status: the server or a proxy sent plain text, reported below as it is */ }
  return ApiError.fromStatus({ message: text.slice(0, 200) || `HTTP ${code}` }, code);
}
