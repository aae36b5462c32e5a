// Host-side helpers shared by the image builders (scripts/guest/image.ts, scripts/image/build.ts):
// asking the host's apt/dpkg and reading what a failed command said.
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * `apt-get update`, tolerating a partial failure: a mirror mid-sync fails one index (e.g. the
 * security suite) and apt exits 100; what matters is whether the packages resolve afterwards.
 * The caller checks it may run as root; `tag` prefixes the log lines ("image", "guest image").
 */
export async function aptGetUpdate(tag: string, log: (line: string) => void): Promise<void> {
  log(`${tag}: apt-get update`);
  try {
    await run("apt-get", ["update"], { maxBuffer: 64 << 20 });
  } catch (err) {
    log(`${tag}: apt-get update reported errors (continuing): ${firstLine(errText(err))}`);
  }
}

export async function hasCommand(cmd: string): Promise<boolean> {
  try {
    await run("sh", ["-c", `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
}

/** What a failed command said: its stderr if it wrote any, else the error's message. */
export function errText(err: unknown): string {
  if (err && typeof err === "object" && "stderr" in err && typeof err.stderr === "string" && err.stderr.trim()) {
    return err.stderr.trim();
  }
  return err instanceof Error ? err.message : String(err);
}

function firstLine(s: string): string {
  return s.split("\n").find((l) => l.trim()) ?? s;
}
