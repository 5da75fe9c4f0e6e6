// Streams every bundle of `ciab render` to its temp directory (adapters/bundle-fs.ts), on both cores when it pays:
// this thread renders one slice of the nodes while a worker thread renders the other from the same Mesh (plain
// data: it crosses the thread boundary by structured cloning, so the worker neither parses nor derives keys again;
// it builds its own topology, O(nodes)).
// Each bundle is rendered, written and dropped before the next, so memory holds one bundle per thread, not all.
// Only the caller commits (renames) the temp directories, once every slice is complete: all or nothing.
import { existsSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { type BundleTarget, writeBundleTree } from "../adapters/bundle-fs.js";
import { CiabError, type ErrorCode, type ErrorDetails } from "../model/errors.js";
import type { Mesh } from "../model/mesh.js";
import { type Topology, topology } from "../model/topology.js";
import { bundleRenderer } from "../render/bundle.js";

/** What a worker needs to render its slice: the mesh, and where each of its bundles goes. */
export interface RenderJob {
  mesh: Mesh;
  meshDigest: string;
  jobs: { node: string; tmp: string }[];
}

/** A worker's error as data: a CiabError's fields, or a system error's errno (ENOSPC), so the caller can name it. */
interface ErrorData {
  ciab?: { code: ErrorCode; hint?: string; where?: ErrorDetails["where"] };
  errno?: string;
  syscall?: string;
  message: string;
  stack?: string;
}

/** A worker's answer: each bundle's file paths, or the error. */
export type RenderReply = { ok: true; files: string[][] } | { ok: false; error: ErrorData };

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

/** Render and write one slice in this thread; returns each bundle's file paths. */
export function renderSlice(t: Topology, meshDigest: string, jobs: { node: string; tmp: string }[]): string[][] {
  const render = bundleRenderer(t, meshDigest);
  return jobs.map((j) => {
    const files = render(t.node(j.node));
    writeBundleTree(j.tmp, files);
    return files.map((f) => f.path);
  });
}

/** The worker's side: the topology of the cloned mesh, then the slice. */
export function runJob(job: RenderJob): RenderReply {
  try {
    return { ok: true, files: renderSlice(topology(job.mesh), job.meshDigest, job.jobs) };
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

function inWorker(script: string, job: RenderJob): Promise<string[][]> {
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
 * default uses a second thread for large meshes on a machine with more than one core.
 */
export async function renderBundlesTo(t: Topology, meshDigest: string, targets: BundleTarget[]): Promise<string[][]> {
  const jobs = targets.map((x) => ({ node: x.node, tmp: x.tmp }));
  const want = Number(process.env.CIAB_RENDER_THREADS ?? (jobs.length >= PARALLEL_FROM && cpus().length > 1 ? 2 : 1));
  const script = want > 1 ? workerScript() : undefined;
  if (!script) return renderSlice(t, meshDigest, jobs);
  // The worker starts (loads the code, builds its topology) before it renders, so it takes the smaller share.
  const mine = Math.ceil(jobs.length * 0.52);
  const other = inWorker(script, { mesh: t.mesh, meshDigest, jobs: jobs.slice(mine) });
  let first: string[][];
  try {
    first = renderSlice(t, meshDigest, jobs.slice(0, mine));
  } catch (e) {
    await other.catch(() => undefined); // let it finish before the caller removes the temp directories
    throw e;
  }
  return [...first, ...(await other)];
}
