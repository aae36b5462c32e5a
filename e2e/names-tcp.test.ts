// `worker9p serve` over TCP with clients that share no code with it: a raw-frame client and
// diod's C client (diodls). Names are bytes (issue 8 item 9); a fid from d/e/.. is d (item 8).
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errnoOf, listeningAddress, RawClient, T } from "./raw-9p.js";

let child: ChildProcess;
let host = "";
let port = 0;

beforeAll(async () => {
  execFileSync("sh", ["scripts/setup-diod.sh"], { stdio: "inherit" });
  child = spawn(process.execPath, ["--import", "tsx", "src/cli/run.ts", "serve", "--listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "inherit"] });
  ({ host, port } = await listeningAddress(child));
});

afterAll(() => {
  child?.kill("SIGTERM");
});

const diodls = (path: string) =>
  execFileSync("/usr/sbin/diodls", ["-s", `${host}:${port}`, "-a", "/", "-t", "10", path], { encoding: "latin1" });

describe("names are bytes, over TCP", () => {
  it("Latin-1 names round-trip through create, readdir and walk, for our raw client and for diod's", async () => {
    const c = await RawClient.connect(host, port);
    try {
      expect((await c.request(T.mkdir, [{ u32: 0 }, { s: "latin1" }, { u32: 0o755 }, { u32: 0 }])).type).toBe(T.mkdir + 1);
      expect((await c.walk(0, 1, ["latin1"])).type).toBe(T.walk + 1);
      // "latin1" strings here are one char per byte: \xe9 is the single byte 0xe9
      for (const [fid, name] of [[2, "caf\xe9"], [3, "caf\xc3\xa9"], [4, "\xff\xfe"]] as const) {
        expect((await c.walk(1, fid, [])).type).toBe(T.walk + 1);
        const r = await c.request(T.lcreate, [{ u32: fid }, { s: name }, { u32: 2 }, { u32: 0o644 }, { u32: 0 }]);
        expect([r.type, errnoOf(r)]).toEqual([T.lcreate + 1, 0]);
      }
      expect(await c.list(1)).toEqual(["caf\xc3\xa9", "caf\xe9", "\xff\xfe"]);
      const w = await c.walk(1, 10, ["caf\xe9"]);
      expect([w.type, w.body.readUInt16LE(0)]).toEqual([T.walk + 1, 1]);
      expect(diodls("latin1").trim().split("\n").sort()).toEqual(["caf\xc3\xa9", "caf\xe9", "\xff\xfe"]);
      const rn = await c.request(T.renameat, [{ u32: 1 }, { s: "caf\xe9" }, { u32: 1 }, { s: "r\xe9sum\xe9" }]);
      expect([rn.type, errnoOf(rn)]).toEqual([T.renameat + 1, 0]);
      expect(await c.list(1)).toEqual(["caf\xc3\xa9", "r\xe9sum\xe9", "\xff\xfe"]);
    } finally {
      c.close();
    }
  });
});

describe("a fid from d/e/.. is d, over TCP", () => {
  it("Tremove of it removes d; Trename of another renames d", async () => {
    const c = await RawClient.connect(host, port);
    try {
      for (const [dfid, name] of [[0, "d"], [0, "k"]] as const) await c.request(T.mkdir, [{ u32: dfid }, { s: name }, { u32: 0o755 }, { u32: 0 }]);
      await c.walk(0, 1, ["d"]);
      await c.request(T.mkdir, [{ u32: 1 }, { s: "e" }, { u32: 0o755 }, { u32: 0 }]);
      await c.walk(0, 2, ["k"]);
      await c.request(T.mkdir, [{ u32: 2 }, { s: "e" }, { u32: 0o755 }, { u32: 0 }]);

      expect((await c.walk(0, 3, ["k", "e", ".."])).body.readUInt16LE(0)).toBe(3);
      const rn = await c.request(T.rename, [{ u32: 3 }, { u32: 0 }, { s: "k2" }]);
      expect([rn.type, errnoOf(rn)]).toEqual([T.rename + 1, 0]);
      expect(await c.list(0)).toContain("k2");

      expect((await c.walk(0, 4, ["d", "e", ".."])).body.readUInt16LE(0)).toBe(3);
      await c.request(T.unlinkat, [{ u32: 1 }, { s: "e" }, { u32: 0x200 }]);
      const rm = await c.request(T.remove, [{ u32: 4 }]);
      expect([rm.type, errnoOf(rm)]).toEqual([T.remove + 1, 0]);
      expect(await c.list(0)).not.toContain("d");
    } finally {
      c.close();
    }
  });
});
