// Streams every bundle of `ciab render` to its temp directory (adapters/bundle-fs.ts), on both cores when it pays:
// this thread and a worker thread take the nodes one at a time from a shared counter (so a thread slowed by other
// work on the machine just takes fewer), both from the same Mesh (plain
// data: it crosses the thread boundary by structured cloning, so the worker neither parses nor derives keys again;
// it builds its own topology, O(nodes)).
// Each bundle is rendered, written and dropped before the next, so memory holds one bundle per thread, not all.
// Only the caller commits (renames) the temp directories, once every slice is complete: all or nothing.
import { existsSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { type BundleTarget, sameBundle, writeBundleTree } from "../adapters/bundle-fs.js";
import { CiabError, type ErrorCode, type ErrorDetails } from "../model/errors.js";
import type { Mesh } from "../model/mesh.js";
import { type Topology, topology } from "../model/topology.js";
import { type BundleFile, bundleParts } from "../render/bundle.js";

/** What a worker needs: the mesh, where each bundle goes, and the counter both threads claim bundles from. */
export interface RenderJob {
  mesh: Mesh;
  meshDigest: string;
  jobs: Job[];
  /** Int32Array over a SharedArrayBuffer: [the index of the next unclaimed job, how many are written]. */
  next: Int32Array;
}

/** A worker's error as data: a CiabError's fields, or a system error's errno (ENOSPC), so the caller can name it. */
interface ErrorData {
  ciab?: { code: ErrorCode; hint?: string; where?: ErrorDetails["where"] };
  errno?: string;
  syscall?: string;
  message: string;
  stack?: string;
}

/** One bundle to render: its node, its temp directory, and where its old copy (if any) is. */
type Job = { node: string; tmp: string; dir: string };

/** What a bundle came to: its file paths, its bytes, and whether it differs from the copy it replaces. */
export interface BundleResult {
  files: string[];
  bytes: number;
  changed: boolean;
}

/** Each bundle a thread rendered: its job's index and its result. */
type Rendered = [number, BundleResult][];

/** A worker's answer: the bundles it rendered, or the error. */
export type RenderReply = { ok: true; files: Rendered } | { ok: false; error: ErrorData };

const toData = (e: unknown): ErrorData => {
  const sys = e as NodeJS.ErrnoException;
  return {
    ...(e instanceof CiabError ? { ciab: { code: e.code, hint: e.hint, where: e.where } } : {}),
    ...(typeof sys?.code === "string" && !(e instanceof CiabError) ? { errno: sys.code, syscall: sys.syscall } : {}),
    message: e instanceof Error ? e.message : String(e),
    stack: e instanceof Error ? e.stack : undefined,
  };
};

const fromData = (d: ErrorData): Error => {
  const e = d.ciab
    ? new CiabError(d.ciab.code, d.message, { hint: d.ciab.hint, where: d.ciab.where })
    : Object.assign(new Error(d.message), d.errno ? { code: d.errno, syscall: d.syscall } : {});
  if (d.stack) e.stack = d.stack;
  return e;
};

/** Below this many nodes a second thread costs more (start-up, parsing the mesh again) than it saves. */
const PARALLEL_FROM = 200;

/**
 * Render and write, in this thread, every job it claims from `next` until none is left; returns each one's index
 * and file paths. On an error it marks every job claimed, so the other thread stops after its current bundle.
 */
export function renderClaimed(t: Topology, meshDigest: string, jobs: Job[], next: Int32Array, onBundle?: () => void): Rendered {
  const render = bundleParts(t, meshDigest);
  const done: Rendered = [];
  try {
    for (let i = Atomics.add(next, 0, 1); i < jobs.length; i = Atomics.add(next, 0, 1)) {
      const job = jobs[i] as (typeof jobs)[number];
      const parts = render(t.node(job.node));
      // The manifest is made last, from the digests of the bytes just written (each file encoded and hashed once).
      let manifest: BundleFile | undefined;
      const bytes = writeBundleTree(job.tmp, parts.files, (sha256s) => {
        manifest = parts.manifest(sha256s);
        return manifest;
      });
      const paths = [...parts.files.map((f) => f.path), "manifest.json"];
      done.push([i, { files: paths, bytes, changed: !sameBundle(job.dir, manifest?.content ?? "") }]);
      Atomics.add(next, 1, 1);
      onBundle?.();
    }
  } catch (e) {
    Atomics.store(next, 0, jobs.length);
    throw e;
  }
  return done;
}

const counter = (): Int32Array => new Int32Array(new SharedArrayBuffer(8));

/** The worker's side: the topology of the cloned mesh, then the slice. */
export function runJob(job: RenderJob): RenderReply {
  try {
    return { ok: true, files: renderClaimed(topology(job.mesh), job.meshDigest, job.jobs, job.next) };
  } catch (e) {
    return { ok: false, error: toData(e) };
  }
}

/** The worker script beside the running bundle (dist/render-worker.mjs); absent when running from sources. */
function workerScript(): string | undefined {
  // The CLI runs as a CommonJS bundle (dist/ciab.cjs, started by boot.ts), where import.meta is empty: its
  // __filename says where it is. From sources (tests) it is an ES module.
  const here = typeof __filename === "string" ? pathToFileURL(__filename).href : import.meta.url;
  const url = new URL("./render-worker.mjs", here);
  if (url.protocol !== "file:") return undefined;
  const path = fileURLToPath(url);
  return existsSync(path) ? path : undefined;
}

function inWorker(script: string, job: RenderJob): Promise<Rendered> {
  return new Promise((resolve, reject) => {
    const w = new Worker(script, { workerData: job });
    let done = false;
    w.once("message", (r: RenderReply) => {
      done = true;
      if (r.ok) resolve(r.files);
      else reject(fromData(r.error));
    });
    w.once("error", (e) => {
      done = true;
      reject(e);
    });
    w.once("exit", (code) => {
      if (!done) reject(new CiabError("internal", `the render worker exited (${code}) without an answer`));
    });
  });
}

/**
 * Render every target's bundle into its temp directory. `CIAB_RENDER_THREADS` (1 or 2) overrides the choice; the
 * default uses a second thread for large meshes on a machine with more than one core. `progress` hears how many
 * bundles both threads have written, after each of this thread's and every 100 ms while it waits for the worker.
 */
export async function renderBundlesTo(
  t: Topology,
  meshDigest: string,
  targets: BundleTarget[],
  progress: (written: number, of: number) => void = () => {},
): Promise<BundleResult[]> {
  const jobs = targets.map((x) => ({ node: x.node, tmp: x.tmp, dir: x.dir }));
  const want = Number(process.env.CIAB_RENDER_THREADS ?? (jobs.length >= PARALLEL_FROM && cpus().length > 1 ? 2 : 1));
  const script = want > 1 ? workerScript() : undefined;
  const next = counter();
  const tell = () => progress(Atomics.load(next, 1), jobs.length);
  if (!script) return renderClaimed(t, meshDigest, jobs, next, tell).map(([, r]) => r);
  // The worker starts (loads the code, builds its topology) before it claims its first bundle; this thread starts
  // at once, so the split follows what each thread manages, not a fixed share.
  const other = inWorker(script, { mesh: t.mesh, meshDigest, jobs, next });
  let mine: Rendered;
  try {
    mine = renderClaimed(t, meshDigest, jobs, next, tell);
  } catch (e) {
    await other.catch(() => undefined); // let it finish before the caller removes the temp directories
    throw e;
  }
  const ticker = setInterval(tell, 100);
  const theirs = await other.finally(() => clearInterval(ticker));
  const byJob: BundleResult[] = new Array(jobs.length);
  for (const [i, r] of [...mine, ...theirs]) byJob[i] = r;
  return byJob;
}
