// Who talks to whom on the overlay: WireGuard peers, BGP neighbors (route reflectors or full mesh), the relay node
// for a blacklisted pair, and which prefixes each node owns. Also the routing checks the mesh file alone cannot
// express. Pure; no I/O. Every list comes back sorted, so renderers are deterministic.
import { vxlanIfname } from "../ipam/ifname.js";
import { type Family, formatPrefix, network, parsePrefix } from "../ipam/ip.js";
import { CiabError, type Problem } from "./errors.js";
import { type Mesh, type MeshNode, pairKey } from "./mesh.js";

/** The VXLAN device of a mesh (vwgen's `v<name>`, from the one namer ipam/ifname.ts: <= 15 bytes). */
export const vxlanDev = (mesh: Mesh): string => vxlanIfname(mesh.name);

export const isBlacklisted = (mesh: Mesh, a: MeshNode, b: MeshNode): boolean => mesh.blacklist.has(pairKey(a.name, b.name));

export const isReflector = (mesh: Mesh, n: MeshNode): boolean => mesh.network.routeReflectors.includes(n.name);

/** Every other node except blacklisted pairs, sorted by name (mesh.nodes is sorted). */
export function wgPeers(mesh: Mesh, node: MeshNode): MeshNode[] {
  return mesh.nodes.filter((p) => p.name !== node.name && !isBlacklisted(mesh, node, p));
}

export interface BgpNeighbor {
  node: MeshNode;
  /** This side reflects routes to the neighbor (RFC 4456 §6): we are a reflector and it is a client. */
  rrClient: boolean;
}

/**
 * iBGP sessions of a node. With RouteReflectors, reflectors peer with every node and with each other (each reflector
 * is its own cluster, so a client keeps a path through every reflector), clients only with reflectors. Without
 * reflectors, a full mesh. A blacklisted pair never gets a session: with no WireGuard peer, its VXLAN frames go nowhere.
 */
export function bgpNeighbors(mesh: Mesh, node: MeshNode): BgpNeighbor[] {
  checkBlacklist(mesh);
  const rr = mesh.network.routeReflectors.length > 0;
  const meRR = isReflector(mesh, node);
  return wgPeers(mesh, node)
    .filter((p) => !rr || meRR || isReflector(mesh, p))
    .map((p) => ({ node: p, rrClient: meRR && !isReflector(mesh, p) }));
}

/**
 * The node that relays traffic between a blacklisted pair: reachable from both (reflectors first, then by name).
 * Reflected routes keep the originator's next hop (RFC 4456 §10), so without a relay a would send to b directly.
 */
export function transitFor(mesh: Mesh, a: MeshNode, b: MeshNode): MeshNode {
  const ok = mesh.nodes.filter((t) => t.name !== a.name && t.name !== b.name && !isBlacklisted(mesh, t, a) && !isBlacklisted(mesh, t, b));
  const best = ok.find((t) => isReflector(mesh, t)) ?? ok[0];
  if (!best) {
    throw new CiabError("invalid", `blacklisted nodes '${a.name}' and '${b.name}' have no node in common to relay their traffic ([PeerBlacklist] Blacklist)`, {
      hint: `remove the pair ${pairKey(a.name, b.name)} from [PeerBlacklist] Blacklist, or add a node that neither is blacklisted with`,
      where: { table: "PeerBlacklist", key: "Blacklist", node: a.name },
    });
  }
  return best;
}

/** For each blacklisted partner of `node`, the relay to use: [partner, transit], sorted by partner name. */
export function blacklistTransits(mesh: Mesh, node: MeshNode): [MeshNode, MeshNode][] {
  return mesh.nodes.filter((p) => p.name !== node.name && isBlacklisted(mesh, node, p)).map((p) => [p, transitFor(mesh, node, p)]);
}

// Meshes are immutable once built, so per-node derivations are computed once (a 1000-node render asks for every
// node's prefixes from every other node).
const owned = new WeakMap<MeshNode, Record<Family, string[]>>();

/** A node's Subnets of one family, canonical (host bits cleared) and sorted numerically. */
export function ownedPrefixes(node: MeshNode, family: Family): string[] {
  let o = owned.get(node);
  if (!o) {
    const all = node.subnets.map((s) => network(parsePrefix(s))).sort((x, y) => (x.addr === y.addr ? x.len - y.len : x.addr < y.addr ? -1 : 1));
    o = { 4: all.filter((p) => p.family === 4).map(formatPrefix), 6: all.filter((p) => p.family === 6).map(formatPrefix) };
    owned.set(node, o);
  }
  return o[family];
}

/** The other nodes that own prefixes of a family: whose routes `node` may accept. Sorted by name. */
export const prefixOwners = (mesh: Mesh, node: MeshNode, family: Family): MeshNode[] =>
  mesh.nodes.filter((o) => o.name !== node.name && ownedPrefixes(o, family).length > 0);

/** Whether any node owns a prefix of this family. */
export const meshHasFamily = (mesh: Mesh, family: Family): boolean => mesh.nodes.some((n) => ownedPrefixes(n, family).length > 0);

