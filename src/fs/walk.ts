import { Errno, FsError, isFsError } from "../protocol/errno.js";
import type { Qid } from "../protocol/messages.js";
import type { InodeRecord, StoreTx } from "../storage/store.js";
import { isDir, qidOf } from "./attr.js";
import { needInode } from "./inode-rules.js";
import { checkLookupName } from "./names.js";
import type { Place, WalkResult } from "./types.js";

/** Entries read per step while looking for a directory's own name in its parent. */
const NAME_SCAN_PAGE = 256;

/**
 * The name directory `dir` has in its parent. Directories keep their parent's
 * ino but not their name, so this scans the parent's entries (a directory has
 * one link, so the first match is the one). Only a walk that climbs above
 * where it started needs it.
 */
async function placeOfDir(tx: StoreTx, dir: InodeRecord): Promise<Place> {
  if (dir.parent === dir.ino) return { parent: dir.ino, name: "" };
  for (let after = 0; ;) {
    const page = await tx.listEntries(dir.parent, after, NAME_SCAN_PAGE);
    const found = page.find((e) => e.ino === dir.ino);
    if (found) return { parent: dir.parent, name: found.name };
    if (page.length < NAME_SCAN_PAGE) throw new FsError(Errno.ENOENT, `directory ${dir.ino} has no entry in its parent`);
    after = page[page.length - 1]!.cookie;
  }
}

/**
 * Walk `names` from `start`, whose place (parent and name) is `startPlace`.
 *
 * The place returned is that of the inode reached, with "." and ".." resolved
 * (issue 8 item 8): a fid from `d/e/..` is d, so Tremove and Trename must find
 * d under d's own parent and name, not look for ".." in e. The walk keeps the
 * trail it went down, so ".." goes back up it; only climbing above `start`
 * asks the store for the name (`placeOfDir`). ".." at the root stays there.
 */
export async function walkNames(tx: StoreTx, start: InodeRecord, startPlace: Place | undefined, names: readonly string[]): Promise<WalkResult> {
  const trail: Trail = [{ rec: start, place: startPlace }];
  const qids: Qid[] = [];
  for (let i = 0; i < names.length; i++) {
    try {
      await stepOnto(tx, trail, names[i]!);
    } catch (err) {
      // Rwalk reports a partial walk with the qids it managed; only a failing first name is an error.
      if (i === 0 || !isFsError(err)) throw err;
      break;
    }
    qids.push(qidOf(trail[trail.length - 1]!.rec));
  }
  const { rec, place } = trail[trail.length - 1]!;
  // Only a start the caller gave no place for lacks one; a file's is not needed (nothing can be walked from it).
  const known = place ?? (isDir(rec.mode) ? await placeOfDir(tx, rec) : { parent: 0, name: "" });
  return { qids, ino: rec.ino, parent: known.parent, name: known.name };
}

/** The inodes a walk went down through, each with its place (undefined: the start's, not given). */
type Trail = { rec: InodeRecord; place: Place | undefined }[];

async function stepOnto(tx: StoreTx, trail: Trail, name: string): Promise<void> {
  const dir = trail[trail.length - 1]!.rec;
  if (!isDir(dir.mode)) throw new FsError(Errno.ENOTDIR);
  if (name === ".") return;
  if (name === "..") {
    if (dir.parent === dir.ino) return;
    if (trail.length > 1) {
      trail.pop();
      return;
    }
    const up = await needInode(tx, dir.parent);
    trail[0] = { rec: up, place: await placeOfDir(tx, up) };
    return;
  }
  checkLookupName(name);
  const entry = await tx.getEntry(dir.ino, name);
  if (!entry) throw new FsError(Errno.ENOENT, name);
  trail.push({ rec: await needInode(tx, entry.ino), place: { parent: dir.ino, name } });
}
