/**
 * The whole stack in real Chromium, the way a page uses it: createFileServer()
 * (worker/browser.ts in a dedicated worker, tree in IndexedDB, OPFS or
 * memory), connect() for a raw 9P session over a MessagePort, and the
 * project's 9P Client over portTransport — or v86's handle9p hook.
 *
 * The scenarios run in the test page's main thread (e2e/browser/fs-page.ts);
 * Node drives reloads, renderer crashes, second tabs and quotas around them.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startBrowserHarness, type BrowserHarness, type PageSession } from "./browser/harness.js";
import { callInPage } from "./browser/fs-call.js";
import type { FlushReport, LazyOpenReport, QuotaReport, LateListenerReport, WorkerDeathReport } from "./browser/fs-page.js";
import type { StorageKind } from "../src/index.js";

const PERSISTENT: Exclude<StorageKind, "memory">[] = ["indexeddb", "opfs"];
const ALL: StorageKind[] = ["memory", "indexeddb", "opfs"];
const MiB = 1024 * 1024;
const KiB = 1024;

let h: BrowserHarness;
let run = 0;
const unique = (prefix: string) => `${prefix}-${process.pid}-${run++}`;

beforeAll(async () => {
  h = await startBrowserHarness();
}, 120_000);

afterAll(async () => {
  await h?.stop();
});

type Problems = { problems: string[] };

describe.each(ALL)("%s tree through createFileServer + 9P", (storage) => {
  test("mkdir, create/write/read (multi-MiB, sparse, two sessions at once), readdir, rename, unlink, symlink, setattr, xattrs, fsync", async () => {
    const r = await callInPage<Problems & { notes: Record<string, unknown> }>(h.page, "opsSuite", { storage, name: unique(`ops-${storage}`) });
    console.log(`${storage} ops: ${JSON.stringify(r.notes)}`);
    expect(r.problems).toEqual([]);
  });

  test("Tflush of a write waiting in the server: AbortError, no trace of the write", async () => {
    const r = await callInPage<FlushReport>(h.page, "flushStuckWrite", { storage, name: unique(`flush-${storage}`) });
    console.log(`${storage} flush: rejected ${r.rejectedAfterMs} ms after the write was sent; stats ${JSON.stringify(r.stats)}`);
    expect(r.problems).toEqual([]);
    expect(r.errorName).toBe("AbortError");
    // How soon it rejected is printed above, not asserted (a loaded machine is no clock): the
    // server's counters say the flush landed before the write's commit, which is the behaviour.
    expect(r.contentAfter).toBe("before");
    expect(r.stats.flushedBeforeCommit).toBeGreaterThanOrEqual(1);
    expect(r.stats.flushedAfterCommit).toBe(0);
    expect(r.stats.inFlight).toBe(0);
  }, 20_000);

  test("handle9p (v86's hook) answers Tversion, Tattach, Tgetattr and more, by tag; a flushed write gives its slot back", async () => {
    const r = await callInPage<Problems & { replies: string[]; flush: string[] }>(h.page, "handle9pSequence", { storage, name: unique(`v86-${storage}`) });
    expect(r.problems).toEqual([]);
    expect(r.flush).toEqual(["Twrite/14 reply: length 0, tag 14", "Tflush/15 reply: Rflush"]);
    expect(r.replies.slice(0, 3)).toEqual(["Rversion/65535", "Rattach/1", "Rgetattr/2"]);
  });

  test("ENOSPC under a lowered quota: earlier files intact, writing works again after deleting", async () => {
    const fileBytes = 768 * KiB;
    let report: QuotaReport;
    if (storage === "memory") {
      report = await callInPage<QuotaReport>(h.page, "quotaFill", { storage, name: unique("quota-memory"), fileBytes, maxBytes: 64 * MiB, quotaBytes: 12 * MiB });
    } else {
      // A fresh origin: Chromium caches how much room an origin has left for a
      // while after using it, so a quota lowered on a used origin goes unnoticed.
      const s = await h.openSession(`quota-9p-${storage}-${process.pid}.localhost`);
      try {
        const before = await callInPage<{ usage: number; quota: number }>(s.page, "storageEstimate");
        await s.setQuota(before.usage + 24 * MiB);
        try {
          report = await callInPage<QuotaReport>(s.page, "quotaFill", { storage, name: unique(`quota-${storage}`), fileBytes, maxBytes: 256 * MiB });
        } finally {
          await s.setQuota(undefined);
        }
      } finally {
        await s.close();
      }
    }
    console.log(
      `${storage} quota: ENOSPC after ${report.filesWritten} files (${(report.bytesWritten / MiB).toFixed(1)} MiB): ${report.error}; ` +
        `a same-sized write worked again after deleting ${report.deletedBeforeWriteWorked} file(s)`,
    );
    expect(report.problems).toEqual([]);
    expect(report.errno).toBe(28);
    expect(report.bytesWritten).toBeGreaterThan(4 * MiB);
    expect(report.deletedBeforeWriteWorked).toBeGreaterThanOrEqual(1);
  }, 60_000);
});

describe.each(PERSISTENT)("%s tree across page lifetimes", (storage) => {
  test("keeps its tree across a page reload (server never closed), fsck clean", async () => {
    const name = unique(`persist-${storage}`);
    await callInPage(h.page, "persistWrite", { storage, name });
    await h.reload();
    const r = await callInPage<Problems & { openMs: number }>(h.page, "persistVerify", { storage, name });
    console.log(`${storage} reload: reopened and connected in ${r.openMs} ms`);
    expect(r.problems).toEqual([]);
  });

  for (const kill of ["reload", "renderer crash"] as const) {
    test(`every record acknowledged after Tfsync survives a ${kill} mid-stream`, async () => {
      const name = unique(`stream-${storage}`);
      const recordSize = 5000; // not a divisor of any chunk size: records straddle chunks
      await callInPage(h.page, "streamStart", { storage, name, recordSize, max: 1_000_000 });
      const target = 25 + (run % 7) * 3;
      const seen = await callInPage<{ acked: number; error: string; running: boolean }>(h.page, "streamAcked", { target });
      expect(seen.error).toBe("");
      if (kill === "reload") await h.reload();
      else await h.crashAndReopen();
      const v = await callInPage<Problems & { records: number }>(h.page, "streamVerify", { storage, name, recordSize, acked: seen.acked });
      console.log(`${storage} ${kill}: ${seen.acked + 1} records acknowledged before the kill, ${v.records} found after`);
      expect(v.problems).toEqual([]);
      expect(v.records).toBeGreaterThan(seen.acked);
    });
  }

  test("a second page cannot open the tree while it is open; with { wait: true } it gets it after close()", async () => {
    const name = unique(`owner-${storage}`);
    await callInPage(h.page, "ownerOpen", { storage, name });
    // Another tab of the same origin (same storage, same Web Locks).
    const other: PageSession = await h.openSession("127.0.0.1");
    try {
      const tried = await callInPage<{ error: string }>(other.page, "tryOpen", { storage, name });
      expect(tried.error).toMatch(/already open elsewhere/);
      expect(tried.error).toContain(name);
      await callInPage(other.page, "waitOpenStart", { storage, name });
      // Its request for the tree's Web Lock is queued behind this page's, and it has not settled.
      expect(await callInPage<{ settled: boolean; queued: boolean }>(other.page, "waitOpenQueued", { storage, name })).toEqual({ settled: false, queued: true });
      const closed = await callInPage<{ closeMs: number }>(h.page, "ownerClose", { storage, name });
      const w = await callInPage<{ settled: boolean; error: string; waitedMs: number }>(other.page, "waitOpenSettled");
      console.log(`${storage} second page: close() took ${closed.closeMs} ms, the waiting open took ${w.waitedMs} ms in all`);
      expect(w.error).toBe("");
      const read = await callInPage<{ text: string }>(other.page, "ownerRead", { storage, name });
      expect(read.text).toContain("written by");
      await callInPage(other.page, "ownerClose", { storage, name });
      // And back: the first page can open it again.
      expect((await callInPage<{ error: string }>(h.page, "tryOpen", { storage, name })).error).toBe("");
    } finally {
      await other.close();
    }
  });

  // What open reads is asserted not to grow with the tree in browser-stores.test.ts ("opens a store
  // lazily"); the times are printed here and in `npm run bench:browser -- --mount-files 100000`.
  test("mounts a tree of 10,000 files lazily: the first 9P request after a reload finds a file, listing finds all", async () => {
    const name = unique(`lazy-${storage}`);
    const n = 10_000;
    const made = await callInPage<{ ms: number; perSecond: number }>(h.page, "lazyPopulate", { storage, name, n, window: 128 });
    await h.reload();
    const r = await callInPage<LazyOpenReport>(h.page, "lazyOpen", { storage, name, n });
    console.log(
      `${storage} lazy mount of ${n} files (made with pipelined Tmknod in ${made.ms} ms, ${made.perSecond}/s): ` +
        `createFileServer ${r.createMs} ms (worker-side open ${r.workerOpenMs} ms), ` +
        `first request ${r.firstRequestMs} ms after it (of which Tversion+Tattach ${r.attachMs} ms); listing all ${r.listMs} ms`,
    );
    expect(r.problems).toEqual([]);
  }, 90_000);
});

describe("FileServer.close() and tree names", () => {
  type CloseReport = { inFlight: string; afterClose: string; connectAfterClose: string };
  let closing: Promise<CloseReport> | undefined;
  const closeReport = () => (closing ??= callInPage<CloseReport>(h.page, "closeWithInFlight", { storage: "memory", name: unique("close") }));

  test("connect() after close() fails with a clear error", async () => {
    expect((await closeReport()).connectAfterClose).toMatch(/is closed/);
  });

  // close() ends every session and terminates the worker; the server posts
  // PORT_CLOSED on each port first (MessagePort has no close event), so clients settle.
  test("a request in flight when the server closes settles instead of hanging", async () => {
    const r = await closeReport();
    console.log(`close() with a Twrite in flight: in-flight request ${r.inFlight}; a new request ${r.afterClose}`);
    expect(r.inFlight).toMatch(/^rejected/);
    expect(r.afterClose).toMatch(/^rejected/);
  });

  // Tree names are encoded for OPFS (opfsDirectoryName), so any IndexedDB tree name works there too.
  test("opfs takes the same tree names as indexeddb", async () => {
    const name = `dir/${unique("slash")}`;
    expect(await callInPage<string>(h.page, "openNamed", { storage: "indexeddb", name })).toBe("ok");
    expect(await callInPage<string>(h.page, "openNamed", { storage: "opfs", name })).toBe("ok");
  });
});

// A MessagePort says nothing when the worker behind it dies; the worker's life lock does
// (src/storage/worker-life.ts). Before it, every request here waited forever (the test timed out).
describe("the tree's worker dies", () => {
  test("terminated under a stuck request: v86's hook answers it and later ones with EIO, clients and control calls reject, the tree opens again", async () => {
    const r = await callInPage<WorkerDeathReport>(h.page, "workerDies", { storage: "opfs", name: unique("death") });
    console.log(`worker terminated: ${JSON.stringify(r)}`);
    expect(r.problems).toEqual([]);
    expect(r.pendingHandle9p).toBe("Rlerror 5");
    expect(r.laterHandle9p).toBe("Rlerror 5");
    expect(r.pendingClient).toMatch(/^rejected/);
    expect(r.laterClient).toMatch(/^rejected/);
    expect(r.control).toMatch(/^rejected: Error: worker9p: the worker serving tree "death-.*" ended/);
    expect(r.connect).toMatch(/the worker serving tree .* ended/);
    expect(r.reopened).toBe("written before the worker died");
  }, 60_000);

  test("ports connect()ed before the death but listened to after it hear PORT_CLOSED too", async () => {
    const r = await callInPage<LateListenerReport>(h.page, "workerDiesBeforeListening", { storage: "memory", name: unique("late") });
    expect(r.control).toMatch(/^rejected: .*ended/);
    expect(r.client).toMatch(/^rejected/);
    expect(r.addEventListener).toBe("worker9p:closed");
    expect(r.onmessage).toBe("worker9p:closed");
  }, 20_000);

  // The page tracks each port it hands out, to end it if the worker dies: not one it closed (the server's
  // PORT_CLOSED answer never reaches a closed port, so the page used to keep every closed session's port).
  test("the page keeps nothing of a session closed on a live server (its port is not tracked for ever)", async () => {
    const cdp = await h.cdp();
    const livePorts = async () => {
      const proto = await cdp.send("Runtime.evaluate", { expression: "MessagePort.prototype" });
      // queryObjects collects garbage first.
      const found = await cdp.send("Runtime.queryObjects", { prototypeObjectId: proto.result.objectId! });
      const n = await cdp.send("Runtime.callFunctionOn", { objectId: found.objects.objectId!, functionDeclaration: "function () { return this.length; }", returnByValue: true });
      await cdp.send("Runtime.releaseObject", { objectId: found.objects.objectId! });
      return n.result.value as number;
    };
    const arg = { storage: "memory" as const, name: unique("ports") };
    await callInPage(h.page, "connectManyClosed", { ...arg, n: 1 });
    const before = await livePorts();
    await callInPage(h.page, "connectManyClosed", { ...arg, n: 60 });
    const after = await livePorts();
    await callInPage(h.page, "connectManyClosed", { ...arg, n: 0, close: true });
    expect(after - before).toBeLessThan(10);
  });

  test("a worker whose script does not load: createFileServer rejects with a clear error", async () => {
    expect(await callInPage<string>(h.page, "workerFailsToLoad", { storage: "memory", name: unique("noload") })).toMatch(/failed to start/);
  });
});
