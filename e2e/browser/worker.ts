/**
 * The generic dedicated worker of the browser harness: imports the requested
 * module from the dev server and calls one exported function with one
 * structured-cloneable argument plus a WorkerContext.
 */
import { serializeError, type CallReply, type CallRequest, type WorkerContext, type WorkerFunction } from "./protocol.js";

// The project compiles against the DOM lib (not WebWorker), so describe the
// little of DedicatedWorkerGlobalScope used here.
interface WorkerScope {
  readonly name: string;
  postMessage(msg: unknown): void;
  onmessage: ((ev: MessageEvent<CallRequest>) => void) | null;
}
const scope = self as unknown as WorkerScope;

function reply(msg: CallReply): void {
  try {
    scope.postMessage(msg);
  } catch (e) {
    // The result was not structured-cloneable: say so instead of hanging the caller.
    scope.postMessage({ id: msg.id, kind: "error", error: serializeError(e) } satisfies CallReply);
  }
}

scope.onmessage = async (ev: MessageEvent<CallRequest>) => {
  const { id, url, fn, arg } = ev.data;
  const ctx: WorkerContext = {
    workerName: scope.name,
    progress: (value) => reply({ id, kind: "progress", value }),
  };
  try {
    const mod = (await import(/* @vite-ignore */ url)) as Record<string, unknown>;
    const f = mod[fn];
    if (typeof f !== "function") throw new Error(`${url} does not export a function ${fn}`);
    const value = await (f as WorkerFunction)(arg, ctx);
    reply({ id, kind: "result", value });
  } catch (e) {
    reply({ id, kind: "error", error: serializeError(e) });
  }
};
