// The mesh file on disk: the default registry. Owns locking and atomic writes; knows nothing of the CLI.
// Writes go to a temp file in the same directory, fsync, rename, fsync of the directory: a crash leaves either the
// old or the new file, never a torn one; a failed write (full disk) leaves the old one byte-identical and exits 6.
// A lock file serializes writers (two `ciab set` racing both land). File primitives: adapters/files.ts.
import { createHash, randomBytes } from "node:crypto";
import { closeSync, constants, type FSWatcher, fstatSync, linkSync, openSync, readSync, type Stats, statSync, unlinkSync, watch } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
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
import { parseRecord, readRecord } from "../model/record.js";
import { dumpToml, parseToml, parseTomlText, type TomlTable } from "../model/toml.js";
import type { Lease, MeshText, NodeRecord, RecordSet, Registry, RegistryEvent, Revision, Watch, WriteResult } from "./registry.js";

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

const removed = (p: string): boolean => {
  try {
    unlinkSync(p);
    return true;
  } catch {
    return false; // already gone (or not ours to remove: the directory says so)
  }
};
const removeQuietly = (p: string): void => void removed(p);

const notALock = (lock: string, path: string, st: Stats): CiabError =>
  new CiabError("io", `lock file ${lock} is ${kindOf(st)}, not a regular file; ${path} was left unchanged`, {
    where: { file: lock },
    hint: `no ciab process made it: remove ${lock} (rm -r) and run the command again`,
  });

interface Holder {
  /** The PID written in the lock; undefined when it is empty or unparsable. */
  pid: number | undefined;
  ageMs: number;
}

/**
 * Who holds `lock` (undefined: nobody), PID and age read through one descriptor: both belong to the same lock.
 * (A PID read from one lock file and an inode or mtime looked up by name afterwards may belong to the next one.)
 */
