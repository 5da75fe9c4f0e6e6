// The bundle's WireGuard file: a wg-quick(8) file in vwgen's layout that brings up the VXLAN overlay on its own
// (`wg-quick up` works standalone), plus what vwgen lacks: pre-shared keys, known-unicast FDB entries, static
// neighbours, a no-fragmentation MTU, and no ethtool/`via` dependency. Pure; no I/O.
import { type Mesh, type MeshNode, pairKey } from "../model/mesh.js";
import { type Dataplane, dataplane } from "./dataplane.js";
import { formatFwMark, keyFilePath } from "./showconf.js";

/** Commands that create the VXLAN device and its state; `%i` is the WireGuard interface (wg-quick expands it). */
export function vxlanUpCommands(dp: Dataplane, vni: number, port: number, mac: string): string[] {
  const v = dp.vxlanIf;
  return [
    // No `dev`: the kernel would delete the VXLAN device whenever the WireGuard interface goes away
    // (a userspace daemon restart), see FINDINGS §4. `nolearning`: the FDB below is authoritative.
    `ip link add ${v} address ${mac} mtu ${dp.mtu.vxlan} type vxlan id ${vni} dstport ${port} ttl 1 noudpcsum nolearning`,
    // ICMP redirects would tell a node to skip the transit node of a blacklisted pair.
    `sysctl -q -w net.ipv4.conf.${v}.accept_redirects=0 net.ipv4.conf.${v}.send_redirects=0 net.ipv6.conf.${v}.accept_redirects=0`,
    ...dp.addresses.map((a) => `ip address add ${a} dev ${v}`),
    ...dp.flood.map((vtep) => `bridge fdb append 00:00:00:00:00:00 dev ${v} dst ${vtep}`),
    ...dp.unicast.map((u) => `bridge fdb append ${u.mac} dev ${v} dst ${u.vtep} self permanent`),
    ...dp.neighbours.map((n) => `ip neigh replace ${n.ip} lladdr ${n.mac} dev ${v} nud permanent`),
    `ip link set ${v} up`,
  ];
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
  line(`PostUp = ip link del ${dp.vxlanIf} 2>/dev/null || true`);
  for (const c of vxlanUpCommands(dp, net.vxlanId, net.vxlanPort, node.mac)) line(`PostUp = ${c}`);
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
