// The property tier's runner: one real `node dist/ciab.mjs` process per generated case, in a temporary directory of
// its own, and the invariants every run must keep (issue 9, "Bad input"):
//   - the exit code is a documented one (README "Exit codes") and never 1 (an internal bug) or a signal;
//   - a refused command (non-zero exit) leaves the mesh file byte-identical; a command that only reads the mesh
//     (show, showconf, zone, render, key init) never changes it, whatever its exit code;
//   - no lock file, temp file or half-written bundle directory is left behind, and every file or directory the case
//     started with (key files, a user's notes inside out/<node>/, a file where a bundle would go) is left as it was:
//     ciab may add files, never replace or remove what it does not own (issue 9, Build 3);
//   - no private key or PSK of the input (document or argv) appears in stdout or stderr — except the stdout of a
//     successful `showconf` (vwgen's layout prints the node's own private key) and of `show --show-keys`;
//   - no run takes more than 5 s (the process is killed then, and the case fails).
// Cases run concurrently up to the number of cores (at most 2: the machines are shared), so properties declared
// with `it.concurrent` overlap their process start-up costs.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import fc from "fast-check";
import { EXIT } from "../../src/model/errors.js";
import { CLI } from "../helpers/env.js";

export const RUN_LIMIT_MS = 5_000;

/** Exit codes a run may end with: the documented ones, minus the internal-bug code. */
const ALLOWED_EXIT = new Set<number>(Object.values(EXIT).filter((c) => c !== EXIT.internal));

/** Commands that must never change the mesh file, whatever happens. */
const READ_ONLY = new Set(["show", "showconf", "zone", "render", "key"]);

export interface Case {
  /** File name of the mesh file in the case directory, e.g. "ciabmesh.conf". */
  meshFile: string;
  /** Its content (bytes: a case may hold invalid UTF-8); undefined: no mesh file. */
  mesh: Uint8Array | undefined;
  /** Arguments after `ciab`. Paths in them are relative to the case directory (the process's cwd). */
  argv: string[];
  /** Extra files (relative path -> content) and directories (content null) created before the run. */
  files?: Record<string, string | null>;
  /** Secrets the input holds (private keys, PSKs, mistyped keys given on the command line). */
  secrets: string[];
}

export interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  ms: number;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  violations: string[];
}

// --- bounded concurrency -------------------------------------------------------------------------------------

const SLOTS = Math.max(1, Math.min(2, availableParallelism()));
let busy = 0;
const waiting: (() => void)[] = [];

async function slot<T>(fn: () => Promise<T>): Promise<T> {
  if (busy >= SLOTS) await new Promise<void>((r) => waiting.push(r));
  busy++;
  try {
    return await fn();
  } finally {
    busy--;
    waiting.shift()?.();
  }
}

// --- running one case ----------------------------------------------------------------------------------------

const sha = (b: Uint8Array | undefined): string => (b === undefined ? "absent" : createHash("sha256").update(b).digest("hex"));
const read = (p: string): Buffer | undefined => {
  try {
    return readFileSync(p);
  } catch {
    return undefined;
  }
};

/**
 * The generators keep every path inside the case directory; this refuses (as a bug of the test, not of ciab) any
 * argv that could make ciab write elsewhere on this machine: a mesh path, `--out`, `--key-dir` or key file outside
 * the case root, or `key init` without an explicit `--key-dir` (its default is /etc/wireguard).
 */
function assertConfined(root: string, cwd: string, argv: string[]): void {
  const inside = (p: string) => {
    const rel = relative(root, resolve(cwd, p));
    return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
  };
  const bad = (what: string) => {
    throw new Error(`property harness: refusing to run ${JSON.stringify(argv)}: ${what} would leave the case directory`);
  };
  // Conservative: every word that is not an option is taken as a possible path (a mesh name, --out, --key-dir ...).
  for (const a of argv) if (!a.startsWith("-") && !(inside(a) && inside(`${a}.conf`))) bad(`'${a}'`);
  const ki = argv.indexOf("key");
  if (ki >= 0 && argv[ki + 1] === "init") {
    const k = argv.indexOf("--key-dir");
    if (k < 0 || argv.includes("--") || argv.filter((a) => a === "--key-dir").length !== 1) bad("key init without one --key-dir");
    if (!inside(join(argv[k + 1] as string, `${argv[ki + 2] ?? ""}.key`))) bad("the key file");
  }
}

