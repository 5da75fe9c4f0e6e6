// The topology of a mesh, computed once (squat/kilo's NewTopology): who talks to whom on the overlay — WireGuard
// peers, VTEPs, FDB and neighbour entries, BGP neighbours (reflectors or full mesh), the relay of each blacklisted
// pair, which prefixes each node owns, the MTU plan — and every deploy problem of the mesh, located. Renderers are
// functions of one node's view of it (`topology(mesh).node(n)`), so nothing is derived twice and no renderer keeps
// a cache. Mesh-wide indexes are built eagerly in O(nodes + blacklist); a node's lists (O(peers)) are built when its
// view is asked for, so rendering a large mesh holds one node's lists at a time. Pure; no I/O; every list sorted.

import { vxlanIfname, wgIfname } from "../ipam/ifname.js";
import { aggregate, type Family, sortedNetworks } from "../ipam/ip.js";
import { type Problem, problemsError } from "./errors.js";
import { isPublic, type Mesh, type MeshNode, pairKey } from "./mesh.js";
import { type MtuPlan, mtuPlans } from "./mtu.js";
import { endpointProblems } from "./routing-problems.js";
import { deployProblems } from "./validate.js";

/** The VXLAN device of a mesh (vwgen's name). checkNetworkName keeps it within Linux's 15 bytes. */
export const vxlanDev = (mesh: Mesh): string => vxlanIfname(mesh.name);

export const isReflector = (mesh: Mesh, n: MeshNode): boolean => mesh.network.routeReflectors.includes(n.name);

/** Address without its length ("2001:db8::1/64" -> "2001:db8::1"). */
export const hostPart = (a: string): string => a.split("/")[0] as string;

export interface BgpNeighbor {
  node: MeshNode;
  /** This side reflects routes to the neighbor (RFC 4456 §6): we are a reflector and it is a client. */
  rrClient: boolean;
}

/** The desired data plane of one node: one source for the wg-quick file's hooks and ciab-up's re-run reconciliation. */
export interface Dataplane {
  wgIf: string;
  vxlanIf: string;
  /** This node's VTEP and its family: an IPv6 (link-local) VTEP binds the VXLAN device to the WireGuard interface. */
  vtep: string;
  vtepFamily: 4 | 6;
  mtu: MtuPlan;
  peers: MeshNode[];
  /** Overlay addresses on the VXLAN device (IPv4 with pool length, derived IPv6). */
  addresses: string[];
  /** One all-zero (flood) entry per peer VTEP: head-end replication of broadcast, ARP, multicast. */
  flood: string[];
  /** Known unicast: the peer's VXLAN MAC at its VTEP, so unicast is not flooded to every peer (FINDINGS §4). */
  unicast: { mac: string; vtep: string }[];
  /** Static neighbour entries for the peers' overlay addresses (no ARP/ND needed on the mesh). */
  neighbours: { ip: string; mac: string }[];
}

/** One entry of a node's inbound routing policy: whose prefixes it checks, and the relay when they are blacklisted. */
export interface PolicyEntry {
  owner: MeshNode;
  via?: MeshNode;
}

/** Everything about one node, as the topology sees it. */
export interface NodeTopology {
  topology: Topology;
  node: MeshNode;
  reflector: boolean;
  /** WireGuard peers: every other node except blacklisted partners, sorted by name. */
  peers: MeshNode[];
  /**
   * iBGP sessions. With RouteReflectors, reflectors peer with every node and with each other (each reflector is its
   * own cluster, so a client keeps a path through every reflector), clients only with reflectors. Without
   * reflectors, a full mesh. A blacklisted pair never gets a session: with no WireGuard peer, its frames go nowhere.
   */
  bgpNeighbors: BgpNeighbor[];
  /** Relayed partner name (blacklisted, apart behind NATs, or probed) -> the node that relays traffic between the pair. */
  transits: Map<string, MeshNode>;
  /** Peer name -> our blacklisted partners whose traffic that peer relays to us (their sources arrive from it). */
  relays: Map<string, MeshNode[]>;
  /**
   * BGP inbound policy per family: the owners whose routes this node checks. Reflectors and full-mesh nodes check
   * every other owner; a reflector client hears routes only from the reflectors, which have already checked them,
   * so it keeps entries only for its blacklisted partners (to relay their traffic): O(1) instead of O(nodes).
   */
  policy: Record<Family, PolicyEntry[]>;
  /** The other nodes that own prefixes of a family (whose routes OSPF accepts), sorted by name. */
  owners: Record<Family, MeshNode[]>;
  /** This node's Subnets of each family, canonical and sorted. */
  owned: Record<Family, string[]>;
  mtu: MtuPlan;
  dataplane: Dataplane;
}

