// Render scale: create meshes of 10..2000 nodes with the real CLI, render every bundle, time it and measure peak
// memory; the copy floor (`cp -r` of the very tree the render wrote, right after it, in the same run); the render
// with one thread; the pure render (no disk) in-process; and show/showconf of one node of the large mesh.
// BENCH_SIZES=10,1000 picks sizes.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./lib/common.mjs";

const MEASURE = join(ROOT, "bench", "lib", "measure.mjs");

function ciab(dir, args, env = {}) {
  const out = join(dir, ".measure.json");
  const r = spawnSync(process.execPath, [MEASURE, "-C", dir, ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env, CIAB_BENCH_OUT: out },
    maxBuffer: 1 << 30,
  });
  if (r.status !== 0) throw new Error(`ciab ${args.slice(0, 3).join(" ")} failed: ${r.stderr}`);
  return JSON.parse(readFileSync(out, "utf8"));
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function du(dir) {
  let bytes = 0;
  let files = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      const s = du(p);
      bytes += s.bytes;
      files += s.files;
    } else {
      bytes += statSync(p).size;
      files++;
    }
  }
  return { bytes, files };
}

/** Wall time of `cp -r from to` (the floor: the same files and directories, created from the page cache). */
function copyMs(from, to) {
  const t0 = performance.now();
  const r = spawnSync("cp", ["-r", from, to]);
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`cp -r failed: ${r.stderr}`);
  rmSync(to, { recursive: true, force: true });
  return ms;
}

const SIZES = process.env.BENCH_SIZES ? process.env.BENCH_SIZES.split(",").map(Number) : [10, 100, 1000, 2000];

export async function renderScale(sizes = SIZES) {
  const rows = [];
  for (const n of sizes) {
    const dir = mkdtempSync(join(tmpdir(), `ciab-bench-${n}-`));
    try {
      const names = Array.from({ length: n }, (_, i) => `n${i + 1}`);
      ciab(dir, ["add", "big"]);
      ciab(dir, ["set", "big", "pool-ipv4", "172.16.0.0/16", "pool-ipv6", "fd42:beef::/64"]);
      const add = ciab(dir, ["add", "big", ...names]);
      const set = ["set", "big", "route-reflectors", "n1,n2"];
      names.forEach((name, i) =>
        set.push(
          "node",
          name,
          "endpoint",
          `198.18.${Math.floor(i / 250)}.${(i % 250) + 1}:51820`,
          "listen-port",
          "51820",
          "subnets",
          `10.${(i >> 8) & 255}.${i & 255}.0/24`,
        ),
      );
      const setR = ciab(dir, set);
      const load = loadavg()[0];
      const render = ciab(dir, ["render", "big", "--out", "out"]);
      const size = du(join(dir, "out"));
      const cp = copyMs(join(dir, "out"), join(dir, "copy"));
      // The same render on one thread (a fresh --out, so neither run replaces bundles), for the 1000-node mesh.
      const one = n === 1000 ? ciab(dir, ["render", "big", "--out", "out1"], { CIAB_RENDER_THREADS: "1" }) : undefined;
      rmSync(join(dir, "out1"), { recursive: true, force: true });
      const pure = spawnSync(process.execPath, [join(ROOT, "bench", "lib", "pure-render.mjs"), join(dir, "big.conf")], { encoding: "utf8" });
      if (pure.status !== 0) throw new Error(pure.stderr);
      const pureR = JSON.parse(pure.stdout);
      const show = median([0, 1, 2, 3, 4].map(() => ciab(dir, ["show", "big", "--node", "n3"]).ms));
      const showconf = median([0, 1, 2, 3, 4].map(() => ciab(dir, ["showconf", "big", "n3"]).ms));
      rows.push({
        nodes: n,
        addMs: add.ms,
        addMaxRssMiB: add.maxRssKiB / 1024,
        setMs: setR.ms,
        renderMs: render.ms,
        cpMs: cp,
        ratioToCp: render.ms / cp,
        oneThreadMs: one?.ms ?? "",
        renderMaxRssMiB: render.maxRssKiB / 1024,
        pureRenderMs: pureR.ms,
        outputMiB: size.bytes / 2 ** 20,
        files: size.files,
        msPerNode: render.ms / n,
        msPerMiB: render.ms / (size.bytes / 2 ** 20),
        showMs: show,
        showconfMs: showconf,
        loadAvg: load,
      });
      process.stderr.write(
        `render-scale: ${n} nodes: render ${render.ms.toFixed(0)} ms, cp -r ${cp.toFixed(0)} ms (${(size.bytes / 2 ** 20).toFixed(0)} MiB), max RSS ${(render.maxRssKiB / 1024).toFixed(0)} MiB\n`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const big = rows.find((r) => r.nodes === 1000);
  const huge = rows.find((r) => r.nodes === 2000);
  const notes = [
    "renderMs: wall time of `ciab render` (process start, mesh load, topology, validation, every bundle rendered and written, the renames); cpMs: `cp -r` of the tree that render wrote, straight after it (the floor: the same files and directories, read from the page cache); ratioToCp = renderMs / cpMs. oneThreadMs: the same render with CIAB_RENDER_THREADS=1. renderMaxRssMiB: peak RSS of the render process (worker threads included). loadAvg: the machine's 1-minute load average when the render started (other work on these 2 cores slows render and cp alike, not always equally).",
  ];
  if (big && (big.ratioToCp > 2 || big.renderMs >= 2000)) {
    notes.push(
      `Missed at 1000 nodes: ${big.renderMs.toFixed(0)} ms, ${big.ratioToCp.toFixed(2)}x the copy floor of ${big.cpMs.toFixed(0)} ms, for ${big.outputMiB.toFixed(0)} MiB in ${big.files} files (load average ${big.loadAvg.toFixed(1)} on ${cpus().length} cores). The pure render (no disk, one thread) takes ${big.pureRenderMs.toFixed(0)} ms.`,
    );
  }
  return {
    notes,
    rows,
    targets: big
      ? [
          {
            what: "1000-node mesh, every bundle rendered and written, ratio to `cp -r` of the same tree",
            target: "<= 2.0",
            value: `${big.ratioToCp.toFixed(2)} (${big.renderMs.toFixed(0)} / ${big.cpMs.toFixed(0)} ms)`,
            met: big.ratioToCp <= 2,
          },
          { what: "1000-node mesh, every bundle rendered and written", target: "< 2000 ms", value: `${big.renderMs.toFixed(0)} ms`, met: big.renderMs < 2000 },
          ...(huge
            ? [
                {
                  what: "2000-node mesh render, peak RSS",
                  target: "< 1024 MiB",
                  value: `${huge.renderMaxRssMiB.toFixed(0)} MiB`,
                  met: huge.renderMaxRssMiB < 1024,
                },
              ]
            : []),
          { what: "1000-node mesh, pure render (no disk)", target: "(reference)", value: `${big.pureRenderMs.toFixed(0)} ms`, met: true },
          { what: "show of one node of the 1000-node mesh", target: "< 300 ms", value: `${big.showMs.toFixed(0)} ms`, met: big.showMs < 300 },
          { what: "showconf of one node of it", target: "< 300 ms", value: `${big.showconfMs.toFixed(0)} ms`, met: big.showconfMs < 300 },
        ]
      : [],
  };
}
