// npm run bench — the core server's speed: pipelined Tgetattr/s and sequential
// 64 KiB Twrite/Tread MB/s, in-process and over TCP, beside Debian's diod
// (C, tmpfs export) when it is installed. Prints two tables: through our
// Client, and through a bare client (raw-client.ts) that keeps exactly one
// 64 KiB request in flight, as Linux does with cache=none, with the ratios.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Client, type ClientTransport } from "../../src/client/client.js";
import { inProcessTransport, tcpTransport } from "../../src/client/transports.js";
import { FileSystem } from "../../src/fs/filesystem.js";
import { OpenFlags } from "../../src/protocol/constants.js";
import { Server } from "../../src/server/server.js";
import { MemoryStore } from "../../src/storage/memory.js";
import { SERVE_NODE_FLAGS } from "../../src/cli/node-flags.js";
import { RawClient } from "./raw-client.js";
import { NODE_CATEGORIES, nowUs, profileWindow, readProfile, type NodeCategory, type WindowProfile } from "./node-profile.js";

const GETATTR_SECONDS = 3;
const PIPELINE = 32;
const IO_BLOCK = 64 * 1024;
const IO_BYTES = 256 * 1024 * 1024;

interface Row {
  target: string;
  getattrPerS: number;
  writeMBs: number;
  readMBs: number;
}

async function getattrRate(c: Client): Promise<number> {
  const { fid } = await c.walk("");
  let done = 0;
  const deadline = performance.now() + GETATTR_SECONDS * 1000;
  const t0 = performance.now();
  const lane = async () => {
    while (performance.now() < deadline) {
      await c.request({ type: "Tgetattr", fid, mask: 0x7ff });
      done++;
    }
  };
  await Promise.all(Array.from({ length: PIPELINE }, lane));
  const secs = (performance.now() - t0) / 1000;
  await c.clunk(fid);
  return done / secs;
}

async function ioRates(c: Client, name: string, bytes = IO_BYTES): Promise<{ write: number; read: number; block: number }> {
  // diod caps msize at 64 KiB, so its largest payload is 24 bytes short of 64 KiB.
  const blockSize = Math.min(IO_BLOCK, c.maxIo);
  const block = new Uint8Array(blockSize);
  for (let i = 0; i < block.length; i++) block[i] = (i * 31) & 0xff;
  const { fid } = await c.create(name, OpenFlags.RDWR | OpenFlags.CREAT | OpenFlags.TRUNC);
  let t0 = performance.now();
  let written = 0;
  for (let off = 0; off < bytes; off += blockSize) written += await c.write(fid, off, block);
  const write = written / 1e6 / ((performance.now() - t0) / 1000);
  t0 = performance.now();
  let total = 0;
  for (let off = 0; off < written; off += blockSize) total += (await c.read(fid, off, blockSize)).length;
  const read = total / 1e6 / ((performance.now() - t0) / 1000);
  if (total !== written) throw new Error(`read back ${total} of ${written} bytes`);
  await c.clunk(fid);
  await c.unlink(name);
  return { write, read, block: blockSize };
}

async function measure(target: string, transport: () => Promise<ClientTransport>, aname = ""): Promise<Row> {
  process.stderr.write(`measuring ${target}…\n`);
  const c = await Client.connect(await transport(), { msize: 1024 * 1024 + 24, aname });
  // Same warm-up for every target: it lets a JIT compile its hot paths (a C server needs none).
  await ioRates(c, `warmup-${process.pid}`, 32 * 1024 * 1024);
  const getattrPerS = await getattrRate(c);
  const { write, read, block } = await ioRates(c, `bench-${process.pid}`);
  c.close();
  return { target: `${target}, msize ${c.msize}, ${block}-byte I/O`, getattrPerS, writeMBs: write, readMBs: read };
}

interface RawRow {
  target: string;
  block: number;
  getattrPerS: number;
  writeMBs: number;
  readMBs: number;
  /** Server CPU time per request (user + system): what a busy machine disturbs least. */
  writeCpuUs: number;
  readCpuUs: number;
  /** When each measured phase ran (nowUs()), and how many requests it made: for --profile. */
  windows: { what: "write" | "read" | "getattr"; from: number; to: number; requests: number }[];
}

const RAW_RUNS = 3;

