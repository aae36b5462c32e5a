/**
 * Run a callback in a task of its own, queued behind the tasks already
 * waiting (a port's messages, a socket's reads), without a timer's clamping:
 * setImmediate where there is one (Node), else a MessageChannel message
 * (browsers and their workers).
 */
const waiting: (() => void)[] = [];
let channel: MessageChannel | undefined;

function runWaiting(): void {
  const now = waiting.splice(0);
  for (const fn of now) fn();
}

export function afterQueuedTasks(fn: () => void): void {
  if (typeof setImmediate === "function") {
    setImmediate(fn);
    return;
  }
  waiting.push(fn);
  if (waiting.length > 1) return;
  if (!channel) {
    channel = new MessageChannel();
    channel.port1.onmessage = runWaiting;
  }
  channel.port2.postMessage(undefined);
}
