import type { Server } from "../server/server.js";
import type { Session } from "../server/session.js";
import type { ClientTransport } from "./client.js";

export interface InProcessOptions {
  /**
   * Copy each request frame before the server sees it (default true): the
   * server and the tree keep views of request frames, so a caller that reuses
   * its buffers needs the copy. The project's Client never reuses a frame it
   * sent, so a benchmark of the layers below may hand frames over as they are.
   */
  copyRequests?: boolean;
}

/** A client talking to a Server in the same thread (tests, benchmarks). Portable: no Node or DOM APIs. */
export function inProcessTransport(server: Server, options: InProcessOptions = {}): ClientTransport & { readonly session: Session } {
  const copy = options.copyRequests ?? true;
  let open = true;
  const t: ClientTransport & { session: Session } = {
    onFrame: () => {},
    onClose: () => {},
    session: undefined as unknown as Session,
    send(frame) {
      if (open) t.session.receive(copy ? frame.slice() : frame);
    },
    close() {
      if (!open) return;
      open = false;
      t.session.close();
      t.onClose("closed");
    },
  };
  t.session = server.connect({
    send: (frame) => {
      if (open) queueMicrotask(() => t.onFrame(frame));
    },
    close: (reason) => {
      open = false;
      t.onClose(reason);
    },
  });
  return t;
}
