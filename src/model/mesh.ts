// The validated mesh: a typed, read-only view of the mesh file (vwgen's TOML plus ciab's keys), with the
// addresses vwgen derives from keys. Pure; no I/O. The raw document stays the source of truth (unknown keys are
// kept there); this view is rebuilt from it after every change and must validate before anything is written.
import { isMetadataRange, isVtepRange } from "../ipam/alloc.js";
import { ipv6FromPublicKey, macFromPublicKey } from "../ipam/derive.js";
import { contains, formatAddr, mask, overlaps, type Prefix, parseAddr, parsePrefix } from "../ipam/ip.js";
import { decodeKey, pubkey } from "../keys/x25519.js";
import { CiabError } from "./errors.js";
import { lineOf, type TomlTable, type TomlValue } from "./toml.js";

export type Routing = "bgp" | "ospf" | "none";
export type RoutingDaemon = "frr" | "bird";
export type MtuMode = "auto" | "fragment";

export interface NetworkSettings {
  poolIPv4?: string;
  poolIPv6?: string;
  vxlanId: number;
  vxlanMTU: number;
  vxlanPort: number;
  routing: Routing;
  routingDaemon: RoutingDaemon;
  asn: number;
  routeReflectors: string[];
  bfd: boolean;
  bfdIntervalMs: number;
  bfdMultiplier: number;
  bgpKeepalive: number;
  bgpHold: number;
  ospfHello: number;
  ospfDead: number;
  ospfCost: number;
  underlayMTU: number;
  mtuMode: MtuMode;
  presharedKeys: boolean;
  mssClamp: boolean;
}

export interface Endpoint {
  host: string;
  port: number;
  family: 4 | 6 | "dns";
  /** host:port, IPv6 in brackets: what wg(8) accepts. */
  text: string;
  /** The file held vwgen's mangled form ("[[v6]:p]:q") and this is the repaired value. */
  repaired?: boolean;
}

export interface MeshNode {
  name: string;
  address: string[];
  allowedIPs: string[];
  endpoint?: Endpoint;
  fwMark: number;
  linkLayerAddress: string[];
  listenPort: number;
  persistentKeepalive: number;
  preUp: string[];
  postUp: string[];
  preDown: string[];
  postDown: string[];
  privateKey?: string;
  publicKey: string;
  saveConfig: boolean;
  upnp: boolean;
  subnets: string[];
  discoverLXD: boolean;
  /** Derived from the public key (vwgen). */
  mac: string;
  /** Derived from the public key and pool-ipv6 (vwgen), with the pool's length; undefined without a pool. */
  ipv6?: string;
  /** VTEP: the first link-local address, without length. */
  vtep: string;
  /** 4 (169.254/16, vwgen's) or 6 (fe80::/10: the VXLAN device is then bound to the WireGuard interface). */
  vtepFamily: 4 | 6;
  /** The first overlay IPv4 address without length, when the node has one. */
  overlayIPv4?: string;
}

export interface Mesh {
  name: string;
  network: NetworkSettings;
  /** Sorted by name. */
  nodes: MeshNode[];
  /** Unordered pairs "a,b" (a < b) that must not peer. */
  blacklist: Set<string>;
  /** Pre-shared keys by pair "a,b" (a < b). */
  psk: Map<string, string>;
  warnings: string[];
}

export const NETWORK_DEFAULTS = {
  vxlanMTU: 1500,
  vxlanPort: 4789,
  routing: "bgp" as Routing,
  asn: 64512,
  bfd: true,
  // 250 ms x 3 detects a silent peer in 0.75 s, so a cut link or a dead WireGuard daemon is withdrawn within 1 s
  // including BGP's propagation through a reflector (FRR's own default, 300 x 3, lands just above 1 s).
  bfdIntervalMs: 250,
  bfdMultiplier: 3,
  // FRR's 60/180 keep a dead host's routes for 3 minutes; BFD does not see a hung bgpd, the hold timer does.
  bgpKeepalive: 3,
  bgpHold: 9,
  ospfHello: 1,
  ospfDead: 4,
  ospfCost: 10,
  underlayMTU: 1500,
  mtuMode: "auto" as MtuMode,
  presharedKeys: false,
  mssClamp: true,
};

export const pairKey = (a: string, b: string): string => (a < b ? `${a},${b}` : `${b},${a}`);

