// The desired state of a host, read from a rendered bundle's files (what `ciab render` wrote, or renderBundle's
// output in memory for `ciab up NET NODE`: one path for both, so they cannot drift apart). Also the announcement
// choice for DiscoverLXD. Pure: texts in, data out; reading the directory is the agent's job.
// Must not: trust a bundle blindly (every file listed in the manifest must be there with its SHA-256; a broken
// bundle is refused before anything is observed or changed), or keep the private key anywhere but in memory.
// The hashes are not authenticated (anyone who can edit a file can edit the manifest), so every value `up` acts on
// (names, keys, ports, addresses, paths) is checked with the model's own validators, and no message repeats a key.
import { contains, formatPrefix, network, parseAddr, parsePrefix, sortedNetworks } from "../ipam/ip.js";
import { isLowOrderKey, keyShape } from "../keys/x25519.js";
import { CiabError } from "../model/errors.js";
import { endpointProblem, IFNAME, NODE_NAME, networkNameProblem, parseEndpoint } from "../model/mesh.js";
import { controlAt } from "../model/schema.js";
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
  const netWhy = networkNameProblem(o.network);
  if (netWhy || controlAt(o.network))
    throw broken(dir, `manifest.json: network name ${JSON.stringify(o.network)} is not usable: ${netWhy ?? "control character"}`);
  if (!NODE_NAME.test(o.node)) throw broken(dir, `manifest.json: node name ${JSON.stringify(o.node)} is not a DNS label`);
  checkKey(dir, "manifest.json host.publicKey", o.host.publicKey, true);
  for (const sub of o.host.subnets) prefix(dir, "manifest.json host.subnets", sub);
  for (const f of o.files) {
    if (typeof f?.path !== "string" || typeof f.sha256 !== "string" || !safeRelative(f.path))
      throw broken(dir, `manifest.json lists a file entry that is not a relative path inside the bundle: ${JSON.stringify(f?.path ?? f)}`);
  }
  for (const f of o.files) {
    const content = files.get(f.path);
    if (content === undefined) throw broken(dir, `${f.path} is missing (listed in manifest.json)`);
    if (sha256Hex(content) !== f.sha256) throw broken(dir, `${f.path} does not match its SHA-256 in manifest.json (edited or truncated)`);
  }
  return o as BundleManifest;
}

/** A path inside the bundle: relative, no "..", no control characters. */
const safeRelative = (p: string): boolean => p !== "" && !p.startsWith("/") && !p.split("/").some((x) => x === ".." || x === "") && controlAt(p) === 0;

/** A key `up` would hand to wg(8): its shape (never its value) and, for a public key, not a low-order point. */
function checkKey(dir: string, what: string, text: string, pub: boolean): void {
  const shape = keyShape(text);
  if (shape) throw broken(dir, `${what} is not a valid WireGuard key (${shape})`);
  if (pub && isLowOrderKey(text)) throw broken(dir, `${what} is all zeros or another low-order point (WireGuard refuses it)`);
}

function prefix(dir: string, what: string, text: string): string {
  try {
    if (controlAt(text)) throw new Error("control character");
    parsePrefix(text, what);
    return text;
  } catch {
    throw broken(dir, `${what}: ${JSON.stringify(text)} is not an address/length prefix`);
  }
}

function address(dir: string, what: string, text: string | undefined): string {
  try {
    if (text === undefined || controlAt(text)) throw new Error("missing");
    parseAddr(text, what);
    return text;
  } catch {
    throw broken(dir, `${what}: ${JSON.stringify(text ?? "")} is not an IP address`);
  }
}

function integer(dir: string, what: string, text: string | undefined, lo: number, hi: number, dflt?: number): number {
  if (text === undefined && dflt !== undefined) return dflt;
  const n = text !== undefined && /^(0x[0-9a-f]+|\d+)$/i.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < lo || n > hi) throw broken(dir, `${what} ${JSON.stringify(text ?? "")} is not an integer from ${lo} to ${hi}`);
  return n;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

