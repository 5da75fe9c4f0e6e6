// The local file system, used so that it can neither lie nor hang: every file ciab reads or replaces goes through
// here (mesh file, lock, bundles, zone and graph output, key files, a bundle's manifest).
// - Reads take only regular files: stat first (a device is never opened), open with O_NONBLOCK (a FIFO swapped in
//   meanwhile cannot block us), fstat the descriptor again, read to EOF with a size cap (a /proc file says size 0).
// - Writes put every byte or fail (write(2) may write less than asked: on a full disk it does), and a failed
//   write, fsync or rename removes its temp file, so the original stays byte-identical.
// - Errors are CiabError "io" (exit 6) naming the path and the errno (ENOSPC, EDQUOT, EROFS, EIO ...).
// Must not: know about meshes, bundles or the CLI.
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  realpathSync,
  renameSync,
  type Stats,
  statfsSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { CiabError } from "../model/errors.js";

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_DIRECTORY } = constants;

const ERRNO: Record<string, string> = {
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EROFS: "read-only file system",
  EIO: "input/output error",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ENOENT: "no such file or directory",
  ENOTDIR: "a path component is not a directory",
  EISDIR: "is a directory",
  ELOOP: "a symbolic link where none is allowed",
  EEXIST: "already exists",
  EFBIG: "file too large",
  ENAMETOOLONG: "file name too long",
  EXDEV: "not on the same file system",
};

export const errnoOf = (e: unknown): string | undefined => (e as NodeJS.ErrnoException)?.code;

/** "ENOSPC (no space left on device)": the cause as a person and a script can both read it. */
export function describeCause(e: unknown): string {
  if (e instanceof CiabError) return e.message;
  const code = errnoOf(e);
  if (code) return `${code} (${ERRNO[code] ?? ((e as Error).message ?? "").replace(/^[A-Z]+: /, "").replace(/,.*$/, "")})`;
  return e instanceof Error ? e.message : String(e);
}

const HINTS: Record<string, string> = {
  ENOSPC: "free some space on that file system and run the command again",
  EDQUOT: "free some space (or raise the quota) and run the command again",
  EROFS: "the file system is mounted read-only; write somewhere else or remount it read-write",
  EIO: "the disk reported an error; check it (dmesg) before trusting anything on it",
  EACCES: "check the permissions of the file and its directory",
  EPERM: "check the permissions of the file and its directory",
};

export function ioError(message: string, e: unknown, hint?: string): CiabError {
  if (e instanceof CiabError) return e;
  return new CiabError("io", `${message}: ${describeCause(e)}`, { cause: e, hint: HINTS[errnoOf(e) ?? ""] ?? hint });
}

export function kindOf(st: Stats): string {
  if (st.isFile()) return "a regular file";
  if (st.isDirectory()) return "a directory";
  if (st.isSymbolicLink()) return "a symbolic link";
  if (st.isFIFO()) return "a FIFO (named pipe)";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  return "not a regular file";
}

const refusals = new WeakSet<CiabError>();

export function notRegular(path: string, st: Stats, what = "file"): CiabError {
  const e = new CiabError("io", `${path} is ${kindOf(st)}, not a regular ${what}; ciab reads and replaces only regular files`, {
    where: { file: path },
    hint: `move it away, or give the path of a regular ${what}`,
  });
  refusals.add(e);
  return e;
}

/** True for the error readRegular throws on a FIFO, device, directory (or a link where none is allowed). */
export const isNotRegular = (e: unknown): boolean => e instanceof CiabError && refusals.has(e);

/** lstat, or undefined when nothing is there. Other errors (EACCES, ELOOP ...) are io errors. */
export function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (e) {
    if (errnoOf(e) === "ENOENT") return undefined;
    throw ioError(`cannot look at ${path}`, e);
  }
}

export interface ReadOptions {
  /** Follow a symbolic link to its target (default). Without it, a link is refused. */
  follow?: boolean;
  /** Refuse files larger than this (default 64 MiB): a mesh file of 10,000 nodes is a few MB. */
  maxBytes?: number;
  /** What the file is, for messages ("mesh file", "key file"). */
  what?: string;
}

/** The bytes of a regular file, or undefined when it does not exist. Never blocks, never opens a device. */
export function readRegular(path: string, opts: ReadOptions = {}): Buffer | undefined {
  const follow = opts.follow ?? true;
  const what = opts.what ?? "file";
  const max = opts.maxBytes ?? 64 * 1024 * 1024;
  let st: Stats;
  try {
    st = follow ? statSync(path) : lstatSync(path);
  } catch (e) {
    if (errnoOf(e) === "ENOENT") return undefined;
    throw ioError(`cannot read ${path}`, e);
  }
  if (!st.isFile()) throw notRegular(path, st, what);
  let fd: number;
  try {
    fd = openSync(path, O_RDONLY | O_NONBLOCK | (follow ? 0 : O_NOFOLLOW));
  } catch (e) {
    if (errnoOf(e) === "ENOENT") return undefined;
    throw ioError(`cannot read ${path}`, e);
  }
  try {
    const fst = fstatSync(fd);
    if (!fst.isFile()) throw notRegular(path, fst, what); // swapped for something else between stat and open
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(Math.max(fst.size + 1, 64 * 1024), max + 1 - total));
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      total += n;
      if (total > max) {
        throw new CiabError("io", `${path} is larger than ${max} bytes; it is not a ${what} ciab wrote`, { where: { file: path } });
      }
      chunks.push(buf.subarray(0, n));
    }
    return Buffer.concat(chunks, total);
  } catch (e) {
    throw ioError(`cannot read ${path}`, e);
  } finally {
    closeSync(fd);
  }
}

