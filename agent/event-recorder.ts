// Events go to the API server one at a time, in the order they happened. A burst of thirty pod
// starts makes sixty Events; sent at once, each would open its own TLS connection (a handshake
// on a board's CPU and tens of KB of its memory apiece) just as the status writes, which users
// wait on, need those. The kubelet queues its Events too.
import type { Logger } from 'pino';

// Enough for every Event of a large burst; beyond it (the API server down for long) the oldest go.
const maxQueued = 1_000;

export class EventRecorder<E> {
  private readonly queue: E[] = [];
  private sending = false;

  constructor(private readonly send: (event: E) => Promise<unknown>, private readonly logger?: Logger) {}

  /** Queues an Event; never throws (an offline agent keeps working). */
  record(event: E): void {
    if (this.queue.length >= maxQueued) this.queue.shift();
    this.queue.push(event);
    if (!this.sending) void this.drain();
  }

  private async drain(): Promise<void> {
    this.sending = true;
    for (let event = this.queue.shift(); event !== undefined; event = this.queue.shift()) {
      try {
        await this.send(event);
      } catch (err) {
        this.logger?.debug({ err: (err as Error).message }, 'event not recorded');
      }
    }
    this.sending = false;
  }
}
