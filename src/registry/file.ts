// The mesh file on disk: the default registry. Owns locking and atomic writes; knows nothing of the CLI.
// Writes go to a temp file in the same directory, fsync, rename, fsync of the directory: a crash leaves either the
// old or the new file, never a torn one; a failed write (full disk) leaves the old one byte-identical and exits 6.
// A lock file serializes writers (two `ciab set` racing both land). File primitives: adapters/files.ts.
import { closeSync, constants, linkSync, lstatSync, openSync, statSync, unlinkSync } from "node:fs";
import { basename, resolve } from "node:path";
import {
  createExclusive,
  errnoOf,
  ioError,
  kindOf,
  lstatOrUndefined,
  pidAlive,
  readRegularText,
  replaceFile,
  replacementTarget,
  tempName,
  writeAll,
} from "../adapters/files.js";
import { CiabError, notFound } from "../model/errors.js";
import { checkNetworkName, type Mesh, meshFromDoc } from "../model/mesh.js";
import { dumpToml, parseToml, type TomlTable } from "../model/toml.js";

export interface MeshRef {
  /** Network name: the file's base name without .conf (vwgen's rule). */
  name: string;
  path: string;
  /** The network as given (vwgen's network_name(): "sub/inner" for `sub/inner`), for headers and messages. */
  title: string;
}

/** `NET` or `NET.conf` or a path; as vwgen, the file is `<NET>.conf` in the current (or given) directory. */
export function meshRef(arg: string, dir = process.cwd()): MeshRef {
  const withoutExt = arg.endsWith(".conf") ? arg.slice(0, -5) : arg;
  const name = basename(withoutExt);
  checkNetworkName(name);
  return { name, path: resolve(dir, `${withoutExt}.conf`), title: withoutExt };
}

export interface Loaded {
  text: string;
  doc: TomlTable;
  mesh: Mesh;
}

/** The mesh file's text, or undefined when there is none. Only a regular file (or a link to one) is read. */
export function readText(ref: MeshRef): string | undefined {
  return readRegularText(ref.path, { what: "mesh file" });
}

export function loadMesh(ref: MeshRef): Loaded {
  const text = readText(ref);
  if (text === undefined) {
    throw notFound(`unable to find mesh file '${ref.path}' for network '${ref.name}'`, {
      where: { file: ref.path },
      hint: `create it with 'ciab add ${ref.name}', or run ciab in the directory that holds it`,
    });
  }
  const doc = parseToml(text, ref.path);
  return { text, doc, mesh: meshFromDoc(ref.name, doc, { file: ref.path, text, title: ref.title }) };
}

// --- locking -------------------------------------------------------------------------------------------------

// Atomics.wait sleeps in the kernel: waiting for another writer costs no CPU (no busy loop).
const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** An empty or unparsable lock younger than this may be one being created (no-hard-link fallback): wait. */
const FRESH_LOCK_MS = 1000;

/**
 * Create `lock` holding our PID, or return false when it exists. The PID goes into a temp file first, which is then
 * hard-linked to the lock name (link(2) never replaces anything): the lock is never seen empty, and a full disk
 * fails on the temp file, leaving no lock behind.
 */
function tryCreateLock(lock: string): boolean {
  const tmp = tempName(lock);
  const fail = (e: unknown) => ioError(`cannot create lock file ${lock} (is the directory writable?)`, e);
  try {
    unlinkSync(tmp);
  } catch {
    /* normal: not there */
  }
  let fd: number | undefined;
  try {
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    writeAll(fd, `${process.pid}\n`);
    const f = fd;
    fd = undefined;
    closeSync(f);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    removeQuietly(tmp);
    throw fail(e);
  }
  try {
    linkSync(tmp, lock);
    return true;
  } catch (e) {
    const code = errnoOf(e);
    if (code === "EEXIST") return false;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "EMLINK") throw fail(e);
    return createExclusive(lock, `${process.pid}\n`, 0o600); // no hard links here: O_EXCL directly
  } finally {
    removeQuietly(tmp);
  }
}

const removeQuietly = (p: string): void => {
  try {
    unlinkSync(p);
  } catch {
    /* already gone */
  }
};

/**
 * Take `<file>.lock`; wait for a live holder up to `timeoutMs`; take over a stale lock (dead PID, or empty or
 * unparsable: what a crash or a full disk left). A lock path that is not a regular file is an error at once.
 */