export interface Topology {
  mesh: Mesh;
  wgIf: string;
  vxlanIf: string;
  /** The families the routing runs: IPv4 always (router ids, sessions), IPv6 when any node owns an IPv6 subnet. */
  families: Family[];
  /** IPv6 forwarding is needed for an IPv6 overlay pool or any IPv6 container subnet (OSPFv3 needs no pool). */
  ipv6Forwarding: boolean;
  /** Every deploy problem of the mesh (the file's own, MTU, routing, endpoints, relays), located. Render refuses any. */
  problems: Problem[];
  /** What deploying it risks without being refused (a node without endpoint must speak first), one line each. */
  warnings: string[];
  /** Nodes that own prefixes of a family, sorted by name. */
  prefixOwners: Record<Family, MeshNode[]>;
  /** What the mesh owns as destinations: the overlay pool (or addresses), every node's Subnets and IPv4 VTEPs; aggregate. */
  destinations: Record<Family, string[]>;
  /** A node's Subnets of a family, canonical (host bits cleared) and sorted numerically. */
  owned(n: MeshNode, family: Family): string[];
  /**
   * The sources a peer may use on the overlay, as the guard's sets take them (aggregate: no overlaps, siblings
   * merged): its overlay addresses and Subnets, and those of the nodes it relays for (`relayed`). Every peer may
   * also use LINK_SOURCES6, which the guard checks by MAC alone.
   */
  sources(n: MeshNode, family: Family, relayed?: MeshNode[]): string[];
  /** A node's overlay addresses without lengths (IPv4, then the derived IPv6). */
  hosts(n: MeshNode): string[];
  /** The node that relays traffic between a blacklisted pair (reflectors first, then by name); undefined when none can. */
  transit(a: MeshNode, b: MeshNode): MeshNode | undefined;
  /** The pair has no WireGuard peer of its own: blacklisted, or behind NATs that keep it apart (relayed). */
  apart(a: MeshNode, b: MeshNode): boolean;
  /** The pair goes through its transit because an agent reported it unreached, but keeps its peer as a probe. */
  probing(a: MeshNode, b: MeshNode): boolean;
  /** One node's view: its peers, sessions, policy, data plane. Built on each call (O(peers)); not cached. */
  node(n: MeshNode | string): NodeTopology;
}

/** IPv6 sources every peer may use, whatever it owns: the unspecified address (DAD, MLD) and link-local (ND, OSPFv3, BGP next hops). */
export const LINK_SOURCES6 = ["::", "fe80::/10"] as const;

/** Renderers refuse a topology with problems: one error listing every one of them (not only the first). */
export function checkTopology(t: Topology): void {
  if (t.problems.length) throw problemsError(t.problems);
}

