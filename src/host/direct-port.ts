import type { Server } from "../server/server.js";
import type { FramePort } from "../transport/handle9p.js";

/**
 * A FramePort whose other end is a session of `server` in this same thread. v86 in the workspace
 * worker reaches the server through it by a plain function call: no message hop, and a reply is
 * delivered the moment the store is done (see worker/workspace.ts for why the emulator runs there).
 */
export function directFramePort(server: Server): FramePort & { close(): void } {
  let listener: ((event: { data: unknown }) => void) | undefined;
  let open = true;
  const session = server.connect({
    send(frame) {
      if (open) listener?.({ data: frame });
    },
    close(reason) {
      open = false;
      console.warn(`worker9p: guest session closed: ${reason}`);
    },
  });
  return {
    postMessage(message) {
      if (open) session.receive(new Uint8Array(message));
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
