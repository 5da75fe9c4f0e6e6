// The validated mesh: a typed, read-only view of the mesh file (vwgen's TOML plus ciab's keys), with the
// addresses vwgen derives from keys. Pure; no I/O. The raw document stays the source of truth (unknown keys are
// kept there); this view is rebuilt from it after every change and must validate before anything is written.

import { isMetadataRange, isVtepRange } from "../ipam/alloc.js";
import { ipv6FromPublicKey, macFromPublicKey } from "../ipam/derive.js";
import { HASH_CHARS, hashName } from "../ipam/ifname.js";
import { contains, formatAddr, hostmask, mask, overlaps, type Prefix, parseAddr, parsePrefix } from "../ipam/ip.js";
import { inSpecial, overlapsSpecial } from "../ipam/special.js";
import { clamp, decodeKey, isLowOrderKey, keyShape, pubkey } from "../keys/x25519.js";
import { CiabError, type Phase, type Problem, problemsError } from "./errors.js";
import { controlAt, located, type SchemaCtx, schemaProblems } from "./schema.js";
import { didYouMean } from "./suggest.js";
import type { TomlTable } from "./toml.js";

export type Routing = "bgp" | "ospf" | "none";
export type RoutingDaemon = "frr" | "bird";
export type MtuMode = "auto" | "fragment";
/** A node's NAT (issue 13): none (public, or reached only through its Endpoint), auto (learn it by STUN), symmetric. */
export type NatMode = "auto" | "none" | "symmetric";
/** The persistent keepalive (seconds) of a node behind a NAT that sets none itself. */
export const NAT_KEEPALIVE = 25;

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
  /** TCP-MD5 secret of every BGP session (RFC 2385), kept like the pre-shared keys; undefined: none. */
  bgpPassword?: string;
  mssClamp: boolean;
  /** STUN servers ("host:port", IPv6 in brackets) that NAT = "auto" nodes ask; two or more tell cone from symmetric. */
  stunServers: string[];
}

export interface Endpoint {
  host: string;
  port: number;
  family: 4 | 6 | "dns";
  /** host:port, IPv6 in brackets: what wg(8) accepts. */
  text: string;
  /** The file held one of vwgen's mangled IPv6 forms ("[[v6]:p]:q" or "[v6]p") and this is the repaired value. */
  repaired?: boolean;
  /** The stored text is no endpoint wg(8) accepts: `text` is that text as it is (shown, never rendered). */
  broken?: boolean;
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
  /** Given, or derived from PrivateKey (X25519) when first read, as are mac and ipv6 (see readNode). */
  publicKey: string;
  saveConfig: boolean;
  upnp: boolean;
  subnets: string[];
  discoverLXD: boolean;
  /** NAT in front of the node (default "none"). */
  nat: NatMode;
  /** The public node that carries this node's traffic when no direct tunnel works: a node name, or "auto". */
  relay?: string;
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
  /** The name ciab gives the WireGuard interface and, with a "v" in front, the VXLAN device (see deviceName). */
  name: string;
  /** The network as the user named it (vwgen's `network_name()`: the argument without ".conf"), for headers. */
  title: string;
  network: NetworkSettings;
  /** Sorted by name. */
  nodes: MeshNode[];
  /** Unordered pairs "a,b" (a < b) that must not peer: either direction in the file blocks the tunnel. */
  blacklist: Set<string>;
  /** The entries as the file holds them, "a>b": vwgen's showconf comments out b in a's file only (showconf, show). */
  blacklistDirected: Set<string>;
  /** Pre-shared keys by pair "a,b" (a < b). */
  psk: Map<string, string>;
  /** Messages of the "warning" problems (printed by every command). */
  warnings: string[];
  /** The "deploy" and "warning" problems, located (see validate.ts for what refuses them). */
  problems: Problem[];
  /**
   * What nodes' agents learned by STUN about the NAT in front of them (their records' `nat`), by node name,
   * whether the endpoint the mesh holds for the node is the mapping STUN learned, and which peers they could not reach. Set on the effective mesh by the
   * agent (registry/records.ts learnedOf); none for a mesh file.
   */
  learned?: ReadonlyMap<string, Learned>;
}

