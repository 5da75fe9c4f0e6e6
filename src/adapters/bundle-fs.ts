// Writes rendered bundles to disk, touching only what ciab owns (README "The bundle"):
// - everything is written under `--out`, one directory per node named after it; nothing outside, ever;
// - an existing node directory is replaced only when its manifest.json says ciab rendered it for this network and
//   node, and it holds nothing but the files that manifest lists (a user's notes.txt makes us refuse, naming it,
//   rather than delete it); anything else at that name (a file, a link, a foreign directory) is refused by name;
// - all or nothing across nodes: every bundle is written to a temp directory first; only when all are complete are
//   they renamed into place, so a full disk leaves every old bundle as it was (and exit 6 naming ENOSPC). Bundles
//   may be streamed: planBundles refuses every target before anything is written, writeBundleTree writes one
//   bundle's temp directory (from any thread), then commitBundles renames them all, or abortBundles removes them.
// No fsync per file: a bundle can always be rendered again, and its manifest's digests reveal a torn copy
// (fsyncing 13 files per node made a 1000-node render take minutes). --out is fsynced once, after the renames.
// The mesh file itself is fsynced.
import { createHash } from "node:crypto";
import { chmodSync, closeSync, constants, fchmodSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, type Stats } from "node:fs";
import { basename, dirname, isAbsolute, join, normalize, relative, resolve, sep } from "node:path";
import { CiabError, conflict, invalid } from "../model/errors.js";
import type { BundleFile } from "../render/bundle.js";
import { fsyncDir, ioError, kindOf, lstatOrUndefined, makeDirs, pidAlive, pseudoFileSystem, readRegularText, writeAll } from "./files.js";

export interface BundleToWrite {
  node: string;
  files: BundleFile[];
  /** The directory's name under outDir (default: the node's name). */
  dirName?: string;
}

export interface WriteOptions {
  network: string;
  /** Paths that must never be replaced or removed, whatever the node names (the mesh file and its lock). */
  protect?: string[];
}

/** A node name as one path component: never empty, `.`, `..`, or holding a separator. */
function componentName(node: string): string {
  if (node === "" || node === "." || node === ".." || node.includes("/") || node.includes("\0")) {
    throw invalid(`node name '${node}' cannot be a bundle directory name (it would leave --out)`, { where: { node } });
  }
  return node;
}

/** Check `--out`: a directory (or nothing yet) on a real file system; create it. Returns its absolute path. */
export function prepareOutDir(outDir: string): string {
  if (outDir.trim() === "") throw invalid("--out: the output directory must not be empty", { hint: "give a directory, e.g. --out bundles" });
  const abs = resolve(outDir);
  const fs = pseudoFileSystem(abs);
  if (fs) {
    throw invalid(`--out ${abs} is on the ${fs} pseudo file system; bundles go on a real disk`, { hint: "choose another --out directory" });
  }
  const st = lstatOrUndefined(abs);
  if (st && !st.isDirectory() && !(st.isSymbolicLink() && lstatOrUndefined(`${abs}/.`)?.isDirectory())) {
    throw conflict(`--out ${abs} is ${kindOf(st)}, not a directory`, { hint: "choose a directory (it is created when missing)" });
  }
  makeDirs(abs);
  return abs;
}

interface Manifest {
  ciab?: unknown;
  network?: unknown;
  node?: unknown;
  files?: unknown;
}

/** Why `dir` is not a bundle ciab may replace or remove for `network`/`node`; undefined when it is one. */
export function notOurs(dir: string, network: string, node: string): string | undefined {
  const st = lstatOrUndefined(dir);
  if (st === undefined) return undefined;
  if (!st.isDirectory()) return `it is ${kindOf(st)}, not a bundle directory`;
  let m: Manifest;
  try {
    const text = readRegularText(join(dir, "manifest.json"), { follow: false, maxBytes: 4 * 1024 * 1024, what: "manifest" });
    if (text === undefined) return "it has no manifest.json (ciab did not render it)";
    m = JSON.parse(text) as Manifest;
  } catch (e) {
    return `its manifest.json is unreadable (${e instanceof Error ? e.message : String(e)})`;
  }
  if (m === null || typeof m !== "object" || m.ciab !== 1) return "its manifest.json is not a ciab manifest";
  if (m.network !== network || m.node !== node) {
    return `its manifest.json says it is node '${String(m.node)}' of network '${String(m.network)}', not node '${node}' of '${network}'`;
  }
  const listed = new Set<string>(["manifest.json"]);
  if (Array.isArray(m.files)) {
    for (const f of m.files) {
      const p = (f as { path?: unknown } | null)?.path;
      if (typeof p === "string") listed.add(normalize(p));
    }
  }
  const dirs = new Set<string>();
  for (const p of listed) for (let d = dirname(p); d !== "." && d !== "/" && !dirs.has(d); d = dirname(d)) dirs.add(d);
  const foreign: string[] = [];
  const walk = (rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(join(dir, rel));
    } catch (e) {
      foreign.push(`${rel || "."} (${(e as Error).message})`);
      return;
    }
    for (const name of names.sort()) {
      const r = rel ? join(rel, name) : name;
      const s = lstatOrUndefined(join(dir, r)) as Stats;
      if (s?.isDirectory() && dirs.has(r)) walk(r);
      else if (!(s?.isFile() && listed.has(r))) foreign.push(s?.isDirectory() ? `${r}/` : r);
    }
  };
  walk("");
  if (foreign.length) {
    const shown = foreign.slice(0, 5).join(", ") + (foreign.length > 5 ? ` and ${foreign.length - 5} more` : "");
    return `it holds files ciab did not write (${shown})`;
  }
  return undefined;
}

