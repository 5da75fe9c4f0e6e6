// A VXLAN device as data: what `ip link add … type vxlan` creates and the entries it carries. The bundle's wg-quick
// hook, bin/ciab-up and the planner all create the device from this one value (vxlanCreateArgv), and desired.json
// holds it as it is. Pure; no I/O.
import type { VxlanLink } from "../state/desired.js";
import type { Dataplane } from "./dataplane.js";

/** The node's VXLAN device of the mesh (`local`: the device sends from, and belongs to, the node's VTEP). */
export function vxlanLink(dp: Pick<Dataplane, "vxlanIf" | "mtu" | "vtepFamily" | "vtep" | "wgIf">, vni: number, port: number, mac: string): VxlanLink {
  const v6 = dp.vtepFamily === 6;
  return { ifname: dp.vxlanIf, vni, port, mac, mtu: dp.mtu.vxlan, underlay: dp.wgIf, local: dp.vtep, bindDev: v6, ttl: 1, udpChecksum: v6 };
}
