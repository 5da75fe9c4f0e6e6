// End to end, real daemons: 4 nodes, OSPF with BIRD over the VXLAN overlay: full matrix, adjacencies, routes
// `proto bird` on every node, MTU boundary, no fragments; nothing left afterwards. Skips unless root with
// wireguard-go and BIRD.
import { afterAll, describe, expect, it } from "vitest";
import { labTest } from "../../src/lab/checks.js";
import { deps, labReady, type RunningLab, startLab, stopLab } from "../helpers/lab.js";

describe.skipIf(!labReady("bird"))("ciab lab: 4 nodes, OSPF with BIRD", () => {
  let lab: RunningLab | undefined;
  afterAll(() => stopLab(lab), 120_000);

  it("full matrix and every check passes", async () => {
    lab = await startLab("eo", { nodes: 4, routing: "ospf" });
    const r = await labTest(lab.name, deps());
    expect(r.checks.filter((c) => c.status === "fail")).toEqual([]);
    expect(r.matrix).toHaveLength(12);
    expect(r.checks.find((c) => c.name === "routes learned")?.detail).toContain("proto bird");
    expect(r.checks.filter((c) => c.name.startsWith("routing sessions")).map((c) => c.status)).toEqual(["pass", "pass", "pass", "pass"]);
  }, 180_000);
});
