// The CLI as a user runs it: `worker9p serve`, a 9P client over real TCP, SIGTERM.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { Client } from "../src/client/client.js";
import { tcpTransport } from "../src/client/transports.js";
import { OpenFlags } from "../src/protocol/constants.js";
import { Errno, FsError } from "../src/protocol/errno.js";

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
});

async function startServer(args: string[] = []): Promise<{ child: ChildProcess; host: string; port: number; stderr: () => string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/run.ts", "serve", "--listen", "127.0.0.1:0", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  let out = "";
  const m = await new Promise<RegExpExecArray>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const mm = /worker9p listening on tcp:\/\/([\d.]+):(\d+)/.exec(out);
      if (mm) resolve(mm);
    });
    child.once("exit", (code) => reject(new Error(`server exited ${code}: ${err}`)));
  });
  return { child, host: m[1]!, port: Number(m[2]), stderr: () => err };
}

describe("worker9p serve over TCP", () => {
  it("serves a shared tree to several connections and exits cleanly on SIGTERM", async () => {
    const srv = await startServer();
    const a = await Client.connect(await tcpTransport(srv.host, srv.port));
    const b = await Client.connect(await tcpTransport(srv.host, srv.port));
    await a.mkdir("dir");
    await a.writeFile("dir/hello.txt", "hello over tcp");
    expect(new TextDecoder().decode(await b.readFile("dir/hello.txt"))).toBe("hello over tcp");
    const names = (await b.readdir("dir")).map((e) => e.name).sort();
    expect(names).toEqual([".", "..", "hello.txt"]);
    await expect(b.stat("missing")).rejects.toMatchObject({ errno: Errno.ENOENT });
    a.close();
    b.close();
    srv.child.kill("SIGTERM");
    const [code] = await once(srv.child, "exit");
    expect(code).toBe(0);
    expect(srv.stderr()).toBe("");
  });

  it("a Tflush 50 ms into a 1.5 s slow write returns at once, with no reply for the write and the file unchanged", async () => {
    const srv = await startServer(["--latency-ms", "1500"]);
    const c = await Client.connect(await tcpTransport(srv.host, srv.port));
    await c.writeFile("slowfile", "before");
    const fid = await c.open("slowfile", OpenFlags.RDWR);
    const ac = new AbortController();
    const t0 = performance.now();
    const write = c.write(fid, 0, new TextEncoder().encode("AFTER!"), ac.signal);
    await new Promise((r) => setTimeout(r, 50));
    ac.abort();
    await expect(write).rejects.toMatchObject({ name: "AbortError" });
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeLessThan(300);
    expect(new TextDecoder().decode(await c.readFile("slowfile"))).toBe("before");
    c.close();
  });

  it("closes a connection with broken framing and keeps serving others", async () => {
    const srv = await startServer();
    const good = await Client.connect(await tcpTransport(srv.host, srv.port));
    const bad = await tcpTransport(srv.host, srv.port);
    const closed = new Promise<string | undefined>((r) => (bad.onClose = r));
    bad.socket.write(new Uint8Array([3, 0, 0, 0, 100, 0, 0]));
    expect(await closed).toBeDefined();
    const truncated = await tcpTransport(srv.host, srv.port);
    truncated.socket.end(new Uint8Array([100, 0, 0, 0, 100, 0xff, 0xff, 1, 2]));
    await good.writeFile("still", "ok");
    expect(new TextDecoder().decode(await good.readFile("still"))).toBe("ok");
    good.close();
  });

  it("rejects bad command lines with a clear message", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/run.ts", "serve", "--listen", "nonsense"], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const [code] = await once(child, "exit");
    expect(code).toBe(1);
    expect(err).toMatch(/--listen wants HOST:PORT/);
  });
});

void FsError;
