// Shared by the fs tests.
import { FsError } from "../protocol/errno.js";

/** The errno a promise fails with (a test failure if it succeeds or fails otherwise). */
export async function errnoOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (e) {
    if (e instanceof FsError) return e.errno;
    throw e;
  }
  throw new Error("expected a failure");
}
