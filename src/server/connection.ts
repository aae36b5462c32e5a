/**
 * What a transport gives a 9P session, and what the session gives back.
 * A transport delivers whole frames (size[4] included) and takes whole frames.
 */
export interface FrameSink {
  /** Send one whole R-message. The sink may transfer or keep `frame`; the session never touches it again. */
  send(frame: Uint8Array): void;
  /**
   * Where the session builds a reply frame of `size` bytes (a recycled buffer
   * of the transport's: transport/frame-pool.ts); without it, a fresh one.
   */
  alloc?(size: number): Uint8Array;
  /**
   * Send one whole R-message given as parts back to back (an Rread header and
   * views of stored data), so a stream can write them without assembling a
   * copy. Parts must not be modified; without this, the session concatenates.
   */
  sendParts?(parts: Uint8Array[]): void;
  /**
   * The request with this tag was flushed before it took effect and will get no reply:
   * free whatever the transport holds for it (v86: give the virtqueue slot back).
   * Called before the Rflush is sent.
   */
  discard?(tag: number): void;
  /** Broken framing or a fatal session error: drop the connection. */
  close(reason: string): void;
  /**
   * True while the replies queued for the peer are over the transport's
   * bound: the session starts no new request until `Connection.resume()`.
   */
  congested?(): boolean;
}

export interface Connection {
  /**
   * One whole T-message frame. Without `release` it is given away: the
   * session (and the tree) may keep views of it, so the transport must not
   * reuse its bytes. With `release`, it is lent: the session calls release()
   * once nothing reads the frame any more, and then the transport may reuse
   * its buffer — or never, and the buffer is the garbage collector's
   * (transport/frame-pool.ts, R1). `bytes`: the memory the frame keeps alive
   * while held or in flight, when more than its length (a MessagePort
   * message's whole buffer, slack included), so that the limits of
   * Back-pressure bound memory, not just frame lengths.
   */
  receive(frame: Uint8Array, release?: () => void, bytes?: number): void;
  /** The peer went away: abort everything in flight and clunk every fid. */
  close(): void;
  /** Requests currently in flight. */
  readonly inFlight: number;
  /** Requests in flight plus frames received and not started yet: stop reading while this is high. */
  readonly pending: number;
  /** Called whenever a request finishes, so a paused transport can resume reading. */
  onDrain?: () => void;
  /** The reply queue is no longer congested: start the requests held for it. */
  resume(): void;
}
