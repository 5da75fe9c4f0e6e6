// nftables ruleset of one node: the mesh's guard and TCP MSS clamping. Pure: (topology, node) -> text; no I/O.
// Verified with `nft -c -f` (nftables 1.0.6) in a private network namespace, and in the lab's exposure check.
//
// The guard makes "only WireGuard carries mesh traffic" true on a host that forwards (issue 20):
// - the VXLAN port takes packets only from the WireGuard interface, and only with the inner source MAC of the peer
//   whose VTEP sent them (a peer cannot speak for another node). The kernel's VXLAN socket listens on every address
//   and is shared by every VXLAN device on that port, so the mesh owns its `VxlanPort`: a host running another VXLAN
//   overlay on the underlay gives the mesh a port of its own (`ciab set NET vxlan-port N`);
// - BGP (179/tcp), BFD (3784, 4784, 4785/udp) and OSPF (IP protocol 89) answer only on the mesh's interfaces: from
//   the underlay they look closed (TCP reset, ICMP port unreachable), as if nothing listened;
// - the mesh's addresses (overlay pool, every node's Subnets and VTEP) are reached, as destinations, only from the
//   mesh interfaces, from this node's own container subnets (strict reverse path) and from the host itself;
// - a packet that arrives on the VXLAN device must come from a (peer MAC, prefix) pair the peer owns: its overlay
//   addresses, its Subnets, and the prefixes of blacklisted partners it relays for us; IPv6's unspecified and
//   link-local sources (LINK_SOURCES6), which every peer may use, need only a peer's MAC (one set element per peer
//   instead of two more pairs each).
// Every drop is counted (named counters, read by `ciab lab test`). The rules live in ciab's own table: an `accept`
// here ends only this table's chain, so the host's firewall keeps deciding everything else (nothing is widened),
// and `ciab down` / `ciab-down` delete the table. A node behind NAT also gets the scoped STUN SNAT (stunSnat).
import { createHash } from "node:crypto";
import { aggregate, type Family } from "../ipam/ip.js";
import type { Mesh, MeshNode } from "../model/mesh.js";
import { LINK_SOURCES6, type NodeTopology, type Topology } from "../model/topology.js";
import { punchSourcePort, stunSourcePort } from "../nat/stun.js";
import { type PeerJoin, peerJoin } from "./peer-join.js";

/**
 * The table name: `ciab_<mesh>`. nft 1.0.6 takes only bare identifiers ([A-Za-z_][A-Za-z0-9_/.-]*, no quoting), and
 * mesh names may hold '=' or '+': those become '_' plus a short hash of the real name, so two meshes never collide.
 */
export function nftTable(mesh: Mesh): string {
  const safe = mesh.name.replace(/[^A-Za-z0-9_.-]/g, "_");
  if (safe === mesh.name) return `ciab_${safe}`;
  return `ciab_${safe}_${createHash("sha256").update(mesh.name).digest("hex").slice(0, 6)}`;
}

/** Named counters of the guard: what was dropped, by kind (`nft list counter inet TABLE NAME`). */
export const GUARD_COUNTERS = {
  /** Packets to the VXLAN port that did not come through WireGuard. */
  vxlan: "underlay_vxlan",
  /** BGP, BFD or OSPF packets from outside the mesh. */
  routing: "underlay_routing",
  /** Packets from outside the mesh to this node's mesh addresses (input) or through it into the mesh (forward). */
  input: "underlay_input",
  forward: "underlay_forward",
  /** Packets on the VXLAN device whose (source MAC, source address) no peer owns; VXLAN frames whose inner MAC is not their VTEP's. */
  spoofed: "spoofed",
} as const;

/** Well-known ports of the routing protocols ciab runs: BGP (RFC 4271); BFD control and echo (RFC 5881), multi-hop (RFC 5883). */
const BGP_PORT = 179;
export const BFD_PORTS = [3784, 3785, 4784];

const uniq = (xs: string[]): string[] => [...new Set(xs)];
/** The first 48 bits after the VXLAN header's 8 bytes and the inner destination MAC: the inner source MAC. */
const INNER_SRC_MAC = "@th,176,48";

const macHex = (mac: string): string => `0x${mac.replace(/:/g, "").toLowerCase()}`;

const SEP = ",\n\t\t\t";

