// The agent's API client: KubeClient with deadlines. A board's cable is pulled all day; without a
// deadline, a request sent on a kept-alive connection the network dropped waits for TCP to give
// up (minutes: the "139 s" an agent once took to come back), and a watch on such a connection
// waits forever. Here every request has a deadline, a watch that goes quiet for longer than the
// server's bookmark interval is ended, and restartWatches() ends them all when the agent sees the
// control plane again, so informers resume at once on fresh connections.
import type { WatchEvent } from '../control-plane/api/meta.ts';
import type { ResourceType } from '../control-plane/api/resources.ts';
import { ConnectionError, KubeClient, type ClientOptions, type WatchQuery } from '../control-plane/client/client.ts';

export interface AgentClientOptions extends ClientOptions {
  /** The longest one request may take, connecting included. */
  requestTimeoutMs?: number;
  /** A watch that delivers nothing (not even a BOOKMARK) for this long is on a dead connection. */
  watchIdleMs?: number;
}

// The server answers in milliseconds; 10 s covers a TLS handshake on a loaded board and a
// server starting up, and notices a dead connection well before TCP would (minutes).
const defaultRequestTimeoutMs = 10_000;
// The API server sends a BOOKMARK every 30 s (apiserver/app.ts); 15 s more for a busy server.
const defaultWatchIdleMs = 45_000;

export class AgentClient extends KubeClient {
  private readonly watches = new Set<AbortController>();
  private readonly requestTimeoutMs: number;
  private readonly watchIdleMs: number;

  constructor(options: AgentClientOptions) {
    super(options);
    this.requestTimeoutMs = options.requestTimeoutMs ?? defaultRequestTimeoutMs;
    this.watchIdleMs = options.watchIdleMs ?? defaultWatchIdleMs;
  }

  /** The node credential this client sends. */
  get token(): string { return this.options.token; }

  /** Sends `token` from the next request on (after a re-join); informers and renewers sharing this client follow. */
  useToken(token: string): void { this.options.token = token; }

  override async request<T>(method: string, path: string, body?: unknown, contentType = 'application/json', signal?: AbortSignal): Promise<T> {
    if (signal) return super.request<T>(method, path, body, contentType, signal);
    const deadline = AbortSignal.timeout(this.requestTimeoutMs);
    try {
      return await super.request<T>(method, path, body, contentType, deadline);
    } catch (err) {
      // Aborting destroys the connection too, so a dead kept-alive socket leaves the pool.
      if (deadline.aborted) throw new ConnectionError(this.options.server, { code: 'ETIMEDOUT' });
      throw err;
    }
  }

  override async watch(r: ResourceType, namespace: string | undefined, query: WatchQuery, onEvent: (e: WatchEvent) => void,
    signal?: AbortSignal): Promise<void> {
    const stream = new AbortController();
    const end = () => stream.abort();
    if (signal?.aborted) end();
    signal?.addEventListener('abort', end, { once: true });
    let idle = setTimeout(end, this.watchIdleMs);
    const seen = (e: WatchEvent) => {
      clearTimeout(idle);
      idle = setTimeout(end, this.watchIdleMs);
      onEvent(e);
    };
    this.watches.add(stream);
    try {
      // A stream ended here (gone quiet, or restarted) returns normally, even before the server
      // answered: the informer resumes from its last revision at once, without a backoff.
      await super.watch(r, namespace, query, seen, stream.signal);
    } catch (err) {
      if (!stream.signal.aborted || signal?.aborted) throw err;
    } finally {
      clearTimeout(idle);
      this.watches.delete(stream);
      signal?.removeEventListener('abort', end);
    }
  }

  /** Ends every open watch (they may be on connections the network dropped); their informers reconnect. */
  restartWatches(): void { this.watches.forEach((w) => w.abort()); }
}
