import type { CommittedRecords } from "./committed-records.js";
import { entryKey, normalizeInode, ownBytes, req, xattrKey, type AnyTx, type StoreName } from "./indexeddb-common.js";
import type { EntryKey, EntryRecord, InodeRecord, XattrList } from "./store.js";

/**
 * The inode, entry and meta methods of the IndexedDB store's StoreTx
 * (IdbStoreTx, indexeddb.ts, adds the chunk methods).
 *
 * Write requests are issued and not waited for. IndexedDB runs a
 * transaction's requests in order, so later reads see the write; a failing
 * write aborts the transaction, and transaction() rejects with its error.
 * Not waiting saves one round trip to the browser process per write.
 */
export class MetadataOps {
  private readonly stores = new Map<StoreName, IDBObjectStore>();
  /** A writer's own inode and meta changes (null: deleted), read back before the committed records. */
  readonly ownInodes = new Map<number, InodeRecord | null>();
  readonly ownMeta = new Map<string, unknown>();
  /** Writes issued so far (WriterBatcher: a body that failed before writing has nothing to undo). */
  writes = 0;
  /** Entries this transaction has looked up or changed (null: none), by entryKey. */
  private readonly entries = new Map<string, EntryRecord | null>();
  /** The entries it changed, for the committed records. */
  readonly ownEntries = new Map<string, EntryRecord | null>();
  /** Lookups issued ahead (prefetchEntries), by entryKey, until a getEntry takes them. */
  private readonly entriesAhead = new Map<string, Promise<EntryRecord | undefined>>();

  /** Reads answered from memory, records or chunks (a reader that then needs IndexedDB checks it may mix the two). */
  memoryReads = 0;
  private opened: AnyTx | undefined;
  private readonly open: (() => AnyTx) | undefined;

  /**
   * `tx`: the IndexedDB transaction, or how to open it at the first request
   * (a reader answered from memory needs none).
   * `committed`: the store's committed records and how this transaction may
   * use them. A writer (writers run one at a time: WriterBatcher) reads them
   * as exact and adds what it reads from IndexedDB; the store applies
   * ownInodes/ownEntries/ownMeta when it commits. A reader uses them only
   * under IndexedDB invariant 1 (indexeddb.ts) and adds only what no commit
   * raced.
   */
  constructor(
    tx: AnyTx | (() => AnyTx),
    private committed?: { records: CommittedRecords; writer: boolean },
  ) {
    if (typeof tx === "function") this.open = tx;
    else this.opened = tx;
  }

  /** The committed records this transaction may read, and whether it is the writer (undefined: IndexedDB only). */
  protected get committedView(): { records: CommittedRecords; writer: boolean } | undefined {
    return this.committed;
  }

  get tx(): AnyTx {
    return (this.opened ??= this.open!());
  }

  /** From now on, read only IndexedDB (a reader whose transaction opened after a commit it cannot see in memory). */
  forgetCommitted(): void {
    this.committed = undefined;
  }

  private get records(): CommittedRecords | undefined {
    return this.committed?.writer ? this.committed.records : undefined;
  }

  store(name: StoreName): IDBObjectStore {
    let s = this.stores.get(name);
    if (!s) {
      s = this.tx.objectStore(name);
      this.stores.set(name, s);
    }
    return s;
  }