export function readRegularText(path: string, opts: ReadOptions = {}): string | undefined {
  return readRegular(path, opts)?.toString("utf8");
}

/** write(2) until every byte is out; a short write followed by an error (ENOSPC) throws that error. */
export function writeAll(fd: number, data: string | Uint8Array): void {
  const buf = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  let off = 0;
  while (off < buf.length) {
    const n = writeSync(fd, buf, off, buf.length - off);
    if (n <= 0) throw Object.assign(new Error("write returned 0 bytes"), { code: "EIO" });
    off += n;
  }
}

const removeQuietly = (path: string): void => {
  try {
    unlinkSync(path);
  } catch {
    /* not created, or already gone */
  }
};

/** Where to replace `path`: the path itself, or a symbolic link's final target (one rule for every file we own). */
export function replacementTarget(path: string, what = "file"): string {
  const st = lstatOrUndefined(path);
  if (st === undefined) return path;
  if (st.isSymbolicLink()) {
    let target: string;
    try {
      target = realpathSync(path);
    } catch (e) {
      throw ioError(`${path} is a symbolic link whose target cannot be resolved`, e, "point the link at an existing file, or remove it");
    }
    const tst = statSync(target);
    if (!tst.isFile()) throw notRegular(`${path} -> ${target}`, tst, what);
    return target;
  }
  if (!st.isFile()) throw notRegular(path, st, what);
  return path;
}

export interface ReplaceOptions {
  /** Permission bits of a new file (default 0644); an existing file keeps its own, narrowed to `maxMode`. */
  mode?: number;
  /** Upper bound of the permission bits (0o600 for files holding secrets). */
  maxMode?: number;
  what?: string;
}

export interface Staged {
  /** The file that will be replaced (a symlink's target). */
  target: string;
  tmp: string;
}

export const tempName = (target: string, pid = process.pid): string => join(dirname(target), `.${basename(target)}.tmp-${pid}`);

/**
 * Write `content` to a temp file beside `path`'s target (fsynced), ready to be renamed over it with `commit`.
 * On any failure the temp file is removed and nothing else changed.
 */
export function stage(path: string, content: string | Uint8Array, opts: ReplaceOptions = {}): Staged {
  const what = opts.what ?? "file";
  const target = replacementTarget(path, what);
  let mode = opts.mode ?? 0o644;
  let owner: { uid: number; gid: number } | undefined;
  const st = lstatOrUndefined(target);
  if (st) {
    mode = st.mode & 0o777;
    owner = { uid: st.uid, gid: st.gid };
  }
  if (opts.maxMode !== undefined) mode &= opts.maxMode;
  // A new file's bits go through the umask (open's mode); a replaced file keeps its own bits exactly.
  const exact = st !== undefined || opts.maxMode !== undefined;
  const tmp = tempName(target);
  removeStaleTemps(target);
  let fd: number | undefined;
  try {
    removeQuietly(tmp); // ours from an earlier call of this process that could not clean up
    fd = openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
    if (exact) fchmodSync(fd, mode);
    writeAll(fd, content);
    if (owner && typeof process.getuid === "function" && process.getuid() === 0) fchownSync(fd, owner.uid, owner.gid);
    fsyncSync(fd);
    const fdToClose = fd;
    fd = undefined;
    closeSync(fdToClose); // close can report a delayed write error (NFS): it counts
  } catch (e) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        /* the write error is the one to report */
      }
    }
    removeQuietly(tmp);
    throw ioError(`cannot write ${target}; it was left unchanged`, e, "check that the directory is writable and the disk is not full");
  }
  return { target, tmp };
}

/** Rename staged files over their targets, then fsync their directories. */
export function commit(staged: Staged[]): void {
  for (const [i, s] of staged.entries()) {
    try {
      renameSync(s.tmp, s.target);
    } catch (e) {
      for (const rest of staged.slice(i)) removeQuietly(rest.tmp);
      throw ioError(`cannot replace ${s.target}; it was left unchanged`, e);
    }
  }
  for (const d of new Set(staged.map((s) => dirname(s.target)))) fsyncDir(d);
}

export function discard(staged: Staged[]): void {
  for (const s of staged) removeQuietly(s.tmp);
}

