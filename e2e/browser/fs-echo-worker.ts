/**
 * A dedicated worker that answers on a MessagePort the way the 9P worker's
 * transport does, with no 9P behind it: each message is an ArrayBuffer whose
 * first 4 bytes (little-endian) give the size of the reply, which is a fresh
 * ArrayBuffer of that size, transferred. Used by fs-bench.ts to measure the
 * page ↔ worker MessagePort on its own.
 */
interface EchoScope {
  onmessage: ((ev: MessageEvent<MessagePort>) => void) | null;
}

(self as unknown as EchoScope).onmessage = (ev) => {
  const port = ev.data;
  port.onmessage = (m: MessageEvent<ArrayBuffer>) => {
    const want = new DataView(m.data).getUint32(0, true);
    const out = new Uint8Array(want);
    out[0] = 1;
    port.postMessage(out.buffer, [out.buffer]);
  };
};
