/// <reference lib="dom" />
// The browser's API client: the bearer token on every request, Kubernetes' Status errors as
// ApiRequestError, and watch streams read line by line from fetch's body.
import type { KubeObject, WatchEvent } from '../api/meta.ts';

export class ApiRequestError extends Error {
  constructor(readonly code: number, message: string) { super(message); }
}

export interface ListResponse<T> { metadata: { resourceVersion?: string }; items: T[] }

// A request that hangs (a connection left dead by a network change, a server gone mid-answer)
// must fail, or the reflector waiting on it never retries: lists get 30 s, and a watch that sends
// nothing for 75 s (the server sends a bookmark every 30 s) is dropped and resumed.
const requestTimeoutMs = 30_000;
const watchIdleMs = 75_000;

export class Api {
  constructor(readonly token: string) {}

  async request<T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const res = await fetch(path, {
      method,
      signal: AbortSignal.timeout(requestTimeoutMs),
      headers: { authorization: `Bearer ${this.token}`, ...(body !== undefined && { 'content-type': contentType }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    if (!res.ok) throw await errorOf(res);
    return await res.json() as T;
  }

  get<T>(path: string): Promise<T> { return this.request<T>('GET', path); }
  mergePatch<T>(path: string, patch: unknown): Promise<T> { return this.request<T>('PATCH', path, patch, 'application/merge-patch+json'); }
  delete(path: string): Promise<unknown> { return this.request('DELETE', path); }

  /**
   * Streams watch events until the server ends the watch or `signal` aborts. Returns normally
   * when the stream ends; throws on a failed request. Bookmarks are passed on (they carry the
   * resume point).
   */
  async watch(path: string, onEvent: (e: WatchEvent<KubeObject>) => void, signal: AbortSignal): Promise<void> {
    const idle = new AbortController();
    let timer = setTimeout(() => idle.abort(), watchIdleMs);
    const res = await fetch(path, { headers: { authorization: `Bearer ${this.token}` }, signal: AbortSignal.any([signal, idle.signal]) })
      .catch((err: unknown) => { clearTimeout(timer); throw err; });
    if (!res.ok || !res.body) { clearTimeout(timer); throw await errorOf(res); }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        clearTimeout(timer);
        timer = setTimeout(() => idle.abort(), watchIdleMs);
        if (done) return;
        buffered += value;
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (line) onEvent(JSON.parse(line) as WatchEvent<KubeObject>);
        }
      }
    } finally {
      clearTimeout(timer);
      // A handler that throws (an ERROR event) leaves the stream open otherwise.
      reader.cancel().catch(() => { /* already closed */ });
    }
  }

  /** A pod's log as a stream of text chunks (follow), until `signal` aborts. */
  async streamLog(path: string, onText: (text: string) => void, signal: AbortSignal): Promise<void> {
    const res = await fetch(path, { headers: { authorization: `Bearer ${this.token}` }, signal });
    if (!res.ok || !res.body) throw await errorOf(res);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      onText(value);
    }
  }
}

async function errorOf(res: Response): Promise<ApiRequestError> {
  let message = res.statusText;
  try {
    const status = await res.json() as { message?: string };
    if (status.message) message = status.message;
  } catch {
    // Not a Status body (a proxy's HTML page): the status line says enough.
  }
  return new ApiRequestError(res.status, message);
}
