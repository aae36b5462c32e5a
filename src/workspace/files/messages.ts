/** What the files panel tells the user about a failure or a name it cannot take. */
import { Errno, FsError } from "../../protocol/errno.js";
import { ArchiveError } from "../archive/entry-path.js";

/** Why `name` cannot name a file, or undefined if it can. */
export function nameProblem(name: string): string | undefined {
  if (name === "" || name === "." || name === "..") return "a name cannot be empty, . or ..";
  if (name.includes("/")) return "a name cannot contain /";
  if (name.includes("\0")) return "a name cannot contain a NUL byte";
  return undefined;
}

/** A failure in words a user reads: the errors a file browser meets by name, others as they say. */
export function errorMessage(e: unknown): string {
  if (e instanceof ArchiveError) return e.message;
  if (e instanceof FsError) {
    if (e.errno === Errno.ENOSPC) return "storage full";
    if (e.errno === Errno.EEXIST) return "a file or folder of that name already exists";
    if (e.errno === Errno.ENOTEMPTY) return "the folder is not empty";
    if (e.errno === Errno.ENOENT) return "it is gone (deleted elsewhere?)";
  }
  return e instanceof Error ? e.message : String(e);
}
