// MTU arithmetic for WireGuard under VXLAN. Pure; no I/O.
// WireGuard adds 60 bytes over IPv4 (20 IP + 8 UDP + 32 WireGuard) and 80 over IPv6 (40 IP + 8 UDP + 32);
// VXLAN adds 50 with IPv4 VTEPs (20 IP + 8 UDP + 8 VXLAN + 14 Ethernet). By default nothing may be fragmented,
// because many clouds drop IP fragments (../shared/lab/FINDINGS.md §4).
import type { Mesh, MeshNode } from "./mesh.js";

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

/** IPv6 (or an unresolved host name, which may resolve to IPv6) on a path costs the IPv6 overhead. */
const costly = (n: MeshNode): boolean => n.endpoint?.family === 6 || n.endpoint?.family === "dns";

/**
 * Every node's MTU plan, in O(nodes + blacklist). A node's WireGuard overhead is the worst of its paths: IPv6 (or a
 * host name) at its own endpoint or at any peer's (a blacklisted pair has no path), so per node we only count the
 * costly nodes it is blacklisted with instead of walking its peers.
 */
export function mtuPlans(mesh: Mesh): Map<string, MtuPlan> {
  const costlyNodes = mesh.nodes.filter(costly);
  const costlyNames = new Set(costlyNodes.map((n) => n.name));
  const blocked = new Map<string, number>();
  for (const pair of mesh.blacklist) {
    const [a, b] = pair.split(",") as [string, string];
    if (costlyNames.has(b)) blocked.set(a, (blocked.get(a) ?? 0) + 1);
    if (costlyNames.has(a)) blocked.set(b, (blocked.get(b) ?? 0) + 1);
  }
  const overhead = (n: MeshNode): number => (costly(n) || costlyNodes.length - (blocked.get(n.name) ?? 0) > 0 ? WG_OVERHEAD[6] : WG_OVERHEAD[4]);
  const net = mesh.network;
  const vx = vxlanOverhead(mesh);
  const worst = Math.max(WG_OVERHEAD[4], ...(costlyNodes.length ? mesh.nodes.map(overhead) : []));
  const vxlan = Math.min(net.vxlanMTU, net.underlayMTU - worst - vx);
  const plans = new Map<string, MtuPlan>();
  for (const n of mesh.nodes) {
    // mtuMode "fragment" is vwgen's behaviour on purpose: WireGuard packets larger than the path are fragmented.
    const plan: MtuPlan =
      net.mtuMode === "fragment"
        ? { wg: net.vxlanMTU + vx, vxlan: net.vxlanMTU, container: net.vxlanMTU, mss4: net.vxlanMTU - 40 }
        : { wg: net.underlayMTU - overhead(n), vxlan, container: vxlan, mss4: vxlan - 40 };
    plans.set(n.name, plan);
  }
  return plans;
}

/** One node's MTU plan (O(nodes); the topology computes all of them at once with mtuPlans). */
export function mtuPlan(mesh: Mesh, node: MeshNode): MtuPlan {
  const plan = mtuPlans(mesh).get(node.name);
  if (!plan) throw new Error(`mtuPlan: node '${node.name}' is not in mesh '${mesh.name}'`);
  return plan;
}
