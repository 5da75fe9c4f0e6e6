// Who peers with whom, who relays for a blacklisted pair, who owns which prefix, and the routing checks.
import { describe, expect, it } from "vitest";
import { CiabError } from "../../src/model/errors.js";
import type { Mesh } from "../../src/model/mesh.js";
import { bgpNeighbors, checkRouting, ownedPrefixes, prefixOwners, transitFor, vxlanDev, wgPeers } from "../../src/model/topology.js";
import { buildMesh, loadFixture, type MeshSpec, node } from "../helpers/meshes.js";

/** "name" or "name*" (a route-reflector client of this node), sorted as bgpNeighbors returns them. */
const neighbors = (m: Mesh, n: string): string[] => bgpNeighbors(m, node(m, n)).map((b) => `${b.node.name}${b.rrClient ? "*" : ""}`);

const ABCD = ["a", "b", "c", "d"];

describe("wgPeers", () => {
  it.each<[string, MeshSpec, string, string[]]>([
    ["everyone else, sorted", { nodes: ["c", "a", "b"] }, "b", ["a", "c"]],
    [
      "minus blacklisted partners",
      {
        nodes: ABCD,
        blacklist: [
          ["b", "a"],
          ["a", "d"],
        ],
      },
      "a",
      ["c"],
    ],
    ["a lone node has none", { nodes: ["a"] }, "a", []],
  ])("%s", (_, spec, me, want) => {
    const m = buildMesh("t", spec);
    expect(wgPeers(m, node(m, me)).map((p) => p.name)).toEqual(want);
  });
});

describe("bgpNeighbors", () => {
  it.each<[string, MeshSpec, Record<string, string[]>]>([
    ["full iBGP mesh without reflectors", { nodes: ["a", "b", "c"] }, { a: ["b", "c"], b: ["a", "c"], c: ["a", "b"] }],
    ["one reflector: clients peer only with it", { nodes: ["a", "b", "r"], network: { RouteReflectors: ["r"] } }, { a: ["r"], b: ["r"], r: ["a*", "b*"] }],
    [
      "two reflectors peer with each other as non-clients",
      { nodes: ["a", "b", "r1", "r2"], network: { RouteReflectors: ["r2", "r1"] } },
      { a: ["r1", "r2"], r1: ["a*", "b*", "r2"], r2: ["a*", "b*", "r1"] },
    ],
    [
      "a blacklisted pair of clients never gets a session",
      { nodes: ["a", "b", "c", "r"], network: { RouteReflectors: ["r"] }, blacklist: [["a", "b"]] },
      { a: ["r"], b: ["r"], r: ["a*", "b*", "c*"] },
    ],
    ["a lone node has none", { nodes: ["a"] }, { a: [] }],
  ])("%s", (_, spec, want) => {
    const m = buildMesh("t", spec);
    for (const [n, w] of Object.entries(want)) expect(neighbors(m, n), n).toEqual(w);
  });

  it("rr5-blacklist fixture: c1 and c2 talk only to the reflectors", () => {
    const m = loadFixture("rr5-blacklist");
    expect(neighbors(m, "c1")).toEqual(["rr1", "rr2"]);
    expect(neighbors(m, "rr2")).toEqual(["c1*", "c2*", "c3*", "rr1"]);
  });
});

describe("transitFor", () => {
  it.each<[string, MeshSpec, [string, string], string]>([
    ["prefers a reflector over a lower name", { nodes: ABCD, network: { RouteReflectors: ["d"] }, blacklist: [["a", "b"]] }, ["a", "b"], "d"],
    ["first reflector by name", { nodes: [...ABCD, "e"], network: { RouteReflectors: ["e", "d"] }, blacklist: [["a", "b"]] }, ["b", "a"], "d"],
    [
      "skips a reflector the pair cannot reach",
      {
        nodes: ABCD,
        network: { RouteReflectors: ["c", "d"] },
        blacklist: [
          ["a", "b"],
          ["a", "c"],
        ],
      },
      ["a", "b"],
      "d",
    ],
    ["without reflectors, the first reachable name", { nodes: ABCD, blacklist: [["a", "b"]] }, ["a", "b"], "c"],
    [
      "skips nodes blacklisted with either side",
      {
        nodes: ABCD,
        blacklist: [
          ["a", "b"],
          ["b", "c"],
        ],
      },
      ["a", "b"],
      "d",
    ],
  ])("%s", (_, spec, [a, b], want) => {
    const m = buildMesh("t", spec);
    expect(transitFor(m, node(m, a), node(m, b)).name).toBe(want);
    expect(transitFor(m, node(m, b), node(m, a)).name).toBe(want);
  });

  it("fails when no node reaches both", () => {
    const m = buildMesh("t", {
      nodes: ["a", "b", "c"],
      blacklist: [
        ["a", "b"],
        ["a", "c"],
      ],
    });
    expect(() => transitFor(m, node(m, "a"), node(m, "b"))).toThrow(/'a' and 'b' have no node in common.*\[PeerBlacklist\] Blacklist/);
  });

  it("rr5-blacklist fixture: rr1 relays between c1 and c2", () => {
    const m = loadFixture("rr5-blacklist");
    expect(transitFor(m, node(m, "c1"), node(m, "c2")).name).toBe("rr1");
  });
});

