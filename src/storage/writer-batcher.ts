import { abortError } from "../protocol/errno.js";
import type { EntryKey, TxOptions } from "./store.js";

/** A transaction wrapper that counts the writes issued through it. */
export interface CountsWrites {
  readonly writes: number;
}

/** Runs one IndexedDB transaction whose body is `body`, with the store's hooks. */
export type RunTransaction<X> = (body: (x: X) => Promise<void>, options: TxOptions) => Promise<void>;

interface Writer<X> {
  body: (x: X) => Promise<unknown>;
  /** Instead of a body: work with the store to itself, between batches (OPFS: shrinking the file). */
  task?: () => Promise<unknown>;
  signal: AbortSignal | undefined;
  durable: boolean;
  prefetchEntries: readonly EntryKey[] | undefined;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  /** Run in a batch of its own (after a commit failure no one writer can be blamed for). */
  solo: boolean;
  /** This run's outcome, kept until the batch commits. */
  outcome?: { value: unknown } | { error: unknown };
}

/** Most writers committed by one transaction. */
const MAX_BATCH = 64;
/** With yieldFirst, after this many yields in a row that batched nothing: yield again only once per YIELD_PROBE batches. */
const UNPAID_YIELDS = 4;
const YIELD_PROBE = 32;
/** How long a batch that was undone waits for a body still running on its dead transaction. */
const STALE_BODY_WAIT_MS = 200;

/**
 * A store's writers, one at a time, committed in batches.
 *
 * IndexedDB runs readwrite transactions over the same object stores one after
 * another, and each commit costs a round trip to the browser process (~0.5 ms
 * and more). So writers are run here in order, one at a time, and those that
 * queued while a transaction committed run together in the next one: their
 * bodies one after another on one shared transaction object (so each sees
 * the ones before it), then one commit for all. One at a time also means a
 * writer starts from a settled committed state, which the stores keep in
 * memory (CommittedRecords, the OPFS chunk map and allocator: OPFS
 * invariant 4, opfs.ts).
 *
 * A writer must leave no trace unless it commits, and IndexedDB can only roll
 * a whole transaction back. So when a writer fails after it has written, or
 * its signal fires before the batch commits, the transaction is aborted: that
 * writer gets its error, and the others run again, from the start, in a new
 * transaction (Store: a readwrite body may run more than once; only the run
 * that commits counts). A writer that fails before writing anything just
 * gets its error. A commit that fails (ENOSPC) runs each writer of the batch
 * again on its own, so that the error reaches the one that caused it.
 */
export class WriterBatcher<X extends CountsWrites> {
  private readonly queue: Writer<X>[] = [];
  private running = false;

  /** A batch is to start once the tasks queued so far have run (yieldFirst): it is scheduled. */
  private yielding = false;
  /** Yields in a row that found no other writer queued behind the first (each only added latency). */
  private unpaidYields = 0;
  /** Batches started without yielding since the last yield. */
  private sinceYield = 0;

  /**
   * `yieldFirst`, when given, starts an idle batcher's next batch only after the tasks already
   * queued have run (a 9P request each, from a port or a socket), so that writers arriving in
   * separate tasks commit together. For a store whose commit never awaits (OPFS), no writer
   * would otherwise queue behind another, and every request would pay a commit of its own.
   * A client with one request in flight gains nothing and pays the wait, so after UNPAID_YIELDS
   * yields in a row that found no other writer the batcher yields again only every YIELD_PROBE
   * batches, to notice when requests pile up again. Not after one: requests from a pipelining
   * client arrive unevenly, and a quarter of its yields may find a writer alone (32 files in
   * flight through a MessagePort); backing off on each of those left most batches one writer.
   */
  constructor(
    private readonly runTransaction: RunTransaction<X>,
    private readonly yieldFirst?: (run: () => void) => void,
  ) {}

  run<T>(body: (x: X) => Promise<T>, options: TxOptions = {}): Promise<T> {
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(abortError());
    return new Promise<T>((resolve, reject) => {
      const w: Writer<X> = {
        body,
        signal,
        durable: options.durable === true,
        prefetchEntries: options.prefetchEntries,
        resolve: resolve as (v: unknown) => void,
        reject,
        solo: false,
      };
      // Still waiting: leave the queue at once. (Running: the batch sees the signal itself.)
      signal?.addEventListener(
        "abort",
        () => {
          const i = this.queue.indexOf(w);
          if (i < 0) return;
          this.queue.splice(i, 1);
          w.reject(abortError());
        },
        { once: true },
      );
      this.queue.push(w);
      this.pump();
    });
  }