/** One node's STUN verdict as its record published it. */
export interface Learned {
  /** Absent when its agent ran no STUN (a public node that reports unreached peers). */
  nat?: "none" | "endpoint-independent" | "symmetric" | "unknown";
  /** Peers its agent got no handshake from in a bounded time (its record's `unreached`): relayed, probed. */
  unreached?: ReadonlySet<string>;
  /** The node's endpoint (in the effective mesh) is the mapping STUN learned. */
  endpoint: boolean;
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

/** A TCP-MD5 secret ciab renders into frr.conf: one word of safe characters, 8 to 80 bytes (TCP_MD5SIG_MAXKEYLEN). */
export const BGP_PASSWORD = /^[A-Za-z0-9+/=_.:@-]{8,80}$/;

export const pairKey = (a: string, b: string): string => (a < b ? `${a},${b}` : `${b},${a}`);

/** wg-quick accepts interface names matching this (wg-quick(8)); Linux allows at most 15 bytes (IFNAMSIZ-1). */
export const IFNAME = /^[A-Za-z0-9_=+.-]{1,15}$/;
/** A DNS label (RFC 1123 §2.1): node names become host names, zone records and FRR/BIRD identifiers. */
export const NODE_NAME = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * Why the network name cannot name the WireGuard interface and its VXLAN device "v<name>", or undefined.
 * Linux refuses ".", "..", names with "/", ":" or whitespace and more than 15 bytes (dev_valid_name); "all" and
 * "default" collide with /proc/sys/net/ipv{4,6}/conf/{all,default}; a leading "-" reads as an option to ip(8).
 */
export function networkNameProblem(name: string): string | undefined {
  if (name === "." || name === "..") return "Linux refuses '.' and '..' as interface names";
  if (name === "all" || name === "default") return `'${name}' is reserved (/proc/sys/net/ipv4/conf/${name})`;
  if (name.startsWith("-")) return "a leading '-' reads as an option to ip(8) and wg(8)";
  if (!/^[A-Za-z0-9_=+.-]+$/.test(name)) return "use only A-Z a-z 0-9 _ = + . - (wg-quick(8))";
  if (Buffer.byteLength(name) > 14) return `${Buffer.byteLength(name)} bytes: the VXLAN device 'v${name}' would exceed Linux's 15`;
  return undefined;
}

/**
 * The interface name of a network: the network name itself when Linux takes it (and "v" + it) as a device name,
 * else a stable short name from the one namer's hash (ipam/ifname.ts): up to 5 safe characters of the name, "-",
 * 8 characters of the hash of the whole name (14 bytes, so the VXLAN device "v" + it fits in 15). vwgen used the
 * name as it is, and its VXLAN device then failed to come up.
 */
export function deviceName(name: string): string {
  if (!networkNameProblem(name)) return name;
  const safe =
    name
      .replace(/[^A-Za-z0-9_=+.-]/g, "")
      .replace(/^[-.]+/, "")
      .slice(0, 5) || "net";
  return `${safe}-${hashName(name, HASH_CHARS)}`;
}

const NETWORK_HINT =
  "use 1-14 of A-Z a-z 0-9 _ = + . -, not starting with '-', not 'all' or 'default' (the VXLAN device is 'v<name>', and Linux allows 15 bytes)";

/** Network names a file can carry at all (read commands work on any of them; `render` checks networkNameProblem). */
export function checkNetworkName(name: string): void {
  if (name === "" || controlAt(name) > 0 || name.includes("/")) {
    throw new CiabError("invalid", "network name is empty or holds a control character or '/'", { hint: NETWORK_HINT });
  }
}

export const NODE_HINT = "use 1-63 of A-Z a-z 0-9 and '-', starting and ending with a letter or digit (a DNS label: it becomes a host name)";

export function checkNodeName(name: string): void {
  if (!NODE_NAME.test(name)) {
    throw new CiabError("invalid", `node name '${controlAt(name) ? JSON.stringify(name) : name}' is invalid`, {
      hint: NODE_HINT,
      where: { node: name },
    });
  }
}

/**
 * Parse "host:port", "[v6]:port", or one of vwgen's mangled IPv6 forms: "[[v6]:port]:random" (`set endpoint
 * '[v6]:port'`) and "[v6]port" (`set endpoint '[v6]'`: vwgen appended the listen port without its colon).
 */
export function parseEndpoint(text: string, what: string): Endpoint {
  const t = text.trim();
  const mangled = /^\[\[([0-9A-Fa-f:.]+)\]:(\d+)\]:\d+$/.exec(t) ?? /^\[([0-9A-Fa-f:.]+)\](\d+)$/.exec(t);
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
  // '_' is no letter of a host name (RFC 1123) but DNS carries it and resolvers (getaddrinfo, so wg(8)) look it up.
  if (!/^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/.test(host)) {
    throw bad(`'${host}' is neither an IP address nor a host name`);
  }
  return { host, port, family: "dns", text: `${host}:${port}` };
}

/**
 * `title`: the network as the user named it (default: the name). `edit`: the document is an edit's result, validated
 * before it is written (see editNeedsKeys: an edit derives no public key it does not need).
 */
type Ctx = SchemaCtx & { title?: string; edit?: boolean; nodes?: NodeMemo };

/**
 * Nodes read before, by their table (ctx.nodes; the agent's, which reads a mesh again on every registry change):
 * a table read again under the same name and IPv6 pool gives the same MeshNode (its keys derived once). Only a
 * node whose reading found no problem is kept: a problem's location (its line) depends on the whole text. The
 * tables must not change after they were read (the agent never edits its documents).
 */
export type NodeMemo = WeakMap<TomlTable, { name: string; pool6: string | undefined; node: MeshNode }>;

/** Collects the problems of one mesh; every reader records instead of throwing, so all of them are reported. */
class Collector {
  readonly problems: Problem[] = [];
  constructor(readonly ctx: Ctx) {}

  add(phase: Phase, table: string, key: string | undefined, message: string, hint?: string, node?: string): void {
    this.problems.push(located(this.ctx, phase, table, key, message, hint, node));
  }

  /** A problem that has no place in the file (the network name is the file's name). */
  plain(phase: Phase, message: string, hint?: string, where?: Problem["where"]): void {
    this.problems.push({ phase, message: `${this.ctx.file}: ${message}`, hint, where: { file: this.ctx.file, ...where } });
  }
}

// The schema (schema.ts) has checked every known key's type before a reader runs, so readers only check values.
class TableReader {
  constructor(
    readonly c: Collector,
    readonly table: string,
    readonly t: TomlTable,
    readonly node?: string,
  ) {}

  fail(phase: Phase, key: string | undefined, message: string, hint?: string): void {
    this.c.add(phase, this.table, key, message, hint, this.node);
  }

  /** Out of range is a "deploy" problem: vwgen writes some such values (vxlan-id 0), and showing them is harmless. */
  int(key: string, lo: number, hi: number, dflt?: number): number {
    const v = this.t[key];
    if (v === undefined) {
      if (dflt === undefined) this.fail("deploy", key, "is missing", `add ${key} = <integer ${lo}-${hi}>`);
      return dflt ?? lo;
    }
    const n = Number(v);
    if (n < lo || n > hi) this.fail("deploy", key, `${n} is out of range ${lo}-${hi}`);
    return n;
  }

  bool(key: string, dflt: boolean): boolean {
    const v = this.t[key];
    return typeof v === "boolean" ? v : dflt;
  }

  str(key: string): string | undefined {
    const v = this.t[key];
    return typeof v === "string" ? v : undefined;
  }

  oneOf<T extends string>(key: string, values: readonly T[], dflt: T): T {
    const v = this.str(key);
    if (v === undefined) return dflt;
    if (!values.includes(v as T)) {
      this.fail("load", key, `must be one of ${values.map((x) => `"${x}"`).join(", ")}, got "${v}"`);
      return dflt;
    }
    return v as T;
  }

  strings(key: string): string[] {
    const v = this.t[key];
    return Array.isArray(v) ? (v as string[]) : [];
  }

  /** The prefixes of `key` that parse; a malformed one is a "load" problem (nothing downstream could use it). */
  prefixes(key: string, family?: 4 | 6): { text: string; p: Prefix }[] {
    const out: { text: string; p: Prefix }[] = [];
    for (const s of this.strings(key)) {
      const p = this.prefix(key, s, family);
      if (p) out.push({ text: s, p });
    }
    return out;
  }

