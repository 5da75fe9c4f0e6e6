// MTU arithmetic for WireGuard under VXLAN. Pure; no I/O.
// WireGuard adds 60 bytes over IPv4 (20 IP + 8 UDP + 32 WireGuard) and 80 over IPv6 (40 IP + 8 UDP + 32);
// VXLAN adds 50 with IPv4 VTEPs (20 IP + 8 UDP + 8 VXLAN + 14 Ethernet). By default nothing may be fragmented,
// because many clouds drop IP fragments (../shared/lab/FINDINGS.md §4).
import type { Mesh, MeshNode } from "./mesh.js";
import { wgPeers } from "./topology.js";

export const WG_OVERHEAD = { 4: 60, 6: 80 } as const;
/** VXLAN over IPv4 VTEPs (20 IP + 8 UDP + 8 VXLAN + 14 Ethernet); IPv6 VTEPs add 20 more (40-byte header). */
export const VXLAN_OVERHEAD = 50;
const vxlanOverhead = (mesh: Mesh): number => (mesh.nodes.some((n) => n.vtepFamily === 6) ? VXLAN_OVERHEAD + 20 : VXLAN_OVERHEAD);

export interface MtuPlan {
  /** WireGuard interface MTU of this node. */
  wg: number;
  /** VXLAN device MTU: the same on every node (one L2 segment; OSPF also refuses mismatched MTUs). */
  vxlan: number;
  /** What containers behind the node should use (routed through the VXLAN device). */
  container: number;
  /** Largest TCP MSS that fits (IPv4). */
  mss4: number;
}

/** Worst-case WireGuard overhead of a node: IPv6 (or an unresolved host name) on any of its paths costs 80. */
export function wgOverhead(mesh: Mesh, node: MeshNode): number {
  const families = [node, ...wgPeers(mesh, node)].map((n) => n.endpoint?.family);
  return families.some((f) => f === 6 || f === "dns") ? WG_OVERHEAD[6] : WG_OVERHEAD[4];
}

export function mtuPlan(mesh: Mesh, node: MeshNode): MtuPlan {
  const net = mesh.network;
  if (net.mtuMode === "fragment") {
    // vwgen's behaviour on purpose: WireGuard packets larger than the path are fragmented by the sender.
    return { wg: net.vxlanMTU + vxlanOverhead(mesh), vxlan: net.vxlanMTU, container: net.vxlanMTU, mss4: net.vxlanMTU - 40 };
  }
  const vxlan = meshVxlanMtu(mesh);
  return { wg: net.underlayMTU - wgOverhead(mesh, node), vxlan, container: vxlan, mss4: vxlan - 40 };
}

// The mesh-wide VXLAN MTU needs every node's paths: compute it once per (immutable) mesh, not once per node.
const vxlanCache = new WeakMap<Mesh, number>();

function meshVxlanMtu(mesh: Mesh): number {
  let v = vxlanCache.get(mesh);
  if (v === undefined) {
    const net = mesh.network;
    // Only IPv6/host-name endpoints raise the overhead, so the worst node is any node that has one on a path.
    let worst: number = WG_OVERHEAD[4];
    if (mesh.nodes.some((n) => n.endpoint?.family === 6 || n.endpoint?.family === "dns")) {
      worst = Math.max(...mesh.nodes.map((n) => wgOverhead(mesh, n)));
    }
    v = Math.min(net.vxlanMTU, net.underlayMTU - worst - vxlanOverhead(mesh));
    vxlanCache.set(mesh, v);
  }
  return v;
}