/** wg-quick accepts interface names matching this (wg-quick(8)); Linux allows at most 15 bytes (IFNAMSIZ-1). */
export const IFNAME = /^[A-Za-z0-9_=+.-]{1,15}$/;
export const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export function checkNetworkName(name: string): void {
  // The WireGuard interface is named after the network and the VXLAN device is "v" + that name.
  if (!IFNAME.test(name) || Buffer.byteLength(name) > 14) {
    throw new CiabError("invalid", `network name '${name}' is not usable as an interface name`, {
      hint: "use at most 14 of A-Z a-z 0-9 _ = + . - (the VXLAN device is 'v<name>', and Linux allows 15 bytes)",
      where: { value: name },
    });
  }
}

export function checkNodeName(name: string): void {
  if (!NODE_NAME.test(name)) {
    throw new CiabError("invalid", `node name '${name}' is invalid`, {
      hint: "use 1-63 of A-Z a-z 0-9 _ . - starting with a letter or digit (it becomes a DNS label and a hostname)",
      where: { node: name, value: name },
    });
  }
}

/** Parse "host:port", "[v6]:port", or vwgen's mangled "[[v6]:port]:random". */
export function parseEndpoint(text: string, what: string): Endpoint {
  const t = text.trim();
  const mangled = /^\[\[([0-9A-Fa-f:.]+)\]:(\d+)\]:\d+$/.exec(t);
  if (mangled) {
    const ep = parseEndpoint(`[${mangled[1]}]:${mangled[2]}`, what);
    return { ...ep, repaired: true };
  }
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(t) ?? /^([^:[\]]+):(\d+)$/.exec(t);
  const bad = (why: string) =>
    new CiabError("invalid", `${what} '${text}' is invalid: ${why}`, {
      hint: "write host:port, e.g. 198.51.100.7:51820, [2001:db8::7]:51820 or vpn.example.com:51820",
    });
  if (!m) throw bad("expected host:port");
  const host = m[1] as string;
  const port = Number(m[2]);
  if (!(port >= 1 && port <= 65535)) throw bad(`port ${m[2]} is out of range 1-65535`);
  if (t.startsWith("[")) {
    const a = parseAddr(host, what);
    if (a.family !== 6) throw bad("brackets are only for IPv6 addresses");
    const h = formatAddr(6, a.addr);
    return { host: h, port, family: 6, text: `[${h}]:${port}` };
  }
  if (/^[\d.]+$/.test(host)) {
    parseAddr(host, what);
    return { host, port, family: 4, text: `${host}:${port}` };
  }
  if (!/^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/.test(host)) {
    throw bad(`'${host}' is neither an IP address nor a host name`);
  }
  return { host, port, family: "dns", text: `${host}:${port}` };
}

interface Ctx {
  file: string;
  text?: string;
}

/** Build a CiabError located at [table] key, with the line number when the source text is known. */
function fieldError(ctx: Ctx, table: string, key: string | undefined, message: string, hint?: string, node?: string): CiabError {
  const line = ctx.text === undefined ? undefined : lineOf(ctx.text, table, key);
  const at = line === undefined ? ctx.file : `${ctx.file}:${line}`;
  const field = key === undefined ? `[${table}]` : table === "" ? key : `[${table}] ${key}`;
  return new CiabError("invalid", `${at}: ${field}: ${message}`, { hint, where: { file: ctx.file, line, table, key, node } });
}

const describe = (v: unknown): string =>
  typeof v === "string" ? JSON.stringify(v) : Array.isArray(v) ? "an array" : typeof v === "object" ? "a table" : String(v);

class TableReader {
  constructor(
    readonly ctx: Ctx,
    readonly table: string,
    readonly t: TomlTable,
    readonly node?: string,
  ) {}

  fail(key: string | undefined, message: string, hint?: string): CiabError {
    return fieldError(this.ctx, this.table, key, message, hint, this.node);
  }

  int(key: string, lo: number, hi: number, dflt?: number): number {
    const v = this.t[key];
    if (v === undefined) {
      if (dflt === undefined) throw this.fail(key, "is missing", `add ${key} = <integer ${lo}-${hi}>`);
      return dflt;
    }
    const n = typeof v === "bigint" ? Number(v) : v;
    if (typeof n !== "number" || !Number.isInteger(n)) throw this.fail(key, `must be an integer from ${lo} to ${hi}, got ${describe(v)}`);
    if (n < lo || n > hi) throw this.fail(key, `${n} is out of range ${lo}-${hi}`);
    return n;
  }

