// Pairs behind NATs that cannot connect directly go through a public node (issue 13 part 5), by the blacklist's
// transit mechanism: no WireGuard peer between them, the relay as BGP next hop, the guard admitting the relayed
// sources. Which pairs, which relay (Relay, reflectors first), and the problems when none can relay.
import { describe, expect, it } from "vitest";
import { seededRandom } from "../../src/keys/random.js";
import { addNodes, applySet, ensureNetwork } from "../../src/model/edit.js";
import { type Mesh, meshFromDoc } from "../../src/model/mesh.js";
import type { TomlTable } from "../../src/model/toml.js";
import { topology } from "../../src/model/topology.js";
import { bundleRenderer } from "../../src/render/bundle.js";
import { renderWireguard } from "../../src/render/wireguard.js";

const random = seededRandom("nat-relay");
/** p1, p2 public (p1 the reflector); a symmetric; b cone with a (learned) endpoint; c cone, nothing learned yet. */
function doc(extra: string[] = []): TomlTable {
  const d: TomlTable = {};
  ensureNetwork(d, random);
  addNodes(d, "m", ["a", "b", "c", "p1", "p2"], random);
  applySet(
    d,
    "m",
    [
      "stun-servers",
      "198.18.0.10:3478,198.18.0.11:3478",
      "route-reflectors",
      "p1",
      ...["node", "p1", "endpoint", "198.18.1.1:51820", "listen-port", "51820"],
      ...["node", "p2", "endpoint", "198.18.2.1:51820", "listen-port", "51820"],
      ...["node", "a", "nat", "symmetric", "listen-port", "51820"],
      ...["node", "b", "nat", "auto", "endpoint", "198.18.5.1:51821", "listen-port", "51821"],
      ...["node", "c", "nat", "auto", "listen-port", "51822"],
      ...extra,
    ],
    { random },
  );
  return d;
}
const meshOf = (d: TomlTable): Mesh => meshFromDoc("m", d, { file: "m.conf" });
const view = (m: Mesh, n: string) => topology(m).node(n);
const transits = (m: Mesh, n: string) => Object.fromEntries([...view(m, n).transits].map(([k, v]) => [k, v.name]));
const peers = (m: Mesh, n: string) => view(m, n).peers.map((p) => p.name);

describe("relayed pairs behind NATs", () => {
  it("a symmetric node reaches NATed nodes through the public reflector, public ones directly; two cones go direct", () => {
    const m = meshOf(doc());
    expect(topology(m).problems).toEqual([]);
    expect(peers(m, "a")).toEqual(["p1", "p2"]);
    expect(transits(m, "a")).toEqual({ b: "p1", c: "p1" });
    // b has an endpoint, c can start the handshake to it: direct
    expect(peers(m, "c")).toEqual(["b", "p1", "p2"]);
    expect(transits(m, "b")).toEqual({ a: "p1" });
    // the relay relays: it keeps every node as a peer and admits a's sources from a only
    expect(peers(m, "p1")).toEqual(["a", "b", "c", "p2"]);
    expect([...view(m, "b").relays].map(([k, v]) => [k, v.map((x) => x.name)])).toEqual([["p1", ["a"]]]);
  });

  it("negative control: the same mesh without NAT settings has no relayed pair", () => {
    const m = meshOf(
      doc(["node", "a", "nat", "none", "endpoint", "198.18.6.1:51820", "node", "b", "nat", "none", "node", "c", "nat", "none", "endpoint", "198.18.7.1:51822"]),
    );
    for (const n of ["a", "b", "c", "p1", "p2"]) expect(transits(m, n)).toEqual({});
    expect(peers(m, "a")).toEqual(["b", "c", "p1", "p2"]);
  });

  it("Relay names the relay: the first node of the pair by name that sets one", () => {
    const m = meshOf(doc(["node", "b", "relay", "p2"]));
    expect(transits(m, "a")).toEqual({ b: "p2", c: "p1" });
    const both = meshOf(doc(["node", "b", "relay", "p2", "node", "a", "relay", "p1"]));
    expect(transits(both, "b")).toEqual({ a: "p1" });
  });

  it("a verdict learned by STUN counts like the setting: c found symmetric is relayed from b", () => {
    const m = meshOf(doc());
    m.learned = new Map([["c", { nat: "symmetric", endpoint: false }]]);
    expect(transits(m, "b")).toEqual({ a: "p1", c: "p1" });
  });

  it("two NATed nodes without endpoints (STUN not answered yet) go through the relay instead of being refused", () => {
    const m = meshOf(doc(["node", "b", "endpoint", ""]));
    expect(topology(m).problems).toEqual([]);
    expect(transits(m, "b")).toEqual({ a: "p1", c: "p1" });
  });

  it("the wg-quick file has no peer for a relayed partner; desired.json names it with its relay", () => {
    const m = meshOf(doc());
    const t = topology(m);
    const wg = renderWireguard(t.node("a"));
    const keyOf = (n: string) => m.nodes.find((x) => x.name === n)?.publicKey as string;
    expect(wg).toContain(keyOf("p1"));
    expect(wg).not.toContain(keyOf("b"));
    const files = bundleRenderer(t, "x")(t.node("a"));
    const desired = JSON.parse(String(files.find((f) => f.path === "desired.json")?.content)) as { wireguard: { relayed?: { name: string; via: string }[] }[] };
    expect(desired.wireguard[0]?.relayed?.map((r) => [r.name, r.via])).toEqual([
      ["b", "p1"],
      ["c", "p1"],
    ]);
  });

  it("refused, naming the pair: no public node to relay, no reflector, OSPF, a NATed reflector", () => {
    const msgs = (m: Mesh) => topology(m).problems.map((p) => p.message);
    expect(msgs(meshOf(doc(["node", "p1", "nat", "auto", "node", "p2", "nat", "auto"])))).toEqual(
      expect.arrayContaining([expect.stringMatching(/nodes 'a' and 'b' cannot connect directly \(behind NATs, a symmetric\) and no public node can relay/)]),
    );
    expect(msgs(meshOf(doc(["route-reflectors", "none"])))).toEqual(
      expect.arrayContaining([expect.stringMatching(/nodes 'a' and 'b' go through a relay .* without RouteReflectors/)]),
    );
    expect(msgs(meshOf(doc(["routing", "ospf", "routing-daemon", "bird"])))).toEqual(
      expect.arrayContaining([expect.stringMatching(/splits the OSPF broadcast segment/)]),
    );
    expect(msgs(meshOf(doc(["route-reflectors", "b"])))).toEqual(
      expect.arrayContaining([expect.stringMatching(/route reflector 'b' cannot reach 'a' directly/)]),
    );
  });
});

