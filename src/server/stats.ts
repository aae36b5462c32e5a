/** Per-session counters: what tests and the debug trace look at. */
export interface SessionStats {
  requests: number;
  replies: number;
  errors: number;
  /** Tflush aborted the request before its commit: no reply was sent for it. */
  flushedBeforeCommit: number;
  /** Tflush arrived but the request had committed: its reply went out before the Rflush. */
  flushedAfterCommit: number;
  /** Tflush named a tag not in flight (unknown or already answered): Rflush at once. */
  flushUnknownTag: number;
  /** Requests in flight right now. */
  inFlight: number;
}

export function emptyStats(): SessionStats {
  return {
    requests: 0,
    replies: 0,
    errors: 0,
    flushedBeforeCommit: 0,
    flushedAfterCommit: 0,
    flushUnknownTag: 0,
    inFlight: 0,
  };
}

export function addStats(into: SessionStats, from: SessionStats): void {
  for (const k of Object.keys(into) as (keyof SessionStats)[]) into[k] += from[k];
}
