// The topology value of a mesh: who peers with whom, who relays for a blacklisted pair, who owns which prefix, the
// routing policy and data plane of each node, and every problem of the mesh at once.
import { describe, expect, it } from "vitest";
import { CiabError } from "../../src/model/errors.js";
import type { Mesh } from "../../src/model/mesh.js";
import { topology, vxlanDev } from "../../src/model/topology.js";
import { renderBundle } from "../../src/render/bundle.js";
import { buildMesh, loadFixture, type MeshSpec, node } from "../helpers/meshes.js";

/** "name" or "name*" (a route-reflector client of this node), sorted as the topology lists them. */
const neighbors = (m: Mesh, n: string): string[] =>
  topology(m)
    .node(n)
    .bgpNeighbors.map((b) => `${b.node.name}${b.rrClient ? "*" : ""}`);
const transitName = (m: Mesh, a: string, b: string): string | undefined => topology(m).transit(node(m, a), node(m, b))?.name;

const ABCD = ["a", "b", "c", "d"];

describe("peers (WireGuard)", () => {
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
    expect(
      topology(m)
        .node(me)
        .peers.map((p) => p.name),
    ).toEqual(want);
  });
});

describe("reflectors: BGP neighbours", () => {
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

describe("blacklist transit", () => {
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
    expect(transitName(m, a, b)).toBe(want);
    expect(transitName(m, b, a)).toBe(want);
    // The pair's own views: each knows its partner's relay, and the relay's sources include the partner's.
    expect(topology(m).node(a).transits.get(b)?.name).toBe(want);
    expect(
      topology(m)
        .node(a)
        .relays.get(want)
        ?.map((p) => p.name),
    ).toContain(b);
  });

  it("a pair no node reaches is a located problem, not an exception", () => {
    const m = buildMesh("t", {
      nodes: ["a", "b", "c"],
      network: { RouteReflectors: ["c"] },
      blacklist: [
        ["a", "b"],
        ["a", "c"],
      ],
    });
    const t = topology(m);
    expect(transitName(m, "a", "b")).toBeUndefined();
    expect(t.node("a").transits.has("b")).toBe(false);
    const p = t.problems.find((x) => /'a' and 'b' have no node in common.*\[PeerBlacklist\] Blacklist/.test(x.message));
    expect(p?.where).toMatchObject({ table: "PeerBlacklist", key: "Blacklist", node: "a" });
  });

  it("rr5-blacklist fixture: rr1 relays between c1 and c2", () => {
    const m = loadFixture("rr5-blacklist");
    expect(transitName(m, "c1", "c2")).toBe("rr1");
    // c1's inbound policy: only its partner c2 (the reflectors checked the rest), next hop rewritten to the relay.
    const policy = topology(m)
      .node("c1")
      .policy[4].map((e) => `${e.owner.name}${e.via ? ` via ${e.via.name}` : ""}`);
    expect(policy).toEqual(["c2 via rr1"]);
  });
});

describe("problems: every routing problem of a mesh, located", () => {
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
    const problems = topology(buildMesh("t", spec)).problems;
    const p = problems.find((x) => message.test(x.message));
    expect(p, problems.map((x) => x.message).join("\n")).toBeDefined();
    expect(p?.phase).toBe("deploy");
    expect(p?.hint).toBeTruthy();
    expect(p?.where?.node).toBe(nodeName);
  });

  it("a mesh with three problems reports all three, and renderBundle refuses it naming each", () => {
    // BGP run by BIRD, a node without a router id, a reflector blacklisted with a client.
    const m3 = buildMesh("t", {
      nodes: ["a", "b", "c", "r"],
      network: { RouteReflectors: ["r"], RoutingDaemon: "bird" },
      blacklist: [["a", "r"]],
      noAddress: ["c"],
    });
    const t3 = topology(m3);
    expect(t3.problems.map((p) => p.where?.node)).toEqual([undefined, "c", "r"]);
    let err: unknown;
    try {
      renderBundle(t3.node("a"), "x");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CiabError);
    for (const p of t3.problems) expect((err as CiabError).message).toContain(p.message);
  });

  it.each(["rr3", "rr5-blacklist", "ospf4-bird", "dualstack", "ospf3-frr"])("fixture %s has no problems", (name) => {
    expect(topology(loadFixture(name)).problems).toEqual([]);
  });

  it("Routing = none has no routing checks (a blacklisted pair still needs a relay for the guard's sources)", () => {
    const none = { Routing: "none" };
    expect(topology(buildMesh("t", { nodes: ["a", "b", "c"], network: none, blacklist: [["a", "b"]] })).problems).toEqual([]);
    const lone = topology(buildMesh("t", { nodes: ["a", "b"], network: none, blacklist: [["a", "b"]] })).problems;
    expect(lone.map((p) => p.message)).toEqual([expect.stringMatching(/'a' and 'b' have no node in common/)]);
  });
});

