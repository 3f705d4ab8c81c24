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
