// Backoffs: the kubelet's crash-loop backoff for containers (CrashBackoff), and the one
// doubling retry the agent uses for everything it reaches over a network (RetryBackoff, retry).
//
// The kubelet's crash-loop backoff for one container: the first restart is immediate, then
// each restart waits twice as long as the one before, up to a cap; a container that ran cleanly
// long enough starts over. Time is passed in, so tests drive it without waiting.

export interface BackoffSettings {
  /** Kubernetes waits 10 s before the second restart. */
  baseMs: number;
  /** Kubernetes caps the wait at 5 minutes. */
  maxMs: number;
  /** Kubernetes forgets a container's backoff after it ran 10 minutes without crashing. */
  resetAfterMs: number;
}

export const defaultBackoff: BackoffSettings = { baseMs: 10_000, maxMs: 300_000, resetAfterMs: 600_000 };

export class CrashBackoff {
  private delayMs = 0;
  private lastRestartAt = 0;

  constructor(private readonly settings: BackoffSettings = defaultBackoff) {}

  /** When the next restart may happen, given the last container's start and finish times. */
  readyAt(startedAtMs: number, finishedAtMs: number): number {
    if (finishedAtMs - startedAtMs >= this.settings.resetAfterMs) this.delayMs = 0;
    return Math.max(finishedAtMs, this.lastRestartAt) + this.delayMs;
  }

  /** The current wait, for the CrashLoopBackOff message. */
  get currentDelayMs(): number { return this.delayMs; }

  /** Records a restart: the next one waits longer. */
  restarted(now: number): void {
    this.lastRestartAt = now;
    this.delayMs = this.delayMs === 0 ? this.settings.baseMs : Math.min(this.delayMs * 2, this.settings.maxMs);
  }
}

// ---------------------------------------------------------------------------------------------
// Retrying what the agent depends on (the API server, the engine's event streams, the node
// address the log server binds): one doubling backoff and one loop for all of them, so every
// background task fails the same way: it logs, waits, and tries again; it never ends the agent.

export interface RetryBackoffSettings { baseMs: number; maxMs: number }

// A control plane or an address that comes back is used again within 10 s, and thirty boards
// retrying every 10 s add three requests a second to a server that is starting up.
export const reconnectBackoff: RetryBackoffSettings = { baseMs: 1_000, maxMs: 10_000 };
// An answer only a person can change (a refused join): often enough to notice the fix within
// half a minute, rarely enough not to fill the log.
export const refusedBackoff: RetryBackoffSettings = { baseMs: 5_000, maxMs: 30_000 };

/** Doubling from `baseMs` to `maxMs`, plus up to 20% at random so a lab's boards do not retry in step. */
export class RetryBackoff {
  private delayMs: number;

  constructor(private readonly settings: RetryBackoffSettings, private readonly random: () => number = Math.random) {
    this.delayMs = settings.baseMs;
  }

  next(): number {
    const delay = this.delayMs;
    this.delayMs = Math.min(delay * 2, this.settings.maxMs);
    return Math.round(delay * (1 + 0.2 * this.random()));
  }

  reset(): void { this.delayMs = this.settings.baseMs; }
}

/**
 * Sleeps that end early: when the agent sees the control plane again (a Lease renewal succeeds
 * after failing), every loop waiting out a backoff tries at once instead of at its next step.
 */
export class Wakeup {
  private readonly sleepers = new Set<() => void>();

  /** Resolves after `ms`, on wake(), or when `signal` aborts, whichever comes first. */
  sleep = (ms: number, signal?: AbortSignal): Promise<void> => new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      this.sleepers.delete(done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    this.sleepers.add(done);
    signal?.addEventListener('abort', done, { once: true });
  });

  wake(): void { [...this.sleepers].forEach((done) => done()); }
}

export interface RetryOptions {
  /** The backoff to wait out after a failure; a function picks one by the error (fast for a lost connection, slow for a refusal). */
  backoff: RetryBackoff | ((err: unknown) => RetryBackoff);
  /** Called with each failure before the wait: the place to log it. */
  onError: (err: unknown, retryInMs: number) => void;
  /** Ends the retries: retry() then rejects with the signal's reason. */
  signal?: AbortSignal;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

const plainSleep = (ms: number, signal?: AbortSignal) => new Wakeup().sleep(ms, signal);

/** Calls `attempt` until it succeeds. It rejects only when `signal` aborts. */
export async function retry<T>(attempt: () => Promise<T>, o: RetryOptions): Promise<T> {
  const sleep = o.sleep ?? plainSleep;
  for (;;) {
    o.signal?.throwIfAborted();
    try {
      return await attempt();
    } catch (err) {
      o.signal?.throwIfAborted();
      const backoff = typeof o.backoff === 'function' ? o.backoff(err) : o.backoff;
      const delay = backoff.next();
      o.onError(err, delay);
      await sleep(delay, o.signal);
    }
  }
}
