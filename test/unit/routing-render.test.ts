// Properties of the routing renderers the golden files do not show on their own: what they render for meshes
// that do not use them, determinism, and the nftables table name.

import { createHash } from "node:crypto";
import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { topology } from "../../src/model/topology.js";
import { renderBird } from "../../src/render/bird.js";
import { renderFrr } from "../../src/render/frr.js";
import { nftRenderer, nftTable, renderNft } from "../../src/render/nft.js";
import { buildMesh, FIXTURE_MESHES, fakeKey, fixtureText, loadFixture, MESH_DIR, node } from "../helpers/meshes.js";
import { routingOutputs } from "../helpers/routing.js";

describe("renderers with nothing to do return empty text (no file)", () => {
  it.each<[string, Record<string, string | boolean>, { frr: boolean; bird: boolean; nft: boolean }]>([
    ["Routing = none", { Routing: "none" }, { frr: false, bird: false, nft: true }],
    ["BGP (FRR)", {}, { frr: true, bird: false, nft: true }],
    ["OSPF with BIRD", { Routing: "ospf" }, { frr: false, bird: true, nft: true }],
    ["OSPF with FRR, MSSClamp = false (the guard stays)", { Routing: "ospf", RoutingDaemon: "frr", MSSClamp: false }, { frr: true, bird: false, nft: true }],
  ])("%s", (_, network, want) => {
    const m = buildMesh("t", { nodes: ["a", "b"], network });
    const a = node(m, "a");
    const frr = renderFrr(topology(m).node(a));
    expect({ frr: frr.frrConf !== "", bird: renderBird(topology(m).node(a)) !== "", nft: renderNft(topology(m).node(a)) !== "" }).toEqual(want);
    expect(frr.daemons !== "").toBe(want.frr);
    expect(renderNft(topology(m).node(a)).includes("chain mss_clamp")).toBe(network.MSSClamp !== false);
  });
});

describe("the nft file's digests, found in one pass", () => {
  it.each(FIXTURE_MESHES)("%s: sha256 is the text's; the comment is over the text without its comment line", (name) => {
    const t = topology(loadFixture(name));
    const render = nftRenderer(t);
    for (const n of t.mesh.nodes) {
      const f = render(t.node(n));
      const hex = (s: string) => createHash("sha256").update(s).digest("hex");
      expect(f.sha256).toBe(hex(f.text));
      const comment = /^\tcomment "ciab sha256:([0-9a-f]{16})"\n/m.exec(f.text);
      expect(comment).not.toBeNull();
      expect(comment?.[1]).toBe(hex(f.text.replace(comment?.[0] as string, "")).slice(0, 16));
    }
  });
});

describe("determinism", () => {
  it.each(FIXTURE_MESHES)("%s renders the same twice, with no timestamps", (name) => {
    const first = routingOutputs(name);
    expect(routingOutputs(name)).toEqual(first);
    // A clock time, not a MAC address (which has six colon-separated groups).
    expect(JSON.stringify(first)).not.toMatch(/20\d\d-\d\d-\d\d|(?<![0-9a-f]:)\b[0-2]\d:[0-5]\d:[0-5]\d\b(?!:)/i);
  });
});

describe("FRR specifics", () => {
  it("daemons: bgpd and bfdd for BGP with BFD, ospf6d only with IPv6 subnets", () => {
    const yes = (t: string) => [...t.matchAll(/^(\w+)=yes$/gm)].map((m) => m[1]);
    const rr3 = loadFixture("rr3");
    expect(yes(renderFrr(topology(rr3).node(node(rr3, "n1"))).daemons)).toEqual(["bgpd", "bfdd", "vtysh_enable"]);
    const ds = loadFixture("dualstack");
    expect(yes(renderFrr(topology(ds).node(node(ds, "d1"))).daemons)).toEqual(["bgpd", "vtysh_enable"]);
    const o = loadFixture("ospf3-frr");
    expect(yes(renderFrr(topology(o).node(node(o, "f2"))).daemons)).toEqual(["ospfd", "ospf6d", "bfdd", "vtysh_enable"]);
  });

  it("blacklist transit: the route-map rewrites the partner's next hop to the relay on both sides", () => {
    const m = loadFixture("rr5-blacklist");
    const c1 = renderFrr(topology(m).node(node(m, "c1"))).frrConf;
    const c2 = renderFrr(topology(m).node(node(m, "c2"))).frrConf;
    expect(c1).toContain(" match ip next-hop address 172.20.20.12\n set ip next-hop 172.20.20.1\n");
    expect(c2).toContain(" match ip next-hop address 172.20.20.11\n set ip next-hop 172.20.20.1\n");
    expect(renderFrr(topology(m).node(node(m, "c3"))).frrConf).not.toContain("set ip next-hop");
  });

  it("never ends a block with `exit` (a daemon that skips a block would leave configure mode)", () => {
    for (const name of FIXTURE_MESHES) {
      for (const o of routingOutputs(name)) expect(o.files["frr.conf"] ?? "").not.toMatch(/^\s*exit$/m);
    }
  });
});

describe("nftTable", () => {
  it.each([
    ["rr3", "ciab_rr3"],
    ["rr5-blacklist", "ciab_rr5-blacklist"],
    ["a.b_c", "ciab_a.b_c"],
  ])("%s -> %s", (name, want) => {
    expect(nftTable(buildMesh(name, { nodes: ["a"] }))).toBe(want);
  });

  it("replaces characters nft 1.0.6 cannot take and keeps names distinct with a hash", () => {
    const plus = nftTable(buildMesh("a+b", { nodes: ["a"] }));
    const eq = nftTable(buildMesh("a=b", { nodes: ["a"] }));
    expect(plus).toMatch(/^ciab_a_b_[0-9a-f]{6}$/);
    expect(eq).toMatch(/^ciab_a_b_[0-9a-f]{6}$/);
    expect(plus).not.toBe(eq);
  });
});

describe("test fixtures", () => {
  it("lists every mesh file", () => {
    const files = readdirSync(MESH_DIR)
      .filter((f) => f.endsWith(".conf"))
      .map((f) => f.replace(/\.conf$/, ""))
      .sort();
    expect(files).toEqual([...FIXTURE_MESHES]);
  });

  it.each(FIXTURE_MESHES)("%s holds only the documented fake keys", (name) => {
    const m = loadFixture(name);
    for (const n of m.nodes) expect(n.privateKey, n.name).toBe(fakeKey(`${name}/${n.name}`));
    expect(fixtureText(name)).toMatch(/FAKE/);
  });
});