describe("checkRouting and bgpNeighbors refuse meshes the routing cannot serve", () => {
  it.each<[string, MeshSpec, RegExp, string | undefined]>([
    [
      "a reflector in a blacklisted pair",
      { nodes: ["a", "b", "r"], network: { RouteReflectors: ["r"] }, blacklist: [["a", "r"]] },
      /node 'r' is a route reflector \(\[Network\] RouteReflectors\) but is blacklisted with 'a' \(\[PeerBlacklist\] Blacklist\)/,
      "r",
    ],
    [
      "a blacklist without reflectors",
      { nodes: ["a", "b", "c"], blacklist: [["b", "c"]] },
      /node 'b' is blacklisted with 'c' \(\[PeerBlacklist\] Blacklist\) but \[Network\] RouteReflectors is empty/,
      "b",
    ],
    [
      "a blacklist with OSPF",
      { nodes: ["a", "b", "c"], network: { Routing: "ospf" }, blacklist: [["a", "b"]] },
      /node 'a': \[PeerBlacklist\] Blacklist pair a,b splits the OSPF broadcast segment/,
      "a",
    ],
    [
      "BGP run by BIRD",
      { nodes: ["a", "b"], network: { RoutingDaemon: "bird" } },
      /\[Network\] RoutingDaemon "bird" is only supported with Routing = "ospf"/,
      undefined,
    ],
    [
      "an IPv6 subnet without pool-ipv6 for the IPv6 sessions",
      { nodes: ["a", "b"], subnets: { b: ["2001:db8:1::/64"] } },
      /node 'b': \[Node\.b\] Subnets has IPv6 prefixes but the network has no AddressPoolIPv6/,
      "b",
    ],
    [
      "an OSPF node without IPv4 overlay address (router-id)",
      { nodes: ["a", "b"], network: { Routing: "ospf" }, noAddress: ["b"] },
      /node 'b': \[Node\.b\] Address has no IPv4 overlay address, which OSPF needs as router-id/,
      "b",
    ],
  ])("%s", (_, spec, message, nodeName) => {
    const m = buildMesh("t", spec);
    let err: unknown;
    try {
      checkRouting(m);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CiabError);
    const e = err as CiabError;
    expect(e.code).toBe("invalid");
    expect(e.message).toMatch(message);
    expect(e.hint).toBeTruthy();
    expect(e.where?.node).toBe(nodeName);
  });

  it("bgpNeighbors runs the blacklist checks itself", () => {
    const m = buildMesh("t", { nodes: ["a", "b", "c"], blacklist: [["b", "c"]] });
    expect(() => bgpNeighbors(m, node(m, "a"))).toThrow(CiabError);
  });

  it.each(["rr3", "rr5-blacklist", "ospf4-bird", "dualstack", "ospf3-frr"])("accepts fixture %s", (name) => {
    expect(() => checkRouting(loadFixture(name))).not.toThrow();
  });

  it("Routing = none needs nothing", () => {
    expect(() => checkRouting(buildMesh("t", { nodes: ["a", "b"], network: { Routing: "none" }, blacklist: [["a", "b"]] }))).not.toThrow();
  });
});

describe("prefix ownership", () => {
  const m = buildMesh("t", {
    nodes: ["a", "b", "c"],
    network: { AddressPoolIPv6: "2001:db8:42::/64" },
    subnets: { a: ["10.0.10.0/24", "10.0.9.5/24", "2001:db8:a::/48", "10.0.2.0/25"], c: ["2001:db8:c::/64"] },
  });

  it("ownedPrefixes: one family, host bits cleared, sorted numerically", () => {
    expect(ownedPrefixes(node(m, "a"), 4)).toEqual(["10.0.2.0/25", "10.0.9.0/24", "10.0.10.0/24"]);
    expect(ownedPrefixes(node(m, "a"), 6)).toEqual(["2001:db8:a::/48"]);
    expect(ownedPrefixes(node(m, "b"), 4)).toEqual([]);
  });

  it("prefixOwners: the other nodes with prefixes of the family", () => {
    expect(prefixOwners(m, node(m, "b"), 4).map((n) => n.name)).toEqual(["a"]);
    expect(prefixOwners(m, node(m, "a"), 6).map((n) => n.name)).toEqual(["c"]);
    expect(prefixOwners(m, node(m, "a"), 4)).toEqual([]);
  });

  it("vxlanDev is v<mesh>", () => {
    expect(vxlanDev(m)).toBe("vt");
  });
});