  bool(key: string, dflt: boolean): boolean {
    const v = this.t[key];
    if (v === undefined) return dflt;
    if (typeof v !== "boolean") throw this.fail(key, `must be true or false, got ${describe(v)}`);
    return v;
  }

  str(key: string): string | undefined {
    const v = this.t[key];
    if (v === undefined) return undefined;
    if (typeof v !== "string") throw this.fail(key, `must be a string, got ${describe(v)}`);
    return v;
  }

  oneOf<T extends string>(key: string, values: readonly T[], dflt: T): T {
    const v = this.str(key);
    if (v === undefined) return dflt;
    if (!values.includes(v as T)) throw this.fail(key, `must be one of ${values.map((x) => `"${x}"`).join(", ")}, got "${v}"`);
    return v as T;
  }

  strings(key: string): string[] {
    const v = this.t[key];
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) throw this.fail(key, `must be an array of strings, got ${describe(v)}`);
    return v as string[];
  }

  prefixes(key: string, family?: 4 | 6): Prefix[] {
    return this.strings(key).map((s) => this.prefix(key, s, family));
  }

  prefix(key: string, s: string, family?: 4 | 6): Prefix {
    let p: Prefix;
    try {
      p = parsePrefix(s, "value");
    } catch (e) {
      throw this.fail(key, e instanceof Error ? e.message : String(e));
    }
    if (family !== undefined && p.family !== family) throw this.fail(key, `'${s}' is not an IPv${family} prefix`);
    return p;
  }
}

function readNetwork(ctx: Ctx, t: TomlTable): NetworkSettings {
  const r = new TableReader(ctx, "Network", t);
  const d = NETWORK_DEFAULTS;
  const pool4 = r.str("AddressPoolIPv4");
  const pool6 = r.str("AddressPoolIPv6");
  if (pool4 !== undefined) {
    const p = r.prefix("AddressPoolIPv4", pool4, 4);
    if (p.len > 30) throw r.fail("AddressPoolIPv4", `pool ${pool4} is too small for a mesh (at most /30)`);
  }
  if (pool6 !== undefined) {
    const p = r.prefix("AddressPoolIPv6", pool6, 6);
    if (p.len > 120) throw r.fail("AddressPoolIPv6", `pool ${pool6} is too small (at most /120)`);
  }
  const routing = r.oneOf("Routing", ["bgp", "ospf", "none"] as const, d.routing);
  const rr = r.strings("RouteReflectors");
  const net: NetworkSettings = {
    poolIPv4: pool4,
    poolIPv6: pool6,
    vxlanId: r.int("VxlanID", 1, 0xffffff),
    vxlanMTU: r.int("VxlanMTU", 576, 65535, d.vxlanMTU),
    vxlanPort: r.int("VxlanPort", 1, 65535, d.vxlanPort),
    routing,
    routingDaemon: r.oneOf("RoutingDaemon", ["frr", "bird"] as const, routing === "ospf" ? "bird" : "frr"),
    asn: r.int("ASN", 1, 4294967294, d.asn),
    routeReflectors: rr,
    bfd: r.bool("BFD", d.bfd),
    bfdIntervalMs: r.int("BFDInterval", 10, 60000, d.bfdIntervalMs),
    bfdMultiplier: r.int("BFDMultiplier", 2, 255, d.bfdMultiplier),
    bgpKeepalive: r.int("BGPKeepalive", 1, 21845, d.bgpKeepalive),
    bgpHold: r.int("BGPHold", 3, 65535, d.bgpHold),
    ospfHello: r.int("OSPFHello", 1, 65535, d.ospfHello),
    ospfDead: r.int("OSPFDead", 2, 65535, d.ospfDead),
    ospfCost: r.int("OSPFCost", 1, 65535, d.ospfCost),
    underlayMTU: r.int("UnderlayMTU", 1280, 65535, d.underlayMTU),
    mtuMode: r.oneOf("MTUMode", ["auto", "fragment"] as const, d.mtuMode),
    presharedKeys: r.bool("PresharedKeys", d.presharedKeys),
    mssClamp: r.bool("MSSClamp", d.mssClamp),
  };
  if (net.bgpHold < 3 * net.bgpKeepalive) {
    throw r.fail("BGPHold", `${net.bgpHold} must be at least 3 x BGPKeepalive (${3 * net.bgpKeepalive}) (RFC 4271 §10)`);
  }
  if (net.ospfDead <= net.ospfHello) throw r.fail("OSPFDead", `${net.ospfDead} must be larger than OSPFHello (${net.ospfHello})`);
  return net;
}

