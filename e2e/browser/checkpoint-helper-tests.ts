/**
 * The OPFS store's checkpoint helper failing under it (invariant 15, src/storage/opfs.ts;
 * src/storage/opfs-checkpoint-writer.ts), run in a dedicated worker by e2e/browser-stores.test.ts.
 * Nothing here waits on a clock: the helper's death is seen through its life lock, a stuck
 * IndexedDB commit is held by a readonly transaction kept busy until released.
 */
import { OpfsStore, opfsStoreDbName } from "../../src/storage/opfs.js";
import type { InodeRecord } from "../../src/storage/store.js";
import { holdIndexedDB } from "./store-tests.js";
import { bytes } from "./test-bytes.js";

const T0 = { sec: 1_700_000_000, nsec: 0 };
const fileInode = (ino: number, size: number): InodeRecord => ({ ino, mode: 0o100644, uid: 0, gid: 0, nlink: 1, rdev: 0, size, atime: T0, mtime: T0, ctime: T0, btime: T0, version: 1, chunks: 0, parent: 0, nextCookie: 3 });
const journalBytes = (store: OpfsStore) => (store as unknown as { journal: { bytes: number } }).journal.bytes;

/** Files 1000+i, i < n: an inode and a small (journaled) chunk each. */
async function writeFiles(store: OpfsStore, from: number, n: number): Promise<void> {
  for (let i = from; i < from + n; i++) {
    await store.transaction("readwrite", async (tx) => {
      await tx.putInode(fileInode(1000 + i, 300));
      await tx.putChunk(1000 + i, 0, bytes(300, i), true);
    });
  }
}

async function verifyFiles(store: OpfsStore, n: number, problems: string[]): Promise<void> {
  await store.transaction("readonly", async (tx) => {
    for (let i = 0; i < n; i++) {
      const ino = await tx.getInode(1000 + i);
      const data = await tx.getChunk(1000 + i, 0);
      const want = bytes(300, i);
      if (ino?.size !== 300) problems.push(`file ${i}: inode ${JSON.stringify(ino)}`);
      if (!data || data.length !== 300 || data.some((b, k) => b !== want[k])) problems.push(`file ${i}: wrong bytes`);
    }
  });
}

/** After a checkpoint: the journal's length and the store's last checkpoint error. */
export type Round = { journalBytes: number; error: string | undefined };

export interface HelperFailureReport {
  problems: string[];
  helperWritesBefore: number;
  helperLost: string | undefined;
  /** After each later checkpoint: the journal's length and the store's last checkpoint error. */
  rounds: Round[];
}

/** `count` rounds of `perRound` new files after the first `from`, each followed by a checkpoint; the total written. */
async function writeRounds(store: OpfsStore, from: number, perRound: number, count: number, rounds: Round[]): Promise<number> {
  let written = from;
  for (let r = 0; r < count; r++) {
    await writeFiles(store, written, perRound);
    written += perRound;
    await store.checkpointInBackground();
    rounds.push({ journalBytes: journalBytes(store), error: store.lastCheckpointError });
  }
  return written;
}

/** Open the tree again, check its `files` files and its bookkeeping into `problems`, then remove it. */
async function reopenAndVerify(name: string, files: number, problems: string[]): Promise<void> {
  const again = await OpfsStore.open(name, { autoCheckpoint: false });
  try {
    await verifyFiles(again, files, problems);
    problems.push(...(await again.check()).problems);
  } finally {
    await again.close();
    await OpfsStore.destroy(name);
  }
}

/**
 * A checkpoint written by the helper; then the helper's database connection is closed under it (as
 * another tab's versionchange does) or the helper dies; then several rounds of writes, each followed
 * by a checkpoint. Each must commit (the journal empties) and the tree reopens intact.
 */
