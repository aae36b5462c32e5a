/**
 * Which archive entries may be written where. Pure functions: an entry's name is
 * turned into path components below the import target, or refused.
 *
 * Invariant (1): nothing an import writes lands outside its staging folder. Names
 * that are absolute or climb with ".." are refused, symlinks whose target leaves
 * the target folder are refused, and hard links must name an earlier entry of the
 * same archive. A later entry can never be written *through* an imported symlink
 * either, because a 9P walk does not follow symlinks (the server answers ENOTDIR).
 */

/** Why an import or export stopped; the message says it in words for the page. */
export type ArchiveFailureKind = "refused" | "corrupt" | "full" | "conflict" | "cancelled" | "failed";

/** A refusal or failure that names the archive entry it is about. */
export class ArchiveError extends Error {
  constructor(
    message: string,
    readonly entry?: string,
    readonly kind: ArchiveFailureKind = "refused",
  ) {
    super(message);
    this.name = "ArchiveError";
  }
}

/**
 * The components of an entry's name below the target, "./" and empty parts
 * dropped. [] means the archive's root itself ("./"). Throws ArchiveError for an
 * absolute name or one with "..".
 */
export function entryComponents(name: string): string[] {
  if (name.startsWith("/")) throw new ArchiveError(`refused "${name}": absolute paths are not imported`, name);
  if (/^[A-Za-z]:[\\/]/.test(name)) throw new ArchiveError(`refused "${name}": absolute paths are not imported`, name);
  const parts: string[] = [];
  for (const p of name.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") throw new ArchiveError(`refused "${name}": ".." would write outside the target folder`, name);
    if (p.includes("\0")) throw new ArchiveError(`refused "${name}": a name with a NUL byte`, name);
    parts.push(p);
  }
  return parts;
}

/**
 * Whether a symlink at `linkParts` (components below the target) with `target`
 * resolves inside the target folder. Absolute targets never do: inside the guest
 * they name the guest's own root, not this folder.
 */
export function symlinkStaysInside(linkParts: readonly string[], target: string): boolean {
  if (target === "" || target.startsWith("/")) return false;
  const depth = [...linkParts.slice(0, -1)];
  for (const p of target.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") {
      if (depth.length === 0) return false;
      depth.pop();
    } else depth.push(p);
  }
  return true;
}
