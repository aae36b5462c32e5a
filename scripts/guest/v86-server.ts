// v86's built-in 9P server, for runGuest's fs "v86" (run.ts): filling its in-memory tree from a
// host folder, and counting and timing the requests it serves through its virtqueue.

import { promises as fsp } from "node:fs";
import path from "node:path";
import type { V86 } from "v86";

/** What we use of v86 beyond its typings (names survive v86's minified build). */
interface V86Internals {
  fs9p?: {
    CreateDirectory(name: string, parentid: number): number;
    CreateBinaryFile(name: string, parentid: number, data: Uint8Array): Promise<number>;
    CreateSymlink(name: string, parentid: number, target: string): number;
    inodes: { mode: number; uid: number; gid: number; atime: number; mtime: number }[];
  };
  v86?: { cpu?: { devices?: { virtio_9p?: { virtqueue?: VirtQueueLike } } } };
  read_memory(addr: number, len: number): Uint8Array;
}
interface VirtQueueLike {
  pop_request(): VirtQueueChain;
  push_reply(chain: VirtQueueChain): void;
  has_request(): boolean;
}
interface VirtQueueChain {
  read_buffers?: { addr_low: number; len: number }[];
}

/** Copy a host folder into v86's in-memory tree (its FS API: CreateDirectory/CreateBinaryFile/CreateSymlink). */
export async function importIntoV86(emulator: V86, dir: string): Promise<void> {
  const fs9p = (emulator as unknown as V86Internals).fs9p;
  if (!fs9p) throw new Error("v86 has no built-in filesystem (fs9p) to import into");
  /** Keep mode bits, owner and times like worker9p's import does (v86 keeps times in seconds). */
  const setAttrs = async (id: number, hostPath: string) => {
    const st = await fsp.lstat(hostPath);
    const inode = fs9p.inodes[id];
    if (!inode) return;
    inode.mode = (inode.mode & 0o170000) | (st.mode & 0o7777);
    inode.uid = st.uid;
    inode.gid = st.gid;
    inode.mtime = Math.floor(st.mtimeMs / 1000);
    inode.atime = Math.floor(st.atimeMs / 1000);
  };
  const copy = async (hostDir: string, parentId: number) => {
    for (const ent of await fsp.readdir(hostDir, { withFileTypes: true })) {
      const p = path.join(hostDir, ent.name);
      if (ent.isDirectory()) {
        const id = fs9p.CreateDirectory(ent.name, parentId);
        await copy(p, id);
        await setAttrs(id, p);
      } else if (ent.isSymbolicLink()) {
        fs9p.CreateSymlink(ent.name, parentId, await fsp.readlink(p));
      } else if (ent.isFile()) {
        await setAttrs(await fs9p.CreateBinaryFile(ent.name, parentId, await fsp.readFile(p)), p);
      }
    }
  };
  await copy(dir, 0);
}

/**
 * Count v86-served requests (peek at byte 4 of each request as v86 pops it from the virtqueue) and
 * time them: pop → reply pushed per type (`latency`), and the part of it the emulator waited for
 * (`server.ms`: v86's notify handler pops a request, handles it synchronously up to its first
 * await, then asks has_request(): pop → has_request).
 */
export function hookV86Counts(emulator: V86, count: (type: number) => void, latency: (type: number, ms: number) => void, server: { ms: number }): void {
  const internals = emulator as unknown as V86Internals;
  const queue = internals.v86?.cpu?.devices?.virtio_9p?.virtqueue;
  if (!queue) return;
  const popped = new WeakMap<VirtQueueChain, { type: number; at: number }>();
  /** The request being handled synchronously, if any. */
  let current: { at: number } | undefined;
  const pop = queue.pop_request.bind(queue);
  const push = queue.push_reply.bind(queue);
  const hasRequest = queue.has_request.bind(queue);
  // v86's notify handler asks has_request() after handling each request it popped.
  queue.has_request = () => {
    if (current) server.ms += performance.now() - current.at;
    current = undefined;
    return hasRequest();
  };
  queue.pop_request = () => {
    const now = performance.now();
    const chain = pop();
    const first = chain.read_buffers?.[0];
    const type = first && first.len >= 5 ? internals.read_memory(first.addr_low, 5)[4]! : -1;
    count(type);
    popped.set(chain, { type, at: now });
    current = { at: now };
    return chain;
  };
  queue.push_reply = (chain) => {
    const now = performance.now();
    const req = popped.get(chain);
    if (req) {
      popped.delete(chain);
      latency(req.type, now - req.at);
    }
    push(chain);
  };
}
