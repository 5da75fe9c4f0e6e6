// Writes rendered bundles to disk. All of a bundle or nothing: files go to a temp directory next to the target,
// which then replaces the old bundle with renames. Secrets keep their 0600/0640 modes from the start.
// No fsync per file: a bundle can always be rendered again, and its manifest's digests reveal a torn copy
// (fsyncing 13 files per node made a 1000-node render take minutes). The mesh file itself is fsynced.
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { CiabError } from "../model/errors.js";
import type { BundleFile } from "../render/bundle.js";

export function writeBundle(dir: string, files: BundleFile[]): void {
  const parent = dirname(dir);
  const tmp = join(parent, `.${basename(dir)}.tmp-${process.pid}`);
  const old = join(parent, `.${basename(dir)}.old-${process.pid}`);
  try {
    mkdirSync(parent, { recursive: true });
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { mode: 0o700 });
    for (const f of files) {
      const path = join(tmp, f.path);
      mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
      const fd = openSync(path, "wx", f.mode);
      writeSync(fd, f.content);
      closeSync(fd);
      chmodSync(path, f.mode); // the umask may have narrowed it
    }
    chmodSync(tmp, 0o755);
    if (existsSync(dir)) renameSync(dir, old);
    renameSync(tmp, dir);
    rmSync(old, { recursive: true, force: true });
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(dir) && existsSync(old)) renameSync(old, dir);
    throw new CiabError("io", `cannot write bundle ${dir}: ${(e as Error).message}`, { cause: e, hint: "check that the output directory is writable" });
  }
}

/**
 * Bundles under `outDir` rendered for `network` whose node is no longer in the mesh (their manifest says so).
 * Only directories with our manifest are considered: anything else in the output directory is left alone.
 */
export function staleBundles(outDir: string, network: string, nodes: Set<string>): string[] {
  let entries: string[];
  try {
    entries = readdirSync(outDir);
  } catch {
    return [];
  }
  return entries.filter((name) => {
    try {
      const m = JSON.parse(readFileSync(join(outDir, name, "manifest.json"), "utf8")) as { ciab?: number; network?: string; node?: string };
      return m.ciab === 1 && m.network === network && typeof m.node === "string" && m.node === name && !nodes.has(m.node);
    } catch {
      return false;
    }
  });
}

export function removeBundle(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
