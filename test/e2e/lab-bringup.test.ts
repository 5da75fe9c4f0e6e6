// End to end, real daemons (issue 19): a 6-node mesh with two route reflectors is brought up five times in a row,
// mostly on an IPv6 underlay (where pairs were left broken in 7 of 13 tries before the fix), and the full
// `lab test` runs straight after each `lab up` returns: every round must pass every check, with no wait in between.
// This is what "up" promises (src/lab/ready.ts), and that no pair is left broken by bring-up (keys/contact.ts).
// About 2.5 minutes. Skips unless root with wireguard-go and FRR.
import { afterAll, describe, expect, it } from "vitest";
import { labTest } from "../../src/lab/checks.js";
import type { Underlay } from "../../src/lab/plan.js";
import { deps, labReady, type RunningLab, startLab, stopLab } from "../helpers/lab.js";

const ROUNDS: Underlay[] = (process.env.CIAB_BRINGUP_ROUNDS?.split(",") as Underlay[] | undefined) ?? ["6", "6", "4", "dual", "6"];

describe.skipIf(!labReady())("ciab lab: 6 nodes, 2 reflectors, up then test at once, 5 rounds", () => {
  let lab: RunningLab | undefined;
  afterAll(() => stopLab(lab), 120_000);

  it.each(ROUNDS.map((u, i) => [i + 1, u] as const))(
    "round %i (underlay %s): lab up, then lab test passes at once",
    async (_round, underlay) => {
      const progress: string[] = [];
      lab = await startLab("bu", { nodes: 6, reflectors: 2, underlay }, { progress: (m) => progress.push(m) });
      try {
        expect(progress.some((m) => m.includes("ready: every pair has a WireGuard handshake"))).toBe(true);
        // Not asserted: "no wait for handshakes". With first contact (keys/contact.ts) no pair's initiations cross,
        // but a node whose bundle finishes after its peers' first packets still waits one WireGuard retry (<= 5 s)
        // for those peers; test/unit/first-contact.test.ts guards the mechanism itself.
        const report = await labTest(lab.name, deps());
        const failed = report.checks.filter((c) => c.status === "fail");
        expect(failed, `${JSON.stringify(failed, null, 2)}\n${progress.join("\n")}`).toEqual([]);
        expect(report.matrix.filter((p) => !p.ok)).toEqual([]);
        expect(report.matrix.length).toBe(30); // containers are IPv4 only: one address per pair
        expect(report.ok).toBe(true);
      } finally {
        await stopLab(lab);
        lab = undefined;
      }
    },
    240_000,
  );
});
