import { FIRST_COOKIE, type EntryRecord, type InodeRecord, type Store, type StoreTx } from "../storage/store.js";
import { dtypeOf, isDir, isReg, isSymlink } from "./attr.js";
import { ROOT_INO } from "./constants.js";
import { chunkSlots } from "./data.js";
import { META_NEXT_INO, readOrphans } from "./meta.js";
import { isDotName, utf8Length } from "./names.js";
import type { FsckReport } from "./types.js";

const PAGE = 1024;

/**
 * What a store may offer beyond StoreTx so fsck can see chunks of inodes that
 * no longer exist (StoreTx.countChunks finds those of live ones). MemoryStore has it.
 */
export interface ChunkListing {
  debugChunkIndices(ino: number): number[];
  debugChunkOwners(): number[];
}

function chunkListingOf(store: Store): ChunkListing | undefined {
  const s = store as Partial<ChunkListing>;
  return typeof s.debugChunkIndices === "function" && typeof s.debugChunkOwners === "function" ? (s as ChunkListing) : undefined;
}
/** What a store may offer to check its own bookkeeping (the OPFS store's slots and allocator). */
export interface StoreSelfCheck {
  check(): Promise<{ ok: boolean; problems: string[] }>;
}

function selfCheckOf(store: Store): StoreSelfCheck | undefined {
  const s = store as Partial<StoreSelfCheck>;
  return typeof s.check === "function" ? (s as StoreSelfCheck) : undefined;
}

/**
 * Check the tree's invariants in one readonly transaction, using only StoreTx
 * methods so every backend can be checked the same way. Unreachable inodes are
 * found by probing every number below the inode counter.
 */
export async function fsckStore(store: Store, signal?: AbortSignal): Promise<FsckReport> {
  const problems = await store.transaction(
    "readonly",
    async (tx) => {
      const c = new Checker(tx, store.chunkSize, chunkListingOf(store));
      await c.run();
      return c.problems;
    },
    { signal },
  );
  // The tree can be sound while the store below it leaks space or would hand a slot out twice.
  const own = await selfCheckOf(store)?.check();
  if (own) problems.push(...own.problems.map((p) => `store: ${p}`));
  return { ok: problems.length === 0, problems };
}

class Checker {
  readonly problems: string[] = [];
  private readonly seen = new Map<number, InodeRecord>();
  /** Entries naming each inode. */
  private readonly links = new Map<number, number>();
  private readonly subdirs = new Map<number, number>();

  constructor(
    private readonly tx: StoreTx,
    private readonly chunkSize: number,
    private readonly listing: ChunkListing | undefined,
  ) {}

  async run(): Promise<void> {
    const root = await this.tx.getInode(ROOT_INO);
    if (!root) return void this.problems.push("root inode missing");
    if (!isDir(root.mode)) this.problems.push("root is not a directory");
    if (root.parent !== ROOT_INO) this.problems.push(`root parent is ${root.parent}`);
    this.seen.set(ROOT_INO, root);
    const pending = [root];
    for (let d = pending.pop(); d; d = pending.pop()) await this.scanDir(d, pending);
    for (const rec of this.seen.values()) await this.checkInode(rec);
    const orphans = new Set(await readOrphans(this.tx));
    await this.checkOrphans(orphans);
    await this.checkUnreachable(orphans);
    this.checkChunkOwners(orphans);
  }

  private async scanDir(dir: InodeRecord, pending: InodeRecord[]): Promise<void> {
    let after = 0;
    for (;;) {
      const page = await this.tx.listEntries(dir.ino, after, PAGE);
      for (const e of page) {
        this.checkEntryShape(dir, e, after);
        after = e.cookie;
        await this.visitEntry(dir, e, pending);
      }
      if (page.length < PAGE) return;
    }
  }

  private checkEntryShape(dir: InodeRecord, e: EntryRecord, prevCookie: number): void {
    const where = `entry ${dir.ino}/${JSON.stringify(e.name)}`;
    if (e.dir !== dir.ino) this.problems.push(`${where} says dir ${e.dir}`);
    if (e.cookie <= prevCookie) this.problems.push(`${where} cookie ${e.cookie} out of order`);
    if (e.cookie < FIRST_COOKIE || e.cookie >= dir.nextCookie) this.problems.push(`${where} cookie ${e.cookie} outside [3, ${dir.nextCookie})`);
    if (e.name.length === 0 || isDotName(e.name) || e.name.includes("/") || e.name.includes("\0") || utf8Length(e.name) > 255) {
      this.problems.push(`${where} has an invalid name`);
    }
  }

