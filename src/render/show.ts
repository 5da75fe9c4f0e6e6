// `show`: the mesh as a readable listing in vwgen's layout, or as a JSON object. Pure; no I/O.
// Private keys appear only when asked for (`showKeys`).
import type { Mesh, MeshNode } from "../model/mesh.js";
import { formatFwMark } from "./showconf.js";

export interface ShowOptions {
  color?: boolean;
  showKeys: boolean;
  /** Only this node (its peers are still computed from the whole mesh). */
  only?: string;
  /** Also ciab's own settings (routing, subnets): the text layout is otherwise vwgen's, line for line. */
  extra?: boolean;
}

const selected = (mesh: Mesh, only?: string) => (only === undefined ? mesh.nodes : mesh.nodes.filter((n) => n.name === only));

export function showJson(mesh: Mesh, { showKeys, only }: ShowOptions) {
  const { bgpPassword, ...n } = mesh.network;
  return {
    network: mesh.title,
    interface: mesh.name,
    // The TCP-MD5 secret is a secret like the keys: only with --show-keys.
    settings: { ...n, ...(bgpPassword ? { bgpPassword: showKeys ? bgpPassword : "(set)" } : {}) },
    nodes: selected(mesh, only).map((node) => ({
      name: node.name,
      publicKey: node.publicKey,
      ...(showKeys && node.privateKey ? { privateKey: node.privateKey } : {}),
      keyOnHost: node.privateKey === undefined,
      endpoint: node.endpoint?.text ?? null,
      listenPort: node.listenPort,
      address: node.address,
      ipv6: node.ipv6 ?? null,
      vtep: node.vtep,
      mac: node.mac,
      allowedIPs: node.allowedIPs,
      linkLayerAddress: node.linkLayerAddress,
      fwMark: node.fwMark,
      persistentKeepalive: node.persistentKeepalive,
      subnets: node.subnets,
      discoverLXD: node.discoverLXD,
      nat: node.nat,
      relay: node.relay ?? null,
      blacklist: peersOf(mesh, node, true),
      whitelist: peersOf(mesh, node, false),
    })),
    warnings: mesh.warnings,
  };
}

// vwgen lists a self pair (`blacklist add a a`, no effect) among the node's blacklist, as the file holds it.
// Names and each node's blacklist, indexed once per mesh: show lists every pair, 10^6 of them in a 1000-node mesh.
interface PeerIndex {
  names: string[];
  black: Map<string, Set<string>>;
  /** Every name joined with ", ", and where each one starts in it: a whitelist without blacklist is that minus one. */
  all: string;
  at: Map<string, number>;
}
const indexes = new WeakMap<Mesh, PeerIndex>();
function peerIndex(mesh: Mesh): PeerIndex {
  let index = indexes.get(mesh);
  if (!index) {
    const names = mesh.nodes.map((n) => n.name);
    const known = new Set(names);
    const black = new Map<string, Set<string>>();
    // The entries are "a>b"; a name may itself hold ">": every split into two node names is an entry, exactly the
    // pairs for which blacklistedFrom(mesh, a, b) is true.
    for (const k of mesh.blacklistDirected)
      for (let i = k.indexOf(">"); i >= 0; i = k.indexOf(">", i + 1)) {
        const [a, b] = [k.slice(0, i), k.slice(i + 1)];
        if (known.has(a) && known.has(b)) black.set(a, (black.get(a) ?? new Set<string>()).add(b));
      }
    const at = new Map<string, number>();
    let offset = 0;
    for (const n of names) {
      at.set(n, offset);
      offset += n.length + 2;
    }
    index = { names, black, all: names.join(", "), at };
    indexes.set(mesh, index);
  }
  return index;
}

const peersOf = (mesh: Mesh, node: MeshNode, blacklisted: boolean): string[] => {
  const { names, black: index } = peerIndex(mesh);
  const black = index.get(node.name);
  if (blacklisted) return black ? names.filter((p) => black.has(p)) : [];
  return names.filter((p) => p !== node.name && !black?.has(p));
};

/** peersOf(mesh, node, false).join(", "), cut out of the joined names when the node blacklists none (10^6 names). */
function whitelistText(mesh: Mesh, node: MeshNode): string {
  const { black, all, at } = peerIndex(mesh);
  const i = at.get(node.name);
  if (black.has(node.name) || i === undefined) return peersOf(mesh, node, false).join(", ");
  const end = i + node.name.length;
  return i === 0 ? all.slice(Math.min(all.length, end + 2)) : all.slice(0, i - 2) + all.slice(end);
}

export function showText(mesh: Mesh, opts: ShowOptions): string {
  const esc = (code: string) => (opts.color ? `\x1b[${code}m` : "");
  const [B, N, G, Y] = [esc("1"), esc("0"), esc("32"), esc("33")];
  const out: string[] = [];
  const kv = (k: string, v: string | number) => out.push(`  ${B}${k}:${N} ${v}`);
  const n = mesh.network;
  out.push(`${B}network:${N} ${G}${mesh.title}${N}`);
  kv("address pool ipv4", n.poolIPv4 ?? "");
  kv("address pool ipv6", n.poolIPv6 ?? "");
  kv("vxlan port", n.vxlanPort);
  kv("vxlan mtu", n.vxlanMTU);
  kv("vxlan id", n.vxlanId);
  if (opts.extra)
    kv(
      "routing",
      n.routing === "none"
        ? "none"
        : `${n.routing} (${n.routingDaemon})${n.routing === "bgp" ? `, AS ${n.asn}, reflectors: ${n.routeReflectors.join(", ") || "none (full mesh)"}` : ""}`,
    );
  if (opts.extra && n.stunServers.length) kv("stun servers", n.stunServers.join(", "));
  out.push("");
  for (const node of selected(mesh, opts.only)) {
    out.push(`${B}node:${N} ${Y}${node.name}${N}`);
    kv("public key", node.publicKey || "(error)");
    kv("private key", node.privateKey === undefined ? "(on the host)" : opts.showKeys ? node.privateKey : "(hidden; --show-keys prints it)");
    kv("public ip", node.endpoint?.text ?? "");
    kv("listen port", node.listenPort);
    kv("vtep address", [...node.address, ...(node.ipv6 ? [node.ipv6] : [])].join(", "));
    kv("allowed ips", node.allowedIPs.join(", "));
    kv("link-layer address", node.linkLayerAddress.join(", "));
    if (node.fwMark !== 0) kv("fwmark", formatFwMark(node.fwMark));
    if (node.persistentKeepalive !== 0) kv("persistent keepalive", `${node.persistentKeepalive} ${node.persistentKeepalive === 1 ? "second" : "seconds"}`);
    if (node.saveConfig) kv("save config", "true");
    if (node.upnp) kv("upnp", "true");
    if (opts.extra && node.subnets.length) kv("subnets", node.subnets.join(", "));
    if (opts.extra && node.nat !== "none") kv("nat", node.nat);
    if (opts.extra && node.relay !== undefined) kv("relay", node.relay);
    kv("blacklist", peersOf(mesh, node, true).join(", "));
    kv("whitelist", whitelistText(mesh, node));
    out.push("");
  }
  return `${out.join("\n")}\n`;
}
