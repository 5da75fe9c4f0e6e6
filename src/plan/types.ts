// The vocabulary of host reconciliation: what a host looks like (observed, as the adapters parse it from `ip -j`,
// `bridge -j`, `wg show dump`, files and daemons), what it should look like (desired, from a mesh or a bundle), and
// the actions that take one to the other. Pure types; no I/O. Secrets: observed state never holds a private key
// (adapters drop it while parsing); desired state may hold the node's own private key only when the mesh file or
// bundle carries it inline, and it only ever leaves as the standard input of a command marked `secret`.

import type { DesiredPeerV1, DesiredRelayedV1, VxlanDevice } from "../state/desired.js";

/** One external command, run without a shell unless argv says `sh -c` (adapters/exec.ts). */
export interface Command {
  argv: string[];
  /** Standard input. */
  input?: string;
  /** The input holds a secret (a private or pre-shared key): never print, log or return it. */
  secret?: boolean;
  /** A short form for people when argv is a long `sh -c` script ("install /etc/frr/frr.conf 0640"). */
  display?: string;
}

/** The WireGuard implementation's commands (adapters/wireguard.ts): pure, so the planner stays pure. */
export interface WgBackendCommands {
  kind: WgBackendKind;
  /** Create the interface (down, unconfigured). */
  create(ifname: string): Command[];
  /** Remove the interface (and, for the userspace backend, its daemon). */
  destroy(ifname: string): Command[];
}

// ---------------------------------------------------------------------------------------------------- observed

export interface ObservedVxlan {
  id: number;
  port: number;
  learning: boolean;
  /** `local` VTEP address, when the device was created with one. */
  local?: string;
}

export interface ObservedLink {
  name: string;
  /** linkinfo.info_kind: "vxlan", "wireguard", "tun" (wireguard-go), "bridge", "veth" … ("" when none). */
  kind: string;
  mtu: number;
  /** Administratively up (flag UP). */
  up: boolean;
  mac?: string;
  /** The interface alias (ifalias): ciab marks the interfaces it creates with `ciab:<network>` (ownership). */
  alias?: string;
  vxlan?: ObservedVxlan;
}

export interface ObservedAddress {
  dev: string;
  /** address/prefixlen, as `ip` prints it (host bits kept: "10.0.0.1/24"). */
  cidr: string;
  family: 4 | 6;
  scope: string;
}

export interface ObservedNeighbour {
  dev: string;
  ip: string;
  mac?: string;
  /** Upper case NUD states, e.g. ["PERMANENT"], ["REACHABLE"]. */
  states: string[];
}

export interface ObservedFdb {
  dev: string;
  mac: string;
  dst?: string;
  flags: string[];
  state: string;
  /** The bridge the port belongs to (entries of a bridge port, not of the VXLAN device itself). */
  master?: string;
}

export interface ObservedWgPeer {
  publicKey: string;
  /** A pre-shared key is set; the key itself is never kept, only its SHA-256 (to notice a changed key). */
  presharedKey: boolean;
  pskSha256?: string;
  /** Current endpoint (it may have roamed from the configured one); undefined for "(none)". */
  endpoint?: string;
  allowedIPs: string[];
  /** Unix seconds of the latest handshake; 0 = never. */
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
  /** Persistent keepalive in seconds; 0 = off. */
  keepalive: number;
}

export interface ObservedWireguard {
  ifname: string;
  /** Public key of the interface's private key; undefined when no private key is set. */
  publicKey?: string;
  listenPort: number;
  fwMark: number;
  peers: ObservedWgPeer[];
}

export interface ObservedFile {
  sha256: string;
  mode: number;
  /** Content, only for files that hold no secret (used for line diffs in messages). */
  text?: string;
}

export type WgBackendKind = "kernel" | "userspace";

export interface ObservedFrr {
  /** frrinit.sh (or the systemd unit) exists. */
  installed: boolean;
  running: boolean;
  /** frr-reload.py exists (frr-pythontools): configuration changes apply as deltas. */
  reloadScript: boolean;
  systemd: boolean;
}

export interface ObservedBird {
  installed: boolean;
  running: boolean;
  systemd: boolean;
}

export interface ObservedHost {
  /** Unix seconds when observed (handshake ages, roaming). */
  now: number;
  links: ObservedLink[];
  addresses: ObservedAddress[];
  neighbours: ObservedNeighbour[];
  fdb: ObservedFdb[];
  /** The mesh's WireGuard interfaces that exist and answer `wg show` (desired ones and ones ciab marked as its own). */
  wireguard: ObservedWireguard[];
  /** Which WireGuard implementation creates interfaces here; undefined when there is none. */
  wgBackend?: WgBackendKind;
  /** Values of /proc/sys keys (slash form, "net/ipv4/ip_forward"); undefined when the key does not exist. */
  sysctls: Record<string, string | undefined>;
  /** Installed files by path; undefined = absent. */
  files: Record<string, ObservedFile | undefined>;
  /** `nft list table inet <table>` when the table exists; undefined when it does not; null when nft is missing. */
  nftTable?: string | null;
  frr?: ObservedFrr;
  bird?: ObservedBird;
}

