export { delay } from "../protocol/errno.js";
import type { OpContext } from "./types.js";

/** Injected latency applies to files reached by a name starting with "slow" (for flush tests). */
export function latencyFor(latencyMs: number, ctx: OpContext): number {
  return latencyMs > 0 && ctx.name !== undefined && ctx.name.startsWith("slow") ? latencyMs : 0;
}