/** Replace one file atomically: temp + fsync + rename + directory fsync. A symlink's target is replaced, not the link. */
export function replaceFile(path: string, content: string | Uint8Array, opts: ReplaceOptions = {}): void {
  commit([stage(path, content, opts)]);
}

/**
 * Replace several files all or nothing as far as the disk allows: every temp file is written and fsynced before
 * the first rename, so a full disk changes none of them.
 */
export function replaceFiles(files: { path: string; content: string | Uint8Array; opts?: ReplaceOptions }[]): void {
  const staged: Staged[] = [];
  try {
    for (const f of files) staged.push(stage(f.path, f.content, f.opts));
  } catch (e) {
    discard(staged);
    throw e;
  }
  commit(staged);
}

export function fsyncDir(dir: string): void {
  try {
    const dfd = openSync(dir, O_RDONLY | O_DIRECTORY);
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    /* some file systems cannot fsync a directory; the rename is done */
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoOf(e) === "EPERM";
  }
}

/**
 * Remove `.NAME.tmp-PID` (and `.NAME.lock.tmp-PID`, `.NAME.lock.break.tmp-PID`) left beside `target` by processes
 * that died mid-write (kill -9, power loss): they may hold private keys. Only regular files of dead PIDs are removed.
 */
export function removeStaleTemps(target: string): void {
  const dir = dirname(target);
  const base = basename(target);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^\.(.+)\.tmp-(\d+)$/.exec(name);
    if (!m || (m[1] !== base && m[1] !== `${base}.lock` && m[1] !== `${base}.lock.break`)) continue;
    const pid = Number(m[2]);
    if (pid === process.pid || pidAlive(pid)) continue;
    const p = join(dir, name);
    if (lstatOrUndefined(p)?.isFile()) removeQuietly(p);
  }
}

/**
 * `mkdir -p` that reports the real cause: Node's recursive mkdir says ENOENT where the kernel said EROFS.
 * Existing components must be directories (a symlink to one is fine: the user made it).
 */
export function makeDirs(dir: string, mode = 0o755): void {
  const abs = resolve(dir);
  const missing: string[] = [];
  let cur = abs;
  for (;;) {
    let st: Stats | undefined;
    try {
      st = statSync(cur);
    } catch (e) {
      if (errnoOf(e) !== "ENOENT") throw ioError(`cannot create directory ${abs}`, e);
    }
    if (st) {
      if (!st.isDirectory()) throw new CiabError("io", `cannot create directory ${abs}: ${cur} is ${kindOf(lstatSync(cur))}, not a directory`);
      break;
    }
    missing.unshift(cur);
    const up = dirname(cur);
    if (up === cur) break;
    cur = up;
  }
  for (const d of missing) {
    try {
      mkdirSync(d, { mode });
    } catch (e) {
      if (errnoOf(e) === "EEXIST" && statSync(d).isDirectory()) continue;
      throw ioError(`cannot create directory ${d}`, e);
    }
  }
}

// statfs(2) f_type of kernel pseudo file systems: writing there means something else entirely (or spins).
const PSEUDO_FS: Record<number, string> = {
  40864: "proc",
  1650812274: "sysfs",
  7377: "devpts",
  2613483: "cgroup",
  1667723888: "cgroup2",
  1684170528: "debugfs",
  1953653091: "tracefs",
  1935894131: "securityfs",
  3405662737: "bpf",
  1634035564: "pstore",
  1650812272: "configfs",
  3730735588: "efivarfs",
  1702057283: "fusectl",
  1112100429: "binfmt_misc",
};

/** The pseudo file system `path` (or its nearest existing ancestor) is on, or undefined for a real one. */
export function pseudoFileSystem(path: string): string | undefined {
  let cur = resolve(path);
  for (;;) {
    try {
      return PSEUDO_FS[statfsSync(cur).type];
    } catch (e) {
      const up = dirname(cur);
      if (errnoOf(e) !== "ENOENT" || up === cur) return undefined;
      cur = up;
    }
  }
}

/**
 * Create a new file exclusively (O_CREAT|O_EXCL|O_NOFOLLOW: never through a link, never over anything), write all,
 * fsync. On failure nothing is left. Returns false when something already is at `path`.
 */
export function createExclusive(path: string, content: string | Uint8Array, mode: number): boolean {
  let fd: number;
  try {
    fd = openSync(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
  } catch (e) {
    if (errnoOf(e) === "EEXIST") return false;
    throw ioError(`cannot create ${path}`, e);
  }
  try {
    fchmodSync(fd, mode); // we created it: exactly these bits, whatever the umask
    writeAll(fd, content);
    fsyncSync(fd);
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      /* reporting the first error */
    }
    removeQuietly(path);
    throw ioError(`cannot write ${path}; it was removed`, e);
  }
  try {
    closeSync(fd);
  } catch (e) {
    removeQuietly(path);
    throw ioError(`cannot write ${path}; it was removed`, e);
  }
  fsyncDir(dirname(path));
  return true;
}
