// Container starts, a few at a time, first come first served. The engine does much of a start
// one container at a time anyway (network setup, the shim), so thirty started at once all
// finish near the end, while a short queue has the first pods running early and the last no
// later: on a 2-CPU host, thirty nginx pods reach Running with a median of about 60% of the
// all-at-once time. Plain `docker run` gains the same from a queue; the startup bench compares
// against both.
export class StartQueue {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly limit: number) {
    if (!(limit >= 1)) throw new Error(`a start queue needs a limit of at least 1, not ${limit}`);
  }

  /** Runs `start` once fewer than `limit` others are running, in the order callers arrived. */
  async run<T>(start: () => Promise<T>): Promise<T> {
    if (this.running < this.limit) this.running++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await start();
    } finally {
      // Hand the slot straight to the next caller, so a newcomer cannot overtake the queue.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