describe("ownership", () => {
  const m = buildMesh("t", {
    nodes: ["a", "b", "c"],
    network: { AddressPoolIPv6: "2001:db8:42::/64" },
    subnets: { a: ["10.0.10.0/24", "10.0.9.5/24", "2001:db8:a::/48", "10.0.2.0/25"], c: ["2001:db8:c::/64"] },
  });
  const t = topology(m);

  it("owned: one family, host bits cleared, sorted numerically", () => {
    expect(t.node("a").owned).toEqual({ 4: ["10.0.2.0/25", "10.0.9.0/24", "10.0.10.0/24"], 6: ["2001:db8:a::/48"] });
    expect(t.owned(node(m, "b"), 4)).toEqual([]);
  });

  it("owners: the other nodes with prefixes of the family; full-mesh policy checks each of them", () => {
    expect(t.node("b").owners[4].map((n) => n.name)).toEqual(["a"]);
    expect(t.node("a").owners[6].map((n) => n.name)).toEqual(["c"]);
    expect(t.node("a").owners[4]).toEqual([]);
    expect(t.node("b").policy[6].map((e) => e.owner.name)).toEqual(["a", "c"]);
    expect(t.prefixOwners[6].map((n) => n.name)).toEqual(["a", "c"]);
  });

  it("the guard's destinations and sources: aggregated prefixes (sibling VTEPs .2 and .3 are one /31), own addresses", () => {
    expect(t.destinations[4]).toEqual(["172.20.0.0/24", "10.0.2.0/25", "10.0.9.0/24", "10.0.10.0/24", "169.254.1.1", "169.254.1.2/31"]);
    expect(t.sources(node(m, "a"), 4)).toEqual(["172.20.0.1", "10.0.2.0/25", "10.0.9.0/24", "10.0.10.0/24"]);
    // Link-local and :: (LINK_SOURCES6) are not a peer's own: the guard accepts them from any peer's MAC.
    expect(t.sources(node(m, "b"), 6)).toEqual([expect.stringMatching(/^2001:db8:42:/)]);
  });

  it("vxlanDev is v<mesh>", () => {
    expect(vxlanDev(m)).toBe("vt");
    expect(t.vxlanIf).toBe("vt");
  });
});

describe("IPv6", () => {
  it("an IPv6 subnet adds the IPv6 family and IPv6 forwarding; the data plane lists IPv6 neighbours", () => {
    const v4 = topology(buildMesh("t", { nodes: ["a", "b"], subnets: { a: ["10.0.1.0/24"] } }));
    expect(v4.families).toEqual([4]);
    expect(v4.ipv6Forwarding).toBe(false);
    const m = buildMesh("t", { nodes: ["a", "b"], network: { AddressPoolIPv6: "fd42::/64" }, subnets: { a: ["fd00:1::/64"] } });
    const t = topology(m);
    expect(t.families).toEqual([4, 6]);
    expect(t.ipv6Forwarding).toBe(true);
    const dp = t.node("a").dataplane;
    expect(dp.neighbours.map((n) => n.ip)).toEqual(["172.20.0.2", expect.stringMatching(/^fd42::/)]);
    expect(dp.addresses).toEqual(["172.20.0.1/24", expect.stringMatching(/^fd42::.*\/64$/)]);
    expect(t.node("b").policy[6].map((e) => e.owner.name)).toEqual(["a"]);
  });

  it("an IPv6 endpoint raises every node's WireGuard overhead that has a path to it", () => {
    const m = buildMesh("t", { nodes: ["a", "b", "c"], network: { RouteReflectors: ["a"] }, blacklist: [["b", "c"]] });
    const t = topology(m);
    expect(t.node("b").mtu).toMatchObject({ wg: 1440, vxlan: 1390 });
  });
});

describe("data plane", () => {
  it("flood and unicast entries for every WireGuard peer, none for a blacklisted partner", () => {
    const m = buildMesh("t", { nodes: ["a", "b", "c", "r"], network: { RouteReflectors: ["r"] }, blacklist: [["a", "b"]] });
    const dp = topology(m).node("a").dataplane;
    expect(dp.peers.map((p) => p.name)).toEqual(["c", "r"]);
    expect(dp.flood).toEqual(["169.254.1.3", "169.254.1.4"]);
    expect(dp.unicast.map((u) => u.vtep)).toEqual(dp.flood);
    expect(dp.neighbours.map((n) => n.ip)).toEqual(["172.20.0.3", "172.20.0.4"]);
    expect(dp).toMatchObject({ wgIf: "t", vxlanIf: "vt", vtep: "169.254.1.1", vtepFamily: 4 });
  });

  it("a node's view is built from the one value: asking twice gives equal facts", () => {
    const t = topology(loadFixture("rr5-blacklist"));
    expect(t.node("c1")).toEqual(t.node("c1"));
    expect(() => t.node("nope")).toThrow(/not in mesh/);
  });
});