/** A set whose elements are already joined with SEP ("" for none). */
function setOf(name: string, type: string, body: string, interval = true): string[] {
  const flags = interval ? "; flags interval" : "";
  return [`\tset ${name} {`, `\t\t${type}${flags}`, ...(body ? [`\t\telements = { ${body} }`] : []), "\t}"];
}

// Interval sets get no overlapping elements (outermost); exact duplicates go here.
const set = (name: string, type: string, elements: string[], interval = true): string[] => setOf(name, type, uniq(elements).join(SEP), interval);

/** Render the nft file of a node: the guard always, MSS clamping unless the network turns it off (MSSClamp = false). */
export const renderNft = (nt: NodeTopology): string => nftRenderer(nt.topology)(nt).text;

/** A node's nft file and the SHA-256 (hex) of its text, found in the same pass as its digest comment. */
export interface NftFile {
  text: string;
  sha256: string;
}

/**
 * The nft renderer of a mesh: what every node's file shares (each node's source, MAC and VTEP elements, as the
 * peers' sets list them; the mesh's destination sets) is built once, and a node's peer sets are cut from the
 * mesh-wide joins (peer-join.ts) instead of O(peers x prefixes) parses and formats. Elements of one peer are
 * disjoint (no duplicates) and peers' MACs differ, so the joined sets equal uniq() of the element lists; a mesh with
 * two nodes of the same MAC takes the slow path.
 */
export function nftRenderer(top: Topology): (nt: NodeTopology) => NftFile {
  const mesh = top.mesh;
  const macs = new Set(mesh.nodes.map((n) => n.mac.toLowerCase()));
  const distinct = macs.size === mesh.nodes.length;
  const elements = (p: MeshNode, family: Family, relayed?: MeshNode[]): string[] => {
    const mac = p.mac.toLowerCase();
    return top.sources(p, family, relayed).map((s) => `${mac} . ${s}`);
  };
  const sources = (f: Family) => peerJoin(mesh.nodes, (p) => elements(p, f).join(SEP));
  const vteps = (f: Family) => peerJoin(mesh.nodes, (p) => (p.vtepFamily === f ? `${p.vtep} . ${macHex(p.mac)}` : ""));
  const mesh4 = set("mesh4", "type ipv4_addr", top.destinations[4]);
  const mesh6 = set("mesh6", "type ipv6_addr", top.destinations[6]);
  const shared: Shared = {
    distinct,
    elements,
    sources: { 4: sources(4), 6: sources(6) },
    vteps: { 4: vteps(4), 6: vteps(6) },
    macs: peerJoin(mesh.nodes, (p) => p.mac.toLowerCase()),
    mesh4,
    mesh6,
  };
  return (nt) => render(nt, shared);
}

interface Shared {
  distinct: boolean;
  elements(p: MeshNode, family: Family, relayed?: MeshNode[]): string[];
  /** Each node's source elements (MAC . prefix), its VTEP element (VTEP . inner MAC), its MAC. */
  sources: Record<Family, PeerJoin>;
  vteps: Record<Family, PeerJoin>;
  macs: PeerJoin;
  mesh4: string[];
  mesh6: string[];
}

