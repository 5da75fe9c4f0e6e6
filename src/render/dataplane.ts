// The desired data plane of one node: WireGuard peers, the VXLAN device, its forwarding entries and addresses.
// One source for both the wg-quick file's hooks and ciab-up's re-run reconciliation. Pure; no I/O.
import { type MtuPlan, mtuPlan } from "../ipam/mtu.js";
import { CiabError } from "../model/errors.js";
import type { Mesh, MeshNode } from "../model/mesh.js";
import { wgPeers } from "../model/topology.js";

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

const bare = (a: string) => a.split("/")[0] as string;
const hosts = new WeakMap<MeshNode, string[]>();
/** A node's overlay addresses without lengths (IPv4 and the derived IPv6). */
const overlayHosts = (n: MeshNode): string[] => {
  let h = hosts.get(n);
  if (!h) {
    h = [...n.address.map(bare), ...(n.ipv6 ? [bare(n.ipv6)] : [])];
    hosts.set(n, h);
  }
  return h;
};

// Several renderers of one bundle need the same dataplane; meshes are immutable, so compute it once per node.
const cache = new WeakMap<MeshNode, Dataplane>();

export function dataplane(mesh: Mesh, node: MeshNode): Dataplane {
  const hit = cache.get(node);
  if (hit) return hit;
  const dp = computeDataplane(mesh, node);
  cache.set(node, dp);
  return dp;
}

function computeDataplane(mesh: Mesh, node: MeshNode): Dataplane {
  const peers = wgPeers(mesh, node);
  return {
    wgIf: mesh.name,
    vxlanIf: `v${mesh.name}`,
    vtep: node.vtep,
    vtepFamily: node.vtepFamily,
    mtu: mtuPlan(mesh, node),
    peers,
    addresses: [...node.address, ...(node.ipv6 ? [node.ipv6] : [])],
    flood: peers.map((p) => p.vtep),
    unicast: peers.map((p) => ({ mac: p.mac, vtep: p.vtep })),
    neighbours: peers.flatMap((p) => overlayHosts(p).map((ip) => ({ ip, mac: p.mac }))),
  };
}

/**
 * Checks that only matter once a mesh is deployed (showconf stays as lenient as vwgen). Returns the warnings: a node
 * without endpoint is vwgen's own README example (it reaches the others, and they reach it once it has spoken).
 */
export function checkDeployable(mesh: Mesh): string[] {
  const fail = (node: string, key: string, message: string, hint: string) =>
    new CiabError("invalid", `node '${node}': ${key}: ${message}`, { hint, where: { node, key } });
  const warnings: string[] = [];
  for (const n of mesh.nodes) {
    if (!n.endpoint && n.persistentKeepalive === 0) {
      warnings.push(
        `node '${n.name}' has no endpoint and no persistent-keepalive: the others reach it only after it has sent them traffic (and only while a NAT in between keeps the mapping); give it 'persistent-keepalive 25' ('ciab set ${mesh.title} node ${n.name} persistent-keepalive 25') or an endpoint`,
      );
    }
    if (n.listenPort === 0 && n.endpoint) throw fail(n.name, "ListenPort", "is 0 but the node has an endpoint", `set 'listen-port' to the endpoint's port`);
    for (const p of wgPeers(mesh, n)) {
      if (p.name > n.name && !n.endpoint && !p.endpoint) {
        throw fail(
          n.name,
          "Endpoint",
          `neither '${n.name}' nor its peer '${p.name}' has an endpoint: they can never handshake`,
          `give one of them an endpoint, or 'ciab blacklist ${mesh.title} add ${n.name} ${p.name}'`,
        );
      }
    }
  }
  return warnings;
}
