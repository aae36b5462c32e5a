/**
 * When a transport stops reading a connection: a client may pipeline freely, and the session
 * holds what it cannot start yet (server/session.ts, Back-pressure); the transport stops reading
 * once the session holds `pauseAt` requests OR `pauseAtBytes` bytes of request frames (in flight
 * or held: a Twrite's payload lives in its frame), and reads again once both are down to half.
 * Counting bytes too is what keeps 256 pipelined 1 MiB Twrites to a slow store from living in
 * the server's memory at once.
 */
export interface ReadPauseLimits {
  pauseAt: number;
  pauseAtBytes: number;
}

/** What a session tells transports about what it holds. */
export interface PendingWork {
  readonly pending: number;
  readonly pendingBytes: number;
}

export const DEFAULT_PAUSE_AT = 256;
export const DEFAULT_PAUSE_AT_BYTES = 16 * 1024 * 1024;

export function readPauseLimits(options: { pauseAt?: number; pauseAtBytes?: number }): ReadPauseLimits {
  return { pauseAt: options.pauseAt ?? DEFAULT_PAUSE_AT, pauseAtBytes: options.pauseAtBytes ?? DEFAULT_PAUSE_AT_BYTES };
}

export function shouldPauseReading(s: PendingWork, l: ReadPauseLimits): boolean {
  return s.pending >= l.pauseAt || s.pendingBytes >= l.pauseAtBytes;
}

export function mayResumeReading(s: PendingWork, l: ReadPauseLimits): boolean {
  return s.pending <= l.pauseAt / 2 && s.pendingBytes <= l.pauseAtBytes / 2;
}
