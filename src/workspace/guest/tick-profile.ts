// Where a 9P request's time goes in the workspace worker (bench:workspace --profile): the server's
// time, from handle9p's call to reply(), and the wake-up, from reply() to the start of v86's next
// slice (do_tick); how many replies found v86 idle between slices; and how long a yield(t < 1)
// takes to come back as a slice (v86-tick.ts). Clock: performance.now(), which a page that is not
// cross-origin isolated coarsens to 100 µs, so read the means beside the percentiles.
import type { Handle9p } from "../../transport/handle9p.js";
import type { V86Core } from "./v86-tick.js";

export interface Spread {
  n: number;
  mean: number;
  p50: number;
  p90: number;
}

export interface TickProfileSummary {
  /** handle9p's call to reply(), ms. */
  server: Spread;
  /** Of which: handle9p's call to the end of the slice that made it (the guest ran on), ms… */
  sliceRest: Spread;
  /** …and the end of that slice to reply() (what the server took once it got the thread), ms. */
  afterSlice: Spread;
  /** reply() to the next do_tick, ms (replies given between slices). */
  wake: Spread;
  /** Replies given inside a slice (during handle9p or main_loop): the guest sees them at once. */
  repliesInSlice: number;
  /** Replies given between slices while v86 was idle (waiting for its next tick). */
  repliesWhileIdle: number;
  /** yield(t < 1) to its (current) yield_callback, ms. */
  zeroYield: Spread;
  /** Slices run, and the time spent in them, ms. */
  slices: number;
  sliceMs: number;
  /** Since the last reset, ms. */
  elapsedMs: number;
}

export class TickProfile {
  private server: number[] = [];
  private sliceRest: number[] = [];
  private afterSlice: number[] = [];
  private sliceEnd = 0;
  private wake: number[] = [];
  private zeroYield: number[] = [];
  private repliesInSlice = 0;
  private repliesWhileIdle = 0;
  private slices = 0;
  private sliceMs = 0;
  private since = performance.now();
  /** reply() times not yet followed by a slice. */
  private unseenReplies: number[] = [];
  private yieldAt = new Map<number, number>();
  private inSlice = false;
  private core: V86Core | undefined;

  /** handle9p, timed. */
  wrapHandle9p(handle9p: Handle9p): Handle9p {
    return (reqbuf, reply) => {
      const t0 = performance.now();
      handle9p(reqbuf, (buf) => {
        const t1 = performance.now();
        this.server.push(t1 - t0);
        if (!this.inSlice && this.sliceEnd >= t0) {
          this.sliceRest.push(this.sliceEnd - t0);
          this.afterSlice.push(t1 - this.sliceEnd);
        }
        if (this.inSlice) this.repliesInSlice++;
        else {
          if (this.core?.idle) this.repliesWhileIdle++;
          this.unseenReplies.push(t1);
        }
        reply(buf);
      });
    };
  }

  /** Time the core's slices and yields (call after the tick mode is installed: it measures whichever runs). */
  attach(core: V86Core): void {
    this.core = core;
    const doTick = core.do_tick.bind(core);
    const yieldTo = core.yield.bind(core);
    const callback = core.yield_callback.bind(core);
    core.do_tick = () => {
      const t0 = performance.now();
      for (const at of this.unseenReplies) this.wake.push(t0 - at);
      this.unseenReplies.length = 0;
      this.inSlice = true;
      try {
        doTick();
      } finally {
        this.inSlice = false;
        this.slices++;
        this.sliceEnd = performance.now();
        this.sliceMs += this.sliceEnd - t0;
      }
    };
    core.yield = (t, tick) => {
      if (t < 1) this.yieldAt.set(tick, performance.now());
      yieldTo(t, tick);
    };
    core.yield_callback = (tick) => {
      const at = this.yieldAt.get(tick);
      this.yieldAt.delete(tick);
      if (at !== undefined && tick === core.tick_counter) this.zeroYield.push(performance.now() - at);
      callback(tick);
    };
  }

  reset(): void {
    this.server = [];
    this.sliceRest = [];
    this.afterSlice = [];
    this.wake = [];
    this.zeroYield = [];
    this.repliesInSlice = this.repliesWhileIdle = this.slices = this.sliceMs = 0;
    this.unseenReplies.length = 0;
    this.since = performance.now();
  }

  summary(): TickProfileSummary {
    return {
      server: spread(this.server),
      sliceRest: spread(this.sliceRest),
      afterSlice: spread(this.afterSlice),
      wake: spread(this.wake),
      repliesInSlice: this.repliesInSlice,
      repliesWhileIdle: this.repliesWhileIdle,
      zeroYield: spread(this.zeroYield),
      slices: this.slices,
      sliceMs: this.sliceMs,
      elapsedMs: performance.now() - this.since,
    };
  }
}

export function spread(samples: readonly number[]): Spread {
  const n = samples.length;
  if (n === 0) return { n, mean: NaN, p50: NaN, p90: NaN };
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number) => sorted[Math.min(n - 1, Math.floor(q * n))]!;
  return { n, mean: samples.reduce((a, b) => a + b, 0) / n, p50: at(0.5), p90: at(0.9) };
}
