import type { Server } from "../server/server.js";
import { FramePool } from "../transport/frame-pool.js";
import type { FramePort } from "../transport/handle9p.js";

/**
 * A FramePort whose other end is a session of `server` in this same thread. v86 in the workspace
 * worker reaches the server through it by a plain function call: no message hop, and a reply is
 * delivered the moment the store is done (see worker/workspace.ts for why the emulator runs there).
 *
 * Frames live in recycled buffers (transport/frame-pool.ts): a request's frame is lent to the
 * session and its buffer kept once the request completed (R1); replies are built in kept buffers,
 * and each goes back the moment the listener returns, since createHandle9p hands it to v86, which
 * copies it into the guest's memory inside reply(). So a guest reading large files (msize 512000)
 * no longer costs a fresh half-MiB buffer per Rread.
 */
export function directFramePort(server: Server): FramePort & { close(): void; readonly pool: FramePool } {
  let listener: ((event: { data: unknown }) => void) | undefined;
  let open = true;
  const pool = new FramePool();
  const session = server.connect({
    send(frame) {
      if (!open) return;
      listener?.({ data: frame });
      if (pool.built(frame)) pool.give(frame.buffer as ArrayBuffer);
    },
    alloc: pool.take,
    close(reason) {
      open = false;
      console.warn(`worker9p: guest session closed: ${reason}`);
    },
  });
  return {
    pool,
    postMessage(message) {
      if (open) session.receive(new Uint8Array(message), () => pool.give(message));
    },
    addEventListener(_type, l) {
      listener = l;
    },
    close() {
      if (!open) return;
      open = false;
      session.close();
    },
  };
}
