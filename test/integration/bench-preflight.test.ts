// The bench on a machine without its tools (issue 11: `exec of "iperf3" failed` on a fresh clone): the preflight
// names the missing program and its Debian package before any part runs, and with BENCH_INSTALL=0 installs nothing.
// PATH points nowhere (only /usr/sbin and /sbin, which the preflight always looks in, still count), so iperf3
// (/usr/bin on Debian) is missing whatever this machine has; node runs by its absolute path.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { ROOT } from "../helpers/env.js";

it("a lab part with its tools missing stops at once, naming each tool and its package", () => {
  const out = mkdtempSync(join(tmpdir(), "ciab-bench-preflight-"));
  try {
    const r = spawnSync(process.execPath, [join(ROOT, "bench", "run.mjs"), "dataplane"], {
      encoding: "utf8",
      env: { PATH: "/nonexistent-ciab-bench", BENCH_INSTALL: "0", BENCH_RESULTS_DIR: out },
      timeout: 20_000,
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("iperf3 (Debian package iperf3)");
    expect(r.stderr).toContain("run scripts/install-deps.sh as root");
    expect(r.stderr).not.toContain("== bench dataplane"); // no part started
    expect(readdirSync(join(out, "results"))).toEqual([]);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

it("the render part needs no tool beyond node and cp (its copy floor): the preflight lets it through", () => {
  const out = mkdtempSync(join(tmpdir(), "ciab-bench-preflight-"));
  try {
    // A PATH holding only cp: none of the lab's tools.
    mkdirSync(join(out, "bin"));
    symlinkSync("/bin/cp", join(out, "bin", "cp"));
    const r = spawnSync(process.execPath, [join(ROOT, "bench", "run.mjs"), "render"], {
      encoding: "utf8",
      env: { PATH: join(out, "bin"), BENCH_INSTALL: "0", BENCH_RESULTS_DIR: out, BENCH_RENDER_SIZES: "10" },
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(readdirSync(join(out, "results"))).toEqual(["render.json"]);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}, 90_000);