/** Every file under dir, as paths relative to it. */
function walk(dir: string, base = dir): string[] {
  let out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    out.push(relative(base, p));
    if (e.isDirectory()) out = out.concat(walk(p, base));
  }
  return out;
}

/** What the case directory held: path -> "dir" or the file's digest (the mesh file aside: it has its own rules). */
function snapshot(dir: string, meshFile: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const p of walk(dir)) {
    if (p === meshFile) continue;
    const data = read(join(dir, p));
    m.set(p, data === undefined ? "dir" : sha(data));
  }
  return m;
}

function leaks(secrets: string[], text: string): string[] {
  // A secret counts as leaked when 16 characters of it (its start or its end, padding aside) are printed: that
  // catches the whole key, a truncated one and a key quoted back inside a longer message.
  const found: string[] = [];
  for (const s of secrets) {
    const body = s.replace(/=+$/, "").trim();
    if (body.length < 16) continue;
    if (text.includes(body.slice(0, 16)) || text.includes(body.slice(-16))) found.push(s);
  }
  return found;
}

export async function runCase(c: Case): Promise<Outcome> {
  const root = mkdtempSync(join(tmpdir(), "ciab-prop-"));
  // Two levels deep, so that a network argument "../x" still lands inside the case root.
  const cwd = join(root, "a", "w");
  mkdirSync(cwd, { recursive: true });
  try {
    assertConfined(root, cwd, c.argv);
    const meshPath = join(cwd, c.meshFile);
    if (c.mesh !== undefined) {
      writeFileSync(meshPath, c.mesh);
      chmodSync(meshPath, 0o600);
    }
    for (const [p, content] of Object.entries(c.files ?? {})) {
      const full = join(cwd, p);
      if (content === null) mkdirSync(full, { recursive: true });
      else {
        mkdirSync(dirname(full), { recursive: true });
        writeFileSync(full, content, { mode: 0o600 });
      }
    }
    const before = sha(read(meshPath));
    const foreign = snapshot(cwd, c.meshFile);
    const r = await slot(() => spawnCli(c.argv, cwd));
    const after = sha(read(meshPath));
    const v: string[] = [];
    if (r.timedOut) v.push(`took longer than ${RUN_LIMIT_MS} ms (killed)`);
    else if (r.code === null) v.push(`died of signal ${r.signal}`);
    else if (!ALLOWED_EXIT.has(r.code)) v.push(`exit code ${r.code} is ${r.code === EXIT.internal ? "the internal-bug code" : "not documented"}`);
    if (r.ms > RUN_LIMIT_MS && !r.timedOut) v.push(`took ${r.ms} ms (limit ${RUN_LIMIT_MS})`);
    const cmd = c.argv.find((a) => !a.startsWith("-")) ?? "";
    // add/del/blacklist apply the valid part of their arguments as vwgen does (issue 10), then exit 3/4/5 naming the
    // rest: a changed file is expected there; every other refusal must leave the file byte-identical.
    const partial = ["add", "del", "blacklist"].includes(cmd) && [EXIT.notFound, EXIT.invalid, EXIT.conflict].includes(r.code as 3 | 4 | 5);
    if (r.code !== 0 && before !== after && !partial) v.push(`refused (exit ${r.code}) but the mesh file changed`);
    else if (READ_ONLY.has(cmd) && before !== after) v.push(`'${cmd}' only reads the mesh, but the mesh file changed`);
    const now = snapshot(cwd, c.meshFile);
    const touched = [...foreign].filter(([p, d]) => now.get(p) !== d).map(([p]) => p);
    if (touched.length) v.push(`changed or removed files it does not own: ${touched.join(", ")}`);
    const left = walk(root).filter((p) => /\.lock$|\.tmp-\d+$|\.old-\d+$/.test(p));
    if (left.length) v.push(`left behind: ${left.join(", ")}`);
    const showsKeys = r.code === 0 && (cmd === "showconf" || (cmd === "show" && c.argv.includes("--show-keys")));
    const leaked = [...leaks(c.secrets, r.stderr), ...(showsKeys ? [] : leaks(c.secrets, r.stdout))];
    if (leaked.length) v.push(`printed a secret of the input: ${[...new Set(leaked)].map((s) => `${s.slice(0, 6)}…`).join(", ")}`);
    return { ...r, violations: v };
  } finally {
    if (!process.env.CIAB_PROP_KEEP) rmSync(root, { recursive: true, force: true });
    else if (existsSync(root)) process.stderr.write(`kept ${root}\n`);
  }
}