/** A process's CPU time so far (user + system), in ms; 0 where /proc is missing. */
function cpuMsOf(pid: number | undefined): () => number {
  return () => {
    if (pid === undefined) return 0;
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks (USER_HZ 100) → ms
    } catch {
      return 0;
    }
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** The bare client against one server: median of RAW_RUNS runs each. */
async function measureRaw(target: string, port: number, pid: number | undefined, aname = ""): Promise<RawRow> {
  process.stderr.write(`measuring ${target} with one request in flight…\n`);
  const c = await RawClient.connect(port, aname);
  await c.sequentialIo(`warmup-raw-${process.pid}`, 32 * 1024 * 1024);
  const writes: number[] = [];
  const reads: number[] = [];
  const getattrs: number[] = [];
  const writeCpu: number[] = [];
  const readCpu: number[] = [];
  const windows: RawRow["windows"] = [];
  for (let i = 0; i < RAW_RUNS; i++) {
    const io = await c.sequentialIo(`raw-${process.pid}`, IO_BYTES / 2, cpuMsOf(pid));
    writes.push(io.write);
    reads.push(io.read);
    writeCpu.push(io.writeCpuUs);
    readCpu.push(io.readCpuUs);
    windows.push({ what: "write", from: io.writeWindow[0], to: io.writeWindow[1], requests: io.requests });
    windows.push({ what: "read", from: io.readWindow[0], to: io.readWindow[1], requests: io.requests });
    const from = nowUs();
    const rate = await c.pipelinedGetattr(PIPELINE, GETATTR_SECONDS / RAW_RUNS);
    const to = nowUs();
    getattrs.push(rate);
    windows.push({ what: "getattr", from, to, requests: Math.round((rate * (to - from)) / 1e6) });
  }
  const block = c.block;
  c.close();
  return {
    target,
    block,
    getattrPerS: median(getattrs),
    writeMBs: median(writes),
    readMBs: median(reads),
    writeCpuUs: median(writeCpu),
    readCpuUs: median(readCpu),
    windows,
  };
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => (s.destroy(), resolve(true)));
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on port ${port}`);
}

async function ourTcpServer(profileDir?: string): Promise<{ port: number; pid: number | undefined; stop(): Promise<void> }> {
  // Same code as bin/worker9p.js, loaded from source so the bench needs no build step.
  // --profile: V8's sampling profiler over the whole run, written at exit (SIGTERM exits cleanly).
  const prof = profileDir ? ["--cpu-prof", "--cpu-prof-dir", profileDir, "--cpu-prof-interval", "100"] : [];
  const child = spawn(process.execPath, [...SERVE_NODE_FLAGS, ...prof, "--import", "tsx", "src/cli/run.ts", "serve", "--listen", "127.0.0.1:0", "--quota-mb", "4096"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /tcp:\/\/[^:]+:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", (code) => reject(new Error(`worker9p exited ${code}`)));
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    port,
    pid: child.pid,
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

function diodPath(): string | undefined {
  return ["/usr/sbin/diod", "/usr/bin/diod"].find((p) => existsSync(p));
}

async function diodServer(): Promise<{ port: number; pid: number | undefined; export: string; stop(): void } | undefined> {
  const bin = diodPath();
  if (!bin) return undefined;
  // /dev/shm is a tmpfs: diod serves from memory too, as our memory store does.
  const dir = mkdtempSync("/dev/shm/worker9p-bench-");
  const port = await freePort();
  const child = spawn(bin, ["-f", "-n", "-N", "-S", "-U", "root", "-l", `127.0.0.1:${port}`, "-e", dir, "-L", "stderr"], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  try {
    await waitForPort(port, child);
  } catch (e) {
    throw new Error(`diod did not start: ${(e as Error).message}\n${err}`);
  }
  return {
    port,
    pid: child.pid,
    export: dir,
    stop: () => {
      // diod 1.0.24 segfaults in a worker thread on SIGTERM and dumps a ~300 MB core into the
      // current directory; it holds nothing worth a clean shutdown here (a tmpfs export).
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

async function main(): Promise<void> {
  // --bare: only the bare-client table (TCP, worker9p beside diod).
  const bare = process.argv.includes("--bare");
  // --profile: the server's CPU profile during the bare client's phases, per request (node-profile.ts).
  const profileDir = process.argv.includes("--profile") ? mkdtempSync(path.join(os.tmpdir(), "worker9p-prof-")) : undefined;
  const rows: Row[] = [];
  if (!bare) {
    const fs = await FileSystem.open(new MemoryStore({ quotaBytes: 4 * 1024 ** 3 }));
    const inproc = new Server(fs);
    rows.push(await measure("worker9p in-process", async () => inProcessTransport(inproc)));
  }

  const raw: RawRow[] = [];
  const ours = await ourTcpServer(profileDir);
  try {
    if (!bare) rows.push(await measure("worker9p TCP", () => tcpTransport("127.0.0.1", ours.port)));
    raw.push(await measureRaw("worker9p TCP", ours.port, ours.pid));
  } finally {
    await ours.stop();
  }

  const diod = await diodServer().catch((e: unknown) => {
    console.error(String(e));
    return undefined;
  });
  if (diod) {
    try {
      if (!bare) rows.push(await measure("diod TCP (tmpfs)", () => tcpTransport("127.0.0.1", diod.port), diod.export));
      raw.push(await measureRaw("diod TCP (tmpfs)", diod.port, diod.pid, diod.export));
    } finally {
      diod.stop();
    }
  } else {
    console.log("(diod not installed: `apt-get install diod` to compare)");
  }

  if (!bare) printClientTable(rows);
  printBareTable(raw);
  if (profileDir) {
    printProfile(readProfile(profileDir), raw[0]!);
    rmSync(profileDir, { recursive: true, force: true });
  }
}

/** The server's profile during the bare client's measured phases: µs per request by category, and the heaviest frames. */
function printProfile(p: Parameters<typeof profileWindow>[0], row: RawRow): void {
  const sums = new Map<string, { requests: number; wallUs: number; w: WindowProfile[] }>();
  for (const win of row.windows) {
    const s = sums.get(win.what) ?? { requests: 0, wallUs: 0, w: [] };
    s.requests += win.requests;
    s.wallUs += win.to - win.from;
    s.w.push(profileWindow(p, win.from, win.to, 50));
    sums.set(win.what, s);
  }
  const per = (us: number, n: number) => fmt(us / n, 1);
  console.log(`\nworker9p server CPU profile (node --cpu-prof, 100 µs sampling) during the bare client's measured phases, µs per request\n`);
  console.log(`| phase | wall | server busy | server idle | ${NODE_CATEGORIES.join(" | ")} |`);
  console.log(`|---|${"---:|".repeat(NODE_CATEGORIES.length + 3)}`);
  const tops: string[] = [];
  for (const [what, s] of sums) {
    const cat = (c: NodeCategory) => s.w.reduce((a, w) => a + w.busy[c], 0);
    const busy = NODE_CATEGORIES.reduce((a, c) => a + cat(c), 0);
    const idle = s.w.reduce((a, w) => a + w.idleUs, 0);
    const label = what === "getattr" ? `Tgetattr, ${PIPELINE} in flight` : `${what} ${row.block} B, one in flight`;
    console.log(`| ${label} | ${per(s.wallUs, s.requests)} | ${per(busy, s.requests)} | ${per(idle, s.requests)} | ${NODE_CATEGORIES.map((c) => per(cat(c), s.requests)).join(" | ")} |`);
    const frames = new Map<string, number>();
    for (const w of s.w) for (const t of w.top) frames.set(t.frame, (frames.get(t.frame) ?? 0) + t.us);
    const top = [...frames].sort((a, b) => b[1] - a[1]).slice(0, 8);
    tops.push(`- ${label}: ${top.map(([f, us]) => `${f} ${per(us, s.requests)}`).join("; ")}`);
  }
  console.log(`\n"server idle": the server waiting for the next request (the client's turn and the loopback). Heaviest frames by self time (µs per request):\n`);
  console.log(tops.join("\n"));
}

