/** Loaded by page.ts right after spawning a worker, to prove the worker's module graph loads. */
export function ping(): string {
  return "pong";
}