/** The families the routing runs: IPv4 always (router ids, sessions), IPv6 when any node owns an IPv6 subnet. */
export const routedFamilies = (mesh: Mesh): Family[] => (meshHasFamily(mesh, 6) ? [4, 6] : [4]);

/** Address without its length ("2001:db8::1/64" -> "2001:db8::1"). */
export const hostPart = (a: string): string => a.split("/")[0] as string;

/** Validate what the routing renderers need beyond the mesh file's own checks. Throws CiabError "invalid". */
export function checkRouting(mesh: Mesh): void {
  const first = routingErrors(mesh)[0];
  if (first) throw first;
}

/** The routing problems of a mesh as "deploy" problems (render refuses them; edits may not introduce them). */
export const routingProblems = (mesh: Mesh): Problem[] =>
  routingErrors(mesh).map((e) => ({ phase: "deploy", message: e.message, hint: e.hint, where: e.where }));

/** Every routing problem, in a stable order (not only the first: the cdk8s way). */
function routingErrors(mesh: Mesh): CiabError[] {
  const { routing, routingDaemon } = mesh.network;
  const errors: CiabError[] = [];
  if (routing === "none") return errors;
  if (routing === "bgp" && routingDaemon === "bird") {
    errors.push(
      new CiabError("invalid", `[Network] RoutingDaemon "bird" is only supported with Routing = "ospf"`, {
        hint: 'use RoutingDaemon = "frr" for BGP, or Routing = "ospf"',
        where: { table: "Network", key: "RoutingDaemon", value: routingDaemon },
      }),
    );
  }
  for (const n of mesh.nodes) {
    if (!n.overlayIPv4) {
      errors.push(
        new CiabError("invalid", `node '${n.name}': [Node.${n.name}] Address has no IPv4 overlay address, which ${routing.toUpperCase()} needs as router-id`, {
          hint: "set pool-ipv4 and give the node an address from it",
          where: { table: `Node.${n.name}`, key: "Address", node: n.name },
        }),
      );
    }
    if (routing === "bgp" && !n.ipv6 && ownedPrefixes(n, 6).length > 0) {
      errors.push(
        new CiabError(
          "invalid",
          `node '${n.name}': [Node.${n.name}] Subnets has IPv6 prefixes but the network has no AddressPoolIPv6 for the IPv6 BGP sessions`,
          {
            hint: "set pool-ipv6 on the network (e.g. a /64 of your own) so every node gets an overlay IPv6 address",
            where: { table: `Node.${n.name}`, key: "Subnets", node: n.name },
          },
        ),
      );
    }
  }
  if (routing === "bgp") errors.push(...blacklistErrors(mesh));
  const pair = [...mesh.blacklist].sort()[0];
  if (routing === "ospf" && pair) {
    const [a] = pair.split(",");
    // OSPF treats the VXLAN segment as one broadcast network (RFC 2328 §2.1.1): every router must hear every other.
    errors.push(
      new CiabError(
        "invalid",
        `node '${a}': [PeerBlacklist] Blacklist pair ${pair} splits the OSPF broadcast segment; OSPF needs every node to reach every other`,
        {
          hint: 'remove the pair from [PeerBlacklist] Blacklist, or use Routing = "bgp" with RouteReflectors (a blacklisted pair then talks through a relay)',
          where: { table: "PeerBlacklist", key: "Blacklist", node: a },
        },
      ),
    );
  }
  return errors;
}

function checkBlacklist(mesh: Mesh): void {
  const first = blacklistErrors(mesh)[0];
  if (first) throw first;
}

/** BGP rules for blacklisted pairs: they need a reflector to learn each other's routes, and a reflector must reach all. */
function blacklistErrors(mesh: Mesh): CiabError[] {
  const rrs = mesh.network.routeReflectors;
  const errors: CiabError[] = [];
  for (const pair of [...mesh.blacklist].sort()) {
    const [a, b] = pair.split(",") as [string, string];
    const rr = [a, b].find((x) => rrs.includes(x));
    if (rr) {
      const other = rr === a ? b : a;
      errors.push(
        new CiabError(
          "invalid",
          `node '${rr}' is a route reflector ([Network] RouteReflectors) but is blacklisted with '${other}' ([PeerBlacklist] Blacklist); a reflector must reach every node`,
          {
            hint: `remove the pair ${pair} from [PeerBlacklist] Blacklist, or choose another node in [Network] RouteReflectors`,
            where: { table: "PeerBlacklist", key: "Blacklist", node: rr },
          },
        ),
      );
    }
    if (rrs.length === 0) {
      errors.push(
        new CiabError(
          "invalid",
          `node '${a}' is blacklisted with '${b}' ([PeerBlacklist] Blacklist) but [Network] RouteReflectors is empty; in a full iBGP mesh they would never learn each other's subnets`,
          {
            hint: `set [Network] RouteReflectors to a node that both '${a}' and '${b}' can reach; it also relays their traffic`,
            where: { table: "Network", key: "RouteReflectors", node: a },
          },
        ),
      );
    }
  }
  return errors;
}