function holderOf(lock: string, path: string): Holder | undefined {
  let fd: number;
  try {
    fd = openSync(lock, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    if (errnoOf(e) === "ENOENT") return undefined;
    throw ioError(`cannot read lock file ${lock}`, e);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw notALock(lock, path, st);
    const buf = Buffer.alloc(4096);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const m = /^\s*(\d+)\s*$/.exec(buf.toString("utf8", 0, n));
    return { pid: m ? Number(m[1]) : undefined, ageMs: Date.now() - st.mtimeMs };
  } catch (e) {
    throw ioError(`cannot read lock file ${lock}`, e);
  } finally {
    closeSync(fd);
  }
}

/** A crash or a full disk left it: its holder is dead, or it is empty (or unparsable) and not one being created. */
const isStale = (h: Holder): boolean => (h.pid === undefined || h.pid <= 0 ? h.ageMs > FRESH_LOCK_MS : h.pid !== process.pid && !pidAlive(h.pid));

/**
 * Remove `lock` if it is stale; true when something was removed (look again at once), false when there was nothing
 * to remove or another process is breaking it (wait). Breakers take turns under `<lock>.break`
 * and judge the lock again under it: a stale lock can then be removed by nobody else (its holder is dead, other
 * breakers wait, a new lock is only made where there is none), so the file removed is the one judged, never a live
 * writer's lock that replaced it meanwhile (inode numbers cannot tell them apart: ext4 reuses them at once). A
 * breaker that died in the microseconds it holds `.break` leaves it behind with a dead PID: it is removed too.
 */
function breakStale(lock: string, path: string): boolean {
  const guard = `${lock}.break`;
  if (!tryCreateLock(guard)) {
    const g = holderOf(guard, path);
    return g !== undefined && isStale(g) && removed(guard);
  }
  try {
    const h = holderOf(lock, path);
    return h !== undefined && isStale(h) && removed(lock);
  } finally {
    removeQuietly(guard);
  }
}

/**
 * Take `<file>.lock`; wait for a live holder up to `timeoutMs`; take over a stale lock (dead PID, or empty or
 * unparsable: what a crash or a full disk left). A lock path that is not a regular file is an error at once.
 * The release removes the lock only while it is still ours.
 */
export function acquireLock(path: string, timeoutMs: number): () => void {
  const lock = `${path}.lock`;
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  for (;;) {
    const st = lstatOrUndefined(lock);
    if (st && !st.isFile()) throw notALock(lock, path, st);
    if (!st && tryCreateLock(lock)) {
      return () => {
        try {
          if (holderOf(lock, path)?.pid === process.pid) removeQuietly(lock);
        } catch {
          /* not a lock file any more: not ours to remove */
        }
      };
    }
    const holder = holderOf(lock, path);
    if (holder && isStale(holder) && breakStale(lock, path)) continue;
    if (Date.now() >= deadline) {
      throw new CiabError("locked", `${path} is locked by another process (pid ${holder?.pid ?? "unknown"})`, {
        hint: `wait for it to finish, or remove ${lock} if no ciab process is running`,
      });
    }
    sleep(Math.min(delay, Math.max(1, deadline - Date.now())));
    delay = Math.min(delay * 2, 100);
  }
}

// --- atomic write --------------------------------------------------------------------------------------------

export const holdsSecrets = (doc: TomlTable): boolean =>
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
 * How an edit changes a mesh document: `original` is the document's text as ciab writes it, before the change
 * (undefined: no document yet). It may return the document's text and mesh after its change, when it computed them
 * (then it must not change the document afterwards): they are not computed twice.
 */
export type Mutate = (doc: TomlTable, existed: boolean, original: string | undefined) => { out: string; mesh: Mesh } | undefined | void;

/**
 * One edit of a mesh text (undefined: none yet): parse, `mutate`, dump, validate. When the result does not validate
 * and the stored text is already invalid, the stored text's own problems (with its line numbers) are thrown.
 */
export function editedText(name: string, text: string | undefined, file: string, mutate: Mutate): { doc: TomlTable; out: string; mesh: Mesh } {
  const parsed = text === undefined ? undefined : parseTomlText(text, file);
  const doc = parsed?.doc ?? {};
  const done = mutate(doc, text !== undefined, parsed && (parsed.canonical ? text : dumpToml(doc)));
  if (done) return { doc, ...done };
  const out = dumpToml(doc);
  try {
    return { doc, out, mesh: meshFromDoc(name, doc, { file }) };
  } catch (e) {
    if (text !== undefined) meshFromDoc(name, parseToml(text, file), { file, text });
    throw e;
  }
}

/**
 * Read-modify-write under the lock. `mutate` changes the document; the result must validate, or nothing is written.
 * Returns the new mesh and whether the file changed.
 */
export function updateMesh(ref: MeshRef, opts: UpdateOptions, mutate: Mutate): { mesh: Mesh; changed: boolean } {
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
    const { doc, out, mesh } = editedText(ref.name, text, ref.path, mutate);
    if (out === text) return { mesh, changed: false };
    writeAtomic(target, out, holdsSecrets(doc));
    return { mesh, changed: true };
  } finally {
    release();
  }
}

// --- the file driver of the Registry interface ---------------------------------------------------------------
// The mesh is NET.conf as above (lock, atomic write, symlink rules, 0600 with secrets); its revision is a digest of
// the text, compared under the lock. What nodes publish lives beside it in NET.records.json, join tokens in
// NET.tokens.json (0600), each replaced atomically under its own lock. Watch: fs.watch on the directory wakes a
// comparison of both files, and a poll catches what fs events miss (network file systems).

const digest = (text: string): Revision => createHash("sha256").update(text).digest("hex").slice(0, 32);

interface StoredRecord {
  record: NodeRecord;
  lease?: string;
  expiresAt?: number;
}

const POLL_MS = 250;

