// End to end, real daemons: a failure in the middle of `lab up` leaves nothing behind, and two labs with
// different names run side by side. Skips unless root with wireguard-go and FRR.
import { appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { spawnRunner } from "../../src/adapters/exec.js";
import { cryptoRandom } from "../../src/keys/random.js";
import { labTest } from "../../src/lab/checks.js";
import { labUp, netnsPids } from "../../src/lab/lab.js";
import type { LabState } from "../../src/lab/state.js";
import { CiabError } from "../../src/model/errors.js";
import { deps, expectNothingLeft, labReady, type RunningLab, startLab, stopLab, uniqueLab } from "../helpers/lab.js";

describe.skipIf(!labReady())("ciab lab: failure midway", () => {
  it("a bundle that fails after its daemons started: error names the node, nothing is left", async () => {
    const name = uniqueLab("ef");
    const seen = new Set<number>();
    // n2's ciab-up brings WireGuard and FRR up, then fails: the daemons are running when lab up must clean up.
    const beforeApply = (node: string, dir: string) => {
      if (node === "n2") appendFileSync(join(dir, "bin", "ciab-up"), '\necho "broken on purpose" >&2\nexit 42\n');
    };
    const err = await labUp(
      { name, nodes: 3, random: cryptoRandom() },
      deps({
        beforeApply,
        // sample the lab's processes while it is being built, to check they are gone afterwards
        progress: () => {
          for (const ns of [`${name}-n1`, `${name}-n2`, `${name}-n3`]) void netnsPids(spawnRunner, ns).then((ps) => ps.forEach((p) => seen.add(p)));
        },
      }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CiabError);
    expect((err as Error).message).toMatch(/ciab-up of node n2 exited with 42:[\s\S]*broken on purpose/);
    await expectNothingLeft(name, seen);
  }, 180_000);

  it("a corrupt frr.conf: lab up fails (ciab-up, or routing that never converges), nothing is left", async () => {
    const name = uniqueLab("ec");
    const beforeApply = (node: string, dir: string) => {
      if (node === "n3") writeFileSync(join(dir, "frr", "frr.conf"), "this is not an FRR configuration\n");
    };
    const err = await labUp({ name, nodes: 3, random: cryptoRandom() }, deps({ beforeApply, convergeMs: 15_000 })).catch((e: unknown) => e);
    if (!(err instanceof Error)) await stopLab({ name, state: err as LabState, pids: new Set() }); // never leave a lab behind
    expect(err).toBeInstanceOf(CiabError);
    expect((err as Error).message).toMatch(/node n3|n\d lacks 10\.0\.3\.0\/24/);
    await expectNothingLeft(name);
  }, 180_000);
});

describe.skipIf(!labReady())("ciab lab: two labs side by side", () => {
  let a: RunningLab | undefined;
  let b: RunningLab | undefined;
  afterAll(async () => {
    await stopLab(a);
    await stopLab(b);
  }, 120_000);

  it("both pass their tests; taking one down leaves the other working", async () => {
    a = await startLab("ea", { nodes: 2 });
    b = await startLab("eb", { nodes: 2 });
    for (const lab of [a, b]) {
      const r = await labTest(lab.name, deps());
      expect(r.checks.filter((c) => c.status === "fail")).toEqual([]);
    }
    await stopLab(a);
    a = undefined;
    const r = await labTest(b.name, deps());
    expect(r.ok).toBe(true);
  }, 240_000);
});
