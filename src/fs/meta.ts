import type { StoreTx } from "../storage/store.js";
import { ROOT_INO } from "./constants.js";

/** Meta keys this file system keeps in the store. */
export const META_NEXT_INO = "nextIno";
/** Inodes unlinked while still open: a mount after a crash frees them. */
export const META_ORPHANS = "orphans";

/** Take the next inode number; the counter lives in the same transaction as the inode it names. */
export async function allocIno(tx: StoreTx): Promise<number> {
  const ino = (await tx.getMeta<number>(META_NEXT_INO)) ?? ROOT_INO + 1;
  await tx.putMeta(META_NEXT_INO, ino + 1);
  return ino;
}

export async function readOrphans(tx: StoreTx): Promise<readonly number[]> {
  return (await tx.getMeta<number[]>(META_ORPHANS)) ?? [];
}

// Lists are replaced, never mutated: the memory store hands out its own value.
export async function addOrphan(tx: StoreTx, ino: number): Promise<void> {
  const list = await readOrphans(tx);
  if (!list.includes(ino)) await tx.putMeta(META_ORPHANS, [...list, ino]);
}

export async function removeOrphan(tx: StoreTx, ino: number): Promise<void> {
  const list = await readOrphans(tx);
  if (list.includes(ino)) await tx.putMeta(META_ORPHANS, list.filter((i) => i !== ino));
}
