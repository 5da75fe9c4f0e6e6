// desired.json: the desired state of one host as versioned data (schema/desired-v1.json), rendered from the same
// per-node values as the bundle's text files (the wg-quick file, the ip/bridge batches, frr.conf, bird.conf, nft).
// `ciab up` plans from it and from the files it names; nothing re-parses the rendered text. Plural: lists of
// WireGuard interfaces, VXLAN devices and routing instances (each with a VRF slot), today one of each.
// Secrets never go into desired.json: a key that stays on the host is named by its path; keys the mesh file holds
// inline go into the bundle's secrets file (0600), named by desired.json. Pure; no I/O.
import { type Learned, type MeshNode, pairKey } from "../model/mesh.js";
import type { NodeTopology, Topology } from "../model/topology.js";
import {
  type AnnounceV1,
  DESIRED_VERSION,
  type DesiredPeerV1,
  type DesiredRoutingV1,
  type DesiredStateV1,
  type DesiredWireguardV1,
  type SecretsV1,
  secretsFile,
  type VxlanDevice,
  type VxlanPeer,
} from "../state/desired.js";
import type { FrrFiles } from "./frr.js";
import { nftTable } from "./nft.js";
import { peerJoin } from "./peer-join.js";
import { keyFilePath } from "./showconf.js";
import { vxlanLink } from "./vxlan.js";

export interface DesiredRender {
  /** desired.json's text (formatDesired of the node's desired state). */
  text: string;
  /** The secrets file's content, when there are secrets. */
  secrets?: string;
}

/**
 * The desired.json renderer of a mesh. Each peer's line in a node's `wireguard[].peers` and `vxlan[].peers` is the
 * same in every other node's file (but for the pair's pre-shared key and the node's keepalive), so those lines are
 * formatted once per mesh and a node's file joins its peers' lines: ~2000 lines per node of a 1000-node mesh, the
 * quarter of its bundle that was formatted again for every node. Without a pre-shared key or keepalive, the lines are
 * cut from the mesh-wide join of every peer's line (peer-join.ts). Same text as formatDesired of the whole value.
 */
export function desiredRenderer(t: Topology): (nt: NodeTopology, frr?: FrrFiles) => DesiredRender {
  const { mesh } = t;
  const wgLine = new Map<string, string>();
  const learned = (p: MeshNode) => mesh.learned?.get(p.name);
  for (const p of mesh.nodes) wgLine.set(p.name, JSON.stringify(wgPeer(p, undefined, 0, learned(p))));
  const wgJoin = peerJoin(mesh.nodes, (p) => wgLine.get(p.name) as string);
  const vxJoin = peerJoin(mesh.nodes, (p) => JSON.stringify({ vtep: p.vtep, mac: p.mac, ips: t.hosts(p) } satisfies VxlanPeer));
  return (nt, frr) => {
    const { node, peers } = nt;
    const psks: Record<string, string> = {};
    const keepalive = node.persistentKeepalive;
    const pskOf = mesh.network.presharedKeys ? (p: MeshNode) => mesh.psk.get(pairKey(node.name, p.name)) : undefined;
    const wgLines: PeerLines =
      !pskOf && !keepalive
        ? { count: peers.length, join: (sep: string) => wgJoin.join(peers, sep) }
        : peers.map((p) => {
            const psk = pskOf?.(p);
            if (psk !== undefined) psks[p.publicKey] = psk;
            return psk === undefined && !keepalive ? (wgLine.get(p.name) as string) : JSON.stringify(wgPeer(p, psk, keepalive, learned(p)));
          });
    // Stand-ins for the peer lists: formatDesired prints the lines formatted above in their place.
    const wgPeers: DesiredPeerV1[] = [];
    const vxPeers: VxlanPeer[] = [];
    const lines = new Map<unknown[], PeerLines>([
      [wgPeers, wgLines],
      [vxPeers, { count: peers.length, join: (sep: string) => vxJoin.join(peers, sep) }],
    ]);
    const { desired, secrets } = desiredState(nt, frr, wgPeers, vxPeers, psks);
    return { text: `${formatDesired(desired, lines)}\n`, ...(secrets !== undefined ? { secrets } : {}) };
  };
}

