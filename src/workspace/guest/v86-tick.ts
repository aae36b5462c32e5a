// How v86 schedules its next slice of guest time, and what a 9P request's round trip costs there.
//
// v86's core (the starter's `v86`: do_tick, next_tick, yield, yield_callback, tick_counter, idle;
// these names survive its minified build, libv86.mjs) runs the guest in slices: do_tick runs
// cpu.main_loop(), which returns how long the guest may sleep (t ms; < 1 when it has more to do),
// and next_tick(t) bumps tick_counter and calls yield(t, tick), which arranges a later
// yield_callback(tick); that runs do_tick only if tick is still tick_counter (a stale one is
// ignored). When an interrupt is raised while the core is idle between slices — a 9P reply from
// worker9p, which the server gives in a microtask after the slice that sent the request — the
// CPU calls next_tick(0) at once.
//
// In a dedicated worker (the workspace's), v86's yield posts {t, tick} to a nested helper worker,
// which posts the tick back at once (t < 1) or after setTimeout(t): every wake-up, for a reply or
// for the next slice of a busy guest, is a round trip through another thread, which on a loaded
// 2-core machine waits for a core. ("use-scheduling-api" in location.href would pick
// scheduler.postTask, but in a worker location is the worker script's URL, not the page's.)
//
// "same-thread" keeps that helper for t ≥ 1 (timers: a chain of setTimeout in this thread would be
// clamped to 4 ms after 5 levels) and turns t < 1 into a message to a MessageChannel of this
// thread, which Chromium runs as a task without clamping. What stays v86's own (T1–T3):
//  T1. One yield, one yield_callback(tick): the tick travels with the message, so a callback made
//      stale by a later next_tick is ignored by v86's own check, as with the helper.
//  T2. do_tick is only ever called from a task of its own, never from inside v86's main_loop or
//      handle9p (a reply that wakes the core schedules a tick; it does not run one).
//  T3. A stopped core stays stopped: do_tick itself checks `stopping`/`running`; after destroy
//      (unregister_yield) nothing is scheduled any more and the channel is closed.

/** The part of v86's core this schedules (the starter's `v86` property, created once its wasm is loaded). */
export interface V86Core {
  idle: boolean;
  tick_counter: number;
  do_tick(): void;
  yield(t: number, tick: number): void;
  yield_callback(tick: number): void;
  unregister_yield(): void;
}

/** "v86": v86's own scheduling (helper worker); "same-thread": t < 1 by a MessageChannel of this thread. */
export type TickMode = "v86" | "same-thread";
export const TICK_MODES: readonly TickMode[] = ["v86", "same-thread"];

/** Replace the core's yield for t < 1 by a message to a channel of this thread (T1–T3). */
export function scheduleInThisThread(core: V86Core): void {
  const helperYield = core.yield.bind(core);
  const helperUnregister = core.unregister_yield.bind(core);
  const channel = new MessageChannel();
  let destroyed = false;
  channel.port1.onmessage = (e: MessageEvent<number>) => core.yield_callback(e.data);
  core.yield = (t, tick) => {
    if (destroyed) return;
    if (t < 1) channel.port2.postMessage(tick);
    else helperYield(t, tick);
  };
  core.unregister_yield = () => {
    destroyed = true;
    channel.port1.close();
    channel.port2.close();
    helperUnregister();
  };
}
