// Per call against vwgen (issue 10): one `showconf NET NODE`, `show NET` and `add NET NODE` process on a 200-node mesh
// that the real vwgen (../shared/oracles/vwgen) created, ciab's `bin/ciab` side by side with vwgen: paired runs
// (vwgen and ciab back to back, the order alternating), wall time from spawn to exit, median of the pairs. Both read
// the same file, so the keys and addresses are the same; `add` gets a fresh copy of it per run and tool.
import { spawnSync } from "node:child_process";
import { closeSync, copyFileSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./lib/common.mjs";

const ORACLE = join(ROOT, "..", "shared", "oracles", "vwgen", "vwgen-oracle");
const CIAB = join(ROOT, "bin", "ciab");
const NODES = Number(process.env.BENCH_NODES ?? 200);
const RUNS = Number(process.env.BENCH_RUNS ?? 11);

const env = { ...process.env, NO_COLOR: "1" };
delete env.CIAB_DIR;
delete env.CIAB_INSECURE_TEST_SEED;

/** Wall time of one process in ms; it must succeed. */
function timed(cmd, args, cwd) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { cwd, env, encoding: "utf8", maxBuffer: 1 << 28 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  // vwgen exits 0 even on errors: its messages start with "vwgen:" or are a traceback
  if (r.status !== 0 || /^vwgen: |^Traceback /m.test(`${r.stdout}${r.stderr}`)) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr}`);
  return ms;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export async function percall() {
  const r = spawnSync("/usr/bin/python3", ["-c", "import toml, nacl.bindings"]);
  if (r.status !== 0) throw new Error("the oracle needs python3-toml and python3-nacl (scripts/install-deps.sh)");
  const root = mkdtempSync(join(tmpdir(), "ciab-bench-percall-"));
  try {
    const base = join(root, "base");
    mkdirSync(base);
    const names = Array.from({ length: NODES }, (_, i) => `n${i + 1}`);
    timed(ORACLE, ["add", "big", ...names], base);
    // endpoints as a user would give them, so every peer section is complete
    const set = ["set", "big"];
    names.forEach((n, i) => set.push("node", n, "endpoint", `198.18.${Math.floor(i / 250)}.${(i % 250) + 1}:51820`, "listen-port", "51820"));
    timed(ORACLE, set, base);
    const cases = [
      { what: "showconf", label: "showconf big n7", args: () => ["showconf", "big", "n7"] },
      { what: "show", label: "show big", args: () => ["show", "big"] },
      { what: "add", label: "add big x<i>", args: (i) => ["add", "big", `x${i}`], writes: true },
    ];
    const rows = [];
    for (const c of cases) {
      const pairs = [];
      for (let i = 0; i < RUNS; i++) {
        const args = c.args(i);
        const dirFor = (who) => {
          if (!c.writes) return base;
          const d = join(root, `${who}-${c.what}-${i}`);
          mkdirSync(d);
          copyFileSync(join(base, "big.conf"), join(d, "big.conf"));
          return d;
        };
        const [vd, cd] = [dirFor("vwgen"), dirFor("ciab")];
        // alternate who goes first, so neither always finds the caches warm
        const pair = {};
        for (const who of i % 2 ? ["vwgen", "ciab"] : ["ciab", "vwgen"]) pair[who] = who === "vwgen" ? timed(ORACLE, args, vd) : timed(CIAB, args, cd);
        pairs.push(pair);
      }
      const v = median(pairs.map((p) => p.vwgen));
      const k = median(pairs.map((p) => p.ciab));
      rows.push({
        command: c.label,
        nodes: NODES,
        pairs: RUNS,
        vwgenMs: v,
        ciabMs: k,
        ratio: k / v,
        medianPairRatio: median(pairs.map((p) => p.ciab / p.vwgen)),
      });
      process.stderr.write(`percall: ${c.what}: vwgen ${v.toFixed(0)} ms, ciab ${k.toFixed(0)} ms\n`);
    }
    // The floor: an empty Node process (start-up alone), timed the same way, next to vwgen's whole call; without
    // NODE_EXTRA_CA_CERTS, which bin/ciab moves aside for these commands (it costs every Node start tens of ms).
    const floorEnv = { ...env };
    delete floorEnv.NODE_EXTRA_CA_CERTS;
    const floor = median(
      Array.from({ length: RUNS }, () => {
        const t0 = process.hrtime.bigint();
        spawnSync(process.execPath, ["-e", "0"], { cwd: base, env: floorEnv });
        return Number(process.hrtime.bigint() - t0) / 1e6;
      }),
    );
    // What ciab's durable write costs here (vwgen writes in place, without fsync): temp file, fsync, rename,
    // fsync of the directory, for a file of the mesh's size in the same directory.
    const text = readFileSync(join(base, "big.conf"));
    const durable = median(
      Array.from({ length: RUNS }, (_, i) => {
        const t0 = process.hrtime.bigint();
        const tmp = join(base, `.durable-${i}.tmp`);
        const fd = openSync(tmp, "w", 0o600);
        writeSync(fd, text);
        fsyncSync(fd);
        closeSync(fd);
        renameSync(tmp, join(base, "durable.conf"));
        const dfd = openSync(base, "r");
        fsyncSync(dfd);
        closeSync(dfd);
        return Number(process.hrtime.bigint() - t0) / 1e6;
      }),
    );
    const target = (row) => ({
      what: `one \`${row.command}\` process on a ${NODES}-node vwgen mesh, ciab / vwgen (median of ${RUNS} pairs)`,
      target: "<= 1.0",
      value: `${row.ratio.toFixed(2)} (${row.ciabMs.toFixed(0)} / ${row.vwgenMs.toFixed(0)} ms)`,
      met: row.ratio <= 1.0,
    });
    const notes = [];
    const missed = rows.filter((r) => r.ratio > 1.0);
    if (missed.length)
      notes.push(
        `Missed: ${missed.map((r) => `${r.command} (${r.ratio.toFixed(2)})`).join(", ")}. An empty Node process alone takes ${((floor / rows[0].vwgenMs) * 100).toFixed(0)} % of vwgen's whole showconf; ciab's add also waits ${durable.toFixed(1)} ms for its durable write here.`,
      );
    return {
      rows,
      targets: [
        ...rows.map(target),
        {
          what: "an empty Node process (`node -e 0`), / vwgen's showconf",
          target: "(floor)",
          value: `${(floor / rows[0].vwgenMs).toFixed(2)} (${floor.toFixed(0)} ms)`,
          met: true,
        },
        {
          what: "ciab's durable write of the mesh file (temp, fsync, rename, directory fsync), part of its add",
          target: "(reported)",
          value: `${durable.toFixed(1)} ms`,
          met: true,
        },
      ],
      notes: [
        ...notes,
        "vwgen is the unmodified oracle run through its `vwgen-oracle` sh wrapper (python3 -c …, about the cost of vwgen's own entry script); ciab is `bin/ciab`, as a user runs it. ratio: median ciab / median vwgen; medianPairRatio: the median of the per-pair ratios.",
        "`show`: vwgen prints the private keys too; ciab without --show-keys (each tool's plain command). `add`: a fresh copy of the mesh per run and tool; vwgen writes the file in place without fsync, ciab under a lock with the durable write above (README: every write is atomic), which this comparison counts against ciab.",
      ],
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