/** What desired.json says of the NAT in front of a node: learned by its STUN, else as configured; none: undefined. */
const natOf = (p: MeshNode, learned: Learned | undefined): DesiredPeerV1["nat"] =>
  learned && learned.nat !== "none" ? learned.nat : p.nat === "symmetric" ? "symmetric" : p.nat === "auto" ? "unknown" : undefined;

/** A peer of desired.json. Keys assigned in the schema's order, without object spreads (each stays a fast object). */
function wgPeer(p: MeshNode, psk: string | undefined, keepalive: number, learned: Learned | undefined): DesiredPeerV1 {
  const peer: Partial<DesiredPeerV1> = { name: p.name, publicKey: p.publicKey };
  if (psk !== undefined) peer.presharedKey = true;
  if (p.endpoint) peer.endpoint = p.endpoint.text;
  peer.allowedIPs = p.allowedIPs;
  if (keepalive) peer.keepalive = keepalive;
  const nat = natOf(p, learned);
  if (nat) peer.nat = nat;
  if (p.endpoint && learned?.endpoint) peer.endpointSource = "stun";
  return peer as DesiredPeerV1;
}

/** The mesh's nodes by name, built once per mesh (a node's relayed partners are looked up in it). */
const byNameOf = new WeakMap<object, Map<string, MeshNode>>();
function nodesByName(mesh: { nodes: MeshNode[] }): Map<string, MeshNode> {
  let m = byNameOf.get(mesh);
  if (!m) {
    m = new Map(mesh.nodes.map((n) => [n.name, n]));
    byNameOf.set(mesh, m);
  }
  return m;
}

/** The desired state of a node around its peer lists, and its secrets file. */
function desiredState(
  nt: NodeTopology,
  frr: FrrFiles | undefined,
  peers: DesiredPeerV1[],
  vxPeers: VxlanPeer[],
  psks: Record<string, string>,
): { desired: DesiredStateV1; secrets?: string } {
  const { node, topology: t } = nt;
  const { mesh } = t;
  const net = mesh.network;
  const name = mesh.name;
  const wg: DesiredWireguardV1 = {
    ifname: t.wgIf,
    listenPort: node.listenPort,
    fwMark: node.fwMark,
    mtu: nt.mtu.wg,
    publicKey: node.publicKey,
    privateKey: node.privateKey ? { secrets: true } : { file: keyFilePath(name) },
    addresses: node.linkLayerAddress,
    peers,
  };
  if (nt.transits.size) {
    const byName = nodesByName(mesh);
    wg.relayed = [...nt.transits].map(([name, via]) => {
      const partner = byName.get(name);
      const nat = partner ? natOf(partner, mesh.learned?.get(name)) : undefined;
      const probe = partner !== undefined && t.probing(node, partner);
      return {
        name,
        via: via.name,
        ...(nat ? { nat } : {}),
        ...(probe ? { probe: true as const } : {}),
        subnets: partner ? [...t.owned(partner, 4), ...t.owned(partner, 6)] : [],
      };
    });
  }
  const hasSecrets = Boolean(node.privateKey) || Object.keys(psks).length > 0;
  const announce: AnnounceV1 = {
    subnets: [...nt.owned[4], ...nt.owned[6]],
    discoverLXD: node.discoverLXD,
    ...(frr?.networks ? { networkLines: frr.networks } : {}),
  };
  const base = { name: "default", vrf: null, protocol: net.routing, announce };
  const routing: DesiredRoutingV1 =
    net.routing === "none"
      ? { ...base, daemon: "none" }
      : net.routingDaemon === "frr"
        ? { ...base, daemon: "frr", config: "frr/frr.conf", daemons: "frr/daemons" }
        : { ...base, daemon: "bird", config: "bird/bird.conf" };
  const link = { wgIf: t.wgIf, vxlanIf: t.vxlanIf, vtep: node.vtep, vtepFamily: node.vtepFamily, mtu: nt.mtu };
  const vxlan: VxlanDevice = {
    ...vxlanLink(link, net.vxlanId, net.vxlanPort, node.mac),
    addresses: [...node.address, ...(node.ipv6 ? [node.ipv6] : [])],
    peers: vxPeers,
  };
  const desired: DesiredStateV1 = {
    version: DESIRED_VERSION,
    network: name,
    node: node.name,
    sysctls: [{ key: "net/ipv4/ip_forward", value: "1" }, ...(t.ipv6Forwarding ? [{ key: "net/ipv6/conf/all/forwarding", value: "1" }] : [])],
    // 0600: the bundle's ciab-up copies it under umask 077, and /etc/wireguard is private anyway. The VXLAN batch
    // files beside it follow from `vxlan` (state/desired.ts vxlanBatchFiles): both reconcilers write them.
    files: [{ path: `/etc/wireguard/${name}.conf`, source: `wireguard/${name}.conf`, mode: "0600", ...(hasSecrets ? { secret: true } : {}) }],
    nft: { table: nftTable(mesh), source: "nft/ciab.nft" },
    wireguard: [wg],
    vxlan: [vxlan],
    routing: [routing],
    ...(hasSecrets ? { secrets: secretsFile(name) } : {}),
  };
  if (!hasSecrets) return { desired };
  const secrets: SecretsV1 = {
    version: DESIRED_VERSION,
    interfaces: { [wg.ifname]: { ...(node.privateKey ? { privateKey: node.privateKey } : {}), presharedKeys: psks } },
  };
  return { desired, secrets: `${JSON.stringify(secrets, null, 2)}\n` };
}

