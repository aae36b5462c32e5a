/**
 * Messages between the Node test process, the test page and its dedicated
 * workers. Shared by harness.ts (Node), page.ts and worker.ts (browser), so the
 * three sides cannot drift apart.
 */

/** What a worker-side test function receives besides its argument. */
export interface WorkerContext {
  /** Report intermediate progress; the Node side can wait for it (e.g. to kill the worker mid-stream). */
  progress(value: unknown): void;
  /** The harness's name for this worker, handy in file names and messages. */
  readonly workerName: string;
}

/** Signature of a function `runInWorker` can call: one structured-cloneable argument in, one out. */
export type WorkerFunction<A = unknown, R = unknown> = (arg: A, ctx: WorkerContext) => R | Promise<R>;

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
}

/** page → worker */
export interface CallRequest {
  id: number;
  /** Module URL on the dev server, e.g. "/e2e/browser/store-tests.ts". */
  url: string;
  fn: string;
  arg: unknown;
}

/** worker → page */
export type CallReply =
  | { id: number; kind: "progress"; value: unknown }
  | { id: number; kind: "result"; value: unknown }
  | { id: number; kind: "error"; error: SerializedError };

export type CallOutcome = { ok: true; value: unknown } | { ok: false; error: SerializedError };

export interface CallStatus {
  progress: unknown[];
  done: boolean;
  outcome?: CallOutcome;
}

/** What page.ts installs as `window.__harness`; the Node side drives it with page.evaluate. */
export interface PageHarness {
  readonly ready: true;
  /** Start a dedicated module worker running worker.ts; returns its id. */
  spawn(name: string): Promise<number>;
  /** Start a call in a worker without waiting; returns the call id. */
  start(workerId: number, url: string, fn: string, arg: unknown): number;
  /** Wait for a call to finish. */
  wait(callId: number): Promise<CallOutcome>;
  status(callId: number): CallStatus;
  /** Kill the worker at once (whatever it is doing), like a crash. Pending calls fail. */
  terminate(workerId: number): void;
}

declare global {
  interface Window {
    __harness?: PageHarness;
  }
}

export function serializeError(e: unknown): SerializedError {
  if (e instanceof Error || (typeof e === "object" && e !== null && "message" in e)) {
    const err = e as Error;
    return { name: String(err.name ?? "Error"), message: String(err.message), stack: err.stack };
  }
  return { name: "Error", message: String(e) };
}
