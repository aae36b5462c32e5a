/**
 * A `.tar` or `.tar.gz` byte stream as import entries. Gzip is recognised by its
 * magic bytes, not by the file name. The tar decoder runs in strict mode, so a bad
 * checksum or a missing end-of-archive marker is an error, never a silent stop.
 */
import { createTarDecoder, type TarHeader } from "modern-tar";
import { ArchiveError } from "./entry-path.js";
import type { ImportEntry } from "./import.js";

/** The first bytes of the stream and the stream again, whole. */
async function peek(source: ReadableStream<Uint8Array>, n: number): Promise<{ head: Uint8Array; stream: ReadableStream<Uint8Array> }> {
  const reader = source.getReader();
  const held: Uint8Array[] = [];
  let have = 0;
  let ended = false;
  while (have < n) {
    const { done, value } = await reader.read();
    if (done) {
      ended = true;
      break;
    }
    held.push(value);
    have += value.length;
  }
  const head = new Uint8Array(Math.min(have, n));
  let off = 0;
  for (const c of held) {
    if (off >= head.length) break;
    const take = Math.min(c.length, head.length - off);
    head.set(c.subarray(0, take), off);
    off += take;
  }
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = held.shift();
      if (next) return controller.enqueue(next);
      if (ended) return controller.close();
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return { head, stream };
}

export function isGzip(head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}

function entryType(h: TarHeader): ImportEntry["type"] {
  switch (h.type ?? "file") {
    case "file":
      return "file";
    case "directory":
      return "directory";
    case "symlink":
      return "symlink";
    case "link":
      return "link";
    default:
      return "other";
  }
}

/** Entries of a tar or gzipped tar. Decoding errors become ArchiveError("corrupt") naming the entry they broke. */
export async function* tarEntries(source: ReadableStream<Uint8Array>): AsyncGenerator<ImportEntry> {
  const { head, stream } = await peek(source, 2);
  if (head.length === 0) throw new ArchiveError("the archive is empty", undefined, "corrupt");
  const tar = isGzip(head) ? stream.pipeThrough(new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>) : stream;
  const decoder = createTarDecoder({ strict: true });
  // The pipe's own rejection is reported through the entries' reader below.
  tar.pipeTo(decoder.writable).catch(() => {});
  const reader = decoder.readable.getReader();
  let last: string | undefined;
  try {
    for (;;) {
      let next: ReadableStreamReadResult<{ header: TarHeader; body: ReadableStream<Uint8Array> }>;
      try {
        next = await reader.read();
      } catch (e) {
        const where = last === undefined ? "at its start" : `after entry "${last}"`;
        throw new ArchiveError(`the archive is corrupt or truncated ${where}: ${(e as Error).message}`, last, "corrupt");
      }
      if (next.done) return;
      const { header, body } = next.value;
      last = header.name;
      const entry: ImportEntry = {
        name: header.name,
        type: entryType(header),
        size: header.size,
        body: guardBody(body, header.name),
        ...(header.mode !== undefined ? { mode: header.mode & 0o7777 } : {}),
        ...(header.mtime !== undefined ? { mtime: header.mtime } : {}),
        ...(header.linkname !== undefined ? { linkname: header.linkname } : {}),
      };
      yield entry;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/** The entry's body, with a decoding error turned into a message naming the entry. */
function guardBody(body: ReadableStream<Uint8Array>, name: string): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (e) {
        controller.error(new ArchiveError(`the archive is corrupt or truncated in entry "${name}": ${(e as Error).message}`, name, "corrupt"));
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}