function printClientTable(rows: Row[]): void {
  console.log(`\nworker9p bench — ${PIPELINE} Tgetattr in flight for ${GETATTR_SECONDS} s; ${IO_BYTES >> 20} MiB in ${IO_BLOCK >> 10} KiB Twrite/Tread, one at a time; msize 1 MiB\n`);
  console.log("| target | getattr/s | 64 KiB write MB/s | 64 KiB read MB/s |");
  console.log("|---|---:|---:|---:|");
  for (const r of rows) console.log(`| ${r.target} | ${fmt(r.getattrPerS)} | ${fmt(r.writeMBs)} | ${fmt(r.readMBs)} |`);
  const tcp = rows.find((r) => r.target.startsWith("worker9p TCP"));
  const d = rows.find((r) => r.target.startsWith("diod"));
  if (tcp && d) {
    console.log(`| **worker9p TCP ÷ diod** | ${fmt(tcp.getattrPerS / d.getattrPerS, 2)}× | ${fmt(tcp.writeMBs / d.writeMBs, 2)}× | ${fmt(tcp.readMBs / d.readMBs, 2)}× |`);
  }
}

function printBareTable(raw: RawRow[]): void {
  console.log(
    `\nbare client (scripts/bench/raw-client.ts), median of ${RAW_RUNS}: ${PIPELINE} Tgetattr in flight; ` +
      `${IO_BYTES >> 21} MiB in Twrite/Tread of the block shown, exactly ONE request in flight (Linux with cache=none)\n`,
  );
  console.log("| target | block | getattr/s (pipelined) | 1-in-flight write MB/s | 1-in-flight read MB/s | server CPU µs per write | per read |");
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  for (const r of raw) {
    console.log(`| ${r.target} | ${r.block} | ${fmt(r.getattrPerS)} | ${fmt(r.writeMBs)} | ${fmt(r.readMBs)} | ${fmt(r.writeCpuUs, 1)} | ${fmt(r.readCpuUs, 1)} |`);
  }
  const [rt, rd] = [raw.find((r) => r.target.startsWith("worker9p")), raw.find((r) => r.target.startsWith("diod"))];
  if (rt && rd) {
    // CPU: diod's cost over ours, so that above 1 means "cheaper than diod" in every column.
    console.log(
      `| **worker9p ÷ diod** (targets ≥ 1.0, ≥ 0.8, ≥ 0.8) | | ${fmt(rt.getattrPerS / rd.getattrPerS, 2)}× | ${fmt(rt.writeMBs / rd.writeMBs, 2)}× | ` +
        `${fmt(rt.readMBs / rd.readMBs, 2)}× | ${fmt(rd.writeCpuUs / rt.writeCpuUs, 2)}× | ${fmt(rd.readCpuUs / rt.readCpuUs, 2)}× |`,
    );
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
