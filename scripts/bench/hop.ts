// The emulator ↔ worker hop alone, without a guest: the host side of the Node guest harness
// (createHandle9p + worker9p.ts's receive, blocking like v86's handle9p call) sends Twalk,
// Tgetattr, Tclunk to worker/node.ts (in-memory tree), with a busy loop of --gap-us between
// requests standing in for the guest's own computing. Variants (how long receive() polls before it
// sleeps, µs) alternate in rounds, so each round's figures are side by side.
//
//   npx tsx scripts/bench/hop.ts [--spins 100,0,400] [--rounds N] [--ms N] [--gap-us N]

import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { encodeMessage } from "../../src/protocol/codec.js";
import type { TMessage } from "../../src/protocol/messages.js";
import { createHandle9p } from "../../src/transport/handle9p.js";
import { startWorker9p } from "../guest/worker9p.js";

const { values } = parseArgs({
  options: {
    spins: { type: "string", default: "100,0,400" },
    rounds: { type: "string", default: "3" },
    ms: { type: "string", default: "2000" },
    "gap-us": { type: "string", default: "100" },
  },
});
const variants = values.spins.split(",").map((v) => ({ label: v, replySpinUs: Number(v) }));
const gapUs = Number(values["gap-us"]);

function spin(us: number): void {
  const end = performance.now() + us / 1000;
  while (performance.now() < end);
}

/** Round trips per second over `ms` of Twalk/Tgetattr/Tclunk triples, one request at a time. */
interface HopResult {
  perSec: number;
  /** µs per request inside handle9p: mean, median, 90th percentile. */
  meanUs: number;
  p50Us: number;
  p90Us: number;
}

async function measure(replySpinUs: number, ms: number): Promise<HopResult> {
  const server = await startWorker9p({ replySpinUs });
  try {
    const handle = createHandle9p(server.port, { wait: { ms: 1000, receive: server.receive } });
    let answered: Uint8Array | undefined;
    const call = (msg: TMessage): Uint8Array => {
      answered = undefined;
      handle(encodeMessage(msg), (buf) => (answered = buf));
      if (!answered) throw new Error(`no reply to ${msg.type} within the wait`);
      return answered;
    };
    call({ type: "Tversion", tag: 0xffff, msize: 131072, version: "9P2000.L" });
    call({ type: "Tattach", tag: 1, fid: 0, afid: 0xffffffff, uname: "root", aname: "", nuname: 0 });
    const warm = performance.now() + 200;
    let n = 0;
    let inCall = 0;
    let start = 0;
    const took: number[] = [];
    for (let phase = 0; phase < 2; phase++) {
      const end = phase === 0 ? warm : performance.now() + ms;
      if (phase === 1) {
        n = 0;
        inCall = 0;
        took.length = 0;
        start = performance.now();
      }
      while (performance.now() < end) {
        for (const msg of [
          { type: "Twalk", tag: 2, fid: 0, newfid: 1, names: [] },
          { type: "Tgetattr", tag: 3, fid: 1, mask: 0x7ff },
          { type: "Tclunk", tag: 4, fid: 1 },
        ] as TMessage[]) {
          spin(gapUs);
          const t = performance.now();
          call(msg);
          const dt = performance.now() - t;
          inCall += dt;
          took.push(dt);
          n++;
        }
      }
    }
    const wall = performance.now() - start;
    took.sort((a, b) => a - b);
    const at = (q: number) => 1000 * took[Math.min(took.length - 1, Math.floor(q * took.length))]!;
    return { perSec: (1000 * n) / wall, meanUs: (1000 * inCall) / n, p50Us: at(0.5), p90Us: at(0.9) };
  } finally {
    await server.terminate();
  }
}

const results = new Map<string, HopResult[]>(variants.map((v) => [v.label, []]));
for (let round = 0; round < Number(values.rounds); round++) {
  for (const v of round % 2 === 0 ? variants : [...variants].reverse()) {
    const r = await measure(v.replySpinUs, Number(values.ms));
    results.get(v.label)!.push(r);
    console.error(
      `hop: reply spin ${v.label} µs, round ${round + 1}: ${r.perSec.toFixed(0)} requests/s, µs in handle9p mean ${r.meanUs.toFixed(0)} p50 ${r.p50Us.toFixed(0)} p90 ${r.p90Us.toFixed(0)} (load ${loadavg()[0]!.toFixed(1)})`,
    );
  }
}
const first = results.get(variants[0]!.label)!;
const list = (r: HopResult[], f: (x: HopResult) => number) => r.map((x) => f(x).toFixed(0)).join(", ");
console.log(`\nhop: ${gapUs} µs of host busy loop between requests; one figure per round (load average ${loadavg()[0]!.toFixed(1)})\n`);
console.log("| reply spin, µs | requests/s | ÷ first | µs in handle9p: mean | p50 | p90 |");
console.log("|---|---:|---:|---:|---:|---:|");
for (const [label, r] of results) {
  const ratio = r.map((x, i) => (x.perSec / first[i]!.perSec).toFixed(2)).join(", ");
  console.log(`| ${label} | ${list(r, (x) => x.perSec)} | ${ratio} | ${list(r, (x) => x.meanUs)} | ${list(r, (x) => x.p50Us)} | ${list(r, (x) => x.p90Us)} |`);
}
