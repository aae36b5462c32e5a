// worker9p serve against a 9P2000.L client we did not write: diod's C client
// library (libnpclient) through diodcat and diodls.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "../src/client/client.js";
import { tcpTransport } from "../src/client/transports.js";

let child: ChildProcess;
let addr = "";
let client: Client;

beforeAll(async () => {
  execFileSync("sh", ["scripts/setup-diod.sh"], { stdio: "inherit" });
  child = spawn(process.execPath, ["--import", "tsx", "src/cli/run.ts", "serve", "--listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /tcp:\/\/[\d.]+:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", (c) => reject(new Error(`server exited ${c}`)));
  });
  addr = `127.0.0.1:${port}`;
  client = await Client.connect(await tcpTransport("127.0.0.1", port));
});

afterAll(() => {
  client?.close();
  child?.kill("SIGTERM");
});

const diod = (tool: string, ...args: string[]) =>
  execFileSync(`/usr/sbin/${tool}`, ["-s", addr, "-a", "/", "-t", "10", ...args], { encoding: "latin1", maxBuffer: 64 << 20 });

describe("diod's client against worker9p", () => {
  it("reads files written through our client, byte for byte, across msize-sized reads", async () => {
    const big = new Uint8Array(300_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 8)) & 0xff;
    await client.mkdir("data");
    await client.writeFile("data/big.bin", big);
    await client.writeFile("data/hello.txt", "hello, independent client\n");
    expect(diod("diodcat", "data/hello.txt")).toBe("hello, independent client\n");
    const got = Buffer.from(diod("diodcat", "data/big.bin"), "latin1");
    expect(got.length).toBe(big.length);
    expect(Buffer.compare(got, Buffer.from(big))).toBe(0);
  });

  it("lists directories with the attributes we set", async () => {
    await client.mkdir("listing");
    for (const n of ["b", "a", "c"]) await client.writeFile(`listing/${n}`, n.repeat(10));
    await client.setattr("listing/a", { valid: 0x1, mode: 0o600 });
    const names = diod("diodls", "listing").trim().split("\n").sort();
    expect(names).toEqual(["a", "b", "c"]);
    const long = diod("diodls", "-l", "listing");
    expect(long).toMatch(/-rw-------\.?\s+1 root root\s+10 .* a\n/);
    expect(long).toMatch(/drwxr-xr-x\.?\s+2 root root/);
  });

  it("gets a clear error for a missing file", () => {
    expect(() => diod("diodcat", "no/such/file")).toThrow(/No such file or directory/);
  });
});
