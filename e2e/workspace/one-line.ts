// The README's one-line integration, on the page's main thread:
//   new V86({ ..., filesystem: { handle9p: server.handle9p } })
// GuestMachine constructs exactly that (src/workspace/guest/machine.ts). The guest's agent runs a
// script the page put into the tree through its own 9P session and writes the output back there,
// so both directions go through worker9p in its Web Worker.
import { Client, createFileServer, portTransport } from "../../src/index.js";
import { loadGuestImage, resolveGuestImage } from "../../src/workspace/guest/image.js";
import { GuestMachine } from "../../src/workspace/guest/machine.js";

export interface OneLineResult {
  status: number;
  output: string;
}

declare global {
  interface Window {
    oneLine?: { result: Promise<OneLineResult> };
  }
}

async function main(script: string): Promise<OneLineResult> {
  const server = await createFileServer({ storage: "memory", name: "one-line" });
  const client = await Client.connect(portTransport(server.connect()));
  // The small image: its tree is the home, and this page serves it from memory with no base image.
  const image = await loadGuestImage(await resolveGuestImage("busybox", location.href));
  let ready!: () => void;
  const readyP = new Promise<void>((r) => (ready = r));
  let done!: (status: number) => void;
  const doneP = new Promise<number>((r) => (done = r));
  let failed!: (e: Error) => void;
  const failedP = new Promise<never>((_, rej) => (failed = rej));
  const log = document.getElementById("log")!;
  const machine = new GuestMachine({
    image,
    handle9p: server.handle9p,
    events: {
      console: (bytes) => log.append(new TextDecoder().decode(bytes)),
      control: (line) => {
        if (line === "@@W9P-READY") ready();
        const m = /^@@W9P-DONE 1 (\d+)$/.exec(line);
        if (m) done(Number(m[1]));
      },
      failed: (reason) => failed(new Error(reason)),
    },
  });
  await Promise.race([readyP, failedP]);
  await client.mkdir(".w9p"); // the agent's run folder (it removes it once empty)
  await client.writeFile(".w9p/1.sh", script);
  machine.sendControl("RUN 1");
  const status = await Promise.race([doneP, failedP]);
  const output = new TextDecoder().decode(await client.readFile(".w9p/1.out"));
  await machine.destroy();
  client.close();
  await server.close();
  return { status, output };
}

const script = new URLSearchParams(location.search).get("script") ?? "uname -m";
window.oneLine = { result: main(script) };
