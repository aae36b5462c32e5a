export { delay } from "../protocol/errno.js";
import type { OpContext } from "./types.js";

/** How long a "stuck" request waits: until it is aborted, in practice (setTimeout's largest delay). */
export const STUCK_MS = 2 ** 31 - 1;

/**
 * Injected latency, for flush tests (FileSystemOptions.latencyMs > 0): files reached by a name
 * starting with "slow" take latencyMs; those reached by a name starting with "stuck" wait until
 * their request is aborted, so a test that kills the request does not race the latency.
 */
export function latencyFor(latencyMs: number, ctx: OpContext): number {
  if (latencyMs <= 0 || ctx.name === undefined) return 0;
  if (ctx.name.startsWith("stuck")) return STUCK_MS;
  return ctx.name.startsWith("slow") ? latencyMs : 0;
}