  /** Run `task` alone: after the writers queued before it, before those queued after. */
  exclusive<T>(task: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ body: async () => undefined, task, signal: undefined, durable: false, prefetchEntries: undefined, resolve: resolve as (v: unknown) => void, reject, solo: true });
      this.pump();
    });
  }

  private pump(): void {
    if (this.running || this.queue.length === 0 || this.yielding) return;
    if (this.yieldFirst && (this.unpaidYields < UNPAID_YIELDS || ++this.sinceYield >= YIELD_PROBE)) {
      this.yielding = true;
      this.sinceYield = 0;
      this.yieldFirst(() => {
        this.yielding = false;
        this.unpaidYields = this.queue.length > 1 ? 0 : this.unpaidYields + 1;
        this.start();
      });
      return;
    }
    this.start();
  }

  private start(): void {
    if (this.running || this.queue.length === 0) return;
    this.running = true;
    const n = this.queue[0]!.solo ? 1 : Math.min(MAX_BATCH, this.queue.findIndex((w) => w.solo) >>> 0, this.queue.length);
    const batch = this.queue.splice(0, Math.max(1, n));
    const first = batch[0]!;
    const work = first.task ? first.task().then(first.resolve, first.reject) : this.runBatch(batch);
    void work.finally(() => {
      this.running = false;
      // Writers that queued while this batch ran have waited already: no need to yield first.
      this.start();
    });
  }

  private async runBatch(batch: Writer<X>[]): Promise<void> {
    const ac = new AbortController();
    /** The writer whose failure or abort undoes the batch, and why. */
    let culprit: { writer: Writer<X>; error: unknown } | undefined;
    const started = new Set<Writer<X>>();
    const blame = (writer: Writer<X>, error: unknown): void => {
      culprit ??= { writer, error };
      ac.abort();
    };
    const listeners = batch.map((w) => {
      const onAbort = (): void => {
        if (started.has(w)) blame(w, abortError());
      };
      w.signal?.addEventListener("abort", onAbort, { once: true });
      return () => w.signal?.removeEventListener("abort", onAbort);
    });
    let bodies: Promise<void> = Promise.resolve();
    const composite = (x: X): Promise<void> => {
      bodies = (async () => {
        for (const w of batch) {
          if (ac.signal.aborted) return;
          if (w.signal?.aborted) {
            // Never started: nothing of it to undo.
            w.outcome = { error: abortError() };
            continue;
          }
          started.add(w);
          const before = x.writes;
          try {
            w.outcome = { value: await w.body(x) };
          } catch (error) {
            if (x.writes === before && !ac.signal.aborted) {
              w.outcome = { error };
              continue;
            }
            blame(w, error);
            throw error;
          }
        }
      })();
      return bodies;
    };
    const durable = batch.some((w) => w.durable);
    // Every writer's lookups at once, ahead of the bodies that run one after another.
    const prefetchEntries = batch.flatMap((w) => (w.signal?.aborted ? [] : (w.prefetchEntries ?? [])));
    let failure: { error: unknown } | undefined;
    try {
      await this.runTransaction(composite, { signal: ac.signal, durable, prefetchEntries });
    } catch (error) {
      failure = { error };
    }
    // A body cut short by the abort may still be running on the dead transaction: give it a
    // moment to stop (its next call fails) before any writer runs again. Not forever: after a
    // quota abort a request's callback may never fire, and one stuck body must not stop every
    // writer — runs keep their effects to themselves (FileSystem.change), so overlap is harmless.
    await Promise.race([bodies.catch(() => {}), new Promise((r) => setTimeout(r, STALE_BODY_WAIT_MS))]);
    for (const off of listeners) off();
    if (!failure) {
      for (const w of batch) settle(w);
      return;
    }
    if (culprit) {
      culprit.writer.reject(culprit.error);
      this.requeue(batch.filter((w) => w !== culprit!.writer), false);
    } else if (batch.length === 1) {
      batch[0]!.reject(failure.error);
    } else {
      this.requeue(batch, true);
    }
  }

  /** Writers to run again, ahead of everyone else, in their order. */
  private requeue(writers: Writer<X>[], solo: boolean): void {
    const again: Writer<X>[] = [];
    for (const w of writers) {
      delete w.outcome;
      w.solo ||= solo;
      if (w.signal?.aborted) w.reject(abortError());
      else again.push(w);
    }
    this.queue.unshift(...again);
  }
}

function settle<X>(w: Writer<X>): void {
  const o = w.outcome;
  if (o && "value" in o) w.resolve(o.value);
  else w.reject(o ? o.error : new Error("writer did not run"));
}
