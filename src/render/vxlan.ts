// A VXLAN device as data: what `ip link add … type vxlan` creates and the entries it carries. The bundle's wg-quick
// hook, bin/ciab-up and the planner all create the device from this one value (vxlanCreateArgv), and desired.json
// holds it as it is. Pure; no I/O.
import type { Dataplane } from "./dataplane.js";

export interface VxlanDevice {
  ifname: string;
  vni: number;
  port: number;
  mac: string;
  mtu: number;
  /** The WireGuard interface whose VTEP addresses carry this device's frames. */
  underlay: string;
  /** The VTEP the device sends from (`local`). */
  local: string;
  /**
   * Bound to the underlay interface (`dev`): an IPv6 link-local VTEP needs it (a link-local source needs its
   * interface), and its forwarding entries then go `via` it. IPv4 VTEPs are not bound: the kernel deletes a bound
   * VXLAN device whenever the WireGuard interface goes away (a userspace daemon restart), FINDINGS §4.
   */
  bindDev: boolean;
  ttl: number;
  /** UDP checksums of outer IPv4 packets (`noudpcsum` when false; IPv6 always has them). */
  udpChecksum: boolean;
  /** Overlay addresses with length. */
  addresses: string[];
  /**
   * The remote VTEPs: each peer's VTEP, its VXLAN MAC and its overlay addresses. The flood, known-unicast and
   * neighbour entries follow from it (plan/vxlan-entries.ts), so desired.json lists each peer once.
   */
  peers: VxlanPeer[];
}

export interface VxlanPeer {
  vtep: string;
  mac: string;
  /** Overlay addresses without length (static neighbours at `mac`). */
  ips: string[];
}

/** The node's VXLAN device of the mesh (`local`: the device sends from, and belongs to, the node's VTEP). */
export function vxlanDevice(dp: Dataplane, vni: number, port: number, mac: string): VxlanDevice {
  return { ...vxlanLink(dp, vni, port, mac), addresses: dp.addresses, peers: vxlanPeers(dp) };
}

/** The device's link itself (what `ip link add` needs), without its addresses and entries. */
export type VxlanLink = Omit<VxlanDevice, "addresses" | "peers">;
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

/** `ip link add` for the device. `nolearning`: the FDB is authoritative. */
export const vxlanCreateArgv = (v: VxlanLink): string[] => [
  ..."ip link add".split(" "),
  v.ifname,
  "address",
  v.mac,
  "mtu",
  String(v.mtu),
  ..."type vxlan id".split(" "),
  String(v.vni),
  "dstport",
  String(v.port),
  "local",
  v.local,
  ...(v.bindDev ? ["dev", v.underlay] : []),
  "ttl",
  String(v.ttl),
  ...(v.udpChecksum ? [] : ["noudpcsum"]),
  "nolearning",
];

/** A link-local destination needs its interface: without `via`, nothing is sent at all (FINDINGS §4). */
export const fdbViaArgs = (v: VxlanDevice): string[] => (v.bindDev ? ["via", v.underlay] : []);