function readNode(ctx: Ctx, name: string, t: TomlTable, pool6?: Prefix): MeshNode {
  const table = `Node.${name}`;
  const r = new TableReader(ctx, table, t, name);
  if (!NODE_NAME.test(name)) throw r.fail(undefined, `node name '${name}' is invalid`, "use 1-63 of A-Z a-z 0-9 _ . - starting with a letter or digit");
  const privateKey = r.str("PrivateKey");
  let publicKey = r.str("PublicKey");
  if (privateKey !== undefined) {
    try {
      const derived = pubkey(privateKey, "PrivateKey");
      if (publicKey !== undefined && publicKey.trim() !== derived) {
        throw r.fail("PublicKey", "does not match PrivateKey", "remove PublicKey (it is derived from PrivateKey) or fix the key");
      }
      publicKey = derived;
    } catch (e) {
      if (e instanceof CiabError && e.where?.table) throw e;
      throw r.fail("PrivateKey", "is not a valid WireGuard key (44 characters of base64)", "generate one with 'ciab genkey'");
    }
  } else if (publicKey !== undefined) {
    try {
      decodeKey(publicKey, "PublicKey");
    } catch {
      throw r.fail("PublicKey", "is not a valid WireGuard key (44 characters of base64)");
    }
    publicKey = publicKey.trim();
  } else {
    throw r.fail(
      undefined,
      "has neither PrivateKey nor PublicKey",
      `run 'ciab set <net> node ${name} private-key <key>' or register the host's key with 'public-key'`,
    );
  }

  const address = r.strings("Address");
  address.forEach((a) => r.prefix("Address", a));
  const allowedIPs = r.strings("AllowedIPs");
  allowedIPs.forEach((a) => r.prefix("AllowedIPs", a));
  const ll = r.strings("LinkLayerAddress");
  const llp = ll.map((a) => r.prefix("LinkLayerAddress", a));
  const vtepP = llp[0];
  if (!vtepP) throw r.fail("LinkLayerAddress", "is empty: the node has no VTEP address", `run 'ciab set <net> node ${name} ll-addr auto'`);
  if (vtepP.family === 6) {
    // An IPv6 VTEP must be link-local (fe80::/10): it only exists inside the WireGuard interface.
    if (vtepP.addr >> 118n !== 0x3fan)
      throw r.fail("LinkLayerAddress", `${ll[0]} is not an IPv6 link-local address (fe80::/10)`, "use an fe80:: address, or 'll-addr auto' for IPv4");
  } else {
    const vtepNum = Number(vtepP.addr);
    if (isMetadataRange(vtepNum)) {
      throw r.fail(
        "LinkLayerAddress",
        `${ll[0]} is in 169.254.169.0/24, the cloud metadata range`,
        `pick another with 'ciab set <net> node ${name} ll-addr auto'`,
      );
    }
    if (!isVtepRange(vtepNum)) {
      throw r.fail("LinkLayerAddress", `${ll[0]} is outside the link-local VTEP range 169.254.1.0-169.254.254.255`, `use 'll-addr auto'`);
    }
  }

  const endpointText = r.str("Endpoint");
  let endpoint: Endpoint | undefined;
  if (endpointText !== undefined && endpointText !== "") {
    try {
      endpoint = parseEndpoint(endpointText, "Endpoint");
    } catch (e) {
      throw r.fail("Endpoint", e instanceof Error ? e.message : String(e), "write host:port, e.g. 198.51.100.7:51820 or [2001:db8::7]:51820");
    }
  }
  const subnets = r.strings("Subnets");
  subnets.forEach((s) => r.prefix("Subnets", s));
  const v4 = address.find((a) => parsePrefix(a).family === 4);
  return {
    name,
    address,
    allowedIPs,
    endpoint,
    fwMark: r.int("FwMark", 0, 0xffffffff, 0),
    linkLayerAddress: ll,
    listenPort: r.int("ListenPort", 0, 65535, 0),
    persistentKeepalive: r.int("PersistentKeepalive", 0, 65535, 0),
    preUp: r.strings("PreUp"),
    postUp: r.strings("PostUp"),
    preDown: r.strings("PreDown"),
    postDown: r.strings("PostDown"),
    privateKey: privateKey?.trim(),
    publicKey,
    saveConfig: r.bool("SaveConfig", false),
    upnp: r.bool("UPnP", false),
    subnets,
    discoverLXD: r.bool("DiscoverLXD", false),
    mac: macFromPublicKey(publicKey),
    ipv6: pool6 ? ipv6FromPublicKey(pool6, publicKey) : undefined,
    vtep: formatAddr(vtepP.family, vtepP.addr),
    vtepFamily: vtepP.family,
    overlayIPv4: v4?.split("/")[0],
  };
}

