// Records the order in which a guest first touches files' contents, by path, and which bytes of
// them it reads: the boot profile an image writer puts first (issue 11, item 2;
// src/storage/image/profile.ts). The file system layer works on inodes, so paths are learnt from
// walks (a qid's path is the inode number); the first name an inode is reached by is the one
// recorded.

import path from "node:path";
import type { FileSystemApi } from "../src/fs/types.js";
import type { Qid } from "../src/protocol/messages.js";
import { ProfileRecorder, type ProfileEntry } from "../src/storage/image/profile.js";

/** Calls that need an inode's contents (a file's data, a symlink's target, a directory's entries). */
const CONTENT_CALLS = new Set(["open", "readInto", "readParts", "readFresh", "readlink", "readdir"]);
/** Calls that read a file's bytes: (ino, offset, count | dest, …). */
const READ_CALLS = new Set(["readInto", "readParts", "readFresh"]);
/** Calls that use a whole inode that holds no file data pieces. */
const WHOLE_CALLS = new Set(["readlink", "readdir"]);

export interface AccessProfile {
  /** `fs` with every content access recorded. */
  fs: FileSystemApi;
  /** Paths ("/usr/bin/bash") in the order of their first content access. */
  order(): string[];
  /** The bytes read, per path, and the directories and symlinks used, in first-use order (a boot profile). */
  entries(): ProfileEntry[];
}

export function recordAccesses(fs: FileSystemApi): AccessProfile {
  const paths = new Map<number, string>([[fs.rootIno, "/"]]);
  const seen = new Set<number>();
  const order: string[] = [];
  const recorder = new ProfileRecorder();
  const touch = (ino: number) => {
    if (seen.has(ino)) return;
    const p = paths.get(ino);
    if (p === undefined) return; // not reached by a walk from the root (made by the guest)
    seen.add(ino);
    order.push(p);
  };
  const learn = (from: number, names: string[], qids: Qid[]) => {
    let at = paths.get(from);
    for (let i = 0; i < qids.length && at !== undefined; i++) {
      at = path.posix.resolve(at, names[i]!);
      if (!paths.has(qids[i]!.path)) paths.set(qids[i]!.path, at);
    }
  };
  const wrapped = new Proxy(fs, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      const method = value as (...args: unknown[]) => unknown;
      if (prop === "walk") {
        return async (ino: number, names: string[], ...rest: unknown[]) => {
          const result = (await method.call(target, ino, names, ...rest)) as { qids: Qid[] };
          learn(ino, names, result.qids);
          return result;
        };
      }
      if (typeof prop === "string" && CONTENT_CALLS.has(prop)) {
        return (ino: number, ...rest: unknown[]) => {
          touch(ino);
          const p = paths.get(ino);
          if (p !== undefined && READ_CALLS.has(prop)) {
            const offset = rest[0] as number;
            const count = prop === "readInto" ? (rest[1] as Uint8Array).length : (rest[1] as number);
            recorder.use(p, offset, offset + count);
          } else if (p !== undefined && WHOLE_CALLS.has(prop)) {
            recorder.useWhole(p);
          }
          return method.call(target, ino, ...rest);
        };
      }
      return method.bind(target);
    },
  });
  return { fs: wrapped, order: () => [...order], entries: () => recorder.entriesInOrder() };
}
