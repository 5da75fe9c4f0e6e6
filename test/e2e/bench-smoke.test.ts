// The benchmarks still run (issue 11): one short round of every part of `node bench/run.mjs` (tiny sizes, one run,
// failover --quick with one setting and one fault), writing into a temporary results directory (BENCH_RESULTS_DIR)
// so the committed bench/RESULTS.md is never touched. Each part must exit 0 and leave its result file with rows;
// the numbers themselves are not judged here (bench/RESULTS.md is where targets are met or missed). The bench's
// preflight installs what is missing (scripts/install-deps.sh) or names it. About 2-3 minutes. Skips unless root
// with wireguard-go and FRR; the control part (etcd and agent processes on loopback, no lab) needs only etcd.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { etcdMissing } from "../helpers/etcd.js";
import { labReady } from "../helpers/lab.js";

const ROOT = join(import.meta.dirname, "..", "..");
const committed = join(ROOT, "bench", "RESULTS.md");

/** One short round of each part: the environment that makes it small. */
const PARTS: [string, Record<string, string>, string[]][] = [
  ["render", { BENCH_RENDER_SIZES: "10" }, []],
  ["convergence", { BENCH_SIZES: "3x1x4", BENCH_RUNS: "1" }, []],
  ["failover", { BENCH_FAILOVER_SETTINGS: "ciab", BENCH_FAILOVER_FAULTS: "link", BENCH_FAILOVER_REPS: "1" }, ["--quick"]],
  ["dataplane", { BENCH_DP_REPS: "1", BENCH_DP_SECONDS: "1" }, []],
  ["mtu", { BENCH_MTU_UNDERLAYS: "4", BENCH_MTU_SECONDS: "1" }, []],
];

function bench(args: string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    // Its own process group: the bench handles Ctrl-C itself (tears its labs down).
    const child = spawn(process.execPath, [join(ROOT, "bench", "run.mjs"), ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
    const err: Buffer[] = [];
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("close", (code) => resolve({ code, stderr: Buffer.concat(err).toString("utf8") }));
  });
}

const snapshot = () => (existsSync(committed) ? { text: readFileSync(committed, "utf8"), mtime: statSync(committed).mtimeMs } : undefined);

/** Runs one part into `out`; it must exit 0, write its result file with rows and its RESULTS.md section. */
async function smoke(out: string, before: ReturnType<typeof snapshot>, part: string, env: Record<string, string>, flags: string[]) {
  const r = await bench([part, ...flags], { ...env, BENCH_RESULTS_DIR: out });
  expect(r.code, r.stderr.split("\n").slice(-15).join("\n")).toBe(0);
  const result = JSON.parse(readFileSync(join(out, "results", `${part}.json`), "utf8"));
  expect(result.part).toBe(part);
  expect(result.result.rows.length).toBeGreaterThan(0);
  expect(readFileSync(join(out, "RESULTS.md"), "utf8")).toContain(`## ${part}`);
  // The committed results stay as they were.
  if (before) {
    expect(readFileSync(committed, "utf8")).toBe(before.text);
    expect(statSync(committed).mtimeMs).toBe(before.mtime);
  }
  return result;
}

describe.skipIf(!labReady())("bench smoke: one short round of every part", () => {
  const out = mkdtempSync(join(tmpdir(), "ciab-bench-smoke-"));
  const before = snapshot();
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it.each(PARTS)("%s", async (part, env, flags) => void (await smoke(out, before, part, env, flags)), 240_000);

  it("an unknown part is refused with the list of parts", async () => {
    const r = await bench(["nosuchpart"], { BENCH_RESULTS_DIR: out });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("unknown part 'nosuchpart'; parts: render, convergence, failover, dataplane, mtu");
  });
});

describe.skipIf(!!etcdMissing)("bench smoke: control (etcd on loopback, agents --dry-run)", () => {
  const out = mkdtempSync(join(tmpdir(), "ciab-bench-smoke-control-"));
  // The part's own TMPDIR: etcd's data, the mesh and every agent's --state-dir live there, so afterwards the
  // directory must be empty and no process may still name it on its command line.
  const tmp = mkdtempSync(join(tmpdir(), "ciab-bench-smoke-tmp-"));
  const before = snapshot();
  afterAll(() => {
    rmSync(out, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  });

  it("20 nodes, 5 agents, one change: every agent reports it, and nothing it started is left", async () => {
    const result = await smoke(out, before, "control", { BENCH_CONTROL_SIZES: "20", BENCH_CONTROL_AGENTS: "5", BENCH_RUNS: "1", TMPDIR: tmp }, []);
    const row = result.result.rows[0];
    expect(row).toMatchObject({ nodes: 20, agents: 5, changes: 1, arrivedAll: "yes" });
    expect(row.rssMiB).toBeGreaterThan(0);
    expect(row.cpuMsPerAgent).toBeGreaterThan(0);
    expect(readdirSync(tmp)).toEqual([]);
    const left = readdirSync("/proc")
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, "utf8").includes(tmp);
        } catch {
          return false;
        }
      });
    expect(left).toEqual([]);
  }, 120_000);
});
