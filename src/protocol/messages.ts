/**
 * 9P2000.L messages as plain typed objects. Every u64 field is a JS number:
 * values above 2^53 lose precision but keep their order, which is all the
 * server needs (offsets that large are EFBIG/EOF anyway).
 * Read and write payloads (`Twrite.data`, `Rread.data`, `Txattrcreate`-time
 * writes) are views into the frame they came from, never copies.
 */

export interface Qid {
  type: number;
  version: number;
  path: number;
}

export interface Timespec {
  sec: number;
  nsec: number;
}

export interface DirEntry {
  qid: Qid;
  /** Cookie to pass as Treaddir.offset to continue after this entry. */
  offset: number;
  type: number;
  name: string;
}

export interface Attr {
  valid: number;
  qid: Qid;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  rdev: number;
  size: number;
  blksize: number;
  blocks: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
  btime: Timespec;
  gen: number;
  dataVersion: number;
}

export interface StatFs {
  type: number;
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  fsid: number;
  namelen: number;
}

export interface SetattrRequest {
  valid: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  atime: Timespec;
  mtime: Timespec;
}

export interface LockRequest {
  type: number;
  flags: number;
  start: number;
  length: number;
  procId: number;
  clientId: string;
}

export interface GetlockRequest {
  type: number;
  start: number;
  length: number;
  procId: number;
  clientId: string;
}

type M<T extends string, B> = { type: T; tag: number } & B;

export type TMessage =
  | M<"Tversion", { msize: number; version: string }>
  | M<"Tauth", { afid: number; uname: string; aname: string; nuname: number }>
  | M<"Tattach", { fid: number; afid: number; uname: string; aname: string; nuname: number }>
  | M<"Tflush", { oldtag: number }>
  | M<"Twalk", { fid: number; newfid: number; names: string[] }>
  | M<"Tread", { fid: number; offset: number; count: number }>
  | M<"Twrite", { fid: number; offset: number; data: Uint8Array }>
  | M<"Tclunk", { fid: number }>
  | M<"Tremove", { fid: number }>
  | M<"Tstatfs", { fid: number }>
  | M<"Tlopen", { fid: number; flags: number }>
  | M<"Tlcreate", { fid: number; name: string; flags: number; mode: number; gid: number }>
  | M<"Tsymlink", { fid: number; name: string; target: string; gid: number }>
  | M<"Tmknod", { dfid: number; name: string; mode: number; major: number; minor: number; gid: number }>
  | M<"Trename", { fid: number; dfid: number; name: string }>
  | M<"Treadlink", { fid: number }>
  | M<"Tgetattr", { fid: number; mask: number }>
  | M<"Tsetattr", { fid: number; attr: SetattrRequest }>
  | M<"Txattrwalk", { fid: number; newfid: number; name: string }>
  | M<"Txattrcreate", { fid: number; name: string; size: number; flags: number }>
  | M<"Treaddir", { fid: number; offset: number; count: number }>
  | M<"Tfsync", { fid: number; datasync: number }>
  | M<"Tlock", { fid: number; lock: LockRequest }>
  | M<"Tgetlock", { fid: number; lock: GetlockRequest }>
  | M<"Tlink", { dfid: number; fid: number; name: string }>
  | M<"Tmkdir", { dfid: number; name: string; mode: number; gid: number }>
  | M<"Trenameat", { olddirfid: number; oldname: string; newdirfid: number; newname: string }>
  | M<"Tunlinkat", { dirfid: number; name: string; flags: number }>;

export type RMessage =
  | M<"Rlerror", { ecode: number }>
  | M<"Rversion", { msize: number; version: string }>
  | M<"Rauth", { aqid: Qid }>
  | M<"Rattach", { qid: Qid }>
  | M<"Rflush", {}>
  | M<"Rwalk", { qids: Qid[] }>
  | M<"Rread", { data: Uint8Array }>
  | M<"Rwrite", { count: number }>
  | M<"Rclunk", {}>
  | M<"Rremove", {}>
  | M<"Rstatfs", { stat: StatFs }>
  | M<"Rlopen", { qid: Qid; iounit: number }>
  | M<"Rlcreate", { qid: Qid; iounit: number }>
  | M<"Rsymlink", { qid: Qid }>
  | M<"Rmknod", { qid: Qid }>
  | M<"Rrename", {}>
  | M<"Rreadlink", { target: string }>
  | M<"Rgetattr", { attr: Attr }>
  | M<"Rsetattr", {}>
  | M<"Rxattrwalk", { size: number }>
  | M<"Rxattrcreate", {}>
  /** Entries are encoded back to back; `data` holds them already encoded (see encodeDirEntries). */
  | M<"Rreaddir", { data: Uint8Array }>
  | M<"Rfsync", {}>
  | M<"Rlock", { status: number }>
  | M<"Rgetlock", { lock: GetlockRequest }>
  | M<"Rlink", {}>
  | M<"Rmkdir", { qid: Qid }>
  | M<"Rrenameat", {}>
  | M<"Runlinkat", {}>;

export type Message = TMessage | RMessage;
export type TType = TMessage["type"];
export type RType = RMessage["type"];
export type TOf<K extends TType> = Extract<TMessage, { type: K }>;
export type ROf<K extends RType> = Extract<RMessage, { type: K }>;
