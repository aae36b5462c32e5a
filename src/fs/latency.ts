import { abortReason } from "../protocol/errno.js";
import type { OpContext } from "./types.js";

/** Wait `ms`, or reject with an AbortError as soon as `signal` aborts (the timer is cleared). */
export function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(abortReason(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Injected latency applies to files reached by a name starting with "slow" (for flush tests). */
export function latencyFor(latencyMs: number, ctx: OpContext): number {
  return latencyMs > 0 && ctx.name !== undefined && ctx.name.startsWith("slow") ? latencyMs : 0;
}
