import type { FileSystemApi } from "../fs/types.js";
import type { FrameSink } from "./connection.js";
import { Session, type SessionLimits } from "./session.js";
import { addStats, emptyStats, type SessionStats } from "./stats.js";

export interface ServerOptions {
  /** Largest msize agreed with a client (default 1 MiB). */
  maxMsize?: number;
  /** Fids per session (default 65536); past it, EMFILE. */
  maxFids?: number;
  /** Requests one session runs at once (default 1024); later ones wait their turn, the client is never cut off for sending them. */
  maxInFlight?: number;
  /** Reply bytes (Tread/Treaddir counts) one session's requests in flight may produce (default 16 MiB). */
  maxReplyBytes?: number;
  /** Frames one session may hold unstarted when its transport cannot stop reading (default 65536 frames, 64 MiB). */
  maxHeldFrames?: number;
  maxHeldBytes?: number;
  /** Sessions at once (default 1024); past it, transports refuse new connections with a clear error. */
  maxConnections?: number;
  /** A line per request and reply, for debugging. */
  trace?: (line: string) => void;
  /** Server bugs (not POSIX errors), each answered to the client as EIO. Default: console.error. */
  onInternalError?: (err: unknown) => void;
}

export const DEFAULT_MAX_MSIZE = 1024 * 1024;
export const DEFAULT_MAX_CONNECTIONS = 1024;

export class TooManyConnections extends Error {
  override readonly name = "TooManyConnections";
  constructor(readonly limit: number) {
    super(`refused: ${limit} connections already open (the server's maxConnections)`);
  }
}

/** A 9P2000.L server: one shared tree, any number of sessions. */
export class Server {
  private readonly sessions = new Set<Session>();
  private readonly finished = emptyStats();
  private nextSessionId = 1;
  private readonly limits: SessionLimits;
  readonly maxConnections: number;

  constructor(
    readonly fs: FileSystemApi,
    private readonly options: ServerOptions = {},
  ) {
    this.limits = {
      maxMsize: options.maxMsize ?? DEFAULT_MAX_MSIZE,
      maxFids: options.maxFids ?? 65536,
      maxInFlight: options.maxInFlight ?? 1024,
      maxReplyBytes: options.maxReplyBytes ?? 16 * 1024 * 1024,
      maxHeldFrames: options.maxHeldFrames ?? 65536,
      maxHeldBytes: Math.max(options.maxHeldBytes ?? 64 * 1024 * 1024, 2 * (options.maxMsize ?? DEFAULT_MAX_MSIZE)),
    };
    this.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    if (this.limits.maxMsize < 4096) throw new RangeError("maxMsize must be at least 4096");
  }

  /** No room for another session (maxConnections): transports refuse the connection. */
  get full(): boolean {
    return this.sessions.size >= this.maxConnections;
  }

  /** Start a session whose replies go to `sink`. Feed it frames with `receive`. Throws TooManyConnections when full. */
  connect(sink: FrameSink): Session {
    if (this.full) throw new TooManyConnections(this.maxConnections);
    const session = new Session(this.nextSessionId++, this.fs, sink, this.limits, {
      renamed: (a, b, c, d) => this.renamed(a, b, c, d),
      internalError: (e) => (this.options.onInternalError ?? defaultInternalError)(e),
      trace: this.options.trace,
      closed: (s) => {
        this.sessions.delete(s);
        addStats(this.finished, s.stats);
        this.finished.inFlight = 0;
      },
    });
    this.sessions.add(session);
    return session;
  }

  /** Largest frame a transport should accept before a session negotiated its msize. */
  connectionMaxFrame(): number {
    return this.limits.maxMsize;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Counters over every session, past and present. */
  stats(): SessionStats {
    const total = { ...this.finished };
    for (const s of this.sessions) addStats(total, s.stats);
    return total;
  }

  /** End every session (their in-flight requests are aborted). */
  close(): void {
    for (const s of [...this.sessions]) s.close();
  }

  private renamed(oldDir: number, oldName: string, newDir: number, newName: string): void {
    for (const s of this.sessions) {
      for (const f of s.fids.values()) {
        if (f.parent === oldDir && f.name === oldName) {
          f.parent = newDir;
          f.name = newName;
        }
      }
    }
  }
}

function defaultInternalError(err: unknown): void {
  console.error("worker9p: internal error:", err);
}