export async function helperFailsUnderStore(arg: { name: string; how: "drop-db" | "crash"; rounds: number; perRound: number }): Promise<HelperFailureReport> {
  const problems: string[] = [];
  const rounds: HelperFailureReport["rounds"] = [];
  const store = await OpfsStore.open(arg.name, { autoCheckpoint: false, checkpointHelperMinBytes: 0 });
  let helperWritesBefore = 0;
  let written = 0;
  try {
    await writeFiles(store, written, arg.perRound);
    written += arg.perRound;
    await store.checkpointInBackground();
    helperWritesBefore = store.checkpointWriter.helperWrites;
    if (store.lastCheckpointError) problems.push(`first checkpoint: ${store.lastCheckpointError}`);
    if (arg.how === "drop-db") await store.checkpointWriter.dropHelperDbForTests();
    else store.checkpointWriter.crashHelperForTests();
    written = await writeRounds(store, written, arg.perRound, arg.rounds, rounds);
  } finally {
    await store.close();
  }
  await reopenAndVerify(arg.name, written, problems);
  return { problems, helperWritesBefore, helperLost: store.checkpointWriter.helperLost, rounds };
}

export interface CloseWithPendingReport {
  problems: string[];
  /** How the checkpoint pending in the helper when close() ran settled, seen after close() resolved. */
  pending: string;
  error: string | undefined;
}

/**
 * The helper has a checkpoint pending (its IndexedDB commit held by a reader) when the writer's
 * close() runs: close() terminates the helper and must settle that checkpoint, not leave it
 * dangling. Then the store closes (writing the checkpoint itself) and reopens intact.
 */
export async function closeWithHelperPending(arg: { name: string; files: number }): Promise<CloseWithPendingReport> {
  const problems: string[] = [];
  let issued!: () => void;
  const wasIssued = new Promise<void>((r) => (issued = r));
  const store = await OpfsStore.open(arg.name, { autoCheckpoint: false, checkpointHelperMinBytes: 0, debugHooks: { checkpointIssued: () => issued() } });
  let pending = "pending";
  try {
    await writeFiles(store, 0, arg.files);
    const release = await holdIndexedDB(opfsStoreDbName(arg.name));
    try {
      const checkpoint = store.checkpointInBackground();
      await wasIssued;
      const settled = checkpoint.then(() => (pending = "settled"));
      await store.checkpointWriter.close();
      // close() settles what it leaves synchronously; a task later every reaction has run.
      await new Promise((r) => setTimeout(r, 0));
      void settled;
    } finally {
      await release();
    }
  } finally {
    await store.close();
  }
  const error = store.lastCheckpointError;
  await reopenAndVerify(arg.name, arg.files, problems);
  return { problems, pending, error };
}

export interface DropMidCommitReport {
  problems: string[];
  /** How the checkpoint in flight when the helper's connection closed ended, and the store's error then. */
  inFlight: string;
  inFlightError: string | undefined;
  helperWrites: number;
  helperLost: string | undefined;
  rounds: Round[];
}

/**
 * The helper's database connection closes (another tab's versionchange) while one of its
 * checkpoints is created but not committed (held behind a reader). IndexedDB lets a closing
 * connection's transactions finish: that checkpoint commits, and the helper's later ones fail, so
 * the store's worker writes them (invariant 15). Every checkpoint must land and the tree reopen intact.
 */
export async function helperDbClosedMidCommit(arg: { name: string; files: number; rounds: number }): Promise<DropMidCommitReport> {
  const problems: string[] = [];
  const rounds: DropMidCommitReport["rounds"] = [];
  let issued!: () => void;
  const wasIssued = new Promise<void>((r) => (issued = r));
  const store = await OpfsStore.open(arg.name, { autoCheckpoint: false, checkpointHelperMinBytes: 0, debugHooks: { checkpointIssued: () => issued() } });
  let written = 0;
  let inFlight = "pending";
  let inFlightError: string | undefined;
  try {
    await writeFiles(store, 0, arg.files);
    written = arg.files;
    const release = await holdIndexedDB(opfsStoreDbName(arg.name));
    let checkpoint: Promise<void>;
    try {
      checkpoint = store.checkpointInBackground();
      await wasIssued;
      // The helper created that checkpoint's transaction before it handles this (its messages run in order).
      await store.checkpointWriter.dropHelperDbForTests();
    } finally {
      await release();
    }
    await checkpoint.then(
      () => (inFlight = "committed"),
      (e: unknown) => (inFlight = `failed: ${String(e)}`),
    );
    inFlightError = store.lastCheckpointError;
    written = await writeRounds(store, written, arg.files, arg.rounds, rounds);
  } finally {
    await store.close();
  }
  await reopenAndVerify(arg.name, written, problems);
  return { problems, inFlight, inFlightError, helperWrites: store.checkpointWriter.helperWrites, helperLost: store.checkpointWriter.helperLost, rounds };
}
