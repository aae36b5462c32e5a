// The guest's serial console in an xterm.js terminal: keyboard and paste go to the guest, the
// size follows the element (and is told to the guest's tty), the selection copies as usual.
import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import "@xterm/xterm/css/xterm.css";

export interface ConsoleTerminal {
  readonly terminal: Terminal;
  write(data: Uint8Array | string): void;
  focus(): void;
  setFontSize(px: number): void;
  dispose(): void;
}

export function mountTerminal(
  element: HTMLElement,
  io: { input(bytes: Uint8Array): void; resize(rows: number, cols: number): void },
  options: { fontSize?: number } = {},
): ConsoleTerminal {
  const terminal = new Terminal({
    fontSize: options.fontSize ?? 14,
    fontFamily: '"DejaVu Sans Mono", "Liberation Mono", ui-monospace, monospace',
    // At 1.0 the next row's background covers DejaVu's underscore: `login_shell` read `login shell`.
    lineHeight: 1.15,
    scrollback: 10_000,
    cursorBlink: true,
    convertEol: false,
    theme: { background: "#14171c", foreground: "#d8dee9", cursor: "#8fbcbb", selectionBackground: "#3b4252" },
  });
  const fit = new FitAddon();
  terminal.loadAddon(fit);
  terminal.open(element);
  // Copy and paste as in desktop terminals: Ctrl+Shift+C copies the selection, Ctrl+Shift+V (and
  // the browser's own paste) pastes; plain Ctrl+C with text selected copies instead of sending ^C.
  terminal.attachCustomKeyEventHandler((ev) => {
    if (ev.type !== "keydown" || !ev.ctrlKey || ev.altKey || ev.metaKey) return true;
    const key = ev.key.toLowerCase();
    if (key === "c" && (ev.shiftKey || terminal.hasSelection())) {
      if (terminal.hasSelection()) void navigator.clipboard?.writeText(terminal.getSelection()).catch(() => {});
      return false;
    }
    // Leave it to the browser, whose paste event xterm turns into input.
    if (key === "v" && ev.shiftKey) return false;
    return true;
  });
  const enc = new TextEncoder();
  const subs = [
    terminal.onData((s) => io.input(enc.encode(s))),
    terminal.onBinary((s) => io.input(Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff))),
    terminal.onResize(({ rows, cols }) => io.resize(rows, cols)),
  ];
  const refit = () => {
    // Zero size while hidden: keep the last size rather than collapse the guest's tty.
    if (element.clientWidth > 0 && element.clientHeight > 0) fit.fit();
  };
  const observer = new ResizeObserver(refit);
  observer.observe(element);
  refit();
  return {
    terminal,
    write: (data) => terminal.write(data),
    focus: () => terminal.focus(),
    setFontSize(px) {
      terminal.options.fontSize = px;
      refit();
    },
    dispose() {
      observer.disconnect();
      for (const s of subs) s.dispose();
      terminal.dispose();
    },
  };
}
