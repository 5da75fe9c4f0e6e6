// IPv6 link-local VTEPs: the VXLAN device is bound to the WireGuard interface and every FDB entry names it (`via`).

import { describe, expect, it } from "vitest";
import { mtuPlan } from "../../src/model/mtu.js";
import { topology } from "../../src/model/topology.js";
import { deployProblems } from "../../src/model/validate.js";
import { renderBundle } from "../../src/render/bundle.js";
import { dataplane } from "../../src/render/dataplane.js";
import { renderWireguard, vxlanCreate } from "../../src/render/wireguard.js";
import { type DesiredStateV1, vxlanBatchFiles } from "../../src/state/desired.js";
import { threeNodeMesh } from "../helpers/meshes.js";

const build = (set: string[]) => threeNodeMesh("vtep6", set);
const all6 = ["node", "a", "ll-addr", "fe80::a", "node", "b", "ll-addr", "fe80::b", "node", "c", "ll-addr", "fe80::c"];

describe("IPv6 link-local VTEPs", () => {
  it("ll-addr takes an fe80:: address with its /128 in AllowedIPs", () => {
    const a = build(all6).nodes[0]!;
    expect(a).toMatchObject({ vtep: "fe80::a", vtepFamily: 6, linkLayerAddress: ["fe80::a/64"], allowedIPs: ["fe80::a/128"] });
  });
  it("binds the VXLAN device to WireGuard and routes every FDB entry via it", () => {
    const mesh = build(all6);
    const a = mesh.nodes[0]!;
    const dp = dataplane(mesh, a);
    expect(vxlanCreate(dp, 5, 4789, a.mac)).toMatch(/type vxlan id 5 dstport 4789 local fe80::a dev m ttl 1 nolearning$/);
    const desired = JSON.parse(renderBundle(topology(mesh).node(a), "x").find((f) => f.path === "desired.json")?.content ?? "") as DesiredStateV1;
    expect(vxlanBatchFiles(mesh.name, desired.vxlan[0]!).fdb.content.trim().split("\n")).toEqual([
      "fdb append 00:00:00:00:00:00 dev vm dst fe80::b via m",
      "fdb append 00:00:00:00:00:00 dev vm dst fe80::c via m",
      `fdb replace ${mesh.nodes[1]!.mac} dev vm dst fe80::b via m self permanent`,
      `fdb replace ${mesh.nodes[2]!.mac} dev vm dst fe80::c via m self permanent`,
    ]);
    expect(renderWireguard(topology(mesh).node(a))).toMatch(/AllowedIPs = fe80::b\/128/);
  });
  it("costs 20 more bytes of VXLAN overhead (IPv6 outer header)", () => {
    const mesh = build(all6);
    expect(mtuPlan(mesh, mesh.nodes[0]!)).toMatchObject({ wg: 1440, vxlan: 1370 });
  });
  it.each([
    [["node", "a", "ll-addr", "2001:db8::1"], /\[Node\.a\] LinkLayerAddress: 2001:db8::1\/64 is not an IPv6 link-local address/],
    [["node", "a", "ll-addr", "fe80::a"], /\[Node\.a\] LinkLayerAddress: is an IPv6 VTEP but node 'b' has an IPv4 one/],
  ])("refuses %j at render (a deploy problem; the file still loads)", (set, message) => {
    const problems = deployProblems(build(set as string[])).map((p) => p.message);
    expect(problems.join("\n")).toMatch(message);
  });
});