function render(nt: NodeTopology, sh: Shared): NftFile {
  const { node, peers, topology: top } = nt;
  const mesh = top.mesh;
  const t = nftTable(mesh);
  const wg = top.wgIf;
  const vx = top.vxlanIf;
  const net = mesh.network;
  const c = GUARD_COUNTERS;
  // Peer -> the sources it may use: its own, plus those of our blacklisted partners it relays for.
  const peerSet = (name: string, type: string, family: Family): string[] => {
    if (!sh.distinct)
      return set(
        name,
        type,
        peers.flatMap((p) => sh.elements(p, family, nt.relays.get(p.name))),
      );
    return setOf(name, type, sh.sources[family].join(peers, SEP, relayedElements(family)));
  };
  // The peers that relay for us list their partners' sources too (few: one per blacklisted partner of ours).
  const relayedElements = (family: Family): Map<MeshNode, string> | undefined => {
    if (nt.relays.size === 0) return undefined;
    const byPeer = new Map<MeshNode, string>();
    for (const p of peers) {
      const relayed = nt.relays.get(p.name);
      if (relayed) byPeer.set(p, sh.elements(p, family, relayed).join(SEP));
    }
    return byPeer;
  };
  const vtepSet = (name: string, type: string, family: Family): string[] => setOf(name, type, sh.vteps[family].join(peers, SEP), false);
  const own4 = aggregate(nt.owned[4]);
  const own6 = aggregate(nt.owned[6]);
  const linkSources6 = `{ ${LINK_SOURCES6.join(", ")} }`;
  const meshIfs = `{ "${wg}", "${vx}" }`;

  const lines = [
    "#!/usr/sbin/nft -f",
    `# Guard and TCP MSS clamping of node ${node.name} in mesh ${mesh.name}, rendered by ciab. Load with \`nft -f\`;`,
    "# loading it again replaces the table in one transaction. Declaring the table first makes the delete safe when",
    "# it does not exist yet (nft 1.0.6 has no `destroy`). Only this table is touched: the host's own rules stay.",
    `table inet ${t} {}`,
    `delete table inet ${t}`,
    `table inet ${t} {`,
    ...Object.values(c).map((name) => `\tcounter ${name} {}`),
    ...sh.mesh4,
    ...sh.mesh6,
    ...set("own4", "type ipv4_addr", own4),
    ...set("own6", "type ipv6_addr", own6),
    ...peerSet("peer4", "type ether_addr . ipv4_addr", 4),
    ...peerSet("peer6", "type ether_addr . ipv6_addr", 6),
    ...(sh.distinct
      ? setOf("peermacs", "type ether_addr", sh.macs.join(peers, SEP), false)
      : set(
          "peermacs",
          "type ether_addr",
          peers.map((p) => p.mac.toLowerCase()),
          false,
        )),
    ...vtepSet("vtep4", `typeof ip saddr . ${INNER_SRC_MAC}`, 4),
    ...vtepSet("vtep6", `typeof ip6 saddr . ${INNER_SRC_MAC}`, 6),
    // VXLAN between the VTEPs needs no connection tracking (no NAT, no state; the guard's VXLAN rules match on
    // addresses and the inner MAC, not on ct). Without these rules the kernel tracks every VXLAN frame as a UDP
    // flow, a third conntrack lookup per packet on the container path (WireGuard's UDP and the inner flow are the
    // other two); measured in bench/RESULTS.md (dataplane).
    "\tchain vxlan_notrack_in {",
    "\t\ttype filter hook prerouting priority raw; policy accept;",
    `\t\tiifname "${wg}" udp dport ${net.vxlanPort} notrack`,
    "\t}",
    "\tchain vxlan_notrack_out {",
    "\t\ttype filter hook output priority raw; policy accept;",
    `\t\toifname "${wg}" udp dport ${net.vxlanPort} notrack`,
    "\t}",
    "\tchain prerouting {",
    "\t\ttype filter hook prerouting priority filter; policy accept;",
    "\t\t# Source validation on the overlay: only what the sending peer owns (or relays for us).",
    `\t\tiifname "${vx}" ether saddr . ip saddr != @peer4 counter name ${c.spoofed} drop`,
    "\t\t# IPv6's unspecified and link-local sources (DAD, ND, MLD, OSPFv3, BGP next hops): any peer's MAC.",
    `\t\tiifname "${vx}" ip6 saddr ${linkSources6} ether saddr != @peermacs counter name ${c.spoofed} drop`,
    `\t\tiifname "${vx}" ip6 saddr != ${linkSources6} ether saddr . ip6 saddr != @peer6 counter name ${c.spoofed} drop`,
    "\t}",
    "\tchain input {",
    "\t\ttype filter hook input priority filter; policy accept;",
    "\t\t# A VXLAN frame through WireGuard must carry the MAC of the peer whose VTEP sent it.",
    `\t\tiifname "${wg}" udp dport ${net.vxlanPort} ip saddr . ${INNER_SRC_MAC} != @vtep4 counter name ${c.spoofed} drop`,
    `\t\tiifname "${wg}" udp dport ${net.vxlanPort} ip6 saddr . ${INNER_SRC_MAC} != @vtep6 counter name ${c.spoofed} drop`,
    `\t\tiifname { "lo", "${wg}", "${vx}" } accept`,
    "\t\t# Containers on this node's own bridges (their source is routed back through the interface they came in on).",
    "\t\tip saddr @own4 fib saddr . iif oif exists accept",
    "\t\tip6 saddr @own6 fib saddr . iif oif exists accept",
    "\t\t# From the underlay: the VXLAN port, routing protocols and mesh addresses look closed or are not there.",
    `\t\tudp dport ${net.vxlanPort} counter name ${c.vxlan} reject with icmpx port-unreachable`,
    `\t\ttcp dport ${BGP_PORT} counter name ${c.routing} reject with tcp reset`,
    `\t\tudp dport { ${BFD_PORTS.join(", ")} } counter name ${c.routing} reject with icmpx port-unreachable`,
    `\t\tmeta l4proto ospf counter name ${c.routing} drop`,
    `\t\tip daddr @mesh4 counter name ${c.input} drop`,
    `\t\tip6 daddr @mesh6 counter name ${c.input} drop`,
    "\t}",
    "\tchain forward {",
    "\t\ttype filter hook forward priority filter; policy accept;",
    `\t\tiifname ${meshIfs} accept`,
    "\t\t# The host's own port forwards (DNAT) and replies to connections the containers opened (e.g. through NAT).",
    "\t\tct status dnat accept",
    "\t\tct state established,related accept",
    "\t\tip saddr @own4 fib saddr . iif oif exists accept",
    "\t\tip6 saddr @own6 fib saddr . iif oif exists accept",
    `\t\tip daddr @mesh4 counter name ${c.forward} drop`,
    `\t\tip6 daddr @mesh6 counter name ${c.forward} drop`,
    "\t}",
  ];
  if (net.mssClamp) {
    lines.push(
      "\tchain mss_clamp {",
      "\t\ttype filter hook forward priority mangle; policy accept;",
      "\t\t# SYN and SYN-ACK of forwarded connections into or out of the overlay: MSS = MTU of the route to the",
      "\t\t# destination minus the IP and TCP headers. The kernel only ever lowers the MSS option, never raises it",
      '\t\t# (nft_exthdr, Linux >= 4.14: "increase can cause connection to stall").',
      `\t\toifname "${vx}" tcp flags syn tcp option maxseg size set rt mtu`,
      `\t\tiifname "${vx}" tcp flags syn tcp option maxseg size set rt mtu`,
      "\t}",
    );
  }
  lines.push(...stunSnat(node, net), "");
  // The digest lets `ciab up` tell the loaded table from another version without comparing nft's canonical
  // listing (which reorders sets and adds counter values) to this text: `ciab sha256:<16 hex>` over the text without
  // its comment line. The comment is the table's last line (nft lists it first anyway), so the text before it is
  // hashed once, for both the digest and the whole file's SHA-256 (the manifest's).
  const body = lines.join("\n");
  const hash = createHash("sha256").update(body);
  const digest = hash.copy().update(TABLE_END).digest("hex").slice(0, 16);
  const tail = `\tcomment "ciab sha256:${digest}"\n${TABLE_END}`;
  return { text: body + tail, sha256: hash.update(tail).digest("hex") };
}

