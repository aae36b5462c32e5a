/**
 * The contract between the workspace shell (emulator, terminal, layout: app.ts and friends)
 * and its panels (files, import/export, status). The shell owns the page layout and the
 * tree's FileServer; a panel owns one element and talks to the tree through its own 9P
 * session, so what the guest writes and what a panel writes meet only in the server.
 */
import type { Client } from "../client/client.js";
import type { FileServer } from "../index.js";

export interface PanelContext {
  /** The tree's file server (the same one the guest mounts). */
  readonly fileServer: FileServer;
  /** A fresh 9P session of that tree through the project's own client; the panel closes it when done. */
  openClient(): Promise<Client>;
  /** Tell the user something in the page (a toast or status line); `error` marks failures. */
  notify(message: string, kind?: "info" | "error"): void;
  /** Ask the guest to forget cached data under a path it may have read before (no-op when the mount caches nothing). */
  invalidateGuest?(path: string): void;
  /** Resolves when the page is leaving or the tree is switched: stop timers, close sessions. */
  readonly closing: Promise<void>;
}

export interface Panel {
  /** Release everything the panel holds (sessions, listeners, timers). */
  dispose(): void | Promise<void>;
}

/** A panel factory: render into `element`, which the shell placed and sized. */
export type MountPanel = (element: HTMLElement, context: PanelContext) => Panel | Promise<Panel>;
