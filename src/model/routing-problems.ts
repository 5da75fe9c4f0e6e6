// The problems of a mesh's design that the file's own checks cannot see: what the routing needs (router ids, IPv6
// sessions, blacklisted pairs and reflectors) and whether every pair of peers can ever handshake. Each is a located
// "deploy" problem; all of them are collected (the cdk8s way), nothing throws. Pure; no I/O.
import { CiabError, type Problem } from "./errors.js";
import { type Mesh, pairKey } from "./mesh.js";

const hasIPv6Subnet = (subnets: string[]): boolean => subnets.some((s) => s.includes(":"));

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
    if (routing === "bgp" && hasIPv6Subnet(n.subnets) && !n.ipv6) {
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

/**
 * Whether every node can be reached and every pair of peers can handshake (one problem per node, naming the first
 * peer it can never reach and how many more).
 */
export function endpointProblems(mesh: Mesh, relayed: ReadonlySet<string> = new Set()): Problem[] {
  const out: Problem[] = [];
  const add = (node: string, key: string, message: string, hint: string) =>
    out.push({ phase: "deploy", message: `node '${node}': ${key}: ${message}`, hint, where: { table: `Node.${node}`, key, node } });
  const silent = mesh.nodes.filter((n) => !n.endpoint);
  for (const n of mesh.nodes) {
    // vwgen's own README example: such a node reaches the others, and they reach it once it has sent them traffic.
    if (!n.endpoint && n.persistentKeepalive === 0) {
      out.push({
        phase: "warning",
        message: `node '${n.name}' has no endpoint and no persistent-keepalive: the others reach it only after it has sent them traffic (and only while a NAT in between keeps the mapping); give it 'persistent-keepalive 25' ('ciab set ${mesh.title} node ${n.name} persistent-keepalive 25') or an endpoint`,
        where: { table: `Node.${n.name}`, key: "Endpoint", node: n.name },
      });
    }
    if (n.listenPort === 0 && n.endpoint) add(n.name, "ListenPort", "is 0 but the node has an endpoint", `set 'listen-port' to the endpoint's port`);
    if (n.endpoint) continue;
    const stuck = silent.filter((p) => p.name > n.name && !mesh.blacklist.has(pairKey(n.name, p.name)) && !relayed.has(pairKey(n.name, p.name)));
    const [p] = stuck;
    if (!p) continue;
    const more = stuck.length > 1 ? ` (and ${stuck.length - 1} more peers without one)` : "";
    add(
      n.name,
      "Endpoint",
      `neither '${n.name}' nor its peer '${p.name}' has an endpoint: they can never handshake${more}`,
      `give one of them an endpoint, or 'ciab blacklist ${mesh.title} add ${n.name} ${p.name}'`,
    );
  }
  return out;
}
