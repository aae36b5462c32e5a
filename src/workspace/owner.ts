// One owner per tree across tabs. The Web Lock in the worker (src/host/tree-host.ts) decides who
// owns a tree; this channel lets a second tab ask the owner to let go ("take over"), and the owner
// stop cleanly and say why.
export interface OwnerChannel {
  /** Ask the tab that owns the tree to let go of it. */
  requestTakeOver(): void;
  /** Called in the owning tab when another tab takes the tree over. */
  onTakeOver(handler: () => void): void;
  close(): void;
}

export function ownerChannel(storage: string, tree: string): OwnerChannel {
  const channel = new BroadcastChannel(`worker9p-workspace:${storage}:${tree}`);
  let handler: (() => void) | undefined;
  channel.onmessage = (ev: MessageEvent<{ type?: string }>) => {
    if (ev.data?.type === "take-over") handler?.();
  };
  return {
    requestTakeOver: () => channel.postMessage({ type: "take-over" }),
    onTakeOver: (h) => (handler = h),
    close: () => channel.close(),
  };
}