export class FileRegistry implements Registry {
  readonly kind = "file" as const;
  readonly location: string;
  private leases = new Map<string, FileLease>();
  constructor(
    readonly dir: string,
    private readonly lockTimeoutMs = 10_000,
  ) {
    this.location = resolve(dir);
  }

  private ref(net: string): MeshRef {
    return meshRef(net, this.dir);
  }
  private side(net: string, what: "records" | "tokens"): string {
    return join(dirname(this.ref(net).path), `${this.ref(net).name}.${what}.json`);
  }
  private readJson<T>(path: string): Record<string, T> {
    const text = readRegularText(path, { what: "registry file" });
    if (text === undefined) return {};
    try {
      const v = JSON.parse(text) as unknown;
      if (typeof v === "object" && v !== null && !Array.isArray(v)) return v as Record<string, T>;
    } catch {
      /* reported below */
    }
    throw new CiabError("invalid", `${path} is not a JSON object`, { where: { file: path }, hint: "it is ciab's: restore it from a backup, or remove it" });
  }
  private updateJson<T>(path: string, secret: boolean, f: (v: Record<string, T>) => void): void {
    const release = acquireLock(path, this.lockTimeoutMs);
    try {
      const v = this.readJson<T>(path);
      f(v);
      replaceFile(path, `${JSON.stringify(v, null, 1)}\n`, { mode: secret ? 0o600 : 0o644, maxMode: secret ? 0o600 : undefined, what: "registry file" });
    } finally {
      release();
    }
  }

  async readMesh(net: string): Promise<MeshText | undefined> {
    const text = readText(this.ref(net));
    return text === undefined ? undefined : { text, revision: digest(text) };
  }

  async writeMesh(net: string, text: string, ifRevision: Revision | undefined, opts: { secret: boolean }): Promise<WriteResult> {
    const ref = this.ref(net);
    const target = replacementTarget(ref.path, "mesh file");
    const release = acquireLock(target, this.lockTimeoutMs);
    try {
      const now = readText(ref);
      const current = now === undefined ? undefined : { text: now, revision: digest(now) };
      if (current?.revision !== ifRevision) return { ok: false, current };
      if (now !== text) writeAtomic(target, text, opts.secret);
      return { ok: true, revision: digest(text) };
    } finally {
      release();
    }
  }

  /** The unexpired records (the file may have been edited by hand: each is checked again). */
  private live(net: string): Omit<RecordSet, "revision"> {
    const now = Date.now();
    const out: Omit<RecordSet, "revision"> = { records: [], refused: [] };
    for (const [node, s] of Object.entries(this.readJson<StoredRecord>(this.side(net, "records")))) {
      if (s?.expiresAt !== undefined && !(s.expiresAt > now)) continue;
      const r = readRecord(s?.record, node);
      if ("record" in r) out.records.push(r.record);
      else out.refused.push(r.problem);
    }
    out.records.sort((a, b) => a.node.localeCompare(b.node));
    return out;
  }

  async records(net: string): Promise<RecordSet> {
    const set = this.live(net);
    return { ...set, revision: digest(JSON.stringify(set)) };
  }

  async publish(net: string, record: NodeRecord, lease?: Lease): Promise<Revision> {
    const valid = parseRecord(record, record.node);
    const l = lease instanceof FileLease ? lease : undefined;
    if (lease && !l) throw new CiabError("invalid", "lease is not a lease of this registry");
    if (l) l.nets.add(net);
    this.updateJson<StoredRecord>(this.side(net, "records"), false, (v) => {
      v[valid.node] = { record: valid, ...(l ? { lease: l.id, expiresAt: Date.now() + l.ttlSeconds * 1000 } : {}) };
    });
    return (await this.records(net)).revision;
  }

  /** Keep-alive or end of a lease: refresh or drop the records published under it. */
  touchLease(l: FileLease, end: boolean): void {
    for (const net of l.nets)
      this.updateJson<StoredRecord>(this.side(net, "records"), false, (v) => {
        for (const [k, s] of Object.entries(v))
          if (s.lease === l.id) {
            if (end) delete v[k];
            else s.expiresAt = Date.now() + l.ttlSeconds * 1000;
          }
      });
  }