/** `key` of `parent` ("" = top level) must be a table, e.g. [Node.<name>]. */
const asTable = (ctx: Ctx, v: TomlValue | undefined, parent: string, key: string): TomlTable | undefined => {
  if (v === undefined) return undefined;
  if (typeof v !== "object" || Array.isArray(v) || v instanceof Date) {
    const name = parent ? `${parent}.${key}` : key;
    throw fieldError(ctx, parent, key, `must be a table [${name}], got ${describe(v)}`);
  }
  return v as TomlTable;
};

/** Validate a mesh document and build the typed view. Throws a CiabError naming file, line, table and key. */
export function meshFromDoc(name: string, doc: TomlTable, ctx: Ctx): Mesh {
  const warnings: string[] = [];
  const netT = asTable(ctx, doc.Network, "", "Network");
  if (!netT) throw fieldError(ctx, "Network", undefined, "is missing", "create the network with 'ciab add <net>'");
  const network = readNetwork(ctx, netT);
  const pool4 = network.poolIPv4 ? parsePrefix(network.poolIPv4) : undefined;
  const pool6 = network.poolIPv6 ? parsePrefix(network.poolIPv6) : undefined;

  const nodesT = asTable(ctx, doc.Node, "", "Node") ?? {};
  const nodes: MeshNode[] = [];
  for (const n of Object.keys(nodesT).sort()) {
    const t = asTable(ctx, nodesT[n], "Node", n);
    if (t) nodes.push(readNode(ctx, n, t, pool6));
  }
  checkUnique(ctx, nodes, pool4, pool6, warnings);
  const v6vtep = nodes.find((n) => n.vtepFamily === 6);
  const v4vtep = nodes.find((n) => n.vtepFamily === 4);
  if (v6vtep && v4vtep) {
    throw fieldError(
      ctx,
      `Node.${v6vtep.name}`,
      "LinkLayerAddress",
      `is an IPv6 VTEP but node '${v4vtep.name}' has an IPv4 one: one VXLAN segment needs one family`,
      "give every node the same VTEP family",
    );
  }

  const names = new Set(nodes.map((n) => n.name));
  const blacklist = new Set<string>();
  const blT = asTable(ctx, doc.PeerBlacklist, "", "PeerBlacklist");
  const bl = blT?.Blacklist ?? [];
  if (!Array.isArray(bl)) throw fieldError(ctx, "PeerBlacklist", "Blacklist", "must be an array of [node, node] pairs");
  for (const pair of bl) {
    if (!Array.isArray(pair) || pair.length !== 2 || pair.some((x) => typeof x !== "string")) {
      throw fieldError(ctx, "PeerBlacklist", "Blacklist", `each entry must be a pair of node names, got ${JSON.stringify(pair)}`);
    }
    const [a, b] = pair as [string, string];
    if (!names.has(a) || !names.has(b)) {
      warnings.push(`[PeerBlacklist] pair ${a},${b} names a node that does not exist; it has no effect`);
      continue;
    }
    blacklist.add(pairKey(a, b));
  }

  const psk = new Map<string, string>();
  const pskT = asTable(ctx, doc.PresharedKeys, "", "PresharedKeys") ?? {};
  for (const [k, v] of Object.entries(pskT)) {
    const [a, b] = k.split(",");
    if (typeof v !== "string" || !a || !b) throw fieldError(ctx, "PresharedKeys", k, 'must be "nodeA,nodeB" = "<key>"');
    try {
      decodeKey(v);
    } catch {
      throw fieldError(ctx, "PresharedKeys", k, "is not a valid pre-shared key (44 characters of base64)");
    }
    if (names.has(a) && names.has(b)) psk.set(pairKey(a, b), v);
  }

  for (const rr of network.routeReflectors) {
    if (!names.has(rr))
      throw fieldError(ctx, "Network", "RouteReflectors", `'${rr}' is not a node of this network`, `nodes: ${[...names].join(", ") || "(none)"}`);
  }
  for (const n of nodes) {
    if (n.endpoint?.repaired)
      warnings.push(`node ${n.name}: Endpoint "${n.endpoint.text}" repaired from vwgen's mangled IPv6 form; 'ciab set' will store the repaired value`);
  }
  return { name, network, nodes, blacklist, psk, warnings };
}

