/**
 * Runs in the test page. It only spawns dedicated workers and relays calls:
 * OPFS sync access handles exist only in dedicated workers, and the 9P server
 * runs in one, so every test body executes there, never in the page.
 */
import type { CallOutcome, CallReply, CallRequest, CallStatus, PageHarness } from "./protocol.js";

interface Call extends CallStatus {
  workerId: number;
  waiters: ((o: CallOutcome) => void)[];
}

const workers = new Map<number, Worker>();
const calls = new Map<number, Call>();
let nextWorker = 1;
let nextCall = 1;

function finish(call: Call, outcome: CallOutcome): void {
  if (call.done) return;
  call.done = true;
  call.outcome = outcome;
  for (const w of call.waiters.splice(0)) w(outcome);
}

const harness: PageHarness = {
  ready: true,
  async spawn(name) {
    const id = nextWorker++;
    const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module", name });
    workers.set(id, worker);
    worker.onmessage = (ev: MessageEvent<CallReply>) => {
      const msg = ev.data;
      const call = calls.get(msg.id);
      if (!call) return;
      if (msg.kind === "progress") call.progress.push(msg.value);
      else if (msg.kind === "result") finish(call, { ok: true, value: msg.value });
      else finish(call, { ok: false, error: msg.error });
    };
    worker.onerror = (ev) => {
      for (const call of calls.values()) {
        if (call.workerId === id) {
          finish(call, { ok: false, error: { name: "WorkerError", message: ev.message || "worker failed to load" } });
        }
      }
    };
    // A module worker reports load failures only through onerror; a ping makes
    // spawn() fail fast instead of leaving the first real call hanging.
    const ping = harness.start(id, "/e2e/browser/worker-ping.ts", "ping", null);
    const outcome = await harness.wait(ping);
    if (!outcome.ok) throw new Error(`worker ${name} did not start: ${outcome.error.message}`);
    return id;
  },
  start(workerId, url, fn, arg) {
    const worker = workers.get(workerId);
    const id = nextCall++;
    const call: Call = { workerId, progress: [], done: false, waiters: [] };
    calls.set(id, call);
    if (!worker) {
      finish(call, { ok: false, error: { name: "Error", message: `no worker ${workerId}` } });
    } else {
      const req: CallRequest = { id, url, fn, arg };
      worker.postMessage(req);
    }
    return id;
  },
  wait(callId) {
    const call = calls.get(callId);
    if (!call) return Promise.resolve({ ok: false, error: { name: "Error", message: `no call ${callId}` } });
    if (call.done && call.outcome) return Promise.resolve(call.outcome);
    return new Promise((resolve) => call.waiters.push(resolve));
  },
  status(callId) {
    const call = calls.get(callId);
    if (!call) return { progress: [], done: true, outcome: { ok: false, error: { name: "Error", message: `no call ${callId}` } } };
    return { progress: call.progress, done: call.done, outcome: call.outcome };
  },
  terminate(workerId) {
    workers.get(workerId)?.terminate();
    workers.delete(workerId);
    for (const call of calls.values()) {
      if (call.workerId === workerId) finish(call, { ok: false, error: { name: "Terminated", message: "worker terminated" } });
    }
  },
};

window.__harness = harness;
