// End to end, real daemons: a mesh whose VTEPs are IPv6 link-local addresses inside WireGuard (the VXLAN device
// bound to the WireGuard interface, FDB entries `via` it): full matrix, the 70-byte VXLAN overhead exactly at the MTU
// boundary, no fragments; nothing left afterwards.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { labTest } from "../../src/lab/checks.js";
import { ciab, tempDir } from "../helpers/cli.js";
import { deps, labReady, type RunningLab, startLab, stopLab } from "../helpers/lab.js";

describe.skipIf(!labReady())("ciab lab: IPv6 link-local VTEPs", () => {
  let lab: RunningLab | undefined;
  afterAll(() => stopLab(lab), 120_000);

  it("carries the overlay over fe80:: VTEPs", async () => {
    const dir = tempDir();
    const env = { CIAB_INSECURE_TEST_SEED: "vtep6" };
    const nodes = ["a", "b", "c"];
    expect(ciab(["add", "v6", ...nodes], { cwd: dir, env }).code).toBe(0);
    const set = ["set", "v6", "route-reflectors", "a"];
    nodes.forEach((n, i) =>
      set.push("node", n, "ll-addr", `fe80::${i + 1}`, "endpoint", `198.51.100.${i + 1}:51820`, "listen-port", "51820", "subnets", `10.6.${i + 1}.0/24`),
    );
    const r = ciab(set, { cwd: dir });
    expect(r.stderr).toBe("");
    lab = await startLab("v6vtep", { nodes: undefined, mesh: join(dir, "v6.conf") });
    const report = await labTest(lab.name, deps());
    expect(report.checks.filter((c) => c.status === "fail")).toEqual([]);
    expect(report.matrix).toHaveLength(6);
    // 1500 - 60 (WireGuard over IPv4) - 70 (VXLAN over IPv6) = 1370
    expect(report.checks.find((c) => c.name.startsWith("MTU boundary"))?.detail).toContain("1370-byte");
    const link = execFileSync("ip", ["-n", `${lab.name}-n1`, "-d", "link", "show", "vv6"], { encoding: "utf8" });
    expect(link).toMatch(/vxlan id \d+ local fe80::1 dev v6 /);
    const fdb = execFileSync("ip", ["netns", "exec", `${lab.name}-n1`, "bridge", "fdb", "show", "dev", "vv6"], { encoding: "utf8" });
    expect(fdb).toContain("00:00:00:00:00:00 dst fe80::2 via v6 self permanent");
  }, 180_000);
});