function mac(dir: string, what: string, text: string | undefined): string {
  if (text === undefined || !MAC.test(text)) throw broken(dir, `${what}: ${JSON.stringify(text ?? "")} is not a MAC address`);
  return text;
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
      // Name the key, never the line: it may be a PrivateKey or PresharedKey line.
      const key = /^([A-Za-z]+)\s*=/.exec(line)?.[1];
      if (!m || !section)
        throw new CiabError(
          "invalid",
          `${where}:${i + 1}: cannot parse ${key ? `the ${key} line` : "this line"}${section ? "" : " (outside [Interface]/[Peer])"}`,
          {
            hint: "render the bundle again",
          },
        );
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
  if (inline) {
    checkKey(dir, `wireguard/${net}.conf: [Interface] PrivateKey`, inline, false);
    privateKey = { inline };
  } else if (keyFile) {
    if (!keyFile.startsWith("/") || keyFile.split("/").includes("..") || controlAt(keyFile))
      throw broken(dir, `wireguard/${net}.conf: the private-key file ${JSON.stringify(keyFile)} is not an absolute path without '..'`);
    privateKey = { file: keyFile };
  } else throw broken(dir, `wireguard/${net}.conf has neither PrivateKey nor a private-key file`);
  const createLine = postUp.find((l) => /^ip link add \S+ .*type vxlan /.test(l));
  if (!createLine) throw broken(dir, `wireguard/${net}.conf has no 'ip link add … type vxlan' PostUp line`);
  const create = createLine.split(/\s+/);
  const arg = (k: string): string | undefined => {
    const i = create.indexOf(k);
    return i >= 0 ? create[i + 1] : undefined;
  };
  const vxIf = create[3] as string;
  if (!IFNAME.test(vxIf)) throw broken(dir, `the VXLAN device name ${JSON.stringify(vxIf)} is not an interface name`);
  const vni = integer(dir, "the VXLAN id", arg("id"), 1, 0xffffff);
  const port = integer(dir, "the VXLAN port", arg("dstport"), 1, 65535, 4789);
  const vxMac = mac(dir, "the VXLAN device address", arg("address"));
  const local = arg("local");
  if (local !== undefined) address(dir, "the VXLAN local address", local);
  const vxMtu = integer(dir, "the VXLAN MTU", arg("mtu"), 576, 65535);
  for (const w of create) if (controlAt(w)) throw broken(dir, `wireguard/${net}.conf: the 'ip link add' line holds a control character`);

  const peers: DesiredPeer[] = wq.peers.map((p, i) => {
    const what = `wireguard/${net}.conf: peer #${i + 1}`;
    const publicKey = one(p.keys, "PublicKey");
    if (!publicKey) throw broken(dir, `${what} has no PublicKey`);
    checkKey(dir, `${what} PublicKey`, publicKey, true);
    if (p.name !== undefined && !NODE_NAME.test(p.name)) throw broken(dir, `${what}: node name ${JSON.stringify(p.name)} is not a DNS label`);
    const psk = one(p.keys, "PresharedKey");
    if (psk !== undefined) checkKey(dir, `${what} PresharedKey`, psk, false);
    const ep = one(p.keys, "Endpoint");
    if (ep !== undefined) {
      let why: string | undefined;
      try {
        why = endpointProblem(parseEndpoint(ep, "Endpoint"));
      } catch (e) {
        why = (e as Error).message;
      }
      if (why || controlAt(ep)) throw broken(dir, `${what} Endpoint: ${why ?? "control character"}`);
    }
    return {
      name: p.name ?? `#${i + 1}`,
      publicKey,
      ...(psk ? { presharedKey: psk } : {}),
      ...(ep ? { endpoint: ep } : {}),
      allowedIPs: (p.keys.get("AllowedIPs") ?? []).flatMap(list).map((a) => prefix(dir, `${what} AllowedIPs`, a)),
      keepalive: integer(dir, `${what} PersistentKeepalive`, one(p.keys, "PersistentKeepalive"), 0, 65535, 0),
    };
  });

  const addresses: string[] = [];
  const neighbours: { ip: string; mac: string }[] = [];
  for (const l of ipText.split("\n")) {
    const w = l.trim().split(/\s+/);
    if (w[0] === "address" && w[1] === "replace") addresses.push(prefix(dir, `wireguard/${net}.vxlan-ip address`, w[2] as string));
    if (w[0] === "neigh" && w[1] === "replace")
      neighbours.push({ ip: address(dir, `wireguard/${net}.vxlan-ip neigh`, w[2]), mac: mac(dir, `wireguard/${net}.vxlan-ip neigh`, w[4]) });
  }
  const flood: string[] = [];
  const unicast: { mac: string; vtep: string }[] = [];
  for (const l of fdbText.split("\n")) {
    const w = l.trim().split(/\s+/);
    if (w[0] !== "fdb") continue;
    const dst = address(dir, `wireguard/${net}.vxlan-fdb dst`, w[w.indexOf("dst") + 1]);
    if (w[1] === "append" && w[2] === "00:00:00:00:00:00") flood.push(dst);
    else if (w[1] === "replace") unicast.push({ mac: mac(dir, `wireguard/${net}.vxlan-fdb`, w[2]), vtep: dst });
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
  if (!table || !/^[A-Za-z0-9_.-]{1,64}$/.test(table)) throw broken(dir, "nft/ciab.nft has no 'table inet NAME {' with a plain NAME");

  return {
    network: net,
    node: m.node,
    wireguard: {
      ifname: net,
      listenPort: integer(dir, `wireguard/${net}.conf ListenPort`, one(wq.iface, "ListenPort"), 0, 65535, 0),
      fwMark: one(wq.iface, "FwMark") === "off" ? 0 : integer(dir, `wireguard/${net}.conf FwMark`, one(wq.iface, "FwMark"), 0, 0xffffffff, 0),
      publicKey: host.publicKey,
      privateKey,
      mtu: integer(dir, `wireguard/${net}.conf MTU`, one(wq.iface, "MTU") ?? String(m.mtu.wg), 576, 65535),
      addresses: (wq.iface.get("Address") ?? []).flatMap(list).map((a) => prefix(dir, `wireguard/${net}.conf Address`, a)),
      peers,
    },
    vxlan: { ifname: vxIf, vni, port, mac: vxMac, mtu: vxMtu, ...(local ? { local } : {}), addresses, flood, unicast, neighbours, create },
    sysctls: [{ key: "net/ipv4/ip_forward", value: "1" }, ...(host.ipv6Forwarding ? [{ key: "net/ipv6/conf/all/forwarding", value: "1" }] : [])],
    files: wgFiles,
    nft: { table, content: nftText },
    routing,
    announce,
    warnings,
  };
}

/** Canonical, sorted by family then address then length (as the renderers sort Subnets). */
export const sortPrefixes = (ps: string[]): string[] => [...sortedNetworks(ps, 4), ...sortedNetworks(ps, 6)];

/**
 * The `network` lines of a rendered BGP frr.conf replaced by `announce` (per address family), exactly as
 * renderFrr(nodeTopology, { announce }) would render them (a unit test holds the two together).
 */
export function announceInFrr(conf: string, announce: string[]): string {
  const out: string[] = [];
  let inBgp = false;
  let inAf = false;
  for (const l of conf.split("\n")) {
    if (l.startsWith("router bgp ")) inBgp = true;
    const af = /^ address-family (ipv4|ipv6) unicast$/.exec(l);
    if (inBgp && af) {
      out.push(l);
      inAf = true;
      for (const p of sortedNetworks(announce, af[1] === "ipv4" ? 4 : 6)) out.push(`  network ${p}`);
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