/** Temp (`.NODE.tmp-PID`) and old (`.NODE.old-PID`) directories of renders that died (kill -9) in `outDir`. */
function removeDeadRenders(outDir: string): void {
  let names: string[];
  try {
    names = readdirSync(outDir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^\..+\.(?:tmp|old)-(\d+)$/.exec(name);
    if (!m || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
    const p = join(outDir, name);
    if (lstatOrUndefined(p)?.isDirectory() && lstatOrUndefined(join(p, "manifest.json")) !== undefined) rmSync(p, { recursive: true, force: true });
  }
}

const inside = (parent: string, child: string): boolean => {
  const r = relative(parent, child);
  return r === "" || (!r.startsWith("..") && !isAbsolute(r));
};

/**
 * Write one bundle into its (new) temp directory: 0700 while being written, 0755 when complete. Returns its bytes.
 * With `last`, the final file is made from the SHA-256s of `files` (the manifest, render/bundle.ts BundleParts):
 * each file is hashed from the very bytes written (encoded once), unless its renderer already knew its digest.
 */
export function writeBundleTree(tmp: string, files: BundleFile[], last?: (sha256s: string[]) => BundleFile): number {
  try {
    mkdirSync(tmp, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    rmSync(tmp, { recursive: true, force: true }); // left by this process (same PID): start it again
    mkdirSync(tmp, { mode: 0o700 });
  }
  const made = new Set<string>([tmp]);
  let bytes = 0;
  const sha256s: string[] = [];
  const write = (f: BundleFile): void => {
    const rel = normalize(f.path);
    if (isAbsolute(rel) || rel === ".." || rel.startsWith(`..${sep}`)) throw new CiabError("internal", `bundle file path '${f.path}' leaves the bundle`);
    const path = join(tmp, rel);
    const dir = dirname(path);
    if (!made.has(dir)) {
      // One level below a directory made here (the common case): one mkdir, no walk up the path.
      if (made.has(dirname(dir))) mkdirSync(dir, { mode: 0o755 });
      else makeDirs(dir);
      made.add(dir);
    }
    const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, f.mode);
    try {
      fchmodSync(fd, f.mode); // the umask may have narrowed it; secrets are 0600 from the first byte
      const data = encoded(f.content);
      if (last) sha256s.push(f.sha256 ?? createHash("sha256").update(data).digest("hex"));
      writeAll(fd, data);
      bytes += data.length;
    } finally {
      closeSync(fd);
    }
  };
  for (const f of files) write(f);
  if (last) write(last(sha256s));
  chmodSync(tmp, 0o755); // 0700 while being written: nobody reads a half bundle
  return bytes;
}

/**
 * Whether the bundle in `dir` holds the same files as the new manifest lists (paths, modes, SHA-256; the mesh
 * digest and the rest of the manifest aside): render's "N changed". A missing or unreadable old one is a change.
 */
export function sameBundle(dir: string, manifest: string): boolean {
  try {
    const old = readRegularText(join(dir, "manifest.json"), { follow: false, maxBytes: 4 * 1024 * 1024, what: "manifest" });
    if (old === undefined) return false;
    const files = (text: string) => JSON.stringify((JSON.parse(text) as Manifest).files);
    return files(old) === files(manifest);
  } catch {
    return false;
  }
}

// One scratch buffer per thread for the UTF-8 bytes of the file being written: a fresh Buffer per file (800 MiB for
// a 1000-node mesh) cost a page fault for every page of every file.
let scratch = Buffer.allocUnsafe(1 << 20);

/** The UTF-8 bytes of `text`, in the scratch buffer (valid until the next call). */
function encoded(text: string): Uint8Array {
  if (text.length * 3 > scratch.length) scratch = Buffer.allocUnsafe(Math.max(text.length * 3, scratch.length * 2));
  const n = scratch.write(text, 0, "utf8");
  return scratch.subarray(0, n);
}

/** Where one bundle goes: its directory, and the temp and old names used while it is replaced. */
export interface BundleTarget {
  node: string;
  dir: string;
  tmp: string;
  old: string;
}

/**
 * Check every bundle's target under `outDir` (already checked by prepareOutDir) before anything is written:
 * refuses any node directory ciab does not own, and any that would replace a protected path.
 */
export function planBundles(outDir: string, bundles: Omit<BundleToWrite, "files">[], opts: WriteOptions): BundleTarget[] {
  const protect = (opts.protect ?? []).map((p) => resolve(p));
  const targets = bundles.map((b) => {
    const name = componentName(b.dirName ?? b.node);
    const dir = join(outDir, name);
    for (const p of protect) {
      if (inside(dir, p)) {
        throw conflict(`cannot render node '${b.node}' to ${dir}: that would replace ${p}`, {
          where: { node: b.node, file: dir },
          hint: "render into another --out directory",
        });
      }
    }
    const why = notOurs(dir, opts.network, b.node);
    if (why) {
      throw conflict(`cannot render node '${b.node}': ${dir} already exists and ${why}; it was left untouched`, {
        where: { node: b.node, file: dir },
        hint: "move it away, or render into another --out directory",
      });
    }
    return { node: b.node, dir, tmp: join(outDir, `.${name}.tmp-${process.pid}`), old: join(outDir, `.${name}.old-${process.pid}`) };
  });
  removeDeadRenders(outDir);
  return targets;
}

/** Remove the temp directories of a render that failed: every old bundle stays as it was. */
export function abortBundles(targets: BundleTarget[]): void {
  for (const t of targets) rmSync(t.tmp, { recursive: true, force: true });
}

/** The error of a failed bundle write, after removing every temp directory. */
export function bundleWriteError(outDir: string, targets: BundleTarget[], e: unknown): CiabError {
  abortBundles(targets);
  return ioError(`cannot write the bundles in ${outDir}; existing bundles were left unchanged`, e, "check that the output directory is writable");
}

/** Every bundle's temp directory is complete: rename them into place (old ones away first), then fsync --out once. */
export function commitBundles(outDir: string, targets: BundleTarget[]): void {
  for (const t of targets) {
    const existed = lstatOrUndefined(t.dir) !== undefined;
    try {
      if (existed) renameSync(t.dir, t.old);
      renameSync(t.tmp, t.dir);
    } catch (e) {
      if (existed && lstatOrUndefined(t.dir) === undefined && lstatOrUndefined(t.old) !== undefined) renameSync(t.old, t.dir);
      abortBundles(targets);
      throw ioError(`cannot replace bundle ${t.dir}`, e);
    }
    if (existed) rmSync(t.old, { recursive: true, force: true });
  }
  fsyncDir(outDir);
}

/**
 * Write every bundle under `outDir` (already checked by prepareOutDir), all or nothing: refuses, before writing
 * anything, any node directory ciab does not own.
 */
export function writeBundles(outDir: string, bundles: BundleToWrite[], opts: WriteOptions): void {
  const targets = planBundles(outDir, bundles, opts);
  try {
    bundles.forEach((b, i) => writeBundleTree((targets[i] as BundleTarget).tmp, b.files));
  } catch (e) {
    throw bundleWriteError(outDir, targets, e);
  }
  commitBundles(outDir, targets);
}

/** One bundle into `dir` (any name, e.g. the lab's `<node>/bundle`); network and node come from its manifest. */
export function writeBundle(dir: string, files: BundleFile[]): void {
  const out = prepareOutDir(dirname(resolve(dir)));
  const m = JSON.parse(files.find((f) => f.path === "manifest.json")?.content ?? "{}") as Manifest;
  if (typeof m.network !== "string" || typeof m.node !== "string") throw new CiabError("internal", "bundle without a manifest");
  writeBundles(out, [{ node: m.node, dirName: basename(resolve(dir)), files }], { network: m.network });
}

/**
 * Bundles under `outDir` rendered for `network` whose node is no longer in the mesh (their manifest says so):
 * `remove` are safe to delete; `kept` hold files ciab did not write, and are left alone with the reason.
 * Only directories with our manifest are considered: anything else in the output directory is left alone.
 */
export function staleBundles(outDir: string, network: string, nodes: Set<string>): { remove: string[]; kept: { name: string; why: string }[] } {
  let entries: string[];
  try {
    entries = readdirSync(outDir);
  } catch {
    return { remove: [], kept: [] };
  }
  const remove: string[] = [];
  const kept: { name: string; why: string }[] = [];
  for (const name of entries.sort()) {
    if (nodes.has(name) || name.startsWith(".")) continue;
    const dir = join(outDir, name);
    if (!lstatOrUndefined(dir)?.isDirectory()) continue;
    let m: Manifest;
    try {
      const text = readRegularText(join(dir, "manifest.json"), { follow: false, maxBytes: 4 * 1024 * 1024, what: "manifest" });
      if (text === undefined) continue;
      m = JSON.parse(text) as Manifest;
    } catch {
      continue;
    }
    if (m?.ciab !== 1 || m.network !== network || m.node !== name) continue;
    const why = notOurs(dir, network, name);
    if (why) kept.push({ name, why });
    else remove.push(name);
  }
  return { remove, kept };
}

export function removeBundle(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
