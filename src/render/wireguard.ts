// The bundle's WireGuard file: a wg-quick(8) file in vwgen's layout that brings up the VXLAN overlay on its own
// (with the two batch files beside it), plus what vwgen lacks: pre-shared keys, known-unicast FDB entries, static
// neighbours, a no-fragmentation MTU, and no ethtool/`via` dependency. Pure; no I/O.
import { type Mesh, type MeshNode, pairKey } from "../model/mesh.js";
import { type Dataplane, dataplane } from "./dataplane.js";
import { formatFwMark, keyFilePath } from "./showconf.js";
import { vxlanCreateArgv, vxlanDevice } from "./vxlan.js";

/** Where ciab-up installs the VXLAN batch files next to the WireGuard file. */
export const vxlanFiles = (net: string) => ({ ip: `/etc/wireguard/${net}.vxlan-ip`, fdb: `/etc/wireguard/${net}.vxlan-fdb` });

/** The command that creates the VXLAN device (render/vxlan.ts: the planner creates it from the same value). */
export const vxlanCreate = (dp: Dataplane, vni: number, port: number, mac: string): string => vxlanCreateArgv(vxlanDevice(dp, vni, port, mac)).join(" ");

/** ICMP redirects would tell a node to skip the transit node of a blacklisted pair. */
// Slash-separated keys: an interface name may contain dots, which the dotted sysctl form would split.
export const vxlanSysctl = (dp: Dataplane): string =>
  `sysctl -q -w net/ipv4/conf/${dp.vxlanIf}/accept_redirects=0 net/ipv4/conf/${dp.vxlanIf}/send_redirects=0 net/ipv6/conf/${dp.vxlanIf}/accept_redirects=0`;

/**
 * `ip -batch` file: addresses, link up, static neighbours. Every line is idempotent (replace), so the same file
 * creates the state and converges it on a re-run. One process instead of thousands in a large mesh.
 */
export function renderVxlanIp(dp: Dataplane): string {
  const v = dp.vxlanIf;
  return [
    ...dp.addresses.map((a) => `address replace ${a} dev ${v}`),
    `link set ${v} mtu ${dp.mtu.vxlan} up`,
    ...dp.neighbours.map((n) => `neigh replace ${n.ip} lladdr ${n.mac} dev ${v} nud permanent`),
    "",
  ].join("\n");
}

/** A link-local destination needs its interface: without `via`, nothing is sent at all (FINDINGS §4). */
export const fdbVia = (dp: Dataplane): string => (dp.vtepFamily === 6 ? ` via ${dp.wgIf}` : "");

/** `bridge -batch` file: one flood entry per peer VTEP, and each peer's MAC at its VTEP (known unicast). */
export function renderVxlanFdb(dp: Dataplane): string {
  const v = dp.vxlanIf;
  const via = fdbVia(dp);
  return [
    ...dp.flood.map((vtep) => `fdb append 00:00:00:00:00:00 dev ${v} dst ${vtep}${via}`),
    ...dp.unicast.map((u) => `fdb replace ${u.mac} dev ${v} dst ${u.vtep}${via} self permanent`),
    "",
  ].join("\n");
}

export function renderWireguard(mesh: Mesh, node: MeshNode): string {
  const dp = dataplane(mesh, node);
  const net = mesh.network;
  const out: string[] = [];
  const line = (s = "") => out.push(s);
  line(`# ciab-mesh: network ${mesh.name}, node ${node.name}. wg-quick(8) file; rendered, do not edit.`);
  line(`# MTU: WireGuard ${dp.mtu.wg}, VXLAN and containers ${dp.mtu.vxlan} (mode ${net.mtuMode}, underlay ${net.underlayMTU}).`);
  line();
  line("[Interface]");
  line(`ListenPort = ${node.listenPort}`);
  if (node.privateKey) line(`PrivateKey = ${node.privateKey}`);
  line(`Address = ${node.linkLayerAddress.join(", ")}`);
  line(`MTU = ${dp.mtu.wg}`);
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
  for (const p of dp.peers) {
    line();
    line(`# Peer node ${p.name}`);
    line("[Peer]");
    line(`PublicKey = ${p.publicKey}`);
    const psk = mesh.psk.get(pairKey(node.name, p.name));
    if (net.presharedKeys && psk) line(`PresharedKey = ${psk}`);
    line(`AllowedIPs = ${p.allowedIPs.join(", ")}`);
    if (p.endpoint) line(`Endpoint = ${p.endpoint.text}`);
    if (node.persistentKeepalive !== 0) line(`PersistentKeepalive = ${node.persistentKeepalive}`);
  }
  return `${out.join("\n")}\n`;
}
