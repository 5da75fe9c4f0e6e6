// The mesh file on disk: the default registry. Owns locking and atomic writes; knows nothing of the CLI.
// Writes go to a temp file in the same directory, fsync, rename, fsync of the directory: a crash leaves either the
// old or the new file, never a torn one. A lock file serializes writers (two `ciab set` racing both land).
import { closeSync, constants, fchownSync, fsyncSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { CiabError, notFound } from "../model/errors.js";
import { checkNetworkName, type Mesh, meshFromDoc } from "../model/mesh.js";
import { dumpToml, parseToml, type TomlTable } from "../model/toml.js";

export interface MeshRef {
  /** Network name: the file's base name without .conf (vwgen's rule). */
  name: string;
  path: string;
}

/** `NET` or `NET.conf` or a path; as vwgen, the file is `<NET>.conf` in the current (or given) directory. */
export function meshRef(arg: string, dir = process.cwd()): MeshRef {
  const withoutExt = arg.endsWith(".conf") ? arg.slice(0, -5) : arg;
  const name = basename(withoutExt);
  checkNetworkName(name);
  return { name, path: resolve(dir, `${withoutExt}.conf`) };
}

const ioError = (message: string, e: unknown, hint?: string) =>
  new CiabError("io", `${message}: ${(e as NodeJS.ErrnoException).code ?? ""} ${(e as Error).message ?? e}`.trim(), { cause: e, hint });

export interface Loaded {
  text: string;
  doc: TomlTable;
  mesh: Mesh;
}

export function readText(ref: MeshRef): string | undefined {
  try {
    return readFileSync(ref.path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw ioError(`cannot read ${ref.path}`, e);
  }
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
  return { text, doc, mesh: meshFromDoc(ref.name, doc, { file: ref.path, text }) };
}

// --- locking -------------------------------------------------------------------------------------------------

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Take `<file>.lock` (O_EXCL); wait for a live holder up to `timeoutMs`; take over a dead holder's lock. */
export function acquireLock(path: string, timeoutMs: number): () => void {
  const lock = `${path}.lock`;
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  for (;;) {
    try {
      const fd = openSync(lock, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        try {
          unlinkSync(lock);
        } catch {
          /* already gone */
        }
      };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "EEXIST") throw ioError(`cannot create lock file ${lock} (is the directory writable?)`, e);
    }
    let holder = Number.NaN;
    try {
      holder = Number.parseInt(readFileSync(lock, "utf8"), 10);
    } catch {
      continue; // released between our open and read
    }
    if (Number.isInteger(holder) && holder > 0 && !pidAlive(holder)) {
      try {
        unlinkSync(lock); // stale: its owner died without cleaning up
      } catch {
        /* someone else took it over */
      }
      continue;
    }
    if (Date.now() >= deadline) {
      throw new CiabError("locked", `${path} is locked by another process (pid ${Number.isNaN(holder) ? "unknown" : holder})`, {
        hint: `wait for it to finish, or remove ${lock} if no ciab process is running`,
      });
    }
    sleep(delay);
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
  let mode = 0o644;
  let owner: { uid: number; gid: number } | undefined;
  try {
    const st = statSync(path);
    mode = st.mode & 0o777;
    owner = { uid: st.uid, gid: st.gid };
  } catch {
    /* new file */
  }
  if (secret) mode &= 0o600;
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, mode);
    writeSync(fd, text);
    if (owner && typeof process.getuid === "function" && process.getuid() === 0) fchownSync(fd, owner.uid, owner.gid);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      /* not created */
    }
    throw ioError(`cannot write ${path}; it was left unchanged`, e, "check that the directory is writable and the disk is not full");
  }
  try {
    const dfd = openSync(dirname(path), constants.O_RDONLY);
    fsyncSync(dfd);
    closeSync(dfd);
  } catch {
    /* some filesystems cannot fsync a directory; the rename is done */
  }
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
  if (existing !== undefined) {
    const st = statSync(ref.path);
    if ((st.mode & 0o222) === 0) {
      throw new CiabError("io", `${ref.path} is read-only (mode ${(st.mode & 0o777).toString(8).padStart(4, "0")}); it was left unchanged`, {
        hint: `make it writable first (chmod u+w ${ref.path})`,
      });
    }
  }
  const release = acquireLock(ref.path, opts.lockTimeoutMs ?? 10_000);
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
    writeAtomic(ref.path, out, holdsSecrets(doc));
    return { mesh, changed: true };
  } finally {
    release();
  }
}
