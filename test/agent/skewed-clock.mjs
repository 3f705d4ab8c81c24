// Loaded with `node --import` before the agent: the whole process reads a clock that is
// LABKUBE_CLOCK_SKEW_MS off, as on a board with no real-time clock (a Pi boots with the time it
// last saved). The machine's clock is not touched. Timers and performance.now() are unaffected,
// as on a real board: only the wall clock is wrong.
const skewMs = Number(process.env.LABKUBE_CLOCK_SKEW_MS ?? 0);
const RealDate = Date;

class SkewedDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(RealDate.now() + skewMs);
    else super(...args);
  }

  static now() { return RealDate.now() + skewMs; }
}

globalThis.Date = SkewedDate;
