/** Small DOM helpers the panels share: an element builder, a modal question, a progress row. */
import { formatBytes } from "./display-name.js";

type Child = Node | string | null | undefined | false;
type Props = Record<string, string | number | boolean | EventListener | undefined>;

/** `h("button", { class: "primary", onclick }, "Save")`: attributes, listeners (on*), children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = String(v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

export interface AskOptions {
  title: string;
  message?: string;
  /** Ask for a line of text, starting with this value. */
  input?: string;
  /** With `input`: the OK button stays disabled until the text equals this (typed confirmations). */
  mustType?: string;
  confirm: string;
  danger?: boolean;
}

/** A modal question in the page (not window.prompt: it looks like the product and tests can answer it). Resolves to the text (or "") or null if cancelled. */
export function ask(host: HTMLElement, o: AskOptions): Promise<string | null> {
  return new Promise((resolve) => {
    const input = o.input !== undefined ? h("input", { type: "text", value: o.input, "aria-label": o.title, spellcheck: "false", autocomplete: "off" }) : null;
    const ok = h("button", { type: "submit", class: o.danger ? "danger primary" : "primary", value: "ok" }, o.confirm);
    const cancel = h("button", { type: "button", value: "cancel" }, "Cancel");
    const dialog = h(
      "dialog",
      { class: "w9p-dialog" },
      h("form", { method: "dialog" }, h("h3", {}, o.title), o.message ? h("p", {}, o.message) : null, input, h("div", { class: "buttons" }, cancel, ok)),
    );
    const sync = () => {
      ok.disabled = (o.mustType !== undefined && input?.value !== o.mustType) || (input !== null && o.mustType === undefined && input.value.trim() === "");
    };
    input?.addEventListener("input", sync);
    sync();
    let answer: string | null = null;
    ok.addEventListener("click", (ev) => {
      ev.preventDefault();
      if (ok.disabled) return;
      answer = input ? input.value : "";
      dialog.close();
    });
    cancel.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(answer);
    });
    (host.ownerDocument.body ?? host).append(dialog);
    dialog.showModal();
    if (input) {
      input.focus();
      const dot = input.value.lastIndexOf(".");
      input.setSelectionRange(0, dot > 0 ? dot : input.value.length);
    }
  });
}

/** One transfer (upload, import, export, download) with a progress bar and a cancel button. */
export interface Job {
  readonly signal: AbortSignal;
  update(done: number, total: number | undefined, detail?: string): void;
  finish(message: string): void;
  fail(message: string): void;
}

export function startJob(list: HTMLElement, what: string): Job {
  const ac = new AbortController();
  const bar = h("progress", { max: 1 });
  const detail = h("div", { class: "detail" }, "starting…");
  const cancel = h("button", { class: "icon", title: "Cancel", "aria-label": `Cancel ${what}`, onclick: () => ac.abort() }, "✕");
  const row = h("div", { class: "w9p-job", role: "status" }, h("div", { class: "what", title: what }, what), cancel, detail, bar);
  list.prepend(row);
  const close = h("button", { class: "icon", title: "Dismiss", "aria-label": `Dismiss ${what}`, onclick: () => row.remove() }, "✕");
  const end = (cls: string, message: string) => {
    row.classList.add(cls);
    detail.textContent = message;
    cancel.replaceWith(close);
  };
  return {
    signal: ac.signal,
    update(done, total, extra) {
      if (total !== undefined && total > 0) {
        bar.max = total;
        bar.value = Math.min(done, total);
        detail.textContent = `${formatBytes(done)} of ${formatBytes(total)}${extra ? ` · ${extra}` : ""}`;
      } else {
        bar.removeAttribute("value");
        detail.textContent = `${formatBytes(done)}${extra ? ` · ${extra}` : ""}`;
      }
    },
    finish(message) {
      bar.max = 1;
      bar.value = 1;
      end("done", message);
    },
    fail(message) {
      end("failed", message);
    },
  };
}
