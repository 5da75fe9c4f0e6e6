import { describe, expect, it } from "vitest";
import { mtuPlan } from "../../src/model/mtu.js";
import { threeNodeMesh } from "../helpers/meshes.js";

function plan(set: string[], node = "a", pairs: [string, string][] = []) {
  const mesh = threeNodeMesh("mtu", set, pairs);
  return mtuPlan(mesh, mesh.nodes.find((n) => n.name === node)!);
}

describe("MTU plan", () => {
  it.each([
    ["IPv4 underlay, 1500", [], { wg: 1440, vxlan: 1390, container: 1390, mss4: 1350 }],
    ["one IPv6 endpoint: 80 bytes of WireGuard overhead", ["node", "c", "endpoint", "[2001:db8::3]:1"], { wg: 1420, vxlan: 1370 }],
    ["host-name endpoint counts as IPv6 (unknown family)", ["node", "b", "endpoint", "vpn.example.com:1"], { wg: 1420, vxlan: 1370 }],
    ["jumbo underlay", ["underlay-mtu", "9000", "vxlan-mtu", "8900"], { wg: 8940, vxlan: 8890 }],
    ["VxlanMTU caps the VXLAN MTU", ["vxlan-mtu", "1300"], { wg: 1440, vxlan: 1300 }],
    ["fragment mode keeps vwgen's numbers", ["mtu-mode", "fragment"], { wg: 1550, vxlan: 1500 }],
  ])("%s", (_name, set, want) => expect(plan(set as string[])).toMatchObject(want));

  it("the VXLAN MTU is the same on every node (one L2 segment), WireGuard's is per node", () => {
    // a is blacklisted with c, the only IPv6 node: a's WireGuard paths are all IPv4, b's are not.
    const set = ["node", "c", "endpoint", "[2001:db8::3]:1"];
    const a = plan(set, "a", [["a", "c"]]);
    const b = plan(set, "b", [["a", "c"]]);
    expect(a).toMatchObject({ wg: 1440, vxlan: 1370 });
    expect(b).toMatchObject({ wg: 1420, vxlan: 1370 });
  });
});