export function topology(mesh: Mesh): Topology {
  const byName = new Map(mesh.nodes.map((n) => [n.name, n]));
  const reflectors = new Set(mesh.network.routeReflectors);
  const natPairs = natRelayPairs(mesh);
  const partners = new Map<string, Set<string>>();
  for (const pair of [...mesh.blacklist, ...natPairs.keys()]) {
    const [a, b] = pair.split(",") as [string, string];
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as const) {
      const s = partners.get(x) ?? new Set<string>();
      s.add(y);
      partners.set(x, s);
    }
  }
  const blocked = (a: MeshNode, b: MeshNode): boolean => partners.get(a.name)?.has(b.name) ?? false;

  // Each Subnet is parsed once for the whole mesh.
  const ownedBy = new Map<string, Record<Family, string[]>>();
  const rawSources = new Map<string, Record<Family, string[]>>();
  const sourcesBy = new Map<string, Record<Family, string[]>>();
  for (const n of mesh.nodes) {
    const o: Record<Family, string[]> = { 4: sortedNetworks(n.subnets, 4), 6: sortedNetworks(n.subnets, 6) };
    ownedBy.set(n.name, o);
    const hosts = [...n.address.map(hostPart), ...(n.ipv6 ? [hostPart(n.ipv6)] : [])];
    const fam = (a: string): Family => (a.includes(":") ? 6 : 4);
    const raw: Record<Family, string[]> = { 4: [...hosts.filter((a) => fam(a) === 4), ...o[4]], 6: [...hosts.filter((a) => fam(a) === 6), ...o[6]] };
    rawSources.set(n.name, raw);
    sourcesBy.set(n.name, { 4: aggregate(raw[4]), 6: aggregate(raw[6]) });
  }
  const owned = (n: MeshNode, f: Family): string[] => ownedBy.get(n.name)?.[f] ?? [];
  // Each node's overlay addresses without lengths (IPv4 and the derived IPv6): its peers' static neighbours.
  const hostsBy = new Map(mesh.nodes.map((n) => [n.name, [...n.address.map(hostPart), ...(n.ipv6 ? [hostPart(n.ipv6)] : [])]]));
  const sources = (n: MeshNode, f: Family, relayed: MeshNode[] = []): string[] => {
    if (relayed.length === 0) return sourcesBy.get(n.name)?.[f] ?? [];
    return aggregate([n, ...relayed].flatMap((x) => rawSources.get(x.name)?.[f] ?? []));
  };
  const prefixOwners: Record<Family, MeshNode[]> = { 4: mesh.nodes.filter((n) => owned(n, 4).length > 0), 6: mesh.nodes.filter((n) => owned(n, 6).length > 0) };
  const families: Family[] = prefixOwners[6].length > 0 ? [4, 6] : [4];

  const destinations = (family: Family): string[] => {
    const pool = family === 4 ? mesh.network.poolIPv4 : mesh.network.poolIPv6;
    const out: string[] = pool ? [pool] : [];
    for (const n of mesh.nodes) {
      if (!pool) out.push(...n.address.map(hostPart).filter((a) => a.includes(":") === (family === 6)));
      out.push(...owned(n, family));
      if (family === 4 && n.vtepFamily === 4) out.push(n.vtep);
    }
    return aggregate(out);
  };

  // Reflected routes keep the originator's next hop (RFC 4456 §10), so without a relay a would send to b directly.
  const transits = new Map<string, MeshNode | undefined>();
  const rrFirst = [...mesh.nodes.filter((n) => reflectors.has(n.name)), ...mesh.nodes.filter((n) => !reflectors.has(n.name))];
  for (const pair of [...mesh.blacklist].sort()) {
    const [a, b] = pair.split(",").map((x) => byName.get(x)) as [MeshNode | undefined, MeshNode | undefined];
    if (!a || !b) continue;
    transits.set(
      pair,
      rrFirst.find((t) => t !== a && t !== b && !blocked(t, a) && !blocked(t, b)),
    );
  }
  // A pair behind NATs goes through a public node: the pair's own Relay (the first of the two by name that names
  // one), else public reflectors first, then public nodes by name; never one that either is blacklisted with.
  const fits = (t: MeshNode | undefined, a: MeshNode, b: MeshNode): t is MeshNode =>
    t !== undefined && t !== a && t !== b && isPublic(t) && !blocked(t, a) && !blocked(t, b);
  for (const [pair, [a, b]] of [...natPairs].sort(([x], [y]) => (x < y ? -1 : 1))) {
    if (transits.has(pair)) continue; // blacklisted as well: the blacklist's relay
    const named = [a, b].map((n) => (n.relay && n.relay !== "auto" ? byName.get(n.relay) : undefined)).find((t) => fits(t, a, b));
    transits.set(pair, named ?? rrFirst.find((t) => fits(t, a, b)));
  }
  // Pairs an agent reported unreached (no handshake for a bounded time, agent/reach.ts) go through a relay as well,
  // but keep their WireGuard peer, VXLAN entries and static neighbours: that peer is the probe whose handshake takes
  // the pair direct again. A record must never make a mesh undeployable, so a pair the relay cannot carry stays
  // direct with a warning.
  const probing = new Map<string, Set<string>>();
  const probeWarnings: string[] = [];
  const far = (t: MeshNode, x: MeshNode) => blocked(t, x) || (probing.get(t.name)?.has(x.name) ?? false);
  for (const [pair, { a, b, by }] of unreachedPairs(mesh, byName)) {
    if (transits.has(pair)) continue; // blacklisted or NAT-relayed already
    const other = by === a.name ? b.name : a.name;
    let why: string | undefined;
    let via: MeshNode | undefined;
    if (mesh.network.routing !== "bgp" || reflectors.size === 0) why = "only BGP with RouteReflectors steers a pair through a relay";
    else if (reflectors.has(a.name) || reflectors.has(b.name)) why = "a route reflector must reach every node itself";
    else {
      const ok = (t: MeshNode | undefined): t is MeshNode => fits(t, a, b) && !far(t, a) && !far(t, b);
      via = [a, b].map((n) => (n.relay && n.relay !== "auto" ? byName.get(n.relay) : undefined)).find(ok) ?? rrFirst.find(ok);
      if (!via) why = "no public node reaches both";
    }
    if (!via) {
      probeWarnings.push(`node '${by}' gets no WireGuard handshake from '${other}'; the pair stays direct: ${why}`);
      continue;
    }
    transits.set(pair, via);
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as const) {
      const set = probing.get(x.name) ?? new Set<string>();
      set.add(y.name);
      probing.set(x.name, set);
    }
  }
  const transit = (a: MeshNode, b: MeshNode): MeshNode | undefined => transits.get(pairKey(a.name, b.name));

  const relayProblems: Problem[] = [];
  for (const [pair, t] of transits) {
    if (t) continue;
    const [a, b] = pair.split(",") as [string, string];
    const nat = natPairs.get(pair);
    if (nat && !mesh.blacklist.has(pair)) {
      relayProblems.push({
        phase: "deploy",
        message: `nodes '${a}' and '${b}' cannot connect directly (${natPairs.why(pair)}) and no public node can relay their traffic`,
        hint: `give one of them an Endpoint it is reachable at, or add a node with NAT = "none" and an Endpoint that neither is blacklisted with`,
        where: { table: `Node.${a}`, key: "NAT", node: a },
      });
      continue;
    }
    relayProblems.push({
      phase: "deploy",
      message: `blacklisted nodes '${a}' and '${b}' have no node in common to relay their traffic ([PeerBlacklist] Blacklist)`,
      hint: `remove the pair ${pair} from [PeerBlacklist] Blacklist, or add a node that neither is blacklisted with`,
      where: { table: "PeerBlacklist", key: "Blacklist", node: a },
    });
  }
  // What blacklistErrors (routing-problems.ts) says of a blacklisted pair holds for a relayed one: OSPF needs every
  // router on the segment, and BGP needs a reflector that reaches both (and is not one of them).
  const routing = mesh.network.routing;
  for (const pair of [...natPairs.keys()].sort()) {
    if (mesh.blacklist.has(pair) || !transits.get(pair)) continue;
    const [a, b] = pair.split(",") as [string, string];
    const why = natPairs.why(pair);
    const rr = [a, b].find((x) => reflectors.has(x));
    const where = { table: "Network", key: "Routing", node: a };
    if (routing === "ospf")
      relayProblems.push({
        phase: "deploy",
        message: `nodes '${a}' and '${b}' go through a relay (${why}), which splits the OSPF broadcast segment`,
        hint: 'use Routing = "bgp" with RouteReflectors, or give one of them an Endpoint it is reachable at',
        where,
      });
    else if (routing === "bgp" && reflectors.size === 0)
      relayProblems.push({
        phase: "deploy",
        message: `nodes '${a}' and '${b}' go through a relay (${why}), but without RouteReflectors they would never learn each other's subnets`,
        hint: "set [Network] RouteReflectors to a public node (NAT none, with an Endpoint): it reaches every node",
        where: { ...where, key: "RouteReflectors" },
      });
    else if (routing === "bgp" && rr)
      relayProblems.push({
        phase: "deploy",
        message: `route reflector '${rr}' cannot reach '${rr === a ? b : a}' directly (${why}); a reflector must reach every node`,
        hint: "choose a public node (NAT none, with an Endpoint) as route reflector",
        where: { ...where, key: "RouteReflectors", node: rr },
      });
  }
  const mtu = mtuPlans(mesh);
  const endpoints = endpointProblems(mesh, new Set(natPairs.keys()));
  const rr = reflectors.size > 0;
  const reflectorNodes = mesh.nodes.filter((n) => reflectors.has(n.name));

  const t: Topology = {
    mesh,
    wgIf: wgIfname(mesh.name),
    vxlanIf: vxlanDev(mesh),
    families,
    ipv6Forwarding: Boolean(mesh.network.poolIPv6) || prefixOwners[6].length > 0,
    // The endpoint problems come first: they say why a node can never be reached at all.
    problems: [...endpoints.filter((p) => p.phase !== "warning"), ...deployProblems(mesh), ...relayProblems],
    warnings: [...endpoints.filter((p) => p.phase === "warning").map((p) => p.message), ...probeWarnings],
    prefixOwners,
    destinations: { 4: destinations(4), 6: destinations(6) },
    owned,
    sources,
    hosts: (n) => hostsBy.get(n.name) ?? [],
    transit,
    apart: blocked,
    probing: (a, b) => probing.get(a.name)?.has(b.name) ?? false,
    node(which) {
      // By name: a node of another Mesh object built from the same document is the same node.
      const name = typeof which === "string" ? which : which.name;
      const node = byName.get(name);
      if (!node) throw new Error(`topology: node '${name}' is not in mesh '${mesh.name}'`);
      const mine = partners.get(node.name);
      const probes = probing.get(node.name);
      // Partners whose traffic goes through a relay: those apart, and those probed (still WireGuard peers).
      const relayedTo = (p: MeshNode) => (mine?.has(p.name) ?? false) || (probes?.has(p.name) ?? false);
      const peers = mesh.nodes.filter((p) => p !== node && !mine?.has(p.name));
      const reflector = reflectors.has(node.name);
      const sessions = rr && !reflector ? reflectorNodes.filter((p) => p !== node && !mine?.has(p.name)) : peers;
      const bgpNeighbors = sessions.map((p) => ({ node: p, rrClient: reflector && !reflectors.has(p.name) }));
      const myTransits = new Map<string, MeshNode>();
      const relays = new Map<string, MeshNode[]>();
      for (const p of mesh.nodes) {
        if (!relayedTo(p)) continue;
        const via = transit(node, p);
        if (!via) continue;
        myTransits.set(p.name, via);
        relays.set(via.name, [...(relays.get(via.name) ?? []), p]);
      }
      const others = (f: Family) => prefixOwners[f].filter((o) => o !== node);
      const checks = (o: MeshNode) => !rr || reflector || relayedTo(o);
      const policy = (f: Family): PolicyEntry[] =>
        others(f)
          .filter(checks)
          .map((o) => {
            const via = myTransits.get(o.name);
            return via ? { owner: o, via } : { owner: o };
          });
      const plan = mtu.get(node.name) as MtuPlan;
      // The data plane's lists are O(peers) objects; renderers that only need text do not ask for them.
      let dp: Dataplane | undefined;
      const dataplane = (): Dataplane => {
        dp ??= {
          wgIf: wgIfname(mesh.name),
          vxlanIf: vxlanDev(mesh),
          vtep: node.vtep,
          vtepFamily: node.vtepFamily,
          mtu: plan,
          peers,
          addresses: [...node.address, ...(node.ipv6 ? [node.ipv6] : [])],
          flood: peers.map((p) => p.vtep),
          unicast: peers.map((p) => ({ mac: p.mac, vtep: p.vtep })),
          neighbours: peers.flatMap((p) => (hostsBy.get(p.name) as string[]).map((ip) => ({ ip, mac: p.mac }))),
        };
        return dp;
      };
      return {
        topology: t,
        node,
        reflector,
        peers,
        bgpNeighbors,
        transits: myTransits,
        relays,
        policy: { 4: policy(4), 6: policy(6) },
        owners: { 4: others(4), 6: others(6) },
        owned: { 4: owned(node, 4), 6: owned(node, 6) },
        mtu: plan,
        get dataplane() {
          return dataplane();
        },
      };
    },
  };
  return t;
}

