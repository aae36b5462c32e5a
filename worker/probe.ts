// Where a worker9p worker thread's time goes during a window the host names (bench:guest
// --profile): V8's sampling profiler on this thread (node:inspector), the event loop's busy and
// idle time, and per 9P message type the server's own time from a frame's arrival on the port to
// its reply's post. Off until start(); the port wrapper then costs a Map lookup per frame.

import { Session } from "node:inspector";
import { performance } from "node:perf_hooks";
import type { PortLike } from "../src/transport/messageport.js";

/** A V8 CPU profile (the DevTools protocol's Profiler.Profile, the fields read here). */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** What the worker did between probe start and stop. */
export interface WorkerProbeResult {
  wallMs: number;
  /** Event loop time running callbacks (performance.eventLoopUtilization().active). */
  activeMs: number;
  idleMs: number;
  /** Per request type: requests answered in the window and their summed receive → reply time. */
  server: Record<number, { count: number; ms: number }>;
  profile: CpuProfile;
}

export class WorkerProbe {
  private on = false;
  private readonly arrived = new Map<number, { type: number; at: number }>();
  private server: Record<number, { count: number; ms: number }> = {};
  private session: Session | undefined;
  private startedAt = 0;
  private elu: ReturnType<typeof performance.eventLoopUtilization> | undefined;

  /** `port` with a timestamp per request frame and, on its reply, the server's time for it. */
  wrap(port: PortLike): PortLike {
    const wrapped = new Map<(ev: { data: unknown }) => void, (ev: { data: unknown }) => void>();
    const onFrame = (data: unknown) => {
      if (!this.on || !(data instanceof ArrayBuffer) || data.byteLength < 7) return;
      const b = new Uint8Array(data, 0, 7);
      this.arrived.set(b[5]! | (b[6]! << 8), { type: b[4]!, at: performance.now() });
    };
    return {
      postMessage: (message, transfer) => {
        if (this.on && message instanceof ArrayBuffer && message.byteLength >= 7) {
          const b = new Uint8Array(message, 0, 7);
          const tag = b[5]! | (b[6]! << 8);
          const req = this.arrived.get(tag);
          if (req) {
            this.arrived.delete(tag);
            const row = (this.server[req.type] ??= { count: 0, ms: 0 });
            row.count++;
            row.ms += performance.now() - req.at;
          }
        }
        port.postMessage(message, transfer);
      },
      // Registered before the session's listener, so the timestamp is taken before decoding.
      addEventListener: (type, listener) => {
        const timed = (ev: { data: unknown }) => {
          onFrame(ev.data);
          listener(ev);
        };
        wrapped.set(listener, timed);
        port.addEventListener(type, timed);
      },
      removeEventListener: (type, listener) => {
        port.removeEventListener(type, wrapped.get(listener) ?? listener);
        wrapped.delete(listener);
      },
      start: () => port.start?.(),
      close: () => port.close(),
    };
  }

  async start(intervalUs: number): Promise<void> {
    this.session = new Session();
    this.session.connect();
    await this.post("Profiler.enable");
    await this.post("Profiler.setSamplingInterval", { interval: intervalUs });
    await this.post("Profiler.start");
    this.server = {};
    this.arrived.clear();
    this.on = true;
    this.startedAt = performance.now();
    this.elu = performance.eventLoopUtilization();
  }

  async stop(): Promise<WorkerProbeResult> {
    if (!this.session || !this.elu) throw new Error("the probe was not started");
    const elu = performance.eventLoopUtilization(this.elu);
    const wallMs = performance.now() - this.startedAt;
    this.on = false;
    const { profile } = (await this.post("Profiler.stop")) as { profile: CpuProfile };
    this.session.disconnect();
    this.session = undefined;
    return { wallMs, activeMs: elu.active, idleMs: elu.idle, server: this.server, profile };
  }

  private post(method: string, params?: object): Promise<unknown> {
    const session = this.session!;
    return new Promise((resolve, reject) =>
      session.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result))),
    );
  }
}
