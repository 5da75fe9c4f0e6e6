// End to end, real daemons: "private means private" (issue 20). A 3-node lab on a dual-stack underlay (public
// IPv4 and IPv6 addresses probed; the BGP lab runs the same check on IPv4 only): from the internet namespace nothing of the mesh answers — containers routed
// through a node's public address, VXLAN frames with the mesh's VNI, BGP/BFD/VXLAN ports, every listening socket —
// except the WireGuard port. Negative control: with n2's guard table deleted the same check fails for n2 (and only
// n2); reloaded from the bundle, it passes again. Source validation: a peer sending with another MAC is dropped
// and counted. Skips unless root with wireguard-go and FRR.
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { spawnRunner } from "../../src/adapters/exec.js";
import { type CheckResult, labTest } from "../../src/lab/checks.js";
import { execTarget, loadLabMesh } from "../../src/lab/lab.js";
import { LAB_ROOT, labPaths } from "../../src/lab/state.js";
import { GUARD_COUNTERS, nftTable } from "../../src/render/nft.js";
import { deps, labReady, type RunningLab, startLab, stopLab } from "../helpers/lab.js";

describe.skipIf(!labReady())("ciab lab: nothing in the overlay is reachable without WireGuard", () => {
  let lab: RunningLab | undefined;
  afterAll(() => stopLab(lab), 120_000);

  const on = async (target: string, argv: string[], ok = true) => {
    if (!lab) throw new Error("no lab");
    const r = await spawnRunner(execTarget(LAB_ROOT, lab.state, target, argv).argv, { timeoutMs: 30_000 });
    if (ok) expect(r.code, `${target}: ${argv.join(" ")}: ${r.stderr}`).toBe(0);
    return r;
  };
  const exposureChecks = async (): Promise<CheckResult[]> => {
    const report = await labTest(lab?.name as string, deps());
    return report.checks.filter((c) => c.name.startsWith("exposure"));
  };
  const byNode = (checks: CheckResult[], node: string) => checks.filter((c) => c.name.startsWith(`exposure ${node}:`));
  const counter = async (node: string, name: string): Promise<number> => {
    const mesh = loadLabMesh(lab?.state as NonNullable<RunningLab["state"]>);
    const r = await on(node, ["nft", "list", "counter", "inet", nftTable(mesh), name]);
    return Number(/packets (\d+)/.exec(r.stdout)?.[1] ?? Number.NaN);
  };

  it("every node passes the exposure check (three probes each, dual-stack underlay)", async () => {
    lab = await startLab("ex", { nodes: 3, underlay: "dual" });
    const checks = await exposureChecks();
    expect(checks.map((c) => c.name).sort()).toEqual(
      ["n1", "n2", "n3"].flatMap((n) => [
        `exposure ${n}: VXLAN frames from the internet`,
        `exposure ${n}: mesh addresses from the internet`,
        `exposure ${n}: only the WireGuard port answers`,
      ]),
    );
    expect(
      checks.filter((c) => c.status !== "pass"),
      JSON.stringify(checks, null, 2),
    ).toEqual([]);
    // The probes reached the node at all: the guard counted the VXLAN frames it refused.
    expect(await counter("n1", GUARD_COUNTERS.vxlan)).toBeGreaterThan(0);
  }, 180_000);

  it("negative control: without n2's guard the check fails for n2 on every probe; reloaded, it passes", async () => {
    const mesh = loadLabMesh(lab?.state as NonNullable<RunningLab["state"]>);
    await on("n2", ["nft", "delete", "table", "inet", nftTable(mesh)]);
    const open = await exposureChecks();
    expect(byNode(open, "n2").map((c) => c.status)).toEqual(["fail", "fail", "fail"]);
    const detail = byNode(open, "n2")
      .map((c) => c.detail)
      .join("\n");
    expect(detail).toMatch(/REACHABLE without WireGuard/);
    expect(detail).toMatch(/tcp\/179@\S+ open/);
    expect(detail).toMatch(/injected frame\(s\) reached/);
    expect([...byNode(open, "n1"), ...byNode(open, "n3")].every((c) => c.status === "pass")).toBe(true);

    const bundle = labPaths(LAB_ROOT, lab?.name as string).bundle("n2");
    await on("n2", ["nft", "-f", join(bundle, "nft", "ciab.nft")]);
    const closed = await exposureChecks();
    expect(
      closed.filter((c) => c.status !== "pass"),
      JSON.stringify(closed, null, 2),
    ).toEqual([]);
  }, 180_000);

  it("source validation: frames from n2 with another node's MAC are dropped and counted at n1", async () => {
    const mesh = loadLabMesh(lab?.state as NonNullable<RunningLab["state"]>);
    const vx = `v${mesh.name}`;
    const n1 = mesh.nodes.find((n) => n.name === "n1");
    const n3 = mesh.nodes.find((n) => n.name === "n3");
    const target = n1?.overlayIPv4 as string;
    const own = (await on("n2", ["cat", `/sys/class/net/${vx}/address`])).stdout.trim();
    expect((await on("n2", ["ping", "-n", "-q", "-c", "2", "-W", "2", target], false)).code).toBe(0);
    const before = await counter("n1", GUARD_COUNTERS.spoofed);
    expect(before).toBe(0); // the mesh's own traffic never trips source validation
    try {
      // n2 claims n3's MAC: a peer must not speak for another node.
      await on("n2", ["ip", "link", "set", "dev", vx, "address", n3?.mac as string]);
      await on("n2", ["ping", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "1", target], false);
    } finally {
      await on("n2", ["ip", "link", "set", "dev", vx, "address", own]);
    }
    expect(await counter("n1", GUARD_COUNTERS.spoofed)).toBeGreaterThan(before);
    expect((await on("n2", ["ping", "-n", "-q", "-c", "2", "-W", "2", target], false)).code).toBe(0);
  }, 120_000);
});
