/**
 * Which names the IndexedDB checkpoint holds, per directory, for directories
 * small enough: so that looking up a name that does not exist — every create
 * does — costs no IndexedDB round trip. Without it a create storm paid one
 * lookup (~0.3–0.5 ms, in turn) per file.
 *
 * Exact for what it covers: a directory's names are loaded from the
 * checkpoint by a writer (no checkpoint runs meanwhile: OPFS invariant 4) and
 * changed only by checkpoints, which apply the overlay's entries to it as
 * they write them (invariant 11). Names newer than the checkpoint are in the
 * overlay, which every lookup asks first. Bounded: a directory past
 * MAX_NAMES_PER_DIR is not kept, and whole directories are evicted least
 * recently used first past MAX_NAMES.
 */
const MAX_NAMES_PER_DIR = 65_536;
const MAX_NAMES = 262_144;

export class CheckpointNames {
  private readonly dirs = new Map<number, Set<string>>();
  /** Directories found too large to keep (not asked again until a checkpoint shrinks them). */
  private readonly large = new Set<number>();
  private total = 0;

  /** Whether the checkpoint has `key` in `dir`; undefined when not known. */
  has(dir: number, key: string): boolean | undefined {
    const names = this.dirs.get(dir);
    if (!names) return undefined;
    this.dirs.delete(dir);
    this.dirs.set(dir, names);
    return names.has(key);
  }

  /** Whether a writer should load `dir` (one count, then its keys). */
  worthLoading(dir: number): boolean {
    return !this.dirs.has(dir) && !this.large.has(dir);
  }

  /** A directory has `count` names in the checkpoint: keep them if it is small enough. */
  tooLarge(dir: number, count: number): boolean {
    if (count <= MAX_NAMES_PER_DIR) return false;
    this.large.add(dir);
    return true;
  }

  loaded(dir: number, keys: Iterable<string>): void {
    const names = new Set(keys);
    this.dirs.set(dir, names);
    this.total += names.size;
    this.evict();
  }

  /** A checkpoint wrote these entries (null: deleted). */
  checkpointed(dir: number, key: string, present: boolean): void {
    this.large.delete(dir);
    const names = this.dirs.get(dir);
    if (!names) return;
    const had = names.has(key);
    if (present && !had) {
      names.add(key);
      this.total++;
    } else if (!present && had) {
      names.delete(key);
      this.total--;
    }
    if (names.size > MAX_NAMES_PER_DIR) this.forget(dir);
  }

  clear(): void {
    this.dirs.clear();
    this.large.clear();
    this.total = 0;
  }

  private forget(dir: number): void {
    const names = this.dirs.get(dir);
    if (!names) return;
    this.total -= names.size;
    this.dirs.delete(dir);
  }

  private evict(): void {
    for (const dir of this.dirs.keys()) {
      if (this.total <= MAX_NAMES) return;
      this.forget(dir);
    }
  }
}
