// End to end, real daemons: a failure in the middle of `lab up` leaves nothing behind, and two labs with
// different names run side by side. Skips unless root with wireguard-go and FRR.
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { spawnRunner } from "../../src/adapters/exec.js";
import { cryptoRandom } from "../../src/keys/random.js";
import { labTest } from "../../src/lab/checks.js";
import { labUp, netnsPids } from "../../src/lab/lab.js";
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

  it("a corrupt frr.conf: lab up fails (by ciab-up or by routing that never converges), nothing is left", async () => {
    const name = uniqueLab("ec");
    const beforeApply = (node: string, dir: string) => {
      if (node === "n3") appendFileSync(join(dir, "frr", "frr.conf"), "\nrouter bgp 64512\n neighbor this-is-not-an-address remote-as 1\n");
    };
    const err = await labUp({ name, nodes: 3, random: cryptoRandom() }, deps({ beforeApply, convergeMs: 20_000 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CiabError);
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
