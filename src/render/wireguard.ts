// The bundle's WireGuard file: a wg-quick(8) file in vwgen's layout that brings up the VXLAN overlay on its own
// (with the two batch files beside it, which both reconcilers write: state/desired.ts vxlanBatchFiles), plus what vwgen lacks: pre-shared keys, known-unicast FDB entries, static
// neighbours, a no-fragmentation MTU, and no ethtool/`via` dependency. Pure; no I/O.
import { pairKey } from "../model/mesh.js";
import type { Dataplane, NodeTopology, Topology } from "../model/topology.js";
import { vxlanCreateArgv, vxlanFiles } from "../state/desired.js";
import { peerJoin } from "./peer-join.js";
import { formatFwMark, keyFilePath } from "./showconf.js";
import { vxlanLink } from "./vxlan.js";

/** The command that creates the VXLAN device (render/vxlan.ts: the planner creates it from the same value). */
export const vxlanCreate = (dp: Parameters<typeof vxlanLink>[0], vni: number, port: number, mac: string): string =>
  vxlanCreateArgv(vxlanLink(dp, vni, port, mac)).join(" ");

/** ICMP redirects would tell a node to skip the transit node of a blacklisted pair. */
// Slash-separated keys: an interface name may contain dots, which the dotted sysctl form would split.
export const vxlanSysctl = (dp: Pick<Dataplane, "vxlanIf">): string =>
  `sysctl -q -w net/ipv4/conf/${dp.vxlanIf}/accept_redirects=0 net/ipv4/conf/${dp.vxlanIf}/send_redirects=0 net/ipv6/conf/${dp.vxlanIf}/accept_redirects=0`;

/** A link-local destination needs its interface: without `via`, nothing is sent at all (FINDINGS §4). */
export const fdbVia = (dp: Pick<Dataplane, "vtepFamily" | "wgIf">): string => (dp.vtepFamily === 6 ? ` via ${dp.wgIf}` : "");

export function renderWireguard(nt: NodeTopology): string {
  return wireguardRenderer(nt.topology).conf(nt);
}

export interface WireguardRenderer {
  conf(nt: NodeTopology): string;
}

/**
 * The WireGuard renderer of a mesh: each peer's [Peer] section is the same in every node's file (but for the
 * pre-shared key and the node's keepalive), so the sections are built once per mesh and a node's file is a join of
 * its peers' pieces; without either, it is cut from the mesh-wide join of every section (peer-join.ts).
 */
export function wireguardRenderer(t: Topology): WireguardRenderer {
  const mesh = t.mesh;
  const head = new Map<string, string>();
  const tail = new Map<string, string>();
  for (const p of mesh.nodes) {
    head.set(p.name, `\n\n# Peer node ${p.name}\n[Peer]\nPublicKey = ${p.publicKey}`);
    tail.set(p.name, `\nAllowedIPs = ${p.allowedIPs.join(", ")}${p.endpoint ? `\nEndpoint = ${p.endpoint.text}` : ""}`);
  }
  const plain = peerJoin(mesh.nodes, (p) => `${head.get(p.name)}${tail.get(p.name)}`);
  return {
    conf(nt) {
      const { node, peers } = nt;
      const psk = mesh.network.presharedKeys;
      if (!psk && node.persistentKeepalive === 0) return `${interfaceSection(nt).join("\n")}${plain.join(peers, "")}\n`;
      const keepalive = node.persistentKeepalive !== 0 ? `\nPersistentKeepalive = ${node.persistentKeepalive}` : "";
      const sections = peers.map((p) => {
        const k = psk ? mesh.psk.get(pairKey(node.name, p.name)) : undefined;
        return `${head.get(p.name)}${k ? `\nPresharedKey = ${k}` : ""}${tail.get(p.name)}${keepalive}`;
      });
      return `${interfaceSection(nt).join("\n")}${sections.join("")}\n`;
    },
  };
}

/** The wg-quick file up to its first [Peer] section: the interface, its hooks and the VXLAN device's life cycle. */
function interfaceSection(nt: NodeTopology): string[] {
  const { node } = nt;
  const mesh = nt.topology.mesh;
  const net = mesh.network;
  const mtu = nt.mtu;
  const dp = { wgIf: nt.topology.wgIf, vxlanIf: nt.topology.vxlanIf, vtep: node.vtep, vtepFamily: node.vtepFamily, mtu };
  const out: string[] = [];
  const line = (s = "") => out.push(s);
  line(`# ciab-mesh: network ${mesh.name}, node ${node.name}. wg-quick(8) file; rendered, do not edit.`);
  line(`# MTU: WireGuard ${mtu.wg}, VXLAN and containers ${mtu.vxlan} (mode ${net.mtuMode}, underlay ${net.underlayMTU}).`);
  line();
  line("[Interface]");
  line(`ListenPort = ${node.listenPort}`);
  if (node.privateKey) line(`PrivateKey = ${node.privateKey}`);
  line(`Address = ${node.linkLayerAddress.join(", ")}`);
  line(`MTU = ${mtu.wg}`);
  line("Table = off");
  if (node.fwMark !== 0) line(`FwMark = ${formatFwMark(node.fwMark)}`);
  if (node.saveConfig) line("SaveConfig = true");
  for (const s of node.preUp) line(`PreUp = ${s}`);
  if (node.upnp && node.listenPort !== 0) line(`PreUp = upnpc -r ${node.listenPort} udp &`);
  if (!node.privateKey) line(`PostUp = wg set %i private-key ${keyFilePath(mesh.name)}`);
  // The VXLAN device is created after the WireGuard address exists, so its VTEP route is there from the start.
  // Its addresses, neighbours and FDB come from the batch files ciab-up installs beside this file.
  const files = vxlanFiles(mesh.name);
  line(`PostUp = ip link del ${dp.vxlanIf} 2>/dev/null || true`);
  line(`PostUp = ${vxlanCreate(dp, net.vxlanId, net.vxlanPort, node.mac)}`);
  line(`PostUp = ${vxlanSysctl(dp)}`);
  line(`PostUp = ip -batch ${files.ip}`);
  line(`PostUp = bridge -batch ${files.fdb}`);
  for (const s of node.postUp) line(`PostUp = ${s}`);
  for (const s of node.preDown) line(`PreDown = ${s}`);
  line(`PreDown = ip link set ${dp.vxlanIf} down || true`);
  line(`PostDown = ip link delete ${dp.vxlanIf} || true`);
  for (const s of node.postDown) line(`PostDown = ${s}`);
  return out;
}
