/**
 * LayeredStore: the user's persistent Store (memory, IndexedDB, OPFS) layered
 * copy-on-write over a read-only, lazily fetched base image. It is a Store
 * itself, so the file system above needs no change and the merged view is
 * held to the same contract (conformance suite) as a plain tree.
 *
 * The user's layer wins: a file the user changed, created or deleted stays so
 * whatever the base holds. Reset = a fresh user's layer over the same base
 * (the base cache is kept).
 *
 * C1 (quota): the base cache and the user's layer share the origin's quota, and
 * the cache only guesses its share (the browser's usage estimate lags). When a
 * user's transaction fails with ENOSPC, the cache gives back room (oldest
 * pieces first, and keeps nothing more this session) and the transaction runs
 * again — the store's commit is all-or-nothing, so the failed run left no
 * trace. Only when the cache has nothing left to give does the user see ENOSPC.
 * The user's layer is never evicted.
 */
import type { BaseImage } from "../image/reader.js";
import type { Store, StoreTx, StoreUsage, TxMode, TxOptions } from "../store.js";
import { Errno, isFsError } from "../../protocol/errno.js";
import { decodeIndex } from "../image/format.js";
import { BaseView } from "./base-view.js";
import { rebaseLayer } from "./rebase.js";
import { LAYER_META_PREFIX, LayeredTx, NeedPieces, type PieceSource } from "./layered-tx.js";

/**
 * Where the user's inode numbers start over a base of `baseInodes` (L1): past
 * the base with room for newer bases to grow by a quarter (the writer keeps a
 * path's number across rebuilds), yet close enough that fsck, which probes
 * every number below the counter, does not probe a vast empty range.
 */
export function firstUserIno(baseInodes: number): number {
  return Math.ceil((baseInodes * 1.25 + 1024) / 1024) * 1024;
}
/** Meta key: where the user's numbers started (a newer base must stay below it). */
export const META_FIRST_USER_INO = `${LAYER_META_PREFIX}firstUserIno`;
/** Meta key: the id (index hash) of the base image the user's layer was made over. */
export const META_BASE_ID = `${LAYER_META_PREFIX}base`;
const META_NEXT_INO = "nextIno";

/** Meta key: the index file of that image, so the layer knows its old base when the base changes (rebase.ts). */
export const META_BASE_INDEX = `${LAYER_META_PREFIX}baseIndex`;

/** The part of BaseImage the layered store uses (a test may stand in for it). */
export type BaseSource = Pick<BaseImage, "index" | "id" | "piece" | "indexBytes" | "pieceOf" | "inMemory"> &
  Partial<Pick<BaseImage, "makeRoom">>;

/** C1: what the cache is first asked to give back, doubling on each retry that fails again. */
const ROOM_FIRST_BYTES = 16 << 20;
/** C1: retries before the user's ENOSPC stands (the cache may hold little, or the quota be the user's own). */
const ROOM_RETRIES = 4;

/** The user's layer cannot go over this base image. */
export class LayerMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LayerMismatchError";
  }
}

/** Refuse to open a user's layer as a plain tree: without its base it is a tree of dangling references. */
export async function assertNotALayer(store: Store, signal?: AbortSignal): Promise<void> {
  const id = await store.transaction("readonly", (tx) => tx.getMeta<string>(META_BASE_ID), signal ? { signal } : {});
  if (id !== undefined) {
    throw new LayerMismatchError("this tree is a layer over a base image and cannot be opened without it: open it with its image (e.g. the Debian root)");
  }
}

export class LayeredStore implements Store {
  readonly kind: string;
  readonly chunkSize: number;
  readonly keepsChunkBuffers: boolean;
  readonly view: BaseView;

  private constructor(readonly upper: Store, readonly image: BaseSource) {
    this.kind = `layered:${upper.kind}`;
    this.chunkSize = upper.chunkSize;
    this.keepsChunkBuffers = upper.keepsChunkBuffers;
    this.view = new BaseView(image.index, upper.chunkSize);
  }