  async lease(ttlSeconds: number): Promise<Lease> {
    const l = new FileLease(this, ttlSeconds);
    this.leases.set(l.id, l);
    return l;
  }

  async watch(net: string, fromRevision: Revision | undefined, onEvent: (ev: RegistryEvent) => void, onError: (err: Error) => void): Promise<Watch> {
    let mesh = fromRevision === undefined ? await this.readMesh(net) : undefined;
    let meshRev = fromRevision ?? mesh?.revision;
    let known = new Map((await this.records(net)).records.map((r) => [r.node, JSON.stringify(r)]));
    let busy = false;
    const check = async () => {
      if (busy) return;
      busy = true;
      try {
        mesh = await this.readMesh(net);
        if (mesh?.revision !== meshRev) {
          meshRev = mesh?.revision;
          onEvent({ kind: "mesh", mesh, revision: mesh?.revision ?? "" });
        }
        const now = new Map(this.live(net).records.map((r) => [r.node, JSON.stringify(r)]));
        for (const [node, text] of now)
          if (known.get(node) !== text) onEvent({ kind: "record", node, record: JSON.parse(text) as NodeRecord, revision: digest(text) });
        for (const node of known.keys()) if (!now.has(node)) onEvent({ kind: "record", node, record: undefined, revision: "" });
        known = now;
      } catch (e) {
        onError(e as Error);
      } finally {
        busy = false;
      }
    };
    const timer = setInterval(check, POLL_MS);
    let fsw: FSWatcher | undefined;
    try {
      fsw = watch(dirname(this.ref(net).path), () => void check());
      fsw.on("error", () => undefined);
    } catch {
      /* no fs events here: the poll alone */
    }
    if (fromRevision !== undefined) await check();
    return {
      close: async () => {
        clearInterval(timer);
        fsw?.close();
      },
    };
  }

  async putToken(net: string, id: string, value: string, ttlSeconds: number): Promise<void> {
    this.updateJson<{ value: string; expiresAt: number }>(this.side(net, "tokens"), true, (v) => {
      const now = Date.now();
      for (const [k, t] of Object.entries(v)) if (t.expiresAt <= now) delete v[k];
      v[id] = { value, expiresAt: now + ttlSeconds * 1000 };
    });
  }

  async takeToken(net: string, id: string): Promise<string | undefined> {
    let out: string | undefined;
    this.updateJson<{ value: string; expiresAt: number }>(this.side(net, "tokens"), true, (v) => {
      const t = v[id];
      delete v[id];
      out = t && t.expiresAt > Date.now() ? t.value : undefined;
    });
    return out;
  }

  async close(): Promise<void> {
    for (const l of this.leases.values()) l.stop();
  }
}

class FileLease implements Lease {
  readonly id = randomBytes(8).toString("hex");
  readonly nets = new Set<string>();
  private lost: ((err: Error) => void)[] = [];
  private timer: NodeJS.Timeout;
  constructor(
    private readonly reg: FileRegistry,
    readonly ttlSeconds: number,
  ) {
    // Kept alive by itself (as etcd3's leases are) until revoked or the process ends.
    this.timer = setInterval(() => this.keepAlive().catch((e: Error) => this.fail(e)), (ttlSeconds * 1000) / 3);
    this.timer.unref();
  }
  private fail(err: Error): void {
    this.stop();
    for (const cb of this.lost) cb(err);
  }
  stop(): void {
    clearInterval(this.timer);
  }
  async keepAlive(): Promise<void> {
    this.reg.touchLease(this, false);
  }
  async revoke(): Promise<void> {
    this.stop();
    this.reg.touchLease(this, true);
  }
  onLost(cb: (err: Error) => void): void {
    this.lost.push(cb);
  }
}
