/**
 * The open folder of the files panel and how it is kept current (the panel's
 * header says when it is polled). A folder of up to FULL_POLL_ENTRIES entries
 * is polled by its whole listing (names, sizes, times, modes): a file the
 * guest writes into or grows changes only that file, not the folder. A larger
 * one is polled by the folder's own attributes, read before its listing, so a
 * change made while the listing is read is seen by the next poll. No DOM here.
 */
import type { Client } from "../../client/client.js";
import { Errno, FsError } from "../../protocol/errno.js";
import { listChildren } from "../archive/export.js";
import { kindOf, parentOf, readlink, tryLstat } from "../archive/tree9p.js";
import { sortListed, type Listed } from "./file-view.js";

/** Folders up to this size are polled by their whole listing (about 3 requests per entry per poll). */
const FULL_POLL_ENTRIES = 256;

export interface FolderListingEvents {
  /** A read of the open folder landed: `items` (or `cwd`) changed. */
  shown(): void;
  /** The folder `path` was deleted elsewhere: its parent is shown instead. */
  gone(path: string): void;
  /** A read of the folder failed. */
  failed(e: unknown): void;
}

/** What the listing shows of each entry: a change in any of it is worth showing. */
function listingSignature(children: readonly Listed[]): string {
  return children.map(({ name, attr: a }) => `${name}\0${a.mode}\0${a.size}\0${a.mtime.sec}.${a.mtime.nsec}`).join("\n");
}

export class FolderListing {
  /** The open folder, from the tree's root, no leading or trailing slash. */
  cwd: string;
  /** Its entries as last read, sorted for showing. */
  items: Listed[] = [];
  private seen = "";
  private loading: Promise<void> | undefined;
  private again = false;
  /** A poll outlasting the interval (a busy tree, a listing of hundreds) is not started again beside itself. */
  private polling = false;
  private disposed = false;

  constructor(
    private readonly client: Client,
    startPath: string,
    private readonly events: FolderListingEvents,
  ) {
    this.cwd = startPath.replace(/^\/+|\/+$/g, "");
  }

  /** Read the folder again. A call during a read makes that read run once more when it ends, so a change made meanwhile is never missed. */
  refresh(): Promise<void> {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = (async () => {
      do {
        this.again = false;
        await this.load().catch((e: unknown) => this.events.failed(e));
      } while (this.again && !this.disposed);
    })().finally(() => (this.loading = undefined));
    return this.loading;
  }

  /** Look whether the open folder changed (see the header), and read it again if it did. Never throws: the next poll tries again. */
  async poll(): Promise<void> {
    if (this.disposed || this.loading || this.polling) return;
    this.polling = true;
    try {
      const path = this.cwd;
      const folder = await this.folderSignature(path);
      const now = folder !== "gone" && this.items.length <= FULL_POLL_ENTRIES ? this.signatureOf(folder, await this.readListing(path)) : folder;
      if (path === this.cwd && now !== this.seen) await this.refresh();
    } catch {
      // The next tick tries again.
    } finally {
      this.polling = false;
    }
  }

  /** No more reads land (the panel is gone). */
  dispose(): void {
    this.disposed = true;
  }

  private async load(): Promise<void> {
    const path = this.cwd;
    let children: Listed[];
    let signature: string;
    try {
      const folder = await this.folderSignature(path);
      children = await this.readListing(path);
      signature = this.signatureOf(folder, children);
    } catch (e) {
      if (path !== "" && e instanceof FsError && (e.errno === Errno.ENOENT || e.errno === Errno.ENOTDIR)) {
        this.events.gone(path);
        this.cwd = parentOf(path);
        return this.load();
      }
      throw e;
    }
    await Promise.all(children.filter((c) => c.kind === "symlink").map(async (c) => (c.target = await readlink(this.client, c.path).catch(() => "?"))));
    if (path !== this.cwd || this.disposed) return;
    this.items = sortListed(children);
    this.seen = signature;
    this.events.shown();
  }

  /** The folder's own attributes: what a large folder is polled by. */
  private async folderSignature(path: string): Promise<string> {
    const a = await tryLstat(this.client, path);
    return a ? `${a.mtime.sec}.${a.mtime.nsec}.${a.qid.version}.${a.ctime.sec}.${a.ctime.nsec}` : "gone";
  }

  private async readListing(path: string): Promise<Listed[]> {
    return (await listChildren(this.client, path)).map(({ name, path: p, attr }) => ({ name, path: p, attr, kind: kindOf(attr.mode) }));
  }

  /** Read before the listing it describes, never after: a change in between then shows at the next poll instead of never. */
  private signatureOf(folder: string, children: readonly Listed[]): string {
    return children.length <= FULL_POLL_ENTRIES ? `${folder}\n${listingSignature(children)}` : folder;
  }
}