/**
 * Pairs one of whose agents reported the other unreached (Learned.unreached) where at least one is behind a NAT
 * (two public nodes that cannot meet are a firewall's business: the blacklist says so), keyed by pairKey, in key
 * order; `by`: who reported it first by name.
 */
function unreachedPairs(mesh: Mesh, byName: ReadonlyMap<string, MeshNode>): [string, { a: MeshNode; b: MeshNode; by: string }][] {
  const out = new Map<string, { a: MeshNode; b: MeshNode; by: string }>();
  for (const [name, l] of mesh.learned ?? []) {
    const self = byName.get(name);
    if (!self || !l.unreached) continue;
    for (const other of l.unreached) {
      const peer = byName.get(other);
      if (!peer || peer === self || (self.nat === "none" && peer.nat === "none")) continue;
      const key = pairKey(name, other);
      const [a, b] = name < other ? [self, peer] : [peer, self];
      const seen = out.get(key);
      if (!seen || name < seen.by) out.set(key, { a, b, by: name });
    }
  }
  return [...out].sort(([x], [y]) => (x < y ? -1 : 1));
}

/** A node behind a NAT whose mapping depends on the destination: it can reach public nodes only. */
const symmetric = (mesh: Mesh, n: MeshNode): boolean => n.nat === "symmetric" || mesh.learned?.get(n.name)?.nat === "symmetric";