describe("pairs reported unreached (issue 13 part 5: no handshake after a bounded time)", () => {
  const reported = (m: Mesh, by: string, ...peers: string[]) => {
    m.learned = new Map([...(m.learned ?? []), [by, { endpoint: false, unreached: new Set(peers) }]]);
    return m;
  };
  it("go through the relay and keep their WireGuard peer as the probe; the guard admits the relayed sources", () => {
    const m = reported(meshOf(doc(["node", "b", "subnets", "10.20.1.0/24"])), "b", "c");
    const t = topology(m);
    expect(t.problems).toEqual([]);
    expect(transits(m, "b")).toEqual({ a: "p1", c: "p1" });
    expect(transits(m, "c")).toEqual({ a: "p1", b: "p1" });
    // still peers of each other (the probe), while routes go through p1
    expect(peers(m, "b")).toContain("c");
    expect(peers(m, "c")).toContain("b");
    expect(t.probing(m.nodes.find((n) => n.name === "b") as never, m.nodes.find((n) => n.name === "c") as never)).toBe(true);
    expect(view(m, "c").policy[4].find((e) => e.owner.name === "b")?.via?.name).toBe("p1");
    expect([...view(m, "c").relays].map(([k, v]) => [k, v.map((x) => x.name)])).toEqual([["p1", ["a", "b"]]]);
    const files = bundleRenderer(t, "x")(t.node("c"));
    const desired = JSON.parse(String(files.find((f) => f.path === "desired.json")?.content)) as {
      wireguard: { peers: { name: string }[]; relayed?: { name: string; via: string; probe?: boolean }[] }[];
    };
    expect(desired.wireguard[0]?.relayed?.find((r) => r.name === "b")).toMatchObject({ via: "p1", probe: true });
    expect(desired.wireguard[0]?.peers.map((p) => p.name)).toContain("b");
  });

  it("negative control: without the report the pair is direct, with no policy through the relay", () => {
    const m = meshOf(doc(["node", "b", "subnets", "10.20.1.0/24"]));
    expect(transits(m, "c")).toEqual({ a: "p1" });
    expect(view(m, "c").policy[4].find((e) => e.owner.name === "b")).toBeUndefined();
  });

  it("never makes the mesh undeployable: a pair the relay cannot carry stays direct with a warning", () => {
    // a reflector cannot be relayed (it must reach every node itself)
    const rr = topology(reported(meshOf(doc()), "c", "p1"));
    expect(rr.problems).toEqual([]);
    expect(transits(rr.mesh, "c")).toEqual({ a: "p1" });
    expect(rr.warnings).toEqual(
      expect.arrayContaining([expect.stringMatching(/node 'c' gets no WireGuard handshake from 'p1'; the pair stays direct: a route reflector/)]),
    );
    // OSPF cannot steer a pair through a relay (and a has no symmetric setting here, so nothing else is relayed)
    const ospf = topology(
      reported(meshOf(doc(["routing", "ospf", "routing-daemon", "bird", "node", "a", "nat", "none", "endpoint", "198.18.6.1:51820"])), "b", "c"),
    );
    expect(ospf.problems).toEqual([]);
    expect(ospf.warnings).toEqual(expect.arrayContaining([expect.stringMatching(/only BGP with RouteReflectors/)]));
    // two public nodes are never relayed for a report (that is the blacklist's job)
    expect(transits(reported(meshOf(doc()), "p2", "p1"), "p2")).toEqual({});
    // names that are not nodes are ignored
    expect(topology(reported(meshOf(doc()), "b", "nobody")).problems).toEqual([]);
  });
});
