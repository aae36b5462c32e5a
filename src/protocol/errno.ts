/** Linux errno values (asm-generic/errno-base.h, errno.h): what Rlerror carries. */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ETXTBSY: 26,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  ERANGE: 34,
  EDEADLK: 35,
  ENAMETOOLONG: 36,
  ENOLCK: 37,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENODATA: 61,
  EPROTO: 71,
  EBADMSG: 74,
  EOVERFLOW: 75,
  EOPNOTSUPP: 95,
  ETIMEDOUT: 110,
  ECANCELED: 125,
  EINTR: 4,
  EMSGSIZE: 90,
  ESTALE: 116,
} as const;
export type ErrnoName = keyof typeof Errno;

const names = new Map<number, string>(Object.entries(Errno).map(([k, v]) => [v, k]));

export function errnoName(errno: number): string {
  return names.get(errno) ?? `errno ${errno}`;
}

/**
 * A POSIX failure as a value: every layer below the server throws this, the
 * server maps it to Rlerror in exactly one place.
 */
export class FsError extends Error {
  readonly errno: number;
  constructor(errno: number, detail?: string) {
    super(detail ? `${errnoName(errno)}: ${detail}` : errnoName(errno));
    this.name = "FsError";
    this.errno = errno;
  }
}

export function isFsError(e: unknown): e is FsError {
  return e instanceof FsError;
}

/** True for the rejection an aborted AbortSignal produces (DOMException or Error named AbortError). */
export function isAbortError(e: unknown): boolean {
  return typeof e === "object" && e !== null && (e as { name?: unknown }).name === "AbortError";
}

export function abortError(): Error {
  const e = new Error("request was flushed");
  e.name = "AbortError";
  return e;
}

/** The error an aborted signal should reject with: its own reason when that is an AbortError. */
export function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return isAbortError(r) ? (r as Error) : abortError();
}

/** Wait `ms`, or reject with an AbortError as soon as `signal` aborts (the timer is cleared). */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * True when `signal` was aborted and `e` is the AbortError that caused: the
 * request was cancelled (a Tflush, a Tversion, the session ending). An
 * AbortError with no aborted signal is a store failure like any other
 * (IndexedDB rejects the requests of a transaction that failed with one).
 */
export function isCancellation(e: unknown, signal: AbortSignal): boolean {
  return signal.aborted && isAbortError(e);
}

/** True for the browser's "storage quota exceeded" (IndexedDB, OPFS): ENOSPC to the client. */
export function isQuotaError(e: unknown): boolean {
  return typeof e === "object" && e !== null && (e as { name?: unknown }).name === "QuotaExceededError";
}
