// The desired state of a host, read from a rendered bundle's files (what `ciab render` wrote, or renderBundle's
// output in memory for `ciab up NET NODE`: one path for both, so they cannot drift apart). Also the announcement
// choice for DiscoverLXD. Pure: texts in, data out; reading the directory is the agent's job.
// Must not: trust a bundle blindly (every file listed in the manifest must be there with its SHA-256; a broken
// bundle is refused before anything is observed or changed), or keep the private key anywhere but in memory.
import { contains, formatPrefix, network, parsePrefix } from "../ipam/ip.js";
import { CiabError } from "../model/errors.js";
import type { MeshNode } from "../model/mesh.js";
import { ownedPrefixes } from "../model/topology.js";
import { sha256Hex } from "./plan.js";
import type { DesiredFile, DesiredHost, DesiredPeer, DesiredRouting, PrivateKeySource } from "./types.js";

export interface BundleManifest {
  ciab: number;
  network: string;
  node: string;
  meshDigest: string;
  routing: string;
  mtu: { wg: number; vxlan: number; container: number; mss4: number };
  files: { path: string; mode: string; sha256: string }[];
  host?: { publicKey: string; subnets: string[]; discoverLXD: boolean; ipv6Forwarding: boolean };
}

export interface DesiredOptions {
  /** BGP announcements replacing the node's Subnets (the LXD bridges inside them; see chooseAnnouncements). */
  announce?: string[];
}

const broken = (dir: string, what: string, hint = "render the bundle again with 'ciab render NET --node NODE' and copy it whole") =>
  new CiabError("invalid", `bundle ${dir}: ${what}`, { hint, where: { file: dir } });

/** Validate manifest.json's shape and every listed file's presence and hash. */
export function checkManifest(dir: string, files: ReadonlyMap<string, string>): BundleManifest {
  const text = files.get("manifest.json");
  if (text === undefined) throw broken(dir, "manifest.json is missing (is this a bundle directory?)");
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (e) {
    throw broken(dir, `manifest.json is not JSON (${(e as Error).message})`);
  }
  const o = m as Partial<BundleManifest>;
  if (
    typeof o !== "object" ||
    o === null ||
    o.ciab !== 1 ||
    typeof o.network !== "string" ||
    typeof o.node !== "string" ||
    !Array.isArray(o.files) ||
    typeof o.routing !== "string"
  ) {
    throw broken(dir, "manifest.json lacks ciab/network/node/routing/files (not a ciab bundle, or from an incompatible version)");
  }
  if (!o.host || typeof o.host.publicKey !== "string" || !Array.isArray(o.host.subnets)) {
    throw broken(dir, "manifest.json has no host section (rendered by an older ciab)");
  }
  for (const f of o.files) {
    const content = files.get(f.path);
    if (content === undefined) throw broken(dir, `${f.path} is missing (listed in manifest.json)`);
    if (sha256Hex(content) !== f.sha256) throw broken(dir, `${f.path} does not match its SHA-256 in manifest.json (edited or truncated)`);
  }
  return o as BundleManifest;
}

interface WgQuick {
  iface: Map<string, string[]>;
  peers: { name?: string; keys: Map<string, string[]> }[];
}

/** wg-quick(8) file: sections, repeated keys kept in order; `# Peer node NAME` names the next peer. */
function parseWgQuick(text: string, where: string): WgQuick {
  const iface = new Map<string, string[]>();
  const peers: WgQuick["peers"] = [];
  let section: Map<string, string[]> | undefined;
  let pendingName: string | undefined;
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    const named = /^# Peer node (\S+)$/.exec(line);
    if (named) pendingName = named[1];
    if (line === "" || line.startsWith("#")) return;
    if (line === "[Interface]") section = iface;
    else if (line === "[Peer]") {
      section = new Map();
      peers.push({ name: pendingName, keys: section });
      pendingName = undefined;
    } else {
      const m = /^([A-Za-z]+)\s*=\s*(.*)$/.exec(line);
      if (!m || !section) throw new CiabError("invalid", `${where}:${i + 1}: cannot parse '${line}'`, { hint: "render the bundle again" });
      const [, k, v] = m as unknown as [string, string, string];
      section.set(k, [...(section.get(k) ?? []), v]);
    }
  });
  return { iface, peers };
}

const one = (m: Map<string, string[]>, k: string): string | undefined => m.get(k)?.[0];
const list = (v: string | undefined): string[] =>
  v
    ? v
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)
    : [];