  private async visitEntry(dir: InodeRecord, e: EntryRecord, pending: InodeRecord[]): Promise<void> {
    const where = `entry ${dir.ino}/${JSON.stringify(e.name)}`;
    const child = this.seen.get(e.ino) ?? (await this.tx.getInode(e.ino));
    if (!child) return void this.problems.push(`${where} points to missing inode ${e.ino}`);
    if (e.dtype !== dtypeOf(child.mode)) this.problems.push(`${where} dtype ${e.dtype} but inode ${e.ino} is ${dtypeOf(child.mode)}`);
    this.links.set(e.ino, (this.links.get(e.ino) ?? 0) + 1);
    if (!isDir(child.mode)) {
      this.seen.set(e.ino, child);
      return;
    }
    if (this.seen.has(e.ino)) return void this.problems.push(`directory ${e.ino} is linked more than once (${where})`);
    if (child.parent !== dir.ino) this.problems.push(`directory ${e.ino} has parent ${child.parent}, found in ${dir.ino}`);
    this.subdirs.set(dir.ino, (this.subdirs.get(dir.ino) ?? 0) + 1);
    this.seen.set(e.ino, child);
    pending.push(child);
  }

  private async checkInode(rec: InodeRecord): Promise<void> {
    const want = isDir(rec.mode) ? 2 + (this.subdirs.get(rec.ino) ?? 0) : (this.links.get(rec.ino) ?? 0);
    if (rec.nlink !== want) this.problems.push(`inode ${rec.ino} nlink ${rec.nlink}, expected ${want}`);
    await this.checkData(rec);
  }

  private async checkData(rec: InodeRecord): Promise<void> {
    await this.checkXattrs(rec);
    if (isSymlink(rec.mode) && (rec.target === undefined || utf8Length(rec.target) !== rec.size)) {
      this.problems.push(`symlink ${rec.ino} target does not match its size`);
    }
    if (!isReg(rec.mode)) {
      if (rec.chunks !== 0) this.problems.push(`inode ${rec.ino} is not a regular file but has ${rec.chunks} chunks`);
      return;
    }
    const slots = chunkSlots(rec.size, this.chunkSize);
    // Cost what is stored, never the file's range: a `truncate -s 1P` file has 2^33 slots and no chunks.
    // Only the tail slot can hold too many bytes (every chunk is at most chunkSize by the Store contract).
    const stored = await this.tx.countChunks(rec.ino, 0, slots);
    const pastEof = (await this.tx.countChunks(rec.ino, slots, Number.MAX_SAFE_INTEGER)) > 0;
    if (pastEof) this.problems.push(`inode ${rec.ino} has a chunk past EOF`);
    if (slots > 0) {
      const tail = this.tx.chunkLength ? await this.tx.chunkLength(rec.ino, slots - 1) : (await this.tx.getChunk(rec.ino, slots - 1))?.length;
      const room = rec.size - (slots - 1) * this.chunkSize;
      if (tail !== undefined && tail > room) this.problems.push(`inode ${rec.ino} chunk ${slots - 1} holds ${tail} bytes, room for ${room}`);
    }
    if (stored !== rec.chunks) this.problems.push(`inode ${rec.ino} counts ${rec.chunks} chunks, ${stored} stored`);
  }

  private async checkXattrs(rec: InodeRecord): Promise<void> {
    const list = await this.tx.getXattrs(rec.ino);
    let bytes = 0;
    for (const [name, value] of list ?? []) bytes += utf8Length(name) + value.length;
    if (bytes !== (rec.xattrBytes ?? 0)) this.problems.push(`inode ${rec.ino} says ${rec.xattrBytes ?? 0} bytes of xattrs, ${bytes} stored`);
  }

  private checkChunkOwners(orphans: Set<number>): void {
    for (const ino of this.listing?.debugChunkOwners() ?? []) {
      if (!this.seen.has(ino) && !orphans.has(ino)) this.problems.push(`chunks stored for inode ${ino}, which is not in the tree`);
    }
  }

  private async checkOrphans(orphans: Set<number>): Promise<void> {
    for (const ino of orphans) {
      const rec = await this.tx.getInode(ino);
      if (!rec) this.problems.push(`orphan ${ino} does not exist`);
      else if (rec.nlink !== 0) this.problems.push(`orphan ${ino} has nlink ${rec.nlink}`);
      else await this.checkData(rec);
      if (this.seen.has(ino)) this.problems.push(`orphan ${ino} is still linked`);
    }
  }

  private async checkUnreachable(orphans: Set<number>): Promise<void> {
    const next = (await this.tx.getMeta<number>(META_NEXT_INO)) ?? ROOT_INO + 1;
    for (let ino = ROOT_INO; ino < next; ino++) {
      if (this.seen.has(ino) || orphans.has(ino)) continue;
      const rec = await this.tx.getInode(ino);
      if (rec) this.problems.push(`inode ${ino} is unreachable (nlink ${rec.nlink})`);
    }
  }
}
