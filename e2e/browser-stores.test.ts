/**
 * The IndexedDB and OPFS stores in real Chromium: real IndexedDB, real OPFS
 * sync access handles, inside a dedicated worker. Nothing here is a shim.
 *
 * Needs Debian's chromium at /usr/bin/chromium (installed on demand by
 * scripts/setup-browser.sh through the harness).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startBrowserHarness, type BrowserHarness } from "./browser/harness.js";
import type { ConformanceReport } from "../src/storage/conformance.js";
import type { CrashVerifyReport, CreateUnlinkReport, EnospcPendingReport, JournalReopenReport, Kind, LazyOpenReport, OverlayBoundReport, QuotaReport } from "./browser/store-tests.js";
import type { StoreBenchResult } from "./browser/store-bench.js";
import type { CloseWithPendingReport, DropMidCommitReport, HelperFailureReport } from "./browser/checkpoint-helper-tests.js";
import type { RawResult } from "./browser/raw-throughput.js";

const TESTS = "/e2e/browser/store-tests.ts";
const KINDS: Kind[] = ["indexeddb", "opfs"];
const MiB = 1024 * 1024;

let h: BrowserHarness;
let run = 0;
const unique = (prefix: string) => `${prefix}-${process.pid}-${run++}`;

beforeAll(async () => {
  h = await startBrowserHarness();
}, 120_000);

afterAll(async () => {
  await h?.stop();
});

function expectConformant(report: ConformanceReport): void {
  expect(report.results.every((r) => r.ok)).toBe(true);
  expect(report.results.length).toBeGreaterThanOrEqual(20);
  // The async backends must actually honour a Tflush that arrives mid-body.
  const mid = report.results.find((r) => r.name.startsWith("abort: signal fired from outside"));
  expect(mid?.note).toMatch(/^aborted/);
}

describe.each(KINDS)("%s store in Chromium", (kind) => {
  test("passes the Store conformance suite", async () => {
    const fn = kind === "indexeddb" ? "conformanceIndexedDB" : "conformanceOpfs";
    expectConformant(await h.runInWorker<ConformanceReport>(TESTS, fn, null));
  });

  test("passes it with tiny chunks too (every chunk in its own slot / value)", async () => {
    const fn = kind === "indexeddb" ? "conformanceIndexedDB" : "conformanceOpfs";
    expectConformant(await h.runInWorker<ConformanceReport>(TESTS, fn, { chunkSize: 4096, inlineLimit: 0 }));
  });

  test("keeps its tree across a page reload (store left open, worker killed by the reload)", async () => {
    const name = unique(`reload-${kind}`);
    const w = await h.spawnWorker("persist-write");
    await w.run(TESTS, "persistWrite", { kind, name });
    await h.reload();
    const v = await h.runInWorker<{ problems: string[]; handleRetries: number; openMs: number }>(TESTS, "persistVerify", { kind, name });
    console.log(`${kind} reload: reopened in ${v.openMs} ms, handle retries ${v.handleRetries}`);
    expect(v.problems).toEqual([]);
    await h.runInWorker(TESTS, "destroyStore", { kind, name });
  });

  test("fails with ENOSPC under a lowered quota, keeps earlier data, writes again after deleting", async () => {
    // A fresh origin: Chromium's IndexedDB backend caches how much space a
    // bucket has left for a while after using it, so a quota lowered on an
    // origin that earlier tests just used would go unnoticed for seconds.
    const s = await h.openSession(`quota-${kind}-${process.pid}.localhost`);
    const name = unique(`quota-${kind}`);
    try {
      const before = await s.runInWorker<{ usage: number; quota: number }>(TESTS, "storageEstimate");
      // Room for a couple dozen MiB more than the origin holds now.
      await s.setQuota(before.usage + 24 * MiB);
      let report: QuotaReport;
      try {
        await s.runInWorker(TESTS, "quotaBaseline", { kind, name });
        report = await s.runInWorker<QuotaReport>(TESTS, "quotaFill", { kind, name, maxBytes: 256 * MiB });
      } finally {
        await s.setQuota(undefined);
      }
      console.log(
        `${kind} quota: ENOSPC after ${(report.committedBytes / MiB).toFixed(1)} MiB (${report.error}), ` +
          `rewrote ${(report.rewrittenBytes / MiB).toFixed(1)} MiB after deleting`,
      );
      expect(report.errno).toBe(28);
      expect(report.problems).toEqual([]);
      expect(report.committedBytes).toBeGreaterThan(4 * MiB);
      expect(report.rewrittenBytes).toBeGreaterThan(0);
      await s.runInWorker(TESTS, "destroyStore", { kind, name });
    } finally {
      await s.close();
    }
  });

  test.runIf(kind === "opfs")("small files (journal and checkpoints only): ENOSPC under a lowered quota, nothing lost, deleting works", async () => {
    const s = await h.openSession(`quota-journal-${process.pid}.localhost`);
    const name = unique("quota-journal");
    try {
      const before = await s.runInWorker<{ usage: number; quota: number }>(TESTS, "storageEstimate");
      await s.setQuota(before.usage + 24 * MiB);
      let report: QuotaReport;
      try {
        await s.runInWorker(TESTS, "quotaBaseline", { kind, name });
        report = await s.runInWorker<QuotaReport>(TESTS, "quotaFill", { kind, name, maxBytes: 256 * MiB, chunkBytes: 60 * 1024, rewriteMayFail: true });
      } finally {
        await s.setQuota(undefined);
      }
      console.log(
        `opfs journal quota: ENOSPC after ${(report.committedBytes / MiB).toFixed(1)} MiB (${report.error}), deleted them all, ` +
          `rewrote ${(report.rewrittenBytes / MiB).toFixed(1)} MiB after deleting${report.rewriteErrno !== undefined ? `, then errno ${report.rewriteErrno}` : ""}`,
      );
      expect(report.errno).toBe(28);
      // Nothing lost, nothing half-written, bookkeeping exact; deleting works at the limit (the journal's reserve).
      expect(report.problems).toEqual([]);
      expect(report.committedBytes).toBeGreaterThan(4 * MiB);
      // Known limit: space freed in IndexedDB by a checkpoint is not seen at once by Chromium's quota
      // manager, so writing again may still be refused — but only ever as ENOSPC, never a raw error.
      if (report.rewriteErrno !== undefined) expect(report.rewriteErrno).toBe(28);
      await s.runInWorker(TESTS, "destroyStore", { kind, name });
    } finally {
      await s.close();
    }
  }, 120_000);

  test("a file created and unlinked by requests committed in one batch lives until its creator lets go (issue 8.1)", async () => {
    const name = unique(`batch-unlink-${kind}`);
    const r = await h.runInWorker<CreateUnlinkReport>(TESTS, "createUnlinkOneBatch", { kind, name });
    expect(r).toEqual({ nlink: 0, size: 3, read: [1, 2, 3], inodeGone: true, problems: [] });
    await h.runInWorker(TESTS, "destroyStore", { kind, name });
  });

  test("opens a store lazily: what open and the first lookup read does not grow from 1,000 to 10,000 inodes", async () => {
    const reports: Record<number, LazyOpenReport> = {};
    for (const n of [1_000, 10_000]) {
      const name = unique(`lazy-${kind}`);
      await h.runInWorker(TESTS, "lazyPopulate", { kind, name, n });
      const r = await h.runInWorker<LazyOpenReport>(TESTS, "lazyOpen", { kind, name, n });
      // Times are information only: a shared machine is too noisy to assert on.
      console.log(`${kind} lazy open of ${n} inodes: open ${r.openMs} ms, first getInode ${r.firstGetMs} ms; reads ${JSON.stringify({ open: r.openReads, first: r.firstGetReads, replayed: r.replayed })}`);
      expect(r.ok).toBe(true);
      reports[n] = r;
      await h.runInWorker(TESTS, "destroyStore", { kind, name });
    }
    const small = reports[1_000]!;
    const large = reports[10_000]!;
    // Open reads a few small records, the first lookup a few more, whatever the tree's size.
    expect(large.openReads).toEqual(small.openReads);
    expect(large.firstGetReads).toEqual(small.firstGetReads);
    expect(large.openReads.recordsLoaded + large.openReads.cursorSteps).toBe(0);
    expect(large.openReads.requests).toBeGreaterThan(0);
    expect(large.openReads.requests).toBeLessThanOrEqual(10);
    expect(large.firstGetReads.requests).toBeLessThanOrEqual(3);
    // Closed cleanly: the journal was checkpointed, nothing to replay.
    expect(large.replayed).toBe(0);
  }, 180_000);
});

describe("IndexedDB store readers", () => {
  test.each([
    ["partly from memory, partly from IndexedDB", 0],
    ["with committed chunks kept in memory", undefined],
  ])("a reader answered %s while a writer commits sees one committed state (invariant 1)", async (_, chunkCacheBytes) => {
    const r = await h.runInWorker<{ seen: [number, number][]; problems: string[] }>(TESTS, "idbReaderDuringCommit", { rounds: 8, chunkCacheBytes });
    expect(r.problems).toEqual([]);
    expect(r.seen).toHaveLength(8);
  });

  test("a Tfsync with nothing of its own to write still writes, so that its strict commit makes IndexedDB sync", async () => {
    const r = await h.runInWorker<{ before: unknown; after: unknown }>(TESTS, "idbEmptyFsyncWrites", {});
    expect(r.before).toBeUndefined();
    expect(r.after).toBeTypeOf("number");
  });

  test("a create's name check and a walk are right in a directory read whole at its first lookup and in one too large for that", async () => {
    const r = await h.runInWorker<{ problems: string[] }>(TESTS, "idbNameChecks", { small: 20, large: 300 });
    expect(r.problems).toEqual([]);
  });
});

describe("OPFS store crash safety", () => {
  test("a crash at any instant leaves the tree of some commit point; leaked slots are reclaimed", async () => {
    const name = unique("crash");
    let committed = 0;
    // Kill the writer mid-stream at varying points, by terminating its worker
    // and by crashing the whole renderer; after each, every committed step
    // must be there and the slot bookkeeping must be exact.
    const kills: ("terminate" | "renderer")[] = ["terminate", "renderer", "terminate", "terminate", "renderer"];
    for (let cycle = 0; cycle < kills.length; cycle++) {
      const w = await h.spawnWorker("crash-writer");
      const call = await w.start(TESTS, "crashWriter", { name });
      const progress = await call.waitForProgress(2 + ((cycle * 7) % 11), 60_000);
      const steps = progress.filter((p): p is number => typeof p === "number");
      committed = Math.max(committed, ...steps);
      if (kills[cycle] === "terminate") await w.terminate();
      else await h.crashAndReopen();
      const v = await h.runInWorker<CrashVerifyReport>(TESTS, "crashVerify", { name });
      expect(v.problems).toEqual([]);
      // Everything reported committed before the kill is there (and maybe a step or two more).
      expect(v.seq).toBeGreaterThanOrEqual(committed);
      committed = v.seq;
    }
    // A kill between writing a commit's data and committing its metadata.
    const w = await h.spawnWorker("crash-leak");
    const call = await w.start(TESTS, "crashLeak", { name });
    await call.waitForProgress(1, 30_000);
    await w.terminate();
    const v = await h.runInWorker<CrashVerifyReport>(TESTS, "crashVerify", { name });
    console.log(
      `crash: ${committed} steps survived ${kills.length} kills; frozen commit left ${(v.reclaimedBytes / MiB).toFixed(1)} MiB ` +
        `past the high-water mark, reclaimed at open (slots: ${JSON.stringify(v.slots)}, handle retries ${v.handleRetries})`,
    );
    expect(v.problems).toEqual([]);
    expect(v.seq).toBe(committed);
    expect(v.reclaimedBytes).toBeGreaterThan(0);
    await h.runInWorker(TESTS, "destroyStore", { kind: "opfs", name });
  }, 120_000);
});

describe("OPFS store metadata journal", () => {
  const commits = 6;
  const writeAndKill = async (name: string) => {
    const w = await h.spawnWorker("journal-writer");
    await w.run(TESTS, "journalWriteThenKilled", { name, commits });
    await w.terminate();
  };

  test("replays commits that were only in the journal when the worker died", async () => {
    const name = unique("journal-replay");
    await writeAndKill(name);
    const r = await h.runInWorker<JournalReopenReport>(TESTS, "journalReopen", { name, commits });
    expect(r.problems).toEqual([]);
    expect(r.present).toEqual([1, 2, 3, 4, 5, 6]);
    expect(r.journaled).toBe(commits);
    expect(r.replayed).toBe(commits);
    expect(r.tornTail).toBe(false);
    await h.runInWorker(TESTS, "destroyStore", { kind: "opfs", name });
  });

  test("a kill right after a checkpoint's IndexedDB commit, before the journal is emptied: the records it holds are skipped, nothing doubled or lost", async () => {
    const name = unique("journal-checkpoint-kill");
    const w = await h.spawnWorker("checkpoint-freeze");
    const call = await w.start(TESTS, "checkpointFreeze", { name, commits });
    await call.waitForProgress(1, 60_000);
    await w.terminate();
    const r = await h.runInWorker<JournalReopenReport>(TESTS, "journalReopen", { name, commits });
    expect(r.problems).toEqual([]);
    expect(r.present).toEqual([1, 2, 3, 4, 5, 6]);
    expect(r.journaled).toBe(commits);
    // The checkpoint holds them all: none replayed.
    expect(r.replayed).toBe(0);
    await h.runInWorker(TESTS, "destroyStore", { kind: "opfs", name });
  });

  test("writers commit while a checkpoint's IndexedDB commit is pending; a kill after it loses nothing: the journal's records it holds are skipped, the later ones replayed", async () => {
    const name = unique("journal-checkpoint-writers");
    const w = await h.spawnWorker("checkpoint-writers");
    const r = await w.run<{ events: string[]; journalBytes: number; helperWrites: number }>(TESTS, "checkpointWhileWriting", { name, commits });
    await w.terminate();
    expect(r.events).toEqual(["issued, journal flushed", "commit 4", "commit 5", "commit 6", "checkpoint"]);
    // The helper worker wrote it, from the journal's frames (invariant 15).
    expect(r.helperWrites).toBe(1);
    // Commits landed after the checkpoint froze the overlay: the journal was not emptied.
    expect(r.journalBytes).toBeGreaterThan(0);
    const again = await h.runInWorker<JournalReopenReport>(TESTS, "journalReopen", { name, commits });
    expect(again.problems).toEqual([]);
    expect(again.present).toEqual([1, 2, 3, 4, 5, 6]);
    expect(again.journaled).toBe(commits);
    expect(again.replayed).toBe(commits / 2);
    await h.runInWorker(TESTS, "destroyStore", { kind: "opfs", name });
  });

  test("commits made while a background checkpoint commits get their own checkpoint once the store is idle, even if the idle timer fired during the first", async () => {
    const name = unique("journal-idle-after-background");
    const r = await h.runInWorker<{ emptied: boolean; checkpoints: number }>(TESTS, "idleAfterBackgroundCheckpoint", { name });
    expect(r.emptied).toBe(true);
    expect(r.checkpoints).toBe(2);
    await h.runInWorker(TESTS, "destroyStore", { kind: "opfs", name });
  }, 60_000);

  test("a torn last record (crash mid-append) is ignored: the tree of the commit before it, and writes work on", async () => {
    const name = unique("journal-torn");
    await writeAndKill(name);
    expect((await h.runInWorker<{ records: number }>(TESTS, "journalDamage", { name, how: "tear" })).records).toBe(commits);
    const r = await h.runInWorker<JournalReopenReport>(TESTS, "journalReopen", { name, commits });
    expect(r.problems).toEqual([]);
    expect(r.present).toEqual([1, 2, 3, 4, 5]);
    expect(r.journaled).toBe(commits - 1);
    expect(r.tornTail).toBe(true);
    await h.runInWorker(TESTS, "destroyStore", { kind: "opfs", name });
  });

  test("a damaged record in the middle is a clear open-time error with a report, never a shorter tree", async () => {
    const name = unique("journal-corrupt");
    await writeAndKill(name);
    await h.runInWorker(TESTS, "journalDamage", { name, how: "flip" });
    const r = await h.runInWorker<JournalReopenReport>(TESTS, "journalReopen", { name, commits });
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/journal is damaged: the record after the checkpoint \(record 0\), at byte 0, is damaged.*5 intact later record\(s\) follow it \(2\.\.6\)/);
    await h.runInWorker(TESTS, "destroyStore", { kind: "opfs", name });
  });
});

describe("OPFS store slot reuse", () => {
  test("writes a slot freed by a relaxed commit again only after a durable commit", async () => {
    const r = await h.runInWorker<{ afterRelaxed: number[]; afterDurable: number[]; problems: string[] }>(TESTS, "slotReuseAfterDurability");
    expect(r.problems).toEqual([]);
    expect(r.afterRelaxed).toEqual([2, 3]);
    expect(r.afterDurable).toEqual([4, 4]);
  });

  test("a slot freed by a relaxed commit before a reload is written again only after a durable point", async () => {
    const name = unique("reopen-quarantine");
    const w = await h.spawnWorker("relaxed-free");
    await w.run(TESTS, "relaxedFreeThenKilled", { name });
    await w.terminate();
    const r = await h.runInWorker<{ events: string[]; hwm: number; problems: string[] }>(TESTS, "reopenAndReuse", { name });
    expect(r.problems).toEqual([]);
    // Slot 0 was reused (two slots in all), after open made every earlier commit durable; close does so too.
    expect(r.hwm).toBe(2);
    expect(r.events).toEqual(["durable", "write", "durable", "closed"]);
    await h.runInWorker(TESTS, "destroyStore", { kind: "opfs", name });
  });
});

describe("OPFS store checkpoint", () => {
  test("a write of checkpointed state started in the store's worker while the helper has a checkpoint pending commits after it (invariant 15)", async () => {
    const r = await h.runInWorker<{ order: unknown; helperWrites: number }>(TESTS, "checkpointOrderAcrossHelper");
    expect(r.helperWrites).toBe(1);
    expect(r.order).toBe("later");
  });

  test("out of space while the helper's checkpoint is pending: the writer's retry comes after that checkpoint and after the file's free tail is given back", async () => {
    const r = await h.runInWorker<EnospcPendingReport>(TESTS, "enospcWhileCheckpointPending");
    expect(r.checkpointError).toBeUndefined();
    expect(r.error).toBeUndefined();
    expect(r.wrote).toBe(true);
    // Refused once; the ENOSPC path then gave back the deleted file's eight slots at the end.
    expect(r.refused).toBe(1);
    expect(r.trimmedWhenWritten).toBe(8);
    // The background checkpoint's own shrink ran after the write and found nothing more to give back.
    expect(r.trimmed).toBe(8);
    expect(r.problems).toEqual([]);
  });

  test("flushes the data file before its strict IndexedDB commit makes relaxed commits' chunk refs durable", async () => {
    const r = await h.runInWorker<{ events: string[]; read: number[]; problems: string[] }>(TESTS, "checkpointAfterRelaxed");
    expect(r.problems).toEqual([]);
    expect(r.read).toEqual([2, 2]);
    // open's barrier; the durable commit (data flushed before its record); the relaxed one; close: flush, checkpoint, barrier.
    expect(r.events).toEqual(["flush", "write", "flush", "write", "flush", "checkpoint", "flush"]);
  });

  test("a slot freed again by a relaxed commit while a background checkpoint commits stays quarantined after it (invariants 6, 14)", async () => {
    const r = await h.runInWorker<{ events: string[]; hwm: number; read: number | undefined; problems: string[] }>(TESTS, "quarantineAcrossBackgroundCheckpoint");
    expect(r.problems).toEqual([]);
    expect(r.events).toEqual(["commits", "checkpoint"]);
    expect(r.read).toBe(6);
    // Slots 0..2 used before; the last write may not reuse slot 0, freed by a commit the checkpoint does not hold.
    expect(r.hwm).toBe(4);
  });
});

describe("OPFS store memory bound", () => {
  test("while checkpoints keep failing, the overlay stops at its limit: writers get EIO, nothing is lost, writes work once checkpoints do", async () => {
    const r = await h.runInWorker<OverlayBoundReport>(TESTS, "overlayBoundWhenCheckpointsFail", { limit: 20 });
    expect(r.problems).toEqual([]);
    expect(r.failedAt).toBe(21);
    expect(r.error).toMatch(/^5 .*EIO.*wait for a checkpoint, which fails.*simulated IndexedDB failure/);
    expect(r.overlayAtFailure).toBe(20);
    // The refused commit went through after a checkpoint emptied the overlay.
    expect(r.overlayAfterRecovery).toBe(1);
    expect(r.lastAfterReopen).toBe(21);
    expect(r.present).toBe(21);
  });
});

describe("OPFS store handle contention", () => {
  test("open retries while another worker still holds the data file, and gives up with a clear error", async () => {
    const name = unique("contended");
    // The holder keeps the file until told to let go: nothing here races a clock.
    const holder = await h.spawnWorker("holder");
    const held = await holder.start(TESTS, "holdStore", { name });
    await held.waitForProgress(1);
    // A short budget runs out while the file is held.
    const short = await h.runInWorker<{ ok: boolean; error?: string }>(TESTS, "openContended", { name, handleRetryMs: 100 });
    expect(short.ok).toBe(false);
    expect(short.error).toMatch(/still held by another context/);
    // A long budget outlasts the holder: release it once the opener is waiting.
    const opener = await h.spawnWorker("opener");
    const long = await opener.start<{ ok: boolean; retries: number }>(TESTS, "openContended", { name, handleRetryMs: 120_000 });
    expect(await long.waitForProgress(1, 60_000)).toEqual(["retrying"]);
    await h.runInWorker(TESTS, "releaseStore", { name });
    await held.result();
    const r = await long.result();
    expect(r.ok).toBe(true);
    expect(r.retries).toBeGreaterThan(0);
    await holder.terminate();
    await opener.terminate();
    await h.runInWorker(TESTS, "destroyStore", { kind: "opfs", name });
  }, 120_000);
});

describe("throughput (informational: a shared machine is too noisy to assert on)", () => {
  test("raw IndexedDB / OPFS beside the stores", async () => {
    const KiB = 1024;
    const raw = await h.runInWorker<RawResult[]>("/e2e/browser/raw-throughput.ts", "rawMatrix", {
      opfs: [{ blockSize: 512 * KiB, totalBytes: 16 * MiB }],
      idb: [{ blockSize: 512 * KiB, totalBytes: 16 * MiB, perTx: 1 }],
    });
    const stores = await h.runInWorker<StoreBenchResult[]>("/e2e/browser/store-bench.ts", "storeBenchMatrix", {
      configs: [
        { kind: "indexeddb", totalBytes: 16 * MiB, randomOps: 100 },
        { kind: "opfs", totalBytes: 16 * MiB, randomOps: 100 },
      ],
    });
    const rawIdb = raw.find((r) => r.what.startsWith("idb"))!;
    const rawOpfs = raw.find((r) => r.what === "opfs")!;
    const rows = stores.map((s) => {
      const r = s.kind === "opfs" ? rawOpfs : rawIdb;
      return {
        store: `${s.kind} (${s.chunkSize / KiB} KiB chunks)`,
        "seq write MB/s": s.seqWriteMBps,
        "raw write MB/s": r.writeMBps,
        "seq read MB/s": s.seqReadMBps,
        "raw read MB/s": r.readMBps,
        "vs raw IDB (w/r)": `${(s.seqWriteMBps / rawIdb.writeMBps).toFixed(2)} / ${(s.seqReadMBps / rawIdb.readMBps).toFixed(2)}`,
        "4K random write µs": s.rand4kWriteUs,
        "4K random read µs": s.rand4kReadUs,
      };
    });
    console.table(rows);
    for (const s of stores) {
      expect(s.seqWriteMBps).toBeGreaterThan(0);
      expect(s.seqReadMBps).toBeGreaterThan(0);
    }
  }, 60_000);
});

// Invariant 15's fallback (src/storage/opfs-checkpoint-writer.ts): before it, a helper whose database
// was closed under it failed every checkpoint (the journal never emptied, and past the overlay's
// bound writes got EIO), and a dead helper left checkpoints pending forever (the test timed out).
describe("OPFS checkpoint helper failing", () => {
  const HELPER_TESTS = "/e2e/browser/checkpoint-helper-tests.ts";
  for (const how of ["drop-db", "crash"] as const) {
    test(`its ${how === "drop-db" ? "database connection closed under it (another tab's versionchange)" : "worker dying"}: later checkpoints are written by the store's worker, and the tree reopens intact`, async () => {
      const r = await h.runInWorker<HelperFailureReport>(HELPER_TESTS, "helperFailsUnderStore", { name: unique(`helper-${how}`), how, rounds: 4, perRound: 40 });
      console.log(`helper ${how}: ${JSON.stringify({ ...r, problems: r.problems.length })}`);
      expect(r.problems).toEqual([]);
      expect(r.helperWritesBefore).toBe(1);
      expect(r.helperLost).toBeDefined();
      expect(r.rounds).toEqual(Array.from({ length: 4 }, () => ({ journalBytes: 0, error: undefined })));
    });
  }

  test("its connection closed while one of its checkpoints waits to commit: that one still commits, later ones are written by the store's worker, the tree reopens intact", async () => {
    const r = await h.runInWorker<DropMidCommitReport>(HELPER_TESTS, "helperDbClosedMidCommit", { name: unique("helper-midcommit"), files: 40, rounds: 2 });
    console.log(`helper closed mid-commit: ${JSON.stringify({ ...r, problems: r.problems.length })}`);
    expect(r.problems).toEqual([]);
    expect(r.inFlight).toBe("committed");
    expect(r.inFlightError).toBeUndefined();
    expect(r.helperLost).toMatch(/InvalidStateError/);
    expect(r.rounds).toEqual(Array.from({ length: 2 }, () => ({ journalBytes: 0, error: undefined })));
  });

  test("close() while the helper has a checkpoint pending settles it (rejected: the store writes it itself), and the tree reopens intact", async () => {
    const r = await h.runInWorker<CloseWithPendingReport>(HELPER_TESTS, "closeWithHelperPending", { name: unique("helper-close"), files: 20 });
    expect(r.problems).toEqual([]);
    expect(r.pending).toBe("settled");
    expect(r.error).toMatch(/store closed before the helper answered/);
  });
});