function spawnCli(argv: string[], cwd: string): Promise<Omit<Outcome, "violations">> {
  return new Promise((done) => {
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1", CIAB_INSECURE_TEST_SEED: "property-tier" };
    delete env.CIAB_DIR;
    const t0 = Date.now();
    const p = spawn(process.execPath, [CLI, ...argv], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on("data", (b: Buffer) => out.push(b));
    p.stderr.on("data", (b: Buffer) => err.push(b));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      p.kill("SIGKILL"); // the child only: it is our own process, known by its handle
    }, RUN_LIMIT_MS);
    p.on("close", (code, signal) => {
      clearTimeout(timer);
      done({
        code,
        signal,
        ms: Date.now() - t0,
        timedOut,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      });
    });
  });
}

// --- the property wrapper ------------------------------------------------------------------------------------

/** Fixed seed in CI (reproducible), random locally; CIAB_PROP_SEED replays a reported one. */
export const SEED = process.env.CIAB_PROP_SEED ? Number(process.env.CIAB_PROP_SEED) : process.env.CI ? 20_250_901 : Date.now() ^ (Math.random() * 0x7fffffff);

/** CIAB_PROP_SCALE multiplies the runs and the time budget (e.g. 10 for a long local hunt). */
const SCALE = Number(process.env.CIAB_PROP_SCALE ?? 1);
export const runs = (n: number): number => Math.max(1, Math.round(n * SCALE));

/**
 * Time a property may take before fast-check stops (also while shrinking: the smallest case so far is reported).
 * The normal run needs about a third of it; the rest is for shrinking a failure.
 */
export const PROPERTY_BUDGET_MS = 40_000 * SCALE;
/** vitest's timeout for one property: the budget plus the runs still in flight when it ends. */
export const TEST_TIMEOUT_MS = PROPERTY_BUDGET_MS + 3 * RUN_LIMIT_MS;

export function describeCase(c: Case, o: Outcome): string {
  const text = c.mesh === undefined ? "(no mesh file)" : Buffer.from(c.mesh).toString("utf8");
  return [
    `argv: ciab ${c.argv.map((a) => JSON.stringify(a)).join(" ")}`,
    `mesh file ${c.meshFile}: ${JSON.stringify(text)}`,
    ...(c.files ? [`files: ${JSON.stringify(c.files)}`] : []),
    `exit ${o.code ?? o.signal} after ${o.ms} ms`,
    `stdout: ${JSON.stringify(o.stdout.slice(0, 600))}`,
    `stderr: ${JSON.stringify(o.stderr.slice(0, 600))}`,
  ].join("\n");
}

/**
 * Check a property whose generated value builds one case. On failure fast-check prints the seed, the path and the
 * shrunk counterexample; the error message carries the case (document, argv, output) and the broken invariants.
 * Hunting aids: CIAB_PROP_EXPLORE=<file> records every violating case (JSON lines) instead of failing;
 * CIAB_PROP_TRACE=<file> records every run's exit code and error line (is the generator reaching deep enough?).
 */
export async function checkProperty<T>(arb: fc.Arbitrary<T>, build: (value: T) => Case, numRuns: number): Promise<void> {
  const explore = process.env.CIAB_PROP_EXPLORE;
  await fc.assert(
    fc.asyncProperty(arb, async (value) => {
      const c = build(value);
      const o = await runCase(c);
      if (process.env.CIAB_PROP_TRACE) {
        const line = { code: o.code, ms: o.ms, argv: c.argv, err: o.stderr.split("\n").find((l) => l.startsWith("ciab: error")) ?? "" };
        writeFileSync(process.env.CIAB_PROP_TRACE, `${JSON.stringify(line)}\n`, { flag: "a" });
      }
      if (o.violations.length === 0) return;
      if (explore) {
        writeFileSync(explore, `${JSON.stringify({ violations: o.violations, value, argv: c.argv, case: describeCase(c, o) })}\n`, { flag: "a" });
        return;
      }
      throw new Error(`${o.violations.join("; ")}\n${describeCase(c, o)}\nreplay: CIAB_PROP_SEED=${SEED} npx vitest run test/property`);
    }),
    { seed: SEED, numRuns, interruptAfterTimeLimit: PROPERTY_BUDGET_MS, markInterruptAsFailure: false },
  );
}
