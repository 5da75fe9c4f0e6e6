// A VXLAN device as data: what `ip link add … type vxlan` creates and the entries it carries. The bundle's wg-quick
// hook, bin/ciab-up and the planner all create the device from this one value (vxlanCreateArgv), and desired.json
// holds it as it is. Pure; no I/O.
import type { VxlanDevice, VxlanLink, VxlanPeer } from "../state/desired.js";
import type { Dataplane } from "./dataplane.js";

/** The node's VXLAN device of the mesh (`local`: the device sends from, and belongs to, the node's VTEP). */
export function vxlanDevice(dp: Dataplane, vni: number, port: number, mac: string): VxlanDevice {
  return { ...vxlanLink(dp, vni, port, mac), addresses: dp.addresses, peers: vxlanPeers(dp) };
}

export function vxlanLink(dp: Pick<Dataplane, "vxlanIf" | "mtu" | "vtepFamily" | "vtep" | "wgIf">, vni: number, port: number, mac: string): VxlanLink {
  const v6 = dp.vtepFamily === 6;
  return { ifname: dp.vxlanIf, vni, port, mac, mtu: dp.mtu.vxlan, underlay: dp.wgIf, local: dp.vtep, bindDev: v6, ttl: 1, udpChecksum: v6 };
}

/** The data plane's peers as VTEP, MAC and overlay addresses (its neighbour list grouped by MAC, in one pass). */
function vxlanPeers(dp: Dataplane): VxlanPeer[] {
  const ips = new Map<string, string[]>();
  for (const n of dp.neighbours) {
    const l = ips.get(n.mac);
    if (l) l.push(n.ip);
    else ips.set(n.mac, [n.ip]);
  }
  return dp.unicast.map((u) => ({ vtep: u.vtep, mac: u.mac, ips: ips.get(u.mac) ?? [] }));
}