/** The desired host state from a bundle's files (relative path -> content). */
export function desiredFromBundle(dir: string, files: ReadonlyMap<string, string>, opts: DesiredOptions = {}): DesiredHost {
  const m = checkManifest(dir, files);
  const host = m.host as NonNullable<BundleManifest["host"]>;
  const net = m.network;
  const need = (path: string): string => {
    const t = files.get(path);
    if (t === undefined) throw broken(dir, `${path} is missing`);
    return t;
  };
  const wgText = need(`wireguard/${net}.conf`);
  const ipText = need(`wireguard/${net}.vxlan-ip`);
  const fdbText = need(`wireguard/${net}.vxlan-fdb`);
  const wq = parseWgQuick(wgText, `${dir}/wireguard/${net}.conf`);

  const postUp = wq.iface.get("PostUp") ?? [];
  const keyFile = postUp.map((l) => /^wg set %i private-key (\S+)$/.exec(l)?.[1]).find(Boolean);
  const inline = one(wq.iface, "PrivateKey");
  let privateKey: PrivateKeySource;
  if (inline) privateKey = { inline };
  else if (keyFile) privateKey = { file: keyFile };
  else throw broken(dir, `wireguard/${net}.conf has neither PrivateKey nor a private-key file`);
  const createLine = postUp.find((l) => /^ip link add \S+ .*type vxlan /.test(l));
  if (!createLine) throw broken(dir, `wireguard/${net}.conf has no 'ip link add … type vxlan' PostUp line`);
  const create = createLine.split(/\s+/);
  const arg = (k: string): string | undefined => {
    const i = create.indexOf(k);
    return i >= 0 ? create[i + 1] : undefined;
  };
  const vxIf = create[3] as string;
  const vni = Number(arg("id"));
  const port = Number(arg("dstport") ?? 4789);
  const mac = arg("address");
  const local = arg("local");
  const vxMtu = Number(arg("mtu"));
  if (!Number.isInteger(vni) || !mac || !Number.isInteger(vxMtu)) throw broken(dir, `cannot read VNI, MAC and MTU from '${createLine}'`);

  const peers: DesiredPeer[] = wq.peers.map((p, i) => {
    const publicKey = one(p.keys, "PublicKey");
    if (!publicKey) throw broken(dir, `wireguard/${net}.conf: peer #${i + 1} has no PublicKey`);
    const psk = one(p.keys, "PresharedKey");
    const ep = one(p.keys, "Endpoint");
    return {
      name: p.name ?? `#${i + 1}`,
      publicKey,
      ...(psk ? { presharedKey: psk } : {}),
      ...(ep ? { endpoint: ep } : {}),
      allowedIPs: (p.keys.get("AllowedIPs") ?? []).flatMap(list),
      keepalive: Number(one(p.keys, "PersistentKeepalive") ?? 0),
    };
  });

  const addresses: string[] = [];
  const neighbours: { ip: string; mac: string }[] = [];
  for (const l of ipText.split("\n")) {
    const w = l.trim().split(/\s+/);
    if (w[0] === "address" && w[1] === "replace") addresses.push(w[2] as string);
    if (w[0] === "neigh" && w[1] === "replace") neighbours.push({ ip: w[2] as string, mac: w[4] as string });
  }
  const flood: string[] = [];
  const unicast: { mac: string; vtep: string }[] = [];
  for (const l of fdbText.split("\n")) {
    const w = l.trim().split(/\s+/);
    if (w[0] !== "fdb") continue;
    const dst = w[w.indexOf("dst") + 1] as string;
    if (w[1] === "append" && w[2] === "00:00:00:00:00:00") flood.push(dst);
    else if (w[1] === "replace") unicast.push({ mac: w[2] as string, vtep: dst });
  }

  const wgFiles: DesiredFile[] = [
    // 0600 all three: the bundle's ciab-up copies them under umask 077, and /etc/wireguard is private anyway.
    { path: `/etc/wireguard/${net}.conf`, content: wgText, mode: 0o600, secret: inline !== undefined },
    { path: `/etc/wireguard/${net}.vxlan-ip`, content: ipText, mode: 0o600 },
    { path: `/etc/wireguard/${net}.vxlan-fdb`, content: fdbText, mode: 0o600 },
  ];

  const warnings: string[] = [];
  let routing: DesiredRouting = { daemon: "none" };
  let announce = host.subnets.map((s) => formatPrefix(network(parsePrefix(s))));
  if (m.routing.endsWith("/frr")) {
    let frrConf = need("frr/frr.conf");
    if (opts.announce && m.routing === "bgp/frr") frrConf = announceInFrr(frrConf, opts.announce);
    routing = { daemon: "frr", frrConf, daemons: need("frr/daemons") };
  } else if (m.routing.endsWith("/bird")) routing = { daemon: "bird", birdConf: need("bird/bird.conf") };
  // OSPF redistributes connected networks inside the Subnets by itself, so bridges appear without a config change.
  if (opts.announce) announce = sortPrefixes(opts.announce);

  // The guard is not optional: a bundle without it (rendered before ciab had one) is re-rendered, not run exposed.
  const nftText = need("nft/ciab.nft");
  const table = /^table inet (\S+) \{$/m.exec(nftText)?.[1];
  if (!table) throw broken(dir, "nft/ciab.nft has no 'table inet NAME {'");

  return {
    network: net,
    node: m.node,
    wireguard: {
      ifname: net,
      listenPort: Number(one(wq.iface, "ListenPort") ?? 0),
      fwMark: parseFwMark(one(wq.iface, "FwMark")),
      publicKey: host.publicKey,
      privateKey,
      mtu: Number(one(wq.iface, "MTU") ?? m.mtu.wg),
      addresses: (wq.iface.get("Address") ?? []).flatMap(list),
      peers,
    },
    vxlan: { ifname: vxIf, vni, port, mac, mtu: vxMtu, ...(local ? { local } : {}), addresses, flood, unicast, neighbours, create },
    sysctls: [{ key: "net/ipv4/ip_forward", value: "1" }, ...(host.ipv6Forwarding ? [{ key: "net/ipv6/conf/all/forwarding", value: "1" }] : [])],
    files: wgFiles,
    nft: { table, content: nftText },
    routing,
    announce,
    warnings,
  };
}

function parseFwMark(v: string | undefined): number {
  if (!v || v === "off") return 0;
  return Number(v); // "0x1a" and decimal both parse
}

/** Canonical, sorted by family then address then length (as the renderers sort Subnets). */
export const sortPrefixes = (ps: string[]): string[] => {
  const n = { subnets: ps } as MeshNode;
  return [...ownedPrefixes(n, 4), ...ownedPrefixes(n, 6)];
};

/**
 * The `network` lines of a rendered BGP frr.conf replaced by `announce` (per address family), exactly as
 * renderFrr(mesh, node, { announce }) would render them (a unit test holds the two together).
 */
export function announceInFrr(conf: string, announce: string[]): string {
  const n = { subnets: announce } as MeshNode;
  const out: string[] = [];
  let inBgp = false;
  let inAf = false;
  for (const l of conf.split("\n")) {
    if (l.startsWith("router bgp ")) inBgp = true;
    const af = /^ address-family (ipv4|ipv6) unicast$/.exec(l);
    if (inBgp && af) {
      out.push(l);
      inAf = true;
      for (const p of ownedPrefixes(n, af[1] === "ipv4" ? 4 : 6)) out.push(`  network ${p}`);
      continue;
    }
    if (inAf && /^ {2}network \S+$/.test(l)) continue;
    if (l === " exit-address-family") inAf = false;
    if (l === "!" && !inAf) inBgp = false;
    out.push(l);
  }
  return out.join("\n");
}

export interface Announcements {
  /** Discovered prefixes inside the node's Subnets: announced. */
  announce: string[];
  /** Discovered prefixes outside them: refused (peers would drop them anyway), with the reason. */
  refused: { bridge: string; prefix: string; why: string }[];
}

/**
 * Prefix ownership stays safe with LXD discovery: a node's Subnets are what it owns (peers accept anything inside,
 * le 32); a discovered bridge subnet is announced only when it lies inside one of them.
 */
export function chooseAnnouncements(owned: string[], bridges: { network: string; ipv4?: string; ipv6?: string }[]): Announcements {
  const own = owned.map((s) => network(parsePrefix(s)));
  const announce: string[] = [];
  const refused: Announcements["refused"] = [];
  for (const b of bridges) {
    for (const p of [b.ipv4, b.ipv6]) {
      if (!p) continue;
      const pre = network(parsePrefix(p));
      if (own.some((o) => o.family === pre.family && contains(o, pre))) announce.push(formatPrefix(pre));
      else
        refused.push({
          bridge: b.network,
          prefix: formatPrefix(pre),
          why: own.length ? `outside the node's Subnets (${owned.join(", ")})` : "the node has no Subnets",
        });
    }
  }
  return { announce: sortPrefixes([...new Set(announce)]), refused };
}