  async getInode(ino: number): Promise<InodeRecord | undefined> {
    const own = this.ownInodes.get(ino);
    if (own !== undefined) return own ?? undefined;
    const c = this.committed;
    const known = c?.records.inode(ino);
    if (known !== undefined) {
      this.memoryReads++;
      return known ?? undefined;
    }
    const since = c?.records.version ?? 0;
    const rec = (await req(this.store("inodes").get(ino))) as InodeRecord | undefined;
    // Unless this writer changed it meanwhile, that is the committed record.
    if (c?.writer && !this.ownInodes.has(ino)) c.records.rememberInode(ino, rec ?? null);
    else if (c && !c.writer) c.records.rememberInodeIf(since, ino, rec ?? null);
    return rec;
  }
  // A writer's inode and meta changes are kept in ownInodes/ownMeta (where its reads look first)
  // and issued once per record by flushOwn before the commit: a batch of creates in one directory
  // changes the directory's inode and the inode counter once per create, and IndexedDB's cost
  // is per request.
  async putInode(rec: InodeRecord): Promise<void> {
    const stored = normalizeInode(rec);
    this.writes++;
    if (this.records) this.ownInodes.set(rec.ino, stored);
    else this.store("inodes").put(stored);
  }
  async deleteInode(ino: number): Promise<void> {
    this.writes++;
    if (this.records) this.ownInodes.set(ino, null);
    else this.store("inodes").delete(ino);
  }
  /** Issue the inode and meta changes putInode/deleteInode/putMeta kept back (DriverHooks.beforeCommit). */
  flushOwn(): void {
    if (!this.records) return;
    for (const [ino, rec] of this.ownInodes) {
      if (rec) this.store("inodes").put(rec);
      else this.store("inodes").delete(ino);
    }
    for (const [key, value] of this.ownMeta) this.store("meta").put(value, key);
  }
  /**
   * Issue lookups of entries the bodies will ask for, all at once, before any
   * body runs (TxOptions.prefetchEntries). They read the state this
   * transaction started from; a getEntry after this transaction wrote the
   * name answers from its own write instead (`entries` is asked first).
   *
   * A directory not known whole is read whole when it is small (one getAll
   * of at most DIR_LOAD entries): a create's "is the name free?" is then
   * answered from memory for every later name in it (CommittedRecords.rememberDir).
   */
  prefetchEntries(keys: readonly EntryKey[] | undefined): void {
    const records = this.records;
    const loads = new Map<number, Promise<EntryRecord[] | undefined>>();
    for (const [dir, name] of keys ?? []) {
      const k = entryKey(dir, name);
      if (this.entriesAhead.has(k) || this.entries.has(k) || this.committed?.records.entry(k, dir) !== undefined) continue;
      let p: Promise<EntryRecord | undefined>;
      if (records && !records.isLarge(dir)) {
        let load = loads.get(dir);
        if (!load) {
          load = this.loadDir(records, dir);
          loads.set(dir, load);
        }
        p = load.then((all) => (all ? all.find((e) => e.name === name) : (req(this.store("entries").get([dir, name])) as Promise<EntryRecord | undefined>)));
      } else {
        p = req(this.store("entries").get([dir, name])) as Promise<EntryRecord | undefined>;
      }
      // A lookup nobody takes (its writer left the batch) must not surface as an unhandled rejection.
      p.catch(() => {});
      this.entriesAhead.set(k, p);
    }
  }
  /** All of `dir`'s committed entries, remembered whole; undefined when there are more than DIR_LOAD. */
  private async loadDir(records: CommittedRecords, dir: number): Promise<EntryRecord[] | undefined> {
    // Issued before any body wrote: what IndexedDB answers is the committed state. Names are strings, and every string key sorts below an array key.
    const all = (await req(this.store("entries").getAll(IDBKeyRange.bound([dir, ""], [dir, []]), DIR_LOAD + 1))) as EntryRecord[];
    if (all.length > DIR_LOAD) {
      records.markLarge(dir);
      return undefined;
    }
    records.rememberDir(dir, all.map((e) => [entryKey(e.dir, e.name), e]));
    return all;
  }
  async getEntry(dir: number, name: string): Promise<EntryRecord | undefined> {
    // The same name is often looked up twice in one operation (Tlcreate: does it exist, then
    // insert it): the second answer costs no round trip.
    const k = entryKey(dir, name);
    const seen = this.entries.get(k);
    if (seen !== undefined) return seen ?? undefined;
    const c = this.committed;
    const known = c?.records.entry(k, dir);
    if (known !== undefined) {
      this.memoryReads++;
      return known ?? undefined;
    }
    const since = c?.records.version ?? 0;
    const issued = this.entriesAhead.get(k);
    this.entriesAhead.delete(k);
    const e = await (issued ?? (req(this.store("entries").get([dir, name])) as Promise<EntryRecord | undefined>));
    // A put or delete of this name issued meanwhile already set what this transaction sees.
    if (!this.entries.has(k)) {
      this.entries.set(k, e ?? null);
      if (c?.writer) c.records.rememberEntry(k, e ?? null);
      else c?.records.rememberEntryIf(since, k, e ?? null);
    }
    return e;
  }
  async putEntry(entry: EntryRecord): Promise<void> {
    // Copy to a plain record: callers may pass objects with extra fields.
    const { dir, name, ino, cookie, dtype } = entry;
    const rec = { dir, name, ino, cookie, dtype };
    this.writes++;
    this.store("entries").put(rec);
    this.entries.set(entryKey(dir, name), rec);
    if (this.records) this.ownEntries.set(entryKey(dir, name), rec);
  }
  async deleteEntry(dir: number, name: string): Promise<void> {
    this.writes++;
    this.store("entries").delete([dir, name]);
    this.entries.set(entryKey(dir, name), null);
    if (this.records) this.ownEntries.set(entryKey(dir, name), null);
  }
  async listEntries(dir: number, after: number, limit: number): Promise<EntryRecord[]> {
    // getAll's count 0 means "no limit" in IndexedDB, the opposite of what the caller asked.
    if (!(limit > 0)) return [];
    const range = IDBKeyRange.bound([dir, after], [dir, Infinity], true, false);
    return req(this.store("entries").index("byCookie").getAll(range, Math.min(limit, 2 ** 32 - 1))) as Promise<EntryRecord[]>;
  }
  // Extended attributes live in the meta object store under a key getMeta's callers never use,
  // and bypass the committed records: they can be large, and only xattr operations read them.
  async getXattrs(ino: number): Promise<XattrList | undefined> {
    return (await req(this.store("meta").get(xattrKey(ino)))) as XattrList | undefined;
  }
  async putXattrs(ino: number, list: XattrList | undefined): Promise<void> {
    this.writes++;
    if (list && list.length > 0) this.store("meta").put(list.map(([k, v]) => [k, ownBytes(v)]), xattrKey(ino));
    else this.store("meta").delete(xattrKey(ino));
  }
  async getMeta<T>(key: string): Promise<T | undefined> {
    if (this.ownMeta.has(key)) return this.ownMeta.get(key) as T | undefined;
    const known = this.records?.metaValue(key);
    if (known?.has) return known.value as T | undefined;
    const v = (await req(this.store("meta").get(key))) as T | undefined;
    if (this.records && !this.ownMeta.has(key)) this.records.rememberMeta(key, v);
    return v;
  }
  async putMeta<T>(key: string, value: T): Promise<void> {
    this.writes++;
    if (this.records) this.ownMeta.set(key, value);
    else this.store("meta").put(value, key);
  }
}

/** Entries of a directory read whole at its first lookup by a writer (MetadataOps.prefetchEntries); larger ones are looked up name by name. */
const DIR_LOAD = 256;