  /** Layer `upper` (the user's layer, maybe new) over `image`. */
  static async open(upper: Store, image: BaseSource, options: { signal?: AbortSignal; log?: (message: string) => void } = {}): Promise<LayeredStore> {
    const store = new LayeredStore(upper, image);
    const log = options.log ?? console.warn;
    const signal = options.signal ? { signal: options.signal } : {};
    const before = await upper.transaction("readonly", async (tx) => {
      const id = await tx.getMeta<string>(META_BASE_ID);
      // A file system already formatted in `upper` with no base recorded: a plain tree, whose inode
      // numbers would collide with the base's. It stays what it was (a home tree, say), untouched.
      const plain = id === undefined && (await tx.getMeta<number>(META_NEXT_INO)) !== undefined;
      return { id, plain, index: id !== undefined && id !== image.id ? await tx.getMeta<Uint8Array>(META_BASE_INDEX) : undefined };
    }, signal);
    if (before.plain) {
      throw new LayerMismatchError("this tree was made without a base image, so it cannot be a layer over one: open it without a base, or use another tree");
    }
    if (before.id !== undefined && before.id !== image.id) {
      if (before.index) {
        const r = await rebaseLayer(upper, decodeIndex(before.index), store.view, image, log, options.signal);
        log(`worker9p: the base image changed; the user's layer kept ${r.files} changed files and ${r.dirs} directories over it`);
      } else {
        log("worker9p: the base image changed and this user's layer does not record its old one: files changed over the old base may show the new base's bytes");
      }
    }
    await upper.transaction(
      "readwrite",
      async (tx) => {
        const was = await tx.getMeta<string>(META_BASE_ID);
        if (was !== image.id) {
          await tx.putMeta(META_BASE_ID, image.id);
          await tx.putMeta(META_BASE_INDEX, image.indexBytes);
        }
        const count = image.index.inodes.length;
        const first = await tx.getMeta<number>(META_FIRST_USER_INO);
        if (first !== undefined && count >= first) {
          throw new LayerMismatchError(`the base image has ${count} inodes, more than this user's layer leaves room for (${first - 1}): reset the user's layer to use it`);
        }
        // L1: the user's numbers start above the base's; an empty base leaves the store's own default.
        if (count > 1 && first === undefined && (await tx.getMeta<number>(META_NEXT_INO)) === undefined) {
          await tx.putMeta(META_FIRST_USER_INO, firstUserIno(count));
          await tx.putMeta(META_NEXT_INO, firstUserIno(count));
        }
      },
      signal,
    );
    return store;
  }

  transaction<T>(mode: TxMode, body: (tx: StoreTx) => Promise<T>, options?: TxOptions): Promise<T> {
    return this.run(mode, body, options, new Map());
  }

  /** L4: run; if base bytes were missing, fetch them outside the transaction and run again with them pinned. */
  private async run<T>(mode: TxMode, body: (tx: StoreTx) => Promise<T>, options: TxOptions | undefined, pinned: Map<number, Uint8Array>): Promise<T> {
    const source: PieceSource = { inMemory: (id) => pinned.get(id) ?? this.image.inMemory(id) };
    let roomAsked = 0;
    for (;;) {
      const missing = new Set<number>();
      try {
        return await this.upper.transaction(
          mode,
          async (utx) => {
            const tx = new LayeredTx(utx, this.view, source, missing);
            const value = await body(tx);
            // The body may have swallowed the NeedPieces error: its result is not to be trusted then.
            if (missing.size > 0) throw new NeedPieces();
            return value;
          },
          options,
        );
      } catch (e) {
        if (missing.size === 0) {
          // C1: the cache gives way to the user's layer, never the other way round.
          if (!(isFsError(e) && e.errno === Errno.ENOSPC) || !this.image.makeRoom || roomAsked >= ROOM_RETRIES) throw e;
          const freed = await this.image.makeRoom(ROOM_FIRST_BYTES * 2 ** roomAsked++);
          if (freed === 0) throw e;
          continue;
        }
        const ids = [...missing];
        const raws = await Promise.all(ids.map((id) => this.image.piece(id, options?.signal, missing)));
        ids.forEach((id, i) => pinned.set(id, raws[i]!));
      }
    }
  }

  usage(): Promise<StoreUsage> {
    return this.upper.usage();
  }

  close(): Promise<void> {
    return this.upper.close();
  }
}
