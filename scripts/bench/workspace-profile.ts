// bench:workspace --profile: the workspace worker's TickProfile (src/workspace/guest/tick-profile.ts),
// read with Playwright's worker.evaluate (the page API does not carry it: a bench's concern only).
import type { Page, Worker } from "playwright-core";
import type { Spread, TickProfile, TickProfileSummary } from "../../src/workspace/guest/tick-profile.js";

type WithProfile = typeof globalThis & { workspaceTickProfile?: TickProfile };

function workspaceWorker(page: Page): Worker {
  const w = page.workers().find((w) => w.url().includes("/worker/workspace"));
  if (!w) throw new Error(`--profile: no workspace worker in the page (workers: ${page.workers().map((w) => w.url()).join(", ")})`);
  return w;
}

export async function resetTickProfile(page: Page): Promise<void> {
  const ok = await workspaceWorker(page).evaluate(() => {
    const p = (globalThis as WithProfile).workspaceTickProfile;
    p?.reset();
    return p !== undefined;
  });
  if (!ok) throw new Error("--profile: the workspace worker keeps no tick profile (?profile=tick not honoured?)");
}

export async function readTickProfile(page: Page): Promise<TickProfileSummary> {
  return workspaceWorker(page).evaluate(() => (globalThis as WithProfile).workspaceTickProfile!.summary());
}

const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : "-");
const spreadCells = (s: Spread) => [String(s.n), ms(s.mean), ms(s.p50), ms(s.p90)];

/** One row per variant: the server's time, the wake-up after a reply, yield(0)'s latency, and slices. */
export function profileTable(rows: [string, TickProfileSummary | undefined][]): string {
  const head = [
    "variant",
    "requests", "server mean", "p50", "p90",
    "slice rest mean", "p90", "after slice mean", "p90",
    "woken", "wake mean", "p50", "p90",
    "in slice", "idle at reply",
    "yield(0)s", "yield(0) mean", "p50", "p90",
    "slices", "in slices s", "elapsed s",
  ];
  const lines = [head];
  for (const [name, p] of rows) {
    if (!p) continue;
    lines.push([
      name,
      ...spreadCells(p.server),
      ms(p.sliceRest.mean), ms(p.sliceRest.p90), ms(p.afterSlice.mean), ms(p.afterSlice.p90),
      ...spreadCells(p.wake),
      String(p.repliesInSlice),
      String(p.repliesWhileIdle),
      ...spreadCells(p.zeroYield),
      String(p.slices),
      (p.sliceMs / 1000).toFixed(2),
      (p.elapsedMs / 1000).toFixed(2),
    ]);
  }
  return formatTable(lines);
}

/** Columns padded to their widest cell, the first left-aligned, a rule under the head. */
export function formatTable(lines: string[][]): string {
  const head = lines[0]!;
  const widths = head.map((_, i) => Math.max(...lines.map((l) => (l[i] ?? "").length)));
  return lines
    .map((l, li) => {
      const s = l.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
      return li === 0 ? `${s}\n${widths.map((w) => "-".repeat(w)).join("  ")}` : s;
    })
    .join("\n");
}
