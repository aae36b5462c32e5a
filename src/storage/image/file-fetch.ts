/**
 * A fetch() for file: URLs (Node): serves an image folder to BaseImage the way
 * a web server would, Range requests included, so the guest harness and
 * benchmarks use the very code path the browser does.
 */
import * as fsp from "node:fs/promises";
import { fileURLToPath, pathToFileURL } from "node:url";

export function imageDirUrl(dir: string): string {
  return pathToFileURL(dir.endsWith("/") ? dir : dir + "/").href;
}

export const fileFetch: typeof fetch = async (input, init) => {
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  if (!url.startsWith("file:")) return fetch(input, init);
  init?.signal?.throwIfAborted();
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(fileURLToPath(url), "r");
  } catch {
    return new Response(null, { status: 404 });
  }
  try {
    const size = (await fh.stat()).size;
    const range = new Headers(init?.headers).get("range");
    const m = range ? /^bytes=(\d+)-(\d+)$/.exec(range) : null;
    const start = m ? Number(m[1]) : 0;
    const end = m ? Math.min(size, Number(m[2]) + 1) : size;
    const buf = new Uint8Array(Math.max(0, end - start));
    for (let got = 0; got < buf.length; ) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, start + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    init?.signal?.throwIfAborted();
    return new Response(buf, { status: m ? 206 : 200 });
  } finally {
    await fh.close();
  }
};