const isPrimitive = (v: unknown): boolean => v === null || typeof v !== "object";
const isFlatList = (v: unknown): boolean => Array.isArray(v) && v.every(isPrimitive);
/** A primitive, a list of primitives, or an object of those: printed on one line. */
const isFlat = (v: unknown): boolean => {
  if (isPrimitive(v)) return true;
  if (Array.isArray(v)) return v.every(isPrimitive);
  for (const k in v as object) {
    const x = (v as Record<string, unknown>)[k];
    if (!isPrimitive(x) && !isFlatList(x)) return false;
  }
  return true;
};

/** A list's already formatted flat items: as a list, or as a join with a given separator (of `count` items). */
export type PeerLines = string[] | { count: number; join(sep: string): string };

/** An object with a stand-in list as a field: printed as a list of lines, not flat on one line. */
const holdsLines = (v: unknown, lines: ReadonlyMap<unknown[], PeerLines>): boolean =>
  v !== null && typeof v === "object" && !Array.isArray(v) && Object.values(v).some((x) => Array.isArray(x) && lines.has(x));

/**
 * JSON with one line per list item and per flat object (a peer, an FDB entry): readable and diffable, yet close to
 * the compact size (a 1000-node mesh's desired.json lists ~1000 peers and ~4000 entries per node). Built as one list
 * of parts joined once (no nested joins: this file is a quarter of a big mesh's output).
 */
export function formatDesired(v: unknown, lines: ReadonlyMap<unknown[], PeerLines> = new Map()): string {
  const out: string[] = [];
  formatInto(v, "", out, lines);
  return out.join("");
}

/** `lines`: lists (by identity) printed as these already formatted flat items instead of their own. */
function formatInto(v: unknown, indent: string, out: string[], lines: ReadonlyMap<unknown[], PeerLines>): void {
  const pre = Array.isArray(v) ? lines.get(v) : undefined;
  if (pre) {
    const count = Array.isArray(pre) ? pre.length : pre.count;
    if (count === 0) out.push("[]");
    else out.push(`[\n${indent}  `, pre.join(`,\n${indent}  `), `\n${indent}]`);
    return;
  }
  if (isFlat(v) && !(lines.size > 0 && holdsLines(v, lines))) {
    out.push(JSON.stringify(v));
    return;
  }
  const inner = `${indent}  `;
  if (Array.isArray(v)) {
    out.push("[");
    v.forEach((x, i) => {
      out.push(i === 0 ? `\n${inner}` : `,\n${inner}`);
      formatInto(x, inner, out, lines);
    });
    out.push(`\n${indent}]`);
    return;
  }
  out.push("{");
  let first = true;
  for (const [k, x] of Object.entries(v as object)) {
    if (x === undefined) continue;
    out.push(`${first ? "" : ","}\n${inner}${JSON.stringify(k)}: `);
    first = false;
    formatInto(x, inner, out, lines);
  }
  out.push(`\n${indent}}`);
}
