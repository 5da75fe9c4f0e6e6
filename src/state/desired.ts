// The desired state of one host as data: the vocabulary of desired.json (version 1, schema/desired-v1.json) shared
// by the renderer that writes it (render/desired.ts) and the planner that reads it (plan/). A VXLAN device as data,
// with its `ip link add` argv, and BGP's `network` lines spliced at the places desired.json records. Pure; no I/O.
import { sortedNetworks } from "../ipam/ip.js";

export const DESIRED_VERSION = 1;
export const DESIRED_FILE = "desired.json";
export const secretsFile = (net: string): string => `wireguard/${net}.secrets.json`;

export interface DesiredPeerV1 {
  /** Node name, for messages. */
  name: string;
  publicKey: string;
  /** The pair has a pre-shared key: it is in the secrets file under this interface and the peer's public key. Absent: none. */
  presharedKey?: true;
  /** host:port (IPv6 in brackets). */
  endpoint?: string;
  allowedIPs: string[];
  /** Seconds. Absent: 0 (off). */
  keepalive?: number;
  /**
   * The NAT in front of the peer: what its agent learned by STUN, else "symmetric" as configured, "unknown" for
   * NAT = "auto" before anything was learned. Absent: none (public). For status only.
   */
  nat?: "endpoint-independent" | "symmetric" | "unknown";
  /** The endpoint is the mapping the peer's agent learned by STUN. Absent: as configured (the mesh file, a record). */
  endpointSource?: "stun";
}

/** A node this one reaches through a relay (a blacklisted pair, or one that cannot connect directly). For status. */
export interface DesiredRelayedV1 {
  name: string;
  /** The node that relays the pair's traffic. */
  via: string;
  /** As a peer's `nat`. */
  nat?: DesiredPeerV1["nat"];
  /** An agent reported the pair unreached: relayed, and still a WireGuard peer (the probe that takes it direct again). */
  probe?: true;
  /** The partner's Subnets: their routes go through the relay. */
  subnets: string[];
}

export interface DesiredWireguardV1 {
  ifname: string;
  listenPort: number;
  /** 0 = off. */
  fwMark: number;
  mtu: number;
  /** The public key the interface must have. */
  publicKey: string;
  /** A key file that stays on the host, or the bundle's secrets file. */
  privateKey: { file: string } | { secrets: true };
  /** VTEP addresses with length (LinkLayerAddress). */
  addresses: string[];
  peers: DesiredPeerV1[];
  /** Nodes reached through a relay, not a peer of their own. Absent: none. */
  relayed?: DesiredRelayedV1[];
}

/** Prefixes a routing instance announces, and where BGP's `network` lines are in its configuration file. */
export interface AnnounceV1 {
  /** The node's Subnets (canonical): what it owns and, without DiscoverLXD, announces. */
  subnets: string[];
  /** Announce the LXD/Incus bridges inside the Subnets instead (found on the host by `ciab up`). */
  discoverLXD: boolean;
  /** BGP: the 0-based line and count of each family's `network` lines in the configuration file. */
  networkLines?: { family: 4 | 6; line: number; count: number }[];
}

export type DesiredRoutingV1 = { name: string; vrf: string | null; protocol: "bgp" | "ospf" | "none"; announce: AnnounceV1 } & (
  | { daemon: "none" }
  | { daemon: "frr"; config: string; daemons: string }
  | { daemon: "bird"; config: string }
);

export interface DesiredFileV1 {
  /** Where it is installed on the host. */
  path: string;
  /** The bundle file it is installed from. */
  source: string;
  /** Octal, "0600". */
  mode: string;
  /** Holds a key: never printed, compared by hash only. */
  secret?: boolean;
}

export interface DesiredStateV1 {
  version: typeof DESIRED_VERSION;
  network: string;
  node: string;
  /** /proc/sys keys (slash form), host-wide; the VXLAN devices' own follow from `vxlan`. */
  sysctls: { key: string; value: string }[];
  files: DesiredFileV1[];
  /** The guard: an nft table replaced as a whole from a bundle file. */
  nft: { table: string; source: string };
  wireguard: DesiredWireguardV1[];
  vxlan: VxlanDevice[];
  routing: DesiredRoutingV1[];
  /** The bundle's secrets file, when the mesh holds this node's private key or pre-shared keys inline. */
  secrets?: string;
}

/** The bundle's secrets file: per interface, the private key and the pre-shared keys by peer public key. */
export interface SecretsV1 {
  version: typeof DESIRED_VERSION;
  interfaces: Record<string, { privateKey?: string; presharedKeys: Record<string, string> }>;
}

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

/** The device's link itself (what `ip link add` needs), without its addresses and entries. */
export type VxlanLink = Omit<VxlanDevice, "addresses" | "peers">;

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

/** BGP `network` lines of an address family (canonical, sorted prefixes). */
export const networkLines = (prefixes: string[]): string[] => prefixes.map((p) => `  network ${p}`);

/**
 * A BGP configuration with other announcements: each family's `network` lines (at the places desired.json
 * records) replaced by `announce`, exactly as renderFrr(mesh, node, { announce }) renders them.
 */
export function spliceAnnouncements(conf: string, at: NonNullable<AnnounceV1["networkLines"]>, announce: string[]): string {
  const lines = conf.split("\n");
  for (const { family, line, count } of [...at].sort((a, b) => b.line - a.line)) lines.splice(line, count, ...networkLines(sortedNetworks(announce, family)));
  return lines.join("\n");
}

/** Where both reconcilers install the VXLAN batch files, beside the WireGuard file (its wg-quick hooks read them). */
export const vxlanFiles = (net: string) => ({ ip: `/etc/wireguard/${net}.vxlan-ip`, fdb: `/etc/wireguard/${net}.vxlan-fdb` });

/**
 * The VXLAN batch files of a network's device, derived from its value (they are not in the bundle: its ciab-up
 * writes the same bytes from desired.json's peer lines, render/scripts.ts VXLAN_BATCHES). `ip -batch`: addresses,
 * link up, each peer's overlay addresses as static neighbours at its MAC; `bridge -batch`: one flood entry per peer
 * VTEP, then each peer's MAC at its VTEP (known unicast). Every line is idempotent (replace/append), so the same
 * files create the state and converge it on a re-run, in one process each instead of thousands.
 */
export function vxlanBatchFiles(net: string, v: VxlanDevice): { ip: { path: string; content: string }; fdb: { path: string; content: string } } {
  const dev = v.ifname;
  const via = fdbViaArgs(v)
    .map((a) => ` ${a}`)
    .join("");
  const ip: string[] = v.addresses.map((a) => `address replace ${a} dev ${dev}\n`);
  ip.push(`link set ${dev} mtu ${v.mtu} up\n`);
  const flood: string[] = [];
  const unicast: string[] = [];
  for (const p of v.peers) {
    for (const a of p.ips) ip.push(`neigh replace ${a} lladdr ${p.mac} dev ${dev} nud permanent\n`);
    flood.push(`fdb append 00:00:00:00:00:00 dev ${dev} dst ${p.vtep}${via}\n`);
    unicast.push(`fdb replace ${p.mac} dev ${dev} dst ${p.vtep}${via} self permanent\n`);
  }
  const files = vxlanFiles(net);
  return { ip: { path: files.ip, content: ip.join("") }, fdb: { path: files.fdb, content: flood.join("") + unicast.join("") } };
}