function checkUnique(ctx: Ctx, nodes: MeshNode[], pool4: Prefix | undefined, pool6: Prefix | undefined, warnings: string[]): void {
  const seen = new Map<string, string>();
  const claim = (kind: string, value: string, node: string, key: string) => {
    const k = `${kind}:${value}`;
    const other = seen.get(k);
    if (other !== undefined) {
      throw fieldError(
        ctx,
        `Node.${node}`,
        key,
        `${kind} ${value} is also used by node '${other}'`,
        kind === "MAC" || kind === "IPv6" || kind === "public key"
          ? `give node '${node}' a new key ('ciab set <net> node ${node} private-key <new key>')`
          : "each node needs its own address",
      );
    }
    seen.set(k, node);
  };
  const subnets: { p: Prefix; node: string; text: string }[] = [];
  for (const n of nodes) {
    claim("public key", n.publicKey, n.name, n.privateKey ? "PrivateKey" : "PublicKey");
    claim("MAC", n.mac, n.name, n.privateKey ? "PrivateKey" : "PublicKey");
    if (n.ipv6) claim("IPv6", n.ipv6.split("/")[0] as string, n.name, n.privateKey ? "PrivateKey" : "PublicKey");
    claim("VTEP", n.vtep, n.name, "LinkLayerAddress");
    for (const a of n.address) {
      const p = parsePrefix(a);
      claim("address", formatAddr(p.family, p.addr), n.name, "Address");
      if (p.family === 4 && pool4 && !contains(pool4, { ...p, len: 32 }))
        warnings.push(`node ${n.name}: Address ${a} is outside pool-ipv4 ${formatAddr(4, pool4.addr)}/${pool4.len}`);
    }
    for (const s of n.subnets) {
      const p = parsePrefix(s);
      for (const pool of [pool4, pool6]) {
        if (pool && overlaps(pool, p)) {
          throw fieldError(
            ctx,
            `Node.${n.name}`,
            "Subnets",
            `${s} overlaps the overlay pool ${formatAddr(pool.family, pool.addr)}/${pool.len}`,
            "container subnets must be outside pool-ipv4/pool-ipv6",
          );
        }
      }
      subnets.push({ p, node: n.name, text: s });
    }
  }
  // Overlap check in O(n log n): sorted by start address, a prefix can only overlap a neighbour that contains it.
  const start = (x: Prefix) => x.addr & mask(x.family, x.len);
  const sorted = [...subnets].sort((a, b) => a.p.family - b.p.family || (start(a.p) < start(b.p) ? -1 : start(a.p) > start(b.p) ? 1 : a.p.len - b.p.len));
  const open: typeof subnets = [];
  for (const s of sorted) {
    while (open.length && !overlaps(open[open.length - 1]!.p, s.p)) open.pop();
    const other = open[open.length - 1];
    if (other) {
      // Report it on the node that comes later in the file, naming the earlier one.
      const [early, late] = nodes.findIndex((n) => n.name === other.node) <= nodes.findIndex((n) => n.name === s.node) ? [other, s] : [s, other];
      throw fieldError(
        ctx,
        `Node.${late.node}`,
        "Subnets",
        `${late.text} overlaps ${early.text} of node '${early.node}'`,
        "each host must own distinct subnets",
      );
    }
    open.push(s);
  }
}
