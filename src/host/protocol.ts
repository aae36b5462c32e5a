import type { FsckReport } from "../fs/types.js";
import type { SessionStats } from "../server/stats.js";
import type { StoreUsage } from "../storage/store.js";

/** Where a tree lives. */
export type StorageKind = "opfs" | "indexeddb" | "memory";

/** What the worker needs to open a tree (structured-cloneable). */
export interface OpenRequest {
  storage: StorageKind;
  name: string;
  latencyMs: number;
  /** Wait for another tab to let go of the tree instead of failing at once. */
  wait: boolean;
  maxMsize?: number;
  /** Memory store only: its size limit in bytes. */
  quotaBytes?: number;
  /** Print every 9P request and reply to the worker's console. */
  debug: boolean;
  /** Layer the tree over this base image (an absolute URL of a writeImage() folder): the tree is the user's layer. */
  base?: { url: string };
}

/** A base image's fetch counters (BaseImageStats) and size. */
export interface BaseStats {
  requests: number;
  fetchedBytes: number;
  cacheHits: number;
  /** Fetches aborted because every read waiting on them was flushed. */
  abortedFetches: number;
  /** Stored bytes of the whole image (what fetching all of it would cost). */
  imageBytes: number;
}

export interface ServerStats {
  storage: StorageKind;
  name: string;
  chunkSize: number;
  /** 9P sessions open now. */
  sessions: number;
  /** Counters over every session since the tree was opened. */
  requests: SessionStats;
  /** Milliseconds from open() to the first request being servable. */
  openMs: number;
}

/** The worker's control plane, reached through Comlink (the 9P data path is a raw MessagePort). */
export interface WorkerControl {
  /**
   * Hold this Web Lock until the worker's context ends (storage/worker-life.ts), so the page sees the
   * worker die however it dies. Resolves true once held, false where there are no Web Locks.
   */
  holdLifeLock(name: string): Promise<boolean>;
  open(req: OpenRequest): Promise<{ chunkSize: number; openMs: number }>;
  /** Start a 9P session on this port (transferred). */
  connect(port: MessagePort): void;
  stats(): ServerStats;
  fsck(): Promise<FsckReport>;
  usage(): Promise<StoreUsage>;
  /** With a base image: its fetch counters; undefined otherwise. */
  baseStats(): BaseStats | undefined;
  /** With a base image: drop the user's layer (every change to the tree) and serve the base as it is; the cached base stays. Sessions end. */
  reset(): Promise<void>;
  close(): Promise<void>;
}