/**
 * Pairs that cannot connect directly, so a public node relays them as it relays a blacklisted pair (issue 13):
 * both behind a NAT where either is symmetric (its mapping towards the other is unknown), or neither with an
 * endpoint where one is behind a NAT (nobody can start the handshake; a NAT = "auto" node before STUN answered).
 * Keyed by pairKey; `why` says which. O(NATed nodes x nodes).
 */
function natRelayPairs(mesh: Mesh): Map<string, [MeshNode, MeshNode]> & { why(pair: string): string } {
  const out = new Map<string, [MeshNode, MeshNode]>() as Map<string, [MeshNode, MeshNode]> & { why(pair: string): string };
  const reasons = new Map<string, string>();
  const hasEndpoint = (n: MeshNode) => n.endpoint !== undefined && !n.endpoint.broken;
  const natted = mesh.nodes.filter((n) => n.nat !== "none");
  for (const a of natted) {
    for (const b of mesh.nodes) {
      if (b === a || (b.nat !== "none" && b.name < a.name)) continue; // each NATed pair once
      const sym = b.nat !== "none" && (symmetric(mesh, a) || symmetric(mesh, b));
      const silent = !hasEndpoint(a) && !hasEndpoint(b);
      if (!sym && !silent) continue;
      const key = pairKey(a.name, b.name);
      out.set(key, a.name < b.name ? [a, b] : [b, a]);
      reasons.set(key, sym ? `behind NATs, ${symmetric(mesh, a) ? a.name : b.name} symmetric` : "neither has an endpoint");
    }
  }
  out.why = (pair) => reasons.get(pair) ?? "";
  return out;
}
