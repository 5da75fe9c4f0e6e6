// desired.json: the desired state of one host as versioned data (schema/desired-v1.json), rendered from the same
// per-node values as the bundle's text files (the wg-quick file, the ip/bridge batches, frr.conf, bird.conf, nft).
// `ciab up` plans from it and from the files it names; nothing re-parses the rendered text. Plural: lists of
// WireGuard interfaces, VXLAN devices and routing instances (each with a VRF slot), today one of each.
// Secrets never go into desired.json: a key that stays on the host is named by its path; keys the mesh file holds
// inline go into the bundle's secrets file (0600), named by desired.json. Pure; no I/O.
import { pairKey } from "../model/mesh.js";
import type { NodeTopology } from "../model/topology.js";
import {
  type AnnounceV1,
  DESIRED_VERSION,
  type DesiredPeerV1,
  type DesiredRoutingV1,
  type DesiredStateV1,
  type DesiredWireguardV1,
  type SecretsV1,
  secretsFile,
} from "../state/desired.js";
import type { FrrFiles } from "./frr.js";
import { nftTable } from "./nft.js";
import { keyFilePath } from "./showconf.js";
import { vxlanDevice } from "./vxlan.js";
import { vxlanFiles } from "./wireguard.js";

export interface DesiredRender {
  desired: DesiredStateV1;
  /** The secrets file's content, when there are secrets. */
  secrets?: string;
}

/** The desired state of a node, from its view of the topology and the rendered FRR files (where the `network` lines are). */
export function renderDesired(nt: NodeTopology, frr?: FrrFiles): DesiredRender {
  const { node, dataplane: dp, topology: t } = nt;
  const { mesh } = t;
  const net = mesh.network;
  const name = mesh.name;
  const psks: Record<string, string> = {};
  const peers: DesiredPeerV1[] = dp.peers.map((p) => {
    const psk = net.presharedKeys ? mesh.psk.get(pairKey(node.name, p.name)) : undefined;
    if (psk) psks[p.publicKey] = psk;
    // Keys assigned in the schema's order, without object spreads: ~1000 of these per node, and spreads made each
    // one slow to build and to stringify (a dictionary-mode object).
    const peer: Partial<DesiredPeerV1> = { name: p.name, publicKey: p.publicKey };
    if (psk !== undefined) peer.presharedKey = true;
    if (p.endpoint) peer.endpoint = p.endpoint.text;
    peer.allowedIPs = p.allowedIPs;
    if (node.persistentKeepalive) peer.keepalive = node.persistentKeepalive;
    return peer as DesiredPeerV1;
  });
  const wg: DesiredWireguardV1 = {
    ifname: dp.wgIf,
    listenPort: node.listenPort,
    fwMark: node.fwMark,
    mtu: dp.mtu.wg,
    publicKey: node.publicKey,
    privateKey: node.privateKey ? { secrets: true } : { file: keyFilePath(name) },
    addresses: node.linkLayerAddress,
    peers,
  };
  const hasSecrets = Boolean(node.privateKey) || Object.keys(psks).length > 0;
  const batch = vxlanFiles(name);
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
  const desired: DesiredStateV1 = {
    version: DESIRED_VERSION,
    network: name,
    node: node.name,
    sysctls: [{ key: "net/ipv4/ip_forward", value: "1" }, ...(t.ipv6Forwarding ? [{ key: "net/ipv6/conf/all/forwarding", value: "1" }] : [])],
    // 0600 all three: the bundle's ciab-up copies them under umask 077, and /etc/wireguard is private anyway.
    files: [
      { path: `/etc/wireguard/${name}.conf`, source: `wireguard/${name}.conf`, mode: "0600", ...(hasSecrets ? { secret: true } : {}) },
      { path: batch.ip, source: `wireguard/${name}.vxlan-ip`, mode: "0600" },
      { path: batch.fdb, source: `wireguard/${name}.vxlan-fdb`, mode: "0600" },
    ],
    nft: { table: nftTable(mesh), source: "nft/ciab.nft" },
    wireguard: [wg],
    vxlan: [vxlanDevice(dp, net.vxlanId, net.vxlanPort, node.mac)],
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

/**
 * JSON with one line per list item and per flat object (a peer, an FDB entry): readable and diffable, yet close to
 * the compact size (a 1000-node mesh's desired.json lists ~1000 peers and ~4000 entries per node). Built as one list
 * of parts joined once (no nested joins: this file is a quarter of a big mesh's output).
 */
export function formatDesired(v: unknown): string {
  const out: string[] = [];
  formatInto(v, "", out);
  return out.join("");
}

function formatInto(v: unknown, indent: string, out: string[]): void {
  if (isFlat(v)) {
    out.push(JSON.stringify(v));
    return;
  }
  const inner = `${indent}  `;
  if (Array.isArray(v)) {
    out.push("[");
    v.forEach((x, i) => {
      out.push(i === 0 ? `\n${inner}` : `,\n${inner}`);
      formatInto(x, inner, out);
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
    formatInto(x, inner, out);
  }
  out.push(`\n${indent}}`);
}