// ----------------------------------------------------------------------------------------------------- desired

export interface DesiredPeer {
  /** Node name, for messages. */
  name: string;
  publicKey: string;
  /** Secret; only passed to `wg` on standard input. */
  presharedKey?: string;
  /** host:port (IPv6 in brackets), when the peer has an endpoint. */
  endpoint?: string;
  allowedIPs: string[];
  keepalive: number;
  /** For status: the NAT in front of the peer, and whether its endpoint is its STUN mapping (desired.json's). */
  nat?: DesiredPeerV1["nat"];
  endpointSource?: DesiredPeerV1["endpointSource"];
}

/** Where the node's private key comes from: inline (mesh file or bundle) or a key file that stays on the host. */
export type PrivateKeySource = { inline: string } | { file: string };

export interface DesiredWireguard {
  ifname: string;
  listenPort: number;
  fwMark: number;
  /** The public key the interface must have (derived from the private key); undefined when unknown. */
  publicKey?: string;
  privateKey: PrivateKeySource;
  mtu: number;
  /** VTEP addresses with length (LinkLayerAddress). */
  addresses: string[];
  peers: DesiredPeer[];
  /** For status: nodes reached through a relay (desired.json's). */
  relayed?: DesiredRelayedV1[];
}

/** A VXLAN device: the same value desired.json holds and the renderers create it from (render/vxlan.ts). */
export type DesiredVxlan = VxlanDevice;

export interface DesiredFile {
  path: string;
  content: string;
  mode: number;
  /** Content is secret (a private key): never printed, compared by hash. */
  secret?: boolean;
  /** chown to this user when it exists (FRR's daemons read their files as frr). */
  owner?: string;
  /** Keep the host's own file as <path>.ciab-orig the first time ciab replaces it (ciab down restores it). */
  backup?: boolean;
  /** Only create when missing; never overwrite the host's (e.g. /etc/frr/vtysh.conf). */
  ifMissing?: boolean;
}

export type DesiredRouting = { daemon: "none" } | { daemon: "frr"; frrConf: string; daemons: string } | { daemon: "bird"; birdConf: string };

/**
 * One routing instance: a daemon's configuration for one VRF. `vrf` is the slot for tenants (a kernel VRF or a
 * network namespace); today's meshes have one instance in the host's default VRF and leave it unset.
 */
export type DesiredRoutingInstance = DesiredRouting & { name: string; protocol: "bgp" | "ospf" | "none"; vrf?: string };

/**
 * The desired state of a host, plural: lists of WireGuard interfaces, VXLAN devices and routing instances (today's
 * mesh is the one-element case of each). Built from the bundle's desired.json (render/desired.ts) and the files it
 * names; nothing here comes from parsing rendered text.
 */
export interface DesiredHost {
  network: string;
  node: string;
  wireguard: DesiredWireguard[];
  vxlan: DesiredVxlan[];
  /** /proc/sys keys (slash form) and values, host-wide (ip_forward); the VXLAN devices' come from `vxlan`. */
  sysctls: { key: string; value: string }[];
  /** Files beside the WireGuard configuration (wg-quick file, the VXLAN batch files derived from the device): what the bundle's ciab-up installs. */
  files: DesiredFile[];
  /** The guard and MSS clamping table (nft/ciab.nft), replaced as a whole by `nft -f`. */
  nft?: { table: string; content: string };
  routing: DesiredRoutingInstance[];
  /** Prefixes the routing daemon announces (for messages and status). */
  announce: string[];
  warnings: string[];
}

// ----------------------------------------------------------------------------------------------------- actions

export type ActionKind =
  | "sysctl"
  | "file"
  | "wg-create"
  | "wg-sync"
  | "wg-contact"
  | "wg-endpoint"
  | "link"
  | "vxlan-create"
  | "address"
  | "neighbour"
  | "fdb"
  | "nft"
  | "frr-start"
  | "frr-reload"
  | "bird-start"
  | "bird-reload";

export interface Action {
  kind: ActionKind;
  /** What it acts on: an interface, a file, a key, a daemon. */
  subject: string;
  /** Why, for people: "peer n4 missing", "vxlan mtu 1500 != 1390". */
  reason: string;
  /** Run in order; the action failed when one exits non-zero. */
  commands: Command[];
}