export function acquireLock(path: string, timeoutMs: number): () => void {
  const lock = `${path}.lock`;
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  for (;;) {
    const st = lstatOrUndefined(lock);
    if (st && !st.isFile()) {
      throw new CiabError("io", `lock file ${lock} is ${kindOf(st)}, not a regular file; ${path} was left unchanged`, {
        where: { file: lock },
        hint: `no ciab process made it: remove ${lock} (rm -r) and run the command again`,
      });
    }
    if (!st && tryCreateLock(lock)) {
      return () => removeQuietly(lock);
    }
    let holder: number | undefined;
    let stale = false;
    let inode: { dev: number; ino: number } | undefined;
    try {
      const text = readRegularText(lock, { follow: false, maxBytes: 4096, what: "lock file" });
      if (text !== undefined) {
        const m = /^\s*(\d+)\s*$/.exec(text);
        holder = m ? Number(m[1]) : undefined;
        const now = lstatSync(lock);
        inode = { dev: now.dev, ino: now.ino };
        stale = holder === undefined || holder <= 0 ? Date.now() - now.mtimeMs > FRESH_LOCK_MS : holder !== process.pid && !pidAlive(holder);
      }
    } catch (e) {
      if (!(e instanceof CiabError) && errnoOf(e) !== "ENOENT") throw ioError(`cannot read lock file ${lock}`, e);
      if (e instanceof CiabError) throw e;
    }
    if (stale && inode) {
      // Only the lock we judged: if another process took it over meanwhile, its inode differs.
      const again = lstatOrUndefined(lock);
      if (again && again.dev === inode.dev && again.ino === inode.ino) removeQuietly(lock);
      continue;
    }
    if (Date.now() >= deadline) {
      throw new CiabError("locked", `${path} is locked by another process (pid ${holder ?? "unknown"})`, {
        hint: `wait for it to finish, or remove ${lock} if no ciab process is running`,
      });
    }
    sleep(Math.min(delay, Math.max(1, deadline - Date.now())));
    delay = Math.min(delay * 2, 100);
  }
}

// --- atomic write --------------------------------------------------------------------------------------------

const holdsSecrets = (doc: TomlTable): boolean =>
  doc.PresharedKeys !== undefined ||
  (doc.Network as TomlTable | undefined)?.BGPPassword !== undefined ||
  Object.values((doc.Node as Record<string, TomlTable> | undefined) ?? {}).some((n) => n.PrivateKey !== undefined);

/** Replace `path` with `text` atomically; mode 0600 when the content holds secrets. */
export function writeAtomic(path: string, text: string, secret: boolean): void {
  replaceFile(path, text, { mode: secret ? 0o600 : 0o644, maxMode: secret ? 0o600 : undefined, what: "mesh file" });
}

export interface UpdateOptions {
  /** Create the file when missing (ciab add). */
  create?: boolean;
  lockTimeoutMs?: number;
}

/**
 * Read-modify-write under the lock. `mutate` changes the document; the result must validate, or nothing is written.
 * Returns the new mesh and whether the file changed.
 */
export function updateMesh(ref: MeshRef, opts: UpdateOptions, mutate: (doc: TomlTable, existed: boolean) => void): { mesh: Mesh; changed: boolean } {
  const existing = readText(ref);
  if (existing === undefined && !opts.create) loadMesh(ref); // throws the not-found error
  // A symlinked mesh file: the link's target is replaced (atomically, in its own directory, locked beside it);
  // the link stays a link (README "The mesh file"). A dangling link is refused, never replaced by a file.
  const target = replacementTarget(ref.path, "mesh file");
  if (existing !== undefined) {
    const st = statSync(target);
    if ((st.mode & 0o222) === 0) {
      throw new CiabError("io", `${ref.path} is read-only (mode ${(st.mode & 0o777).toString(8).padStart(4, "0")}); it was left unchanged`, {
        hint: `make it writable first (chmod u+w ${ref.path})`,
      });
    }
  }
  const release = acquireLock(target, opts.lockTimeoutMs ?? 10_000);
  try {
    const text = readText(ref); // re-read under the lock: another writer may have landed meanwhile
    const doc = text === undefined ? {} : parseToml(text, ref.path);
    mutate(doc, text !== undefined);
    const out = dumpToml(doc);
    let mesh: Mesh;
    try {
      mesh = meshFromDoc(ref.name, doc, { file: ref.path });
    } catch (e) {
      // When the file on disk is already invalid, report that (with its line numbers), not the edited copy.
      if (text !== undefined) meshFromDoc(ref.name, parseToml(text, ref.path), { file: ref.path, text });
      throw e;
    }
    if (out === text) return { mesh, changed: false };
    writeAtomic(target, out, holdsSecrets(doc));
    return { mesh, changed: true };
  } finally {
    release();
  }
}