const TABLE_END = "}\n";

/**
 * NAT = "auto" or "symmetric" (issue 13): STUN requests from the agent's fixed STUN port leave with the WireGuard
 * listen port as their source, so the STUN servers report the NAT's mapping of WireGuard's own port and their
 * replies are de-NATed back to the agent's socket (NAT-FINDINGS §3a; node:dgram cannot share wireguard-go's port).
 * Only towards the servers' ports, so nothing else the host sends is rewritten; the pre-punch port (punchSourcePort)
 * to any address, since it goes to peers' endpoints. `snat to :PORT` keeps the address
 * and works for both families in an inet table (nft 1.0.6 refuses `snat ip to :PORT` there).
 */
function stunSnat(node: MeshNode, net: Mesh["network"]): string[] {
  if (node.nat === "none" || net.stunServers.length === 0 || node.listenPort === 0) return [];
  const ports = [...new Set(net.stunServers.map((s) => Number(s.slice(s.lastIndexOf(":") + 1))))].sort((a, b) => a - b);
  return [
    "\tchain stun_snat {",
    "\t\ttype nat hook postrouting priority srcnat; policy accept;",
    "\t\t# STUN from the agent's port leaves as WireGuard's, so the servers report WireGuard's NAT mapping.",
    `\t\tudp sport ${stunSourcePort(node.listenPort)} udp dport { ${ports.join(", ")} } snat to :${node.listenPort}`,
    "\t\t# The low-TTL pre-punch towards a peer leaves as WireGuard's too; the agent forgets its flow once sent.",
    `\t\tudp sport ${punchSourcePort(node.listenPort)} snat to :${node.listenPort}`,
    "\t}",
  ];
}