  /**
   * Address and AllowedIPs as vwgen's `set addr`/`allowed-ips` store them: any text. One without a prefix length (the
   * kernel and wg(8) read it as /32 or /128) or one that is no address at all is a "deploy" problem: shown, never
   * rendered; `ciab migrate` adds the length. Only the entries that parse are kept.
   */
  hostPrefixes(key: string): { text: string; p: Prefix }[] {
    const out: { text: string; p: Prefix }[] = [];
    for (const s of this.strings(key)) {
      let p: Prefix;
      try {
        p = parsePrefix(s, "value", false);
      } catch (e) {
        this.fail(
          "deploy",
          key,
          e instanceof Error ? e.message : String(e),
          `set the list again: 'ciab set <net> node ${this.node} ${key === "Address" ? "addr" : "allowed-ips"} CIDR[,CIDR]'`,
        );
        continue;
      }
      if (!s.includes("/"))
        this.fail(
          "deploy",
          key,
          `'${s}' has no prefix length (the kernel reads it as /${p.len})`,
          `run 'ciab migrate <net>' (it adds ${key === "Address" ? "the pool's length" : `/${p.len}`})`,
        );
      out.push({ text: s, p });
    }
    return out;
  }

  prefix(key: string, s: string, family?: 4 | 6): Prefix | undefined {
    let p: Prefix;
    try {
      p = parsePrefix(s, "value");
    } catch (e) {
      this.fail("load", key, e instanceof Error ? e.message : String(e));
      return undefined;
    }
    if (family !== undefined && p.family !== family) {
      this.fail("load", key, `'${s}' is not an IPv${family} prefix`);
      return undefined;
    }
    return p;
  }
}

const fmt = (p: Prefix): string => `${formatAddr(p.family, p.addr)}/${p.len}`;

function readPool(r: TableReader, key: "AddressPoolIPv4" | "AddressPoolIPv6", family: 4 | 6): Prefix | undefined {
  const text = r.str(key);
  if (text === undefined) return undefined;
  const p = r.prefix(key, text, family);
  if (!p) return undefined;
  // An IPv4 /31 holds two hosts (RFC 3021): vwgen allocates both, and Linux uses both on one segment.
  const max = family === 4 ? 31 : 120;
  if (p.len > max) r.fail("deploy", key, `pool ${text} is too small for a mesh (at most /${max})`);
  const special = overlapsSpecial(p);
  if (special)
    r.fail("deploy", key, `pool ${text} overlaps ${special.text}, ${special.name}`, "use a private range: 10/8, 172.16/12, 192.168/16 or an IPv6 ULA fd00::/8");
  return p;
}

function readNetwork(c: Collector, t: TomlTable): NetworkSettings {
  const r = new TableReader(c, "Network", t);
  const d = NETWORK_DEFAULTS;
  readPool(r, "AddressPoolIPv4", 4);
  readPool(r, "AddressPoolIPv6", 6);
  const routing = r.oneOf("Routing", ["bgp", "ospf", "none"] as const, d.routing);
  const net: NetworkSettings = {
    poolIPv4: r.str("AddressPoolIPv4"),
    poolIPv6: r.str("AddressPoolIPv6"),
    // VNI 0 is a VNI like another (RFC 7348 reserves none; Linux takes `id 0`); vwgen reads a missing VxlanID as 0.
    vxlanId: r.int("VxlanID", 0, 0xffffff, 0),
    // Linux takes a VXLAN MTU of 68 (IPv4's minimum) up to 65535 less the 50 bytes of VXLAN headers. Below 1280 the
    // overlay carries no IPv6 (mtuProblems in validate.ts says so when there is an IPv6 pool).
    vxlanMTU: r.int("VxlanMTU", 68, 65485, d.vxlanMTU),
    vxlanPort: r.int("VxlanPort", 1, 65535, d.vxlanPort),
    routing,
    routingDaemon: r.oneOf("RoutingDaemon", ["frr", "bird"] as const, routing === "ospf" ? "bird" : "frr"),
    asn: r.int("ASN", 1, 4294967294, d.asn),
    routeReflectors: r.strings("RouteReflectors"),
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
    stunServers: readStunServers(r),
  };
  const pw = r.str("BGPPassword");
  if (pw !== undefined) {
    // Never the value in a message: it is a secret. FRR takes one word; Linux's TCP-MD5 key is at most 80 bytes.
    if (BGP_PASSWORD.test(pw)) net.bgpPassword = pw;
    else
      r.fail(
        "deploy",
        "BGPPassword",
        `is not a usable TCP-MD5 secret (${pw.length} characters; 8 to 80 of A-Z a-z 0-9 + / = _ . : @ -)`,
        "generate one with 'ciab set NET bgp-password on'",
      );
  }
  if (net.bgpHold < 3 * net.bgpKeepalive) {
    r.fail("deploy", "BGPHold", `${net.bgpHold} must be at least 3 x BGPKeepalive (${3 * net.bgpKeepalive}) (RFC 4271 §10)`);
  }
  if (net.ospfDead <= net.ospfHello) r.fail("deploy", "OSPFDead", `${net.ospfDead} must be larger than OSPFHello (${net.ospfHello})`);
  return net;
}

/**
 * The node's public key: given, or a function deriving it from PrivateKey (X25519 costs more than the rest of a
 * node's validation, and an edit needs none of them: readNode derives it when first read); undefined after a "load"
 * problem.
 */
function readKeys(r: TableReader, name: string): { privateKey?: string; publicKey?: string | (() => string) } {
  const privateKey = r.str("PrivateKey");
  const publicKey = r.str("PublicKey");
  if (privateKey !== undefined) {
    const shape = keyShape(privateKey);
    if (shape) {
      // vwgen's `set private-key <file path>` stored the path itself: its own show and showconf crash on it.
      r.fail(
        "deploy",
        "PrivateKey",
        `is not a valid WireGuard key (${shape}); peers get no PublicKey for this node`,
        `'ciab migrate <net>' reads the key from the file if the value is the path of a key file, else 'ciab set <net> node ${name} private-key <key>'`,
      );
      return { privateKey, publicKey: "" };
    }
    if (publicKey === undefined) return { privateKey: privateKey.trim(), publicKey: () => pubkey(privateKey, "PrivateKey") };
    const derived = pubkey(privateKey, "PrivateKey");
    if (publicKey.trim() !== derived)
      r.fail("load", "PublicKey", "does not match PrivateKey", "remove PublicKey (it is derived from PrivateKey) or fix the key");
    return { privateKey: privateKey.trim(), publicKey: derived };
  }
  if (publicKey !== undefined) {
    const shape = keyShape(publicKey);
    if (shape) {
      r.fail("load", "PublicKey", `is not a valid WireGuard key (${shape})`);
      return {};
    }
    if (isLowOrderKey(publicKey))
      r.fail(
        "deploy",
        "PublicKey",
        "is all zeros or another low-order point: WireGuard refuses it (no shared secret)",
        "register the host's real key ('ciab key init' on the host)",
      );
    return { publicKey: publicKey.trim() };
  }
  r.fail(
    "load",
    undefined,
    "has neither PrivateKey nor PublicKey",
    `run 'ciab set <net> node ${name} private-key <key>' or register the host's key with 'public-key'`,
  );
  return {};
}

function readVtep(r: TableReader, name: string): Prefix | undefined {
  const ll = r.prefixes("LinkLayerAddress");
  const vtep = ll[0];
  if (!vtep) {
    if (r.strings("LinkLayerAddress").length === 0)
      r.fail("load", "LinkLayerAddress", "is empty: the node has no VTEP address", `run 'ciab set <net> node ${name} ll-addr auto'`);
    return undefined;
  }
  const { p, text } = vtep;
  if (p.family === 6) {
    // An IPv6 VTEP must be link-local (fe80::/10): it only exists inside the WireGuard interface.
    if (p.addr >> 118n !== 0x3fan)
      r.fail("deploy", "LinkLayerAddress", `${text} is not an IPv6 link-local address (fe80::/10)`, "use an fe80:: address, or 'll-addr auto' for IPv4");
  } else if (isMetadataRange(Number(p.addr))) {
    r.fail(
      "deploy",
      "LinkLayerAddress",
      `${text} is in 169.254.169.0/24, the cloud metadata range`,
      `run 'ciab migrate <net>' (it picks another VTEP), or 'ciab set <net> node ${name} ll-addr auto'`,
    );
  } else if (!isVtepRange(Number(p.addr))) {
    r.fail("deploy", "LinkLayerAddress", `${text} is outside the link-local VTEP range 169.254.1.0-169.254.254.255`, `use 'll-addr auto'`);
  }
  return p;
}

/** STUNServers: each "host:port" (a DNS name, IPv4, or IPv6 in brackets), port 1-65535, no duplicates. */
function readStunServers(r: TableReader): string[] {
  const out: string[] = [];
  r.strings("STUNServers").forEach((s, i) => {
    const why = stunServerProblem(s);
    if (why) r.fail("deploy", "STUNServers", `element ${i + 1} '${s}': ${why}`, "write host:port, e.g. stun.example.net:3478 or [2001:db8::3]:3478");
    else if (out.includes(s))
      r.fail(
        "deploy",
        "STUNServers",
        `element ${i + 1} '${s}' is listed twice`,
        "two servers are needed to tell a cone NAT from a symmetric one: name another",
      );
    else out.push(s);
  });
  return out;
}

/** Why a STUN server's text is not host:port, or undefined (`set stun-servers` and the file use the same check). */
export function stunServerProblem(s: string): string | undefined {
  if (/^[0-9A-Fa-f]*:[0-9A-Fa-f]*:/.test(s)) return "is an IPv6 address without brackets (write [2001:db8::3]:3478)";
  let ep: Endpoint;
  try {
    ep = parseEndpoint(s, "server");
  } catch (e) {
    return (e instanceof Error ? e.message : String(e)).replace(/^server '[^']*' is invalid: /, "");
  }
  if (ep.repaired || ep.text !== s) return `write it as ${ep.repaired ? "host:port" : ep.text}`;
  return undefined;
}

function readEndpoint(r: TableReader): Endpoint | undefined {
  const text = r.str("Endpoint");
  if (text === undefined || text === "") return undefined;
  let ep: Endpoint;
  try {
    ep = parseEndpoint(text, "Endpoint");
  } catch (e) {
    // vwgen stores any text (`set endpoint host` appends ":<listen port>", which may be 0): show it, never render it.
    r.fail("deploy", "Endpoint", e instanceof Error ? e.message : String(e), "write host:port, e.g. 198.51.100.7:51820 or [2001:db8::7]:51820");
    return { host: text, port: 0, family: "dns", text, broken: true };
  }
  const why = endpointProblem(ep);
  if (why) r.fail("deploy", "Endpoint", `${ep.text}: ${why}`, "give the host's public address (or a DNS name) and its WireGuard port");
  return ep;
}

/** Why an endpoint can never be reached by a peer: unspecified, broadcast, multicast, loopback, link-local. */
export function endpointProblem(ep: Endpoint): string | undefined {
  if (ep.family === "dns") return undefined;
  const p = parsePrefix(ep.host, "endpoint", false);
  const special = inSpecial(p);
  return special ? `${ep.host} is in ${special.text}, ${special.name}; no peer can send to it` : undefined;
}

function readAddresses(r: TableReader): { text: string; p: Prefix }[] {
  const out = r.hostPrefixes("Address");
  for (const { text, p } of out) {
    const special = inSpecial(p);
    if (special) {
      r.fail("deploy", "Address", `${text} is in ${special.text}, ${special.name}`, "give the node an address from pool-ipv4/pool-ipv6");
      continue;
    }
    const host = p.addr & hostmask(p.family, p.len);
    // The network address of a /30 or wider (and IPv4's broadcast address) is not a host (RFC 919, RFC 4291 §2.6.1).
    if (p.family === 4 ? p.len <= 30 : p.len <= 126) {
      if (host === 0n) r.fail("deploy", "Address", `${text} is the network address of its prefix, not a host address`, "pick a host address inside the prefix");
      else if (p.family === 4 && host === hostmask(4, p.len))
        r.fail("deploy", "Address", `${text} is the broadcast address of its prefix, not a host address`, "pick a host address inside the prefix");
    }
  }
  return out;
}

function readSubnets(r: TableReader): string[] {
  const out = r.prefixes("Subnets");
  for (const { text, p } of out) {
    const special = overlapsSpecial(p);
    if (special)
      r.fail(
        "deploy",
        "Subnets",
        `${text} overlaps ${special.text}, ${special.name}`,
        "a node owns container subnets: private unicast ranges outside the pools",
      );
  }
  return out.map((s) => s.text);
}

function readNode(c: Collector, name: string, t: TomlTable, pool6?: Prefix): MeshNode | undefined {
  const table = `Node.${name}`;
  const r = new TableReader(c, table, t, name);
  if (!NODE_NAME.test(name)) r.fail("deploy", undefined, `node name '${name}' is invalid`, `'ciab migrate <net>' renames it (${NODE_HINT})`);
  const { privateKey, publicKey } = readKeys(r, name);
  const address = readAddresses(r).map((a) => a.text);
  const allowedIPs = r.hostPrefixes("AllowedIPs").map((a) => a.text);
  const vtepP = readVtep(r, name);
  const endpoint = readEndpoint(r);
  const subnets = readSubnets(r);
  if (typeof t.LinkLayerAddr === "string")
    r.fail(
      "warning",
      "LinkLayerAddr",
      `is written by vwgen's 'll-addr' and read by neither vwgen nor ciab (the VTEP is LinkLayerAddress)`,
      `'ciab set <net> node ${name} ll-addr ${t.LinkLayerAddr.split("/")[0]}' applies it`,
    );
  for (const hook of ["PreUp", "PostUp", "PreDown", "PostDown"]) {
    // A hook is one wg-quick line each (newlines are refused by the schema); an empty one would be a bare "PostUp =".
    r.strings(hook).forEach((h, i) => {
      if (h.trim() === "") r.fail("deploy", hook, `command ${i + 1} is empty`, "remove it");
    });
  }
  const v4 = address.find((a) => parsePrefix(a, "Address", false).family === 4);
  if (publicKey === undefined || vtepP === undefined) return undefined; // a "load" problem is recorded
  // Public key, MAC and IPv6 (derived from the public key, vwgen's rules; none from an unusable key ""): a key to
  // derive is derived when one of them is first read, once. They read as plain values (spread, JSON, structuredClone).
  const derive = publicKey;
  let keys: { publicKey: string; mac: string; ipv6?: string } | undefined;
  const get = () => {
    if (keys === undefined) {
      const key = typeof derive === "string" ? derive : derive();
      keys = { publicKey: key, mac: key ? macFromPublicKey(key) : "", ipv6: pool6 && key ? ipv6FromPublicKey(pool6, key) : undefined };
    }
    return keys;
  };
  const nat = r.oneOf("NAT", ["auto", "none", "symmetric"] as const, "none");
  return {
    name,
    address,
    allowedIPs,
    endpoint,
    fwMark: r.int("FwMark", 0, 0xffffffff, 0),
    linkLayerAddress: r.strings("LinkLayerAddress"),
    listenPort: r.int("ListenPort", 0, 65535, 0),
    // Behind a NAT the mapping of the WireGuard port lives only while packets cross it (NAT-FINDINGS §6): with
    // keepalive off (0, which vwgen and `ciab add` write), such a node keeps it alive every 25 s, below the 30 s UDP
    // timeout of Linux conntrack and most home routers, which also keeps a punched hole open from both sides.
    persistentKeepalive: r.int("PersistentKeepalive", 0, 65535, 0) || (nat === "none" ? 0 : NAT_KEEPALIVE),
    preUp: r.strings("PreUp"),
    postUp: r.strings("PostUp"),
    preDown: r.strings("PreDown"),
    postDown: r.strings("PostDown"),
    privateKey,
    saveConfig: r.bool("SaveConfig", false),
    upnp: r.bool("UPnP", false),
    subnets,
    discoverLXD: r.bool("DiscoverLXD", false),
    nat,
    relay: r.str("Relay"),
    overlayIPv4: v4?.split("/")[0],
    get publicKey() {
      return get().publicKey;
    },
    get mac() {
      return get().mac;
    },
    get ipv6() {
      return get().ipv6;
    },
    vtep: formatAddr(vtepP.family, vtepP.addr),
    vtepFamily: vtepP.family,
  };
}

/**
 * Validate a mesh document and build the typed view. Every problem is collected with its location; "load" problems
 * (wrong types, control characters, malformed values) throw one CiabError listing them all. The others are kept in
 * `mesh.problems` ("deploy": render/up refuse them and edits may not introduce them, see validate.ts; "warning").
 */
export function meshFromDoc(name: string, doc: TomlTable, ctx: Ctx): Mesh {
  const schema = schemaProblems(doc, ctx);
  if (schema.some((p) => p.phase === "load")) throw problemsError(schema.filter((p) => p.phase === "load"));
  const c = new Collector(ctx);
  c.problems.push(...schema);
  const why = networkNameProblem(name);
  const device = deviceName(name);
  if (why)
    c.plain(
      "warning",
      `network name '${name}' is not usable as an interface name (${why}): ciab names the WireGuard interface '${device}' and the VXLAN device 'v${device}'`,
      NETWORK_HINT,
      { value: name },
    );
  const netT = doc.Network as TomlTable | undefined;
  if (!netT) throw problemsError([located(ctx, "load", "Network", undefined, "is missing", "create the network with 'ciab add <net>'")]);
  const network = readNetwork(c, netT);
  const pool4 = network.poolIPv4 ? parsePrefixOrUndefined(network.poolIPv4) : undefined;
  const pool6 = network.poolIPv6 ? parsePrefixOrUndefined(network.poolIPv6) : undefined;

  const nodesT = (doc.Node as TomlTable | undefined) ?? {};
  const nodes: MeshNode[] = [];
  for (const n of Object.keys(nodesT).sort()) {
    const t = nodesT[n] as TomlTable;
    const known = ctx.nodes?.get(t);
    if (known && known.name === n && known.pool6 === network.poolIPv6) {
      nodes.push(known.node);
      continue;
    }
    const before = c.problems.length;
    const node = readNode(c, n, t, pool6);
    if (node) nodes.push(node);
    if (node && ctx.nodes && c.problems.length === before) ctx.nodes.set(t, { name: n, pool6: network.poolIPv6, node });
  }
  const loadFailed = () => c.problems.some((p) => p.phase === "load");
  // Duplicates are "deploy" problems: vwgen's `set addr` and `set private-key` write them without a word.
  if (!loadFailed()) checkUnique(c, nodes, pool4, pool6);
  if (!loadFailed()) checkEndpointsOutsideSubnets(c, nodes);
  if (!loadFailed()) checkEndpointPorts(c, nodes, ctx.title ?? name);
  if (!loadFailed()) checkNat(c, nodes, network);
  const v6vtep = nodes.find((n) => n.vtepFamily === 6);
  const v4vtep = nodes.find((n) => n.vtepFamily === 4);
  if (v6vtep && v4vtep) {
    c.add(
      "deploy",
      `Node.${v6vtep.name}`,
      "LinkLayerAddress",
      `is an IPv6 VTEP but node '${v4vtep.name}' has an IPv4 one: one VXLAN segment needs one family`,
      "give every node the same VTEP family",
    );
  }

  const names = new Set(Object.keys(nodesT));
  const blacklist = new Set<string>();
  const blacklistDirected = new Set<string>();
  const bl = ((doc.PeerBlacklist as TomlTable | undefined)?.Blacklist as [string, string][] | undefined) ?? [];
  for (const [a, b] of bl) {
    if (!names.has(a) || !names.has(b)) {
      c.plain("warning", `[PeerBlacklist] pair ${a},${b} names a node that does not exist; it has no effect ('ciab migrate' drops it)`);
      continue;
    }
    // vwgen stores `blacklist add a a` as it is and its show lists it; a node never peers with itself anyway.
    blacklistDirected.add(`${a}>${b}`);
    if (a === b) {
      c.plain("warning", `[PeerBlacklist] pair ${a},${a} pairs a node with itself; it has no effect ('ciab migrate' drops it)`);
      continue;
    }
    blacklist.add(pairKey(a, b));
  }
  for (const [a, b] of bl) {
    // vwgen writes both directions; one direction alone still leaves the pair without a tunnel (only one end knows the
    // other's key), so ciab renders it as blocked both ways, and vwgen's showconf comments out the peer on one side.
    if (names.has(a) && names.has(b) && a !== b && !blacklistDirected.has(`${b}>${a}`))
      c.plain(
        "warning",
        `[PeerBlacklist] pair ${a},${b} is one-way: ${b}'s vwgen file still lists ${a}, but without ${a}'s half no tunnel comes up; ciab blocks both directions ('ciab migrate' adds ${b},${a})`,
      );
  }
  const psk = readPsks(c, (doc.PresharedKeys as TomlTable | undefined) ?? {}, names);

  for (const rr of network.routeReflectors) {
    if (!names.has(rr)) {
      const guess = didYouMean(rr, [...names].sort());
      c.add(
        "deploy",
        "Network",
        "RouteReflectors",
        `'${rr}' is not a node of this network${guess ? ` (${guess})` : ""}`,
        `nodes: ${[...names].join(", ") || "(none)"}`,
      );
    }
  }
  for (const n of nodes) {
    if (n.endpoint?.repaired)
      c.plain(
        "warning",
        `node ${n.name}: Endpoint "${n.endpoint.text}" repaired from vwgen's mangled IPv6 form; the next 'ciab set' or 'ciab migrate' stores the repaired value`,
      );
  }
  const load = c.problems.filter((p) => p.phase === "load");
  if (load.length) throw problemsError(load);
  // Hints name the network as the user does, so each fix can be pasted as it is.
  const problems = c.problems.map((p) => (p.hint?.includes("<net>") ? { ...p, hint: p.hint.replaceAll("<net>", ctx.title ?? name) } : p));
  const warnings = problems.filter((p) => p.phase === "warning").map((p) => p.message);
  return { name: device, title: ctx.title ?? name, network, nodes, blacklist, blacklistDirected, psk, warnings, problems };
}

const parsePrefixOrUndefined = (s: string): Prefix | undefined => {
  try {
    return parsePrefix(s);
  } catch {
    return undefined; // reported by readPool
  }
};

/**
 * [PresharedKeys] "a,b" = KEY: one entry per pair of existing nodes, in one order. Anything else was silently
 * dropped before; now it is named (a stale pair after a node was deleted by vwgen is a "deploy" problem too).
 */
function readPsks(c: Collector, t: TomlTable, names: Set<string>): Map<string, string> {
  const psk = new Map<string, string>();
  for (const [k, v] of Object.entries(t)) {
    const shape = keyShape(v as string);
    if (shape) {
      c.add("load", "PresharedKeys", k, `is not a valid pre-shared key (${shape})`, "generate one with 'ciab genpsk'");
      continue;
    }
    const parts = k.split(",");
    const fail = (why: string, hint = 'write "nodeA,nodeB" = "<key>", one entry per pair') => c.add("deploy", "PresharedKeys", k, why, hint);
    if (parts.length !== 2 || parts.some((x) => x === "")) {
      fail(`must name exactly two nodes ("a,b"), got ${parts.length}`);
      continue;
    }
    const [a, b] = parts as [string, string];
    if (a === b) {
      fail(`names node '${a}' twice`);
      continue;
    }
    const missing = parts.filter((x) => !names.has(x));
    if (missing.length) {
      fail(`names ${missing.map((x) => `'${x}'`).join(" and ")}, not a node of this network`, "remove the entry (its node is gone)");
      continue;
    }
    const key = pairKey(a, b);
    if (psk.has(key)) {
      fail(`is the same pair as another entry (both orders are written)`, `keep one of "${a},${b}" and "${b},${a}"`);
      continue;
    }
    psk.set(key, (v as string).trim());
  }
  return psk;
}

/**
 * Warnings, never refusals (NAT port mappings and port forwards are legitimate): an endpoint whose port is not the
 * node's ListenPort (peers send to the one, WireGuard listens on the other: right only behind a mapping; the usual
 * cause is `add`'s random listen port left as it is), for IP addresses and DNS names alike, since the port is the
 * same literal port either way; and two nodes with one endpoint (a peer can send to only one host at an address and
 * port). A broken endpoint is a "deploy" problem of its own and is not looked at here.
 */
function checkEndpointPorts(c: Collector, nodes: MeshNode[], net: string): void {
  const seen = new Map<string, string>();
  for (const n of nodes) {
    const ep = n.endpoint;
    if (!ep || ep.broken) continue;
    if (n.listenPort === 0)
      c.add(
        "warning",
        `Node.${n.name}`,
        "ListenPort",
        `is 0 (WireGuard picks a random port at each start) but the node has endpoint ${ep.text}: peers reach it only behind a port forward to whatever port it picked`,
        `'ciab set ${net} node ${n.name} listen-port ${ep.port}'`,
        n.name,
      );
    else if (ep.port !== n.listenPort)
      c.add(
        "warning",
        `Node.${n.name}`,
        "Endpoint",
        `port ${ep.port} is not the node's ListenPort ${n.listenPort}: peers send to ${ep.port}, WireGuard listens on ${n.listenPort} (right behind a NAT or port forward from ${ep.port} to ${n.listenPort}; else 'ciab set ${net} node ${n.name} listen-port ${ep.port}')`,
        undefined,
        n.name,
      );
    // DNS names ignore case and a final dot (RFC 4343); IPv6 text is canonical already (parseEndpoint).
    const key = ep.family === "dns" ? `${ep.host.toLowerCase().replace(/\.$/, "")}:${ep.port}` : ep.text;
    const other = seen.get(key);
    if (other === undefined) seen.set(key, n.name);
    else
      c.add(
        "warning",
        `Node.${n.name}`,
        "Endpoint",
        `${ep.text} is also the endpoint of node '${other}': a peer sends to one host per address and port, so one of the two is unreachable (a copy-paste slip, or one NAT mapping for two hosts: give each its own port)`,
        undefined,
        n.name,
      );
  }
}

/** A node others can reach without help: no NAT and an endpoint peers can send to. What a Relay must be. */
export const isPublic = (n: MeshNode): boolean => n.nat === "none" && n.endpoint !== undefined && !n.endpoint.broken;

/**
 * NAT settings (issue 13): NAT = "auto" needs STUN servers (two tell a cone from a symmetric NAT); a Relay names a
 * public node, not the node itself; a node that may need a relay needs a public node to exist; nodes behind one NAT
 * (the same public endpoint address) need distinct listen ports, or the NAT maps the later one to a random port
 * per destination and its peers' packets reach the other host (NAT-FINDINGS §5, "two WG nodes behind the SAME NAT").
 */
function checkNat(c: Collector, nodes: MeshNode[], net: NetworkSettings): void {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const publicNodes = nodes.filter(isPublic).map((n) => n.name);
  const auto = nodes.filter((n) => n.nat === "auto");
  if (auto.length > 0 && net.stunServers.length === 1)
    c.add(
      "warning",
      "Network",
      "STUNServers",
      "has one server: one answer cannot tell a cone NAT from a symmetric one, so no mapping is advertised",
      "name a second server",
    );
  for (const n of nodes) {
    const table = `Node.${n.name}`;
    if (n.nat === "auto" && net.stunServers.length === 0)
      c.add(
        "deploy",
        table,
        "NAT",
        `is "auto" but [Network] STUNServers is empty: the node cannot learn its public endpoint`,
        "run 'ciab set <net> stun-servers HOST:PORT,HOST:PORT'",
        n.name,
      );
    if (n.nat === "auto" && n.listenPort === 0)
      c.add(
        "deploy",
        table,
        "ListenPort",
        'is 0 (a random port at each start) but NAT is "auto": STUN learns the mapping of a fixed WireGuard port',
        `run 'ciab set <net> node ${n.name} listen-port 51820'`,
        n.name,
      );
    if (n.relay !== undefined && n.relay !== "auto") {
      const r = byName.get(n.relay);
      if (n.relay === n.name) c.add("deploy", table, "Relay", "names the node itself", 'name a public node, or "auto"', n.name);
      else if (!r) {
        const guess = didYouMean(n.relay, [...byName.keys()]);
        c.add(
          "deploy",
          table,
          "Relay",
          `'${n.relay}' is not a node of this network${guess ? ` (${guess})` : ""}`,
          `public nodes: ${publicNodes.join(", ") || "(none)"}`,
          n.name,
        );
      } else if (!isPublic(r))
        c.add(
          "deploy",
          table,
          "Relay",
          `'${n.relay}' is not public (${r.nat !== "none" ? `NAT = "${r.nat}"` : "no Endpoint"}): a relay must be reachable by every node`,
          `public nodes: ${publicNodes.join(", ") || "(none)"}`,
          n.name,
        );
    }
    if ((n.relay === "auto" || n.nat === "symmetric") && publicNodes.filter((p) => p !== n.name).length === 0)
      c.add(
        "deploy",
        table,
        n.relay === "auto" ? "Relay" : "NAT",
        'needs a relay, but no node is public (NAT = "none" with an Endpoint)',
        "give one node an endpoint",
        n.name,
      );
  }
  // Nodes behind one NAT: the same endpoint address (the NAT's public one). DNS names ignore case (RFC 4343).
  const behind = new Map<string, MeshNode[]>();
  for (const n of nodes) {
    if (n.nat === "none" || !n.endpoint || n.endpoint.broken) continue;
    const k = n.endpoint.host.toLowerCase().replace(/\.$/, "");
    behind.set(k, [...(behind.get(k) ?? []), n]);
  }
  for (const [host, group] of behind) {
    const seen = new Map<number, string>();
    for (const n of group) {
      if (n.listenPort === 0) continue; // a random port each start: no two alike to speak of
      const other = seen.get(n.listenPort);
      if (other !== undefined)
        c.add(
          "deploy",
          `Node.${n.name}`,
          "ListenPort",
          `${n.listenPort} is also the listen port of node '${other}' behind the same NAT (${host}): the NAT can give only one of them that port, and the other's peers send to the wrong host`,
          `give each node behind one NAT its own port: 'ciab set <net> node ${n.name} listen-port ${n.listenPort + 1}'`,
          n.name,
        );
      else seen.set(n.listenPort, n.name);
    }
  }
}

/** A node's Subnets are routed through the overlay: one that holds a peer's endpoint would route the tunnel into itself. */
function checkEndpointsOutsideSubnets(c: Collector, nodes: MeshNode[]): void {
  const endpoints = nodes.flatMap((n) => (n.endpoint && n.endpoint.family !== "dns" ? [{ node: n, p: parsePrefix(n.endpoint.host, "endpoint", false) }] : []));
  if (endpoints.length === 0) return;
  // Every subnet by its masked network and length; each endpoint looks itself up once per length in use, so the
  // check is O(endpoints x lengths), not O(endpoints x subnets) (a 1000-node mesh: 10^3 lookups, not 10^6).
  const subnets = nodes.flatMap((n) => n.subnets.map((text) => ({ node: n, text, p: parsePrefix(text) })));
  const byNetwork = new Map<string, typeof subnets>();
  const lengths = new Set<string>();
  const keyOf = (f: number, len: number, addr: bigint) => `${f}/${len}/${addr & mask(f as 4 | 6, len)}`;
  for (const s of subnets) {
    lengths.add(`${s.p.family}/${s.p.len}`);
    const k = keyOf(s.p.family, s.p.len, s.p.addr);
    byNetwork.set(k, [...(byNetwork.get(k) ?? []), s]);
  }
  const firstHit = new Map<(typeof subnets)[number], (typeof endpoints)[number]>();
  for (const e of endpoints) {
    for (const fl of lengths) {
      const [f, len] = fl.split("/").map(Number) as [number, number];
      if (f !== e.p.family || len > e.p.len) continue;
      for (const s of byNetwork.get(keyOf(f, len, e.p.addr)) ?? []) if (!firstHit.has(s)) firstHit.set(s, e);
    }
  }
  for (const s of subnets) {
    const hit = firstHit.get(s);
    if (hit)
      c.add(
        "deploy",
        `Node.${s.node.name}`,
        "Subnets",
        `${s.text} contains the endpoint ${hit.node.endpoint?.host} of node '${hit.node.name}': its tunnel would be routed into the overlay (a loop)`,
        "container subnets must not cover any host's public address",
        s.node.name,
      );
  }
}

/**
 * Whether an edit must derive every public key to check that keys, MACs and IPv6 addresses are unique. Not when each
 * node holds a private key and no two hold the same one once clamped: X25519 then gives distinct public keys (two
 * clamped scalars 2^254 + 8k differ by less than 8 times the group order), so only a chance collision of distinct
 * keys' MACs (46 bits) or IPv6 host bits (at least 48 here) is left, which the read commands, `render` and `up` still
 * report (they derive every key anyway). A shorter IPv6 host part, or a node with only a public key, and it derives.
 */
function editNeedsKeys(nodes: MeshNode[], pool6: Prefix | undefined): boolean {
  if (pool6 && 128 - pool6.len < 48) return true;
  const clamped = new Set<string>();
  for (const n of nodes) {
    if (n.privateKey === undefined) return true;
    if (keyShape(n.privateKey) !== undefined) continue; // an unusable key ("deploy" problem) claims nothing
    const k = clamp(decodeKey(n.privateKey)).toString("base64");
    if (clamped.has(k)) return true;
    clamped.add(k);
  }
  return false;
}

function checkUnique(c: Collector, nodes: MeshNode[], pool4: Prefix | undefined, pool6: Prefix | undefined): void {
  const keys = !c.ctx.edit || editNeedsKeys(nodes, pool6);
  const seen = new Map<string, string>();
  const claim = (kind: string, value: string, node: string, key: string) => {
    const k = `${kind}:${value}`;
    const other = seen.get(k);
    if (other !== undefined) {
      c.add(
        "deploy",
        `Node.${node}`,
        key,
        `${kind} ${value} is also used by node '${other}'`,
        kind === "MAC" || kind === "IPv6" || kind === "public key"
          ? `give node '${node}' a new key ('ciab set <net> node ${node} private-key <new key>')`
          : "each node needs its own address",
        node,
      );
      return;
    }
    seen.set(k, node);
  };
  const lower = new Map<string, string>();
  const subnets: { p: Prefix; node: string; text: string }[] = [];
  for (const n of nodes) {
    // Host names and DNS labels compare without case (RFC 4343): n1 and N1 would be one name in the zone.
    const other = lower.get(n.name.toLowerCase());
    if (other !== undefined)
      c.add(
        "deploy",
        `Node.${n.name}`,
        undefined,
        `node name '${n.name}' equals '${other}' except for case (DNS names ignore case)`,
        "rename one of them",
        n.name,
      );
    else lower.set(n.name.toLowerCase(), n.name);
    if (keys) {
      if (n.publicKey) {
        claim("public key", n.publicKey, n.name, n.privateKey ? "PrivateKey" : "PublicKey");
        claim("MAC", n.mac, n.name, n.privateKey ? "PrivateKey" : "PublicKey");
      }
      if (n.ipv6) claim("IPv6", n.ipv6.split("/")[0] as string, n.name, n.privateKey ? "PrivateKey" : "PublicKey");
    }
    claim("VTEP", n.vtep, n.name, "LinkLayerAddress");
    for (const a of n.address) {
      const p = parsePrefix(a, "Address", false);
      claim("address", formatAddr(p.family, p.addr), n.name, "Address");
      if (p.family === 4 && pool4 && !contains(pool4, { family: 4, addr: p.addr, len: 32 }))
        c.plain("warning", `node ${n.name}: Address ${a} is outside pool-ipv4 ${fmt(pool4)}`);
    }
    for (const s of n.subnets) {
      const p = parsePrefix(s);
      for (const pool of [pool4, pool6]) {
        if (pool && overlaps(pool, p)) {
          c.add(
            "deploy",
            `Node.${n.name}`,
            "Subnets",
            `${s} overlaps the overlay pool ${fmt(pool)}`,
            "container subnets must be outside pool-ipv4/pool-ipv6",
            n.name,
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
      c.add(
        "deploy",
        `Node.${late.node}`,
        "Subnets",
        `${late.text} overlaps ${early.text} of node '${early.node}'`,
        "each host must own distinct subnets",
        late.node,
      );
    }
    open.push(s);
  }
}
