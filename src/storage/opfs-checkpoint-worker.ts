/**
 * The OPFS store's checkpoint helper: a nested dedicated worker that writes
 * checkpoints into IndexedDB (opfs-checkpoint-writer.ts, OPFS invariants 11,
 * 14). It gets the frozen layers as the journal frames they were built from,
 * rebuilds them with the same code (OverlayLayer.apply) and writes them with
 * the same function (writeOverlay), in the order the store sent them; so
 * what it commits is exactly what the store would have, and the store's
 * worker spends no time on the puts (structured cloning and one message to
 * the browser process per request: ~140 µs per file created).
 */
import { readHead, framePayload, decodeValue } from "./journal-codec.js";
import { openWorkerDb, type WorkerDb } from "./indexeddb-common.js";
import { OverlayLayer, type CommitRecord } from "./opfs-overlay.js";
import { writeOverlay } from "./opfs-checkpoint.js";
import type { CheckpointReply, CheckpointRequest } from "./opfs-checkpoint-writer.js";
import { holdLifeLock } from "./worker-life.js";

interface HelperScope {
  postMessage(msg: CheckpointReply): void;
  onmessage: ((ev: MessageEvent<CheckpointRequest>) => void) | null;
}
const scope = self as unknown as HelperScope;

let db: Promise<WorkerDb> | undefined;

/** The layers the frames of each buffer make, oldest first. */
function layersOf(buffers: ArrayBuffer[]): OverlayLayer[] {
  return buffers.map((buf) => {
    const bytes = new Uint8Array(buf);
    const layer = new OverlayLayer();
    for (let at = 0; at < bytes.length; ) {
      const head = readHead(bytes.subarray(at));
      if (!head) throw new Error(`checkpoint helper: no journal frame at byte ${at} of ${bytes.length}`);
      layer.apply(head.seq, decodeValue(framePayload(bytes.subarray(at), head)) as unknown as CommitRecord);
      at += head.size;
    }
    return layer;
  });
}

const errorOf = (e: unknown) => ({ name: (e as { name?: string })?.name ?? "Error", message: String((e as { message?: string })?.message ?? e) });

/** The life lock (worker-life.ts): no IndexedDB work before it is held, so the store knows when none can happen any more. */
let held: Promise<unknown> = Promise.resolve();

scope.onmessage = (ev) => {
  const m = ev.data;
  if (m.kind === "hold") {
    held = holdLifeLock(m.lock);
    held.then(
      () => scope.postMessage({ id: m.id }),
      (e: unknown) => scope.postMessage({ id: m.id, error: errorOf(e) }),
    );
    return;
  }
  if (m.kind === "close" || m.kind === "drop-db") {
    // drop-db (tests) closes the connection as another tab's versionchange does (openWorkerDb's blocking()).
    void (db ?? Promise.resolve(undefined)).then(
      (d) => d?.close(),
      () => {},
    ).then(() => scope.postMessage({ id: m.id }));
    return;
  }
  db ??= held.then(() => openWorkerDb(m.db, true, () => void db?.then((d) => d.close())));
  // Transactions are created in the order the messages came (IndexedDB commits overlapping
  // readwrite transactions in that order), and each is issued whole before the next message.
  void db
    .then((d) => writeOverlay(d, layersOf(m.layers)))
    .then(
      () => scope.postMessage({ id: m.id }),
      (e: unknown) => scope.postMessage({ id: m.id, error: errorOf(e) }),
    );
};
