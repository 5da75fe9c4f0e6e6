// Changes to a mesh document with vwgen's command semantics (add, set, del, blacklist), plus ciab's own keys.
// Pure: randomness and key-file reading are parameters; the caller validates the result (meshFromDoc) and writes it.
import { allocateIPv4, allocateListenPort, allocateVni, allocateVtep } from "../ipam/alloc.js";
import { canonicalNetwork, formatAddr, mask, parseAddr, parsePrefix } from "../ipam/ip.js";
import type { Random } from "../keys/random.js";
import { genkey, genpsk, keyShape, pubkey } from "../keys/x25519.js";
import { type CiabError, conflict, invalid, usage } from "./errors.js";
import { BGP_PASSWORD, checkNodeName, pairKey, parseEndpoint, stunServerProblem } from "./mesh.js";
import { didYouMean, noSuchNode } from "./suggest.js";
import { forgetFloat, type TomlTable, type TomlValue } from "./toml.js";

export type { Random } from "../keys/random.js";

export interface EditEnv {
  random: Random;
  /** Reads a key file for `private-key <path>` (vwgen's documented form). */
  readKeyFile?: (path: string) => string;
}

const table = (doc: TomlTable, key: string): TomlTable => {
  const v = doc[key];
  if (v === undefined) {
    const t: TomlTable = {};
    doc[key] = t;
    return t;
  }
  if (typeof v !== "object" || Array.isArray(v) || v instanceof Date) throw invalid(`[${key}] is not a table`);
  return v as TomlTable;
};

const nodesOf = (doc: TomlTable): TomlTable => table(doc, "Node");

function nodeOf(doc: TomlTable, net: string, name: string): TomlTable {
  const n = nodesOf(doc)[name];
  if (n === undefined) throw noSuchNode(net, name, Object.keys(nodesOf(doc)));
  return n as TomlTable;
}

/** Create [Network] with vwgen's defaults (random pools and VNI) when the document has none. */
export function ensureNetwork(doc: TomlTable, rnd: Random): boolean {
  if (doc.Network !== undefined) return false;
  const h = () => rnd.int(0x1000, 0xffff).toString(16);
  doc.Network = {
    AddressPoolIPv4: `192.168.${rnd.int(2, 255)}.0/24`,
    AddressPoolIPv6: `${rnd.int(0xfd00, 0xfdff).toString(16)}:${h()}:${h()}::/80`,
    VxlanID: allocateVni(rnd.int),
    VxlanMTU: 1500,
    VxlanPort: 4789,
  };
  if (doc.PeerBlacklist === undefined) doc.PeerBlacklist = { Blacklist: [] };
  return true;
}

/** The prefix `text` holds, or undefined (vwgen stores any text; validation names what is wrong). */
const prefixOrUndefined = (text: unknown) => {
  try {
    return typeof text === "string" ? parsePrefix(text, "address", false) : undefined;
  } catch {
    return undefined;
  }
};

/** What allocation must avoid: VTEPs and IPv4 overlay addresses in use (as numbers). */
export function usedSets(doc: TomlTable) {
  const vteps = new Set<number>();
  const v4 = new Set<number>();
  for (const n of Object.values(nodesOf(doc)) as TomlTable[]) {
    for (const a of (n.LinkLayerAddress as string[] | undefined) ?? []) {
      const p = prefixOrUndefined(a);
      if (p?.family === 4) vteps.add(Number(p.addr));
    }
    for (const a of (n.Address as string[] | undefined) ?? []) {
      const p = prefixOrUndefined(a);
      if (p?.family === 4) v4.add(Number(p.addr));
    }
  }
  return { vteps, v4 };
}

type Used = ReturnType<typeof usedSets>;

export function newVtep(used: Used, rnd: Random): string {
  const vtep = allocateVtep(used.vteps, rnd.int);
  used.vteps.add(Number(parseAddr(vtep).addr));
  return vtep;
}

function newIPv4(used: Used, pool: string, rnd: Random): string {
  const p = parsePrefix(pool, "AddressPoolIPv4");
  const base = Number(p.addr & mask(4, p.len));
  const span = 2 ** (32 - p.len);
  const offsets = new Set<number>();
  for (const a of used.v4) if (a >= base && a < base + span) offsets.add(a - base);
  const addr = allocateIPv4(p, offsets, rnd.int);
  used.v4.add(Number(parseAddr(addr.split("/")[0] as string).addr));
  return addr;
}

/**
 * Partial application, as vwgen: `skipped` collects one error per argument that cannot be applied (the caller writes
 * the rest, then reports them and exits non-zero). Without `skipped`, the first one throws (all or nothing).
 */
type Skipped = CiabError[] | undefined;
const skip = (skipped: Skipped, e: CiabError): void => {
  if (!skipped) throw e;
  skipped.push(e);
};

export function addNodes(doc: TomlTable, net: string, names: string[], rnd: Random, skipped?: Skipped): void {
  const nodes = nodesOf(doc);
  const seen = new Set<string>();
  const ok: string[] = [];
  for (const name of names) {
    try {
      checkNodeName(name);
    } catch (e) {
      skip(skipped, e as CiabError);
      continue;
    }
    if (nodes[name] !== undefined || seen.has(name)) {
      skip(skipped, conflict(`network '${net}' already has node '${name}'`, { where: { node: name } }));
      continue;
    }
    seen.add(name);
    ok.push(name);
  }
  const network = table(doc, "Network");
  const used = usedSets(doc);
  for (const name of ok) {
    const vtep = newVtep(used, rnd);
    const pool4 = network.AddressPoolIPv4;
    nodes[name] = {
      Address: typeof pool4 === "string" ? [newIPv4(used, pool4, rnd)] : [],
      AllowedIPs: [`${vtep}/32`],
      FwMark: 0,
      LinkLayerAddress: [`${vtep}/16`],
      ListenPort: allocateListenPort(rnd.int),
      PersistentKeepalive: 0,
      PostDown: [],
      PostUp: [],
      PreDown: [],
      PreUp: [],
      PrivateKey: genkey(rnd.bytes),
      SaveConfig: false,
      UPnP: false,
    };
  }
  syncPsks(doc, rnd);
}

/** The node exists; if not, the reason goes to `skipped` (vwgen reports it and goes on with the rest). */
function known(doc: TomlTable, net: string, name: string, skipped?: Skipped): boolean {
  try {
    nodeOf(doc, net, name);
    return true;
  } catch (e) {
    skip(skipped, e as CiabError);
    return false;
  }
}

export function delNodes(doc: TomlTable, net: string, names: string[], skipped?: Skipped): void {
  const present = names.filter((name) => known(doc, net, name, skipped));
  const nodes = nodesOf(doc);
  const gone = new Set(present);
  for (const name of present) delete nodes[name];
  const bl = doc.PeerBlacklist as TomlTable | undefined;
  if (bl && Array.isArray(bl.Blacklist)) {
    bl.Blacklist = (bl.Blacklist as string[][]).filter((p) => !p.some((x) => gone.has(x)));
  }
  const psk = doc.PresharedKeys as TomlTable | undefined;
  if (psk) for (const k of Object.keys(psk)) if (k.split(",").some((x) => gone.has(x))) delete psk[k];
  const network = doc.Network as TomlTable | undefined;
  if (network && Array.isArray(network.RouteReflectors)) {
    const rr = (network.RouteReflectors as string[]).filter((x) => !gone.has(x));
    if (rr.length !== (network.RouteReflectors as string[]).length) network.RouteReflectors = rr;
  }
}

export function blacklist(doc: TomlTable, net: string, op: string, left: string, rights: string[], skipped?: Skipped): void {
  const add = op === "add" || (op.length > 0 && "add".startsWith(op));
  const del = !add && op.length > 0 && "delete".startsWith(op);
  if (!add && !del) throw usage(`invalid blacklist operation '${op}'`, "use 'add' or 'del'");
  if (rights.length === 0) throw usage("blacklist needs a left node and at least one right node");
  // vwgen: an unknown left node stops `add` (and is reported by `del`, which still removes what names it); an unknown
  // right node is reported and skipped.
  if (!known(doc, net, left, skipped) && add) return;
  rights = rights.filter((r) => known(doc, net, r, skipped) || !add);
  const bl = table(doc, "PeerBlacklist");
  const pairs = new Map<string, string[]>();
  for (const p of (bl.Blacklist as string[][] | undefined) ?? []) pairs.set(JSON.stringify(p), p);
  // A node paired with itself is stored as vwgen stores it; it has no effect (mesh.ts warns, `ciab migrate` drops it).
  for (const r of rights) {
    for (const p of [
      [left, r],
      [r, left],
    ]) {
      if (add) pairs.set(JSON.stringify(p), p);
      else pairs.delete(JSON.stringify(p));
    }
  }
  // vwgen keeps the set sorted (both directions of each pair).
  bl.Blacklist = [...pairs.values()].sort((a, b) => (a[0] === b[0] ? cmp(a[1], b[1]) : cmp(a[0], b[0])));
}

const cmp = (a = "", b = ""): number => (a < b ? -1 : a > b ? 1 : 0);

/** With PresharedKeys on: one key per peering pair, created once and kept; keys of gone pairs are dropped. */
export function syncPsks(doc: TomlTable, rnd: Random): void {
  const network = doc.Network as TomlTable | undefined;
  if (!network || network.PresharedKeys !== true) return;
  const names = Object.keys(nodesOf(doc)).sort();
  const psk = table(doc, "PresharedKeys");
  for (let i = 0; i < names.length; i++) {
    for (let j = i + 1; j < names.length; j++) {
      const k = pairKey(names[i] as string, names[j] as string);
      if (psk[k] === undefined) psk[k] = genpsk(rnd.bytes);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// `set`: vwgen's directives, then ciab's. Each takes the rest of argv and returns how many words it used.

const num = (word: string, value: string | undefined, lo: number, hi: number, base0 = false): number => {
  if (value === undefined) throw usage(`'${word}' needs a value`);
  const t = value.trim();
  const ok = base0 ? /^(0x[0-9a-f]+|0o[0-7]+|0b[01]+|\d+)$/i.test(t) : /^\d+$/.test(t);
  const n = ok ? Number(t) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw invalid(`${word}: '${value}' is not an integer`, { where: { key: word, value } });
  if (n < lo || n > hi) throw invalid(`${word}: ${n} is out of range ${lo}-${hi}`, { where: { key: word, value } });
  return n;
};

const onOff = (word: string, value: string | undefined): boolean => {
  const v = value?.toLowerCase();
  if (v === "on" || v === "true" || v === "yes") return true;
  if (v === "off" || v === "false" || v === "no") return false;
  throw invalid(`${word}: '${value ?? ""}' must be on or off`, { where: { key: word, value } });
};

const list = (value: string): string[] =>
  value.toLowerCase() === "none" || value.trim() === ""
    ? []
    : value
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);

const isAddress = (s: string): boolean => {
  try {
    parseAddr(s);
    return true;
  } catch {
    return false;
  }
};

const prefixes = (word: string, value: string, host: boolean): string[] =>
  list(value).map((s) => {
    try {
      if (host) {
        parsePrefix(s, word);
        return s;
      }
      return canonicalNetwork(s, word);
    } catch (e) {
      // parsePrefix's message names the directive already ("addr '10.1.0.7' has no prefix length …")
      const msg = e instanceof Error ? e.message : String(e);
      // the hint only for an address that lacks its length, not for text that is no address at all
      const bare = host && !s.includes("/") && isAddress(s.trim());
      throw invalid(msg, {
        where: { key: word, value: s },
        ...(bare
          ? { hint: `vwgen stored it as typed; ciab needs the length (README "Coming from vwgen"): e.g. ${s.trim()}/${s.includes(":") ? 128 : 32}` }
          : {}),
      });
    }
  });

interface SetCtx {
  doc: TomlTable;
  net: string;
  env: EditEnv;
  node?: { name: string; t: TomlTable };
}

type Handler = (ctx: SetCtx, word: string, value: string | undefined) => void;

function needNode(ctx: SetCtx, word: string): { name: string; t: TomlTable } {
  if (!ctx.node) throw usage(`'${word}' must be used after a 'node <name>' directive`, "e.g. ciab set NET node node1 endpoint 198.51.100.7:51820");
  return ctx.node;
}

const netKey =
  (key: string, parse: (word: string, v: string | undefined) => TomlValue): Handler =>
  (ctx, word, v) => {
    const t = table(ctx.doc, "Network");
    t[key] = parse(word, v);
    forgetFloat(t, key);
  };

const nodeKey =
  (key: string, parse: (word: string, v: string | undefined, ctx: SetCtx) => TomlValue): Handler =>
  (ctx, word, v) => {
    const { t } = needNode(ctx, word);
    t[key] = parse(word, v, ctx);
    forgetFloat(t, key);
  };

/** `stun-servers A,B`: each host:port (IPv6 in brackets), checked as the file's STUNServers is; `none` empties it. */
function stunServers(word: string, v: string | undefined): string[] {
  const out = list(need(word, v));
  for (const s of out) {
    const why = stunServerProblem(s);
    if (why)
      throw invalid(`${word}: '${s}' ${why}`, { where: { key: word, value: s }, hint: "write host:port, e.g. stun.example.net:3478 or [2001:db8::3]:3478" });
  }
  return out;
}

/** `relay NODE|auto` sets Relay (the validator checks that NODE is public); `relay none` removes it. */
const setRelay: Handler = (ctx, word, v) => {
  const { t } = needNode(ctx, word);
  const value = need(word, v);
  if (value === "none") delete t.Relay;
  else t.Relay = value;
};

/** `bgp-password on` (a random secret, kept when there is one), `off`, or a secret of one's own. */
const setBgpPassword: Handler = (ctx, word, v) => {
  const t = table(ctx.doc, "Network");
  const value = need(word, v);
  if (value === "off") delete t.BGPPassword;
  else if (value === "on") {
    if (typeof t.BGPPassword !== "string") t.BGPPassword = genpsk(ctx.env.random.bytes).replace(/=+$/, "");
  } else if (BGP_PASSWORD.test(value)) t.BGPPassword = value;
  else
    throw invalid(`'${word}': not a usable TCP-MD5 secret (${value.length} characters; 8 to 80 of A-Z a-z 0-9 + / = _ . : @ -)`, {
      hint: "or 'on' for a random one",
    });
};

const need = (word: string, v: string | undefined): string => {
  if (v === undefined) throw usage(`'${word}' needs a value`);
  return v;
};

const pool = (family: 4 | 6) => (word: string, v: string | undefined) => {
  const all = prefixes(word, need(word, v), false);
  // vwgen took the first of "A,B" and dropped the rest without a word: a mesh has one pool per family.
  if (all.length > 1) throw invalid(`${word}: '${v}' holds ${all.length} prefixes; a network has one pool per family`, { where: { key: word, value: v } });
  const [p] = all;
  if (!p || parsePrefix(p).family !== family) throw invalid(`${word}: '${v}' is not an IPv${family} prefix`, { where: { key: word, value: v } });
  return p;
};

function setEndpoint(ctx: SetCtx, word: string, value: string | undefined): void {
  const { t, name } = needNode(ctx, word);
  const v = need(word, value).trim();
  if (v === "") {
    delete t.Endpoint;
    return;
  }
  const port = typeof t.ListenPort === "number" && t.ListenPort > 0 ? t.ListenPort : undefined;
  const withPort = (host: string) => {
    if (port === undefined)
      throw invalid(`endpoint '${v}' of node '${name}' has no port and the node has no listen-port`, {
        where: { node: name, key: "endpoint", value: v },
        hint: "write host:port",
      });
    return `${host}:${port}`;
  };
  let text = v;
  if (/^\[[^\]]+\]$/.test(v)) text = withPort(v);
  else if ((v.match(/:/g) ?? []).length > 1 && !v.startsWith("[")) {
    bareIPv6(v, name, port);
    text = withPort(`[${v}]`);
  } else if (!v.includes(":")) text = withPort(v);
  try {
    t.Endpoint = parseEndpoint(text, "endpoint").text;
  } catch (e) {
    throw invalid(`node '${name}': ${e instanceof Error ? e.message : e}`, { where: { node: name, key: "endpoint", value: v }, hint: (e as CiabError).hint });
  }
}

/**
 * An IPv6 endpoint without brackets takes the listen port, as in vwgen, unless its last group could be a port:
 * `2001:db8::1:5182` is the address 2001:db8::1:5182 or the address 2001:db8::1 with port 5182, and
 * `2001:db8::1:51820` (51820 is no IPv6 group) can only be the second. Either way the brackets decide
 * (RFC 3986 §3.2.2 writes `[v6]:port`); a group that reads as no port (`::7`, `::abcd`) leaves no doubt.
 */
function bareIPv6(v: string, name: string, listenPort: number | undefined): void {
  const colon = v.lastIndexOf(":");
  const head = v.slice(0, colon);
  const tail = v.slice(colon + 1);
  const isV6 = (s: string) => {
    try {
      return parseAddr(s, "endpoint").family === 6;
    } catch {
      return false;
    }
  };
  const where = { node: name, key: "endpoint", value: v };
  const asPort = /^\d{1,5}$/.test(tail) && Number(tail) >= 1 && Number(tail) <= 65535 && isV6(head);
  if (isV6(v)) {
    if (!asPort) return;
    const other = `[${v}]:${listenPort ?? "PORT"}`;
    throw invalid(`endpoint '${v}' of node '${name}' is ambiguous: its last group '${tail}' may be a port`, {
      where,
      hint: `write [${head}]:${tail} (address ${head}, port ${tail}) or ${other} (address ${v}${listenPort === undefined ? "" : ", the listen port"})`,
    });
  }
  throw invalid(`endpoint '${v}' of node '${name}' is not an IPv6 address${asPort ? ` ('${tail}' is a port, not an IPv6 group)` : ""}`, {
    where,
    hint: asPort
      ? `did you mean [${head}]:${tail}? An IPv6 endpoint is written [ADDRESS]:PORT`
      : "an IPv6 endpoint is written [ADDRESS]:PORT, e.g. [2001:db8::7]:51820",
  });
}

function setLinkLayer(ctx: SetCtx, word: string, value: string | undefined): void {
  const { t, name } = needNode(ctx, word);
  const v = need(word, value).trim();
  const old = ((t.LinkLayerAddress as string[] | undefined) ?? [])[0]?.split("/")[0];
  let addr: string;
  if (v === "auto") {
    addr = newVtep(usedSets(ctx.doc), ctx.env.random);
  } else {
    const p = parsePrefix(v, `ll-addr of node '${name}'`, false);
    addr = formatAddr(p.family, p.addr);
  }
  const v6 = addr.includes(":");
  // IPv4 VTEPs share 169.254.0.0/16 (vwgen's layout); an IPv6 one is a link-local fe80::/64 address.
  t.LinkLayerAddress = [`${addr}/${v6 ? 64 : 16}`];
  // The peers' AllowedIPs for this node carry its VTEP host route: keep them in step (vwgen wrote a separate key and
  // forgot).
  const allowed = ((t.AllowedIPs as string[] | undefined) ?? []).filter((a) => a !== `${old}/32` && a !== `${old}/128`);
  t.AllowedIPs = [`${addr}/${v6 ? 128 : 32}`, ...allowed];
}

function setPrivateKey(ctx: SetCtx, word: string, value: string | undefined): void {
  const { t, name } = needNode(ctx, word);
  const v = need(word, value).trim();
  const where = { node: name, key: "private-key" };
  // Never repeat the value in a message: a mistyped private key is still (almost) the private key.
  let key = v;
  const shape = keyShape(v);
  if (shape !== undefined) {
    // Perhaps a path (vwgen's `private-key FILE`), perhaps a key with a typo: never repeat it.
    let content: string | undefined;
    let why = "";
    try {
      content = ctx.env.readKeyFile?.(v);
    } catch (e) {
      // The reader's error names the path, and the "path" may be a key with a typo: keep only the errno code.
      const code = (e as { cause?: { code?: unknown } }).cause?.code;
      why = typeof code === "string" ? ` (${code})` : "";
    }
    if (content === undefined)
      throw invalid(`private-key of node '${name}' is neither a valid WireGuard key (${shape}) nor a readable key file${why}`, {
        where,
        hint: "generate one with 'ciab genkey', or give the path of a key file",
      });
    key = content.trim();
    const fileShape = keyShape(key);
    if (fileShape !== undefined)
      throw invalid(`private-key of node '${name}': the key file does not hold a WireGuard key (${fileShape})`, {
        where,
        hint: "generate one with 'ciab genkey'",
      });
  }
  t.PrivateKey = key;
  delete t.PublicKey;
}

function setPublicKey(ctx: SetCtx, word: string, value: string | undefined): void {
  const { t, name } = needNode(ctx, word);
  const v = need(word, value).trim();
  const shape = keyShape(v);
  // Not a secret, but it may be a private key pasted by mistake: describe it, do not repeat it.
  if (shape !== undefined) throw invalid(`public-key of node '${name}' is not a valid WireGuard key (${shape})`, { where: { node: name, key: "public-key" } });
  // The host keeps its private key from now on: a private key in the file would be a second, conflicting secret.
  if (typeof t.PrivateKey === "string" && keyShape(t.PrivateKey) === undefined && pubkey(t.PrivateKey) !== v) delete t.PrivateKey;
  t.PublicKey = v;
}

const DIRECTIVES: Record<string, { arity: 0 | 1; run: Handler }> = {
  // vwgen, network level
  "pool-ipv4": { arity: 1, run: netKey("AddressPoolIPv4", pool(4)) },
  "pool-ipv6": { arity: 1, run: netKey("AddressPoolIPv6", pool(6)) },
  "vxlan-id": { arity: 1, run: netKey("VxlanID", (w, v) => num(w, v, 0, 0xffffff)) },
  "vxlan-mtu": { arity: 1, run: netKey("VxlanMTU", (w, v) => num(w, v, 68, 65485)) },
  "vxlan-port": { arity: 1, run: netKey("VxlanPort", (w, v) => num(w, v, 1, 65535)) },
  // vwgen, node level
  addr: { arity: 1, run: nodeKey("Address", (w, v) => prefixes(w, need(w, v), true)) },
  "allowed-ips": { arity: 1, run: nodeKey("AllowedIPs", (w, v) => prefixes(w, need(w, v), true)) },
  endpoint: { arity: 1, run: setEndpoint },
  fwmark: { arity: 1, run: nodeKey("FwMark", (w, v) => (v === "off" ? 0 : num(w, v, 0, 0xffffffff, true))) },
  "ll-addr": { arity: 1, run: setLinkLayer },
  "listen-port": { arity: 1, run: nodeKey("ListenPort", (w, v) => num(w, v, 0, 65535)) },
  "persistent-keepalive": { arity: 1, run: nodeKey("PersistentKeepalive", (w, v) => (v === "off" ? 0 : num(w, v, 0, 65535))) },
  "private-key": { arity: 1, run: setPrivateKey },
  "save-config": { arity: 0, run: nodeKey("SaveConfig", () => true) },
  "nosave-config": { arity: 0, run: nodeKey("SaveConfig", () => false) },
  upnp: { arity: 0, run: nodeKey("UPnP", () => true) },
  noupnp: { arity: 0, run: nodeKey("UPnP", () => false) },
  // ciab, network level
  routing: { arity: 1, run: netKey("Routing", (w, v) => oneOf(w, v, ["bgp", "ospf", "none"])) },
  "routing-daemon": { arity: 1, run: netKey("RoutingDaemon", (w, v) => oneOf(w, v, ["frr", "bird"])) },
  asn: { arity: 1, run: netKey("ASN", (w, v) => num(w, v, 1, 4294967294)) },
  "route-reflectors": { arity: 1, run: netKey("RouteReflectors", (w, v) => list(need(w, v))) },
  bfd: { arity: 1, run: netKey("BFD", onOff) },
  "bfd-interval": { arity: 1, run: netKey("BFDInterval", (w, v) => num(w, v, 10, 60000)) },
  "bfd-multiplier": { arity: 1, run: netKey("BFDMultiplier", (w, v) => num(w, v, 2, 255)) },
  "bgp-keepalive": { arity: 1, run: netKey("BGPKeepalive", (w, v) => num(w, v, 1, 21845)) },
  "bgp-hold": { arity: 1, run: netKey("BGPHold", (w, v) => num(w, v, 3, 65535)) },
  "ospf-hello": { arity: 1, run: netKey("OSPFHello", (w, v) => num(w, v, 1, 65535)) },
  "ospf-dead": { arity: 1, run: netKey("OSPFDead", (w, v) => num(w, v, 2, 65535)) },
  "ospf-cost": { arity: 1, run: netKey("OSPFCost", (w, v) => num(w, v, 1, 65535)) },
  "underlay-mtu": { arity: 1, run: netKey("UnderlayMTU", (w, v) => num(w, v, 1280, 65535)) },
  "mtu-mode": { arity: 1, run: netKey("MTUMode", (w, v) => oneOf(w, v, ["auto", "fragment"])) },
  psk: { arity: 1, run: netKey("PresharedKeys", onOff) },
  "bgp-password": { arity: 1, run: setBgpPassword },
  "mss-clamp": { arity: 1, run: netKey("MSSClamp", onOff) },
  // ciab, node level
  subnets: { arity: 1, run: nodeKey("Subnets", (w, v) => prefixes(w, need(w, v), false)) },
  "public-key": { arity: 1, run: setPublicKey },
  "discover-lxd": { arity: 1, run: nodeKey("DiscoverLXD", onOff) },
  // ciab, NAT traversal (issue 13)
  "stun-servers": { arity: 1, run: netKey("STUNServers", stunServers) },
  nat: { arity: 1, run: nodeKey("NAT", (w, v) => oneOf(w, v, ["auto", "none", "symmetric"])) },
  relay: { arity: 1, run: setRelay },
};

export const SET_DIRECTIVES = Object.keys(DIRECTIVES);

/** How many values a `set` directive takes (shell completion); undefined for a word that is no directive. */
export const setArity = (word: string): 0 | 1 | undefined => (Object.hasOwn(DIRECTIVES, word) ? DIRECTIVES[word]?.arity : undefined);

/** One line per `set` directive for `ciab set --help` (a unit test checks that every directive has one). */
export const SET_HELP: Readonly<Record<string, string>> = {
  "pool-ipv4": "CIDR     the overlay's IPv4 pool (new nodes get an address from it)",
  "pool-ipv6": "CIDR     the overlay's IPv6 pool (each node's address derives from its key)",
  "vxlan-id": "N         the VXLAN network identifier, 0-16777215",
  "vxlan-mtu": "N        the VXLAN device's MTU (and its cap with mtu-mode auto)",
  "vxlan-port": "N       the VXLAN UDP port (default 4789)",
  addr: "CIDR[,CIDR]   after node NAME: the node's overlay addresses",
  "allowed-ips": "CIDR[,CIDR]   after node NAME: what the peers route to the node over WireGuard",
  endpoint: "HOST:PORT  after node NAME: where peers reach it ('' removes it; HOST alone takes listen-port)",
  fwmark: "N|off       after node NAME: WireGuard's fwmark",
  "ll-addr": "IPV4|FE80::X|auto   after node NAME: the VTEP address (auto: a free one)",
  "listen-port": "N      after node NAME: WireGuard's UDP port (0: a random one; peers then need its endpoint port)",
  "persistent-keepalive": "N|off   after node NAME: keepalive interval in seconds towards every peer (off behind a NAT: 25)",
  "private-key": "KEY|FILE   after node NAME: the WireGuard private key, or a file holding it",
  "save-config": "        after node NAME: wg-quick SaveConfig = true",
  "nosave-config": "      after node NAME: SaveConfig = false",
  upnp: "               after node NAME: open the listen port with upnpc",
  noupnp: "             after node NAME: no upnpc",
  routing: "bgp|ospf|none   how subnets are announced (default bgp)",
  "routing-daemon": "frr|bird   which daemon (bird only with ospf)",
  asn: "N                the iBGP AS number (default 64512)",
  "route-reflectors": "A,B|none   BGP route reflectors (none: full mesh)",
  bfd: "on|off           BFD on every BGP session (default on)",
  "bfd-interval": "MS     BFD interval (default 250)",
  "bfd-multiplier": "N    BFD detect multiplier (default 3)",
  "bgp-keepalive": "S     BGP keepalive (default 3)",
  "bgp-hold": "S          BGP hold time (default 9)",
  "ospf-hello": "S        OSPF hello interval (default 1)",
  "ospf-dead": "S         OSPF dead interval (default 4)",
  "ospf-cost": "N         OSPF cost of the overlay (default 10)",
  "underlay-mtu": "N      the hosts' path MTU (default 1500)",
  "mtu-mode": "auto|fragment   no-fragmentation MTUs (auto) or vwgen's (fragment)",
  psk: "on|off           one WireGuard pre-shared key per pair",
  "bgp-password": "on|off|SECRET   TCP-MD5 on every BGP session",
  "mss-clamp": "on|off     TCP MSS clamping for routed container traffic (default on)",
  subnets: "CIDR[,CIDR]|none   after node NAME: the container subnets the node owns and announces",
  "public-key": "KEY     after node NAME: the host keeps its private key (ciab key init)",
  "discover-lxd": "on|off   after node NAME: announce LXD/Incus bridge subnets inside subnets",
  "stun-servers": "HOST:PORT[,HOST:PORT]|none   STUN servers NAT auto nodes ask (two tell cone from symmetric NAT)",
  nat: "auto|none|symmetric   after node NAME: NAT in front of it (auto: learn the endpoint by STUN; default none)",
  relay: "NODE|auto|none   after node NAME: the public node that carries its traffic when no direct tunnel works",
};

function oneOf(word: string, v: string | undefined, values: string[]): string {
  if (v === undefined || !values.includes(v)) throw invalid(`${word}: '${v ?? ""}' must be one of ${values.join(", ")}`, { where: { key: word, value: v } });
  return v;
}

/** Directives that take one comma-separated list: a space instead of a comma makes the second value a "directive". */
const LIST_ELEMENT: Readonly<Record<string, (word: string, nodes: readonly string[]) => boolean>> = {
  addr: (w) => looksLikePrefix(w),
  "allowed-ips": (w) => looksLikePrefix(w),
  subnets: (w) => looksLikePrefix(w),
  "route-reflectors": (w, nodes) => nodes.includes(w),
  "stun-servers": (w) => /:\d+$/.test(w),
};

const looksLikePrefix = (w: string): boolean => /^[0-9A-Fa-f:.]+(\/\d{1,3})?$/.test(w) && /[.:]/.test(w) && /\d/.test(w);

/**
 * Why `args[i]` is no directive, with the likeliest fix: the second value of a list (`subnets A B`: join with
 * commas), a node name without `node` before it, a near miss of a directive; the whole list only when nothing is
 * close. `last` is where the directive before it stood.
 */
function unknownDirective(doc: TomlTable, args: string[], i: number, last: number | undefined): CiabError {
  const word = args[i] as string;
  const nodes = Object.keys(nodesOf(doc));
  const prev = last === i - 2 ? (args[last] as string) : undefined;
  const element = prev === undefined ? undefined : LIST_ELEMENT[prev];
  if (prev !== undefined && element?.(word, nodes)) {
    let end = i;
    while (end < args.length && !Object.hasOwn(DIRECTIVES, args[end] as string) && args[end] !== "node" && element(args[end] as string, nodes)) end++;
    const joined = [args[i - 1], ...args.slice(i, end)].join(",");
    return usage(
      `invalid directive '${word}': '${prev}' takes one comma-separated list (did you mean '${prev} ${joined}'?)`,
      "join the values with commas, without spaces (or quote the list: 'A, B')",
    );
  }
  if (nodes.includes(word)) {
    const rest = args.slice(i + 1, i + 3).join(" ");
    const more = args.length > i + 3 ? " …" : "";
    return usage(
      `invalid directive '${word}': '${word}' is a node (did you mean 'node ${word}${rest ? ` ${rest}` : ""}${more}'?)`,
      "node directives follow 'node NAME'; 'ciab set --help' lists them",
    );
  }
  const guess = didYouMean(word, ["node", ...SET_DIRECTIVES], { ignoreCase: true });
  if (guess) return usage(`invalid directive '${word}' (${guess})`, "'ciab set --help' lists every directive");
  return usage(`invalid directive '${word}'`, `valid directives: node, ${SET_DIRECTIVES.join(", ")} ('ciab set --help' describes each)`);
}

/** Apply `set` directives in order (several `node <name>` blocks allowed, as in vwgen). */
export function applySet(doc: TomlTable, net: string, args: string[], env: EditEnv): void {
  if (args.length === 0) throw usage("nothing to set", "e.g. ciab set NET pool-ipv4 172.20.10.0/24 node node1 endpoint 198.51.100.7:51820");
  const ctx: SetCtx = { doc, net, env };
  let i = 0;
  /** Where the last directive (not `node`) stood, for the comma hint. */
  let last: number | undefined;
  while (i < args.length) {
    const word = args[i] as string;
    if (word === "node") {
      const name = args[i + 1];
      if (name === undefined) throw usage("'node' needs a node name");
      ctx.node = { name, t: nodeOf(doc, net, name) };
      last = undefined;
      i += 2;
      continue;
    }
    // Own keys only: `constructor` or `toString` is no directive.
    const d = Object.hasOwn(DIRECTIVES, word) ? DIRECTIVES[word] : undefined;
    if (!d) throw unknownDirective(doc, args, i, last);
    if (d.arity === 1 && args[i + 1] === undefined) throw usage(`'${word}' needs a value`);
    d.run(ctx, word, d.arity === 1 ? args[i + 1] : undefined);
    last = i;
    i += 1 + d.arity;
  }
  syncPsks(doc, env.random);
}

/** Store vwgen's mangled IPv6 endpoints ("[[v6]:p]:q", "[v6]p") repaired once the file is written anyway; returns each. */
export function repairEndpoints(doc: TomlTable): { node: string; before: string; after: string }[] {
  const done: { node: string; before: string; after: string }[] = [];
  for (const [node, t] of Object.entries((doc.Node as Record<string, TomlTable> | undefined) ?? {})) {
    if (typeof t.Endpoint !== "string") continue;
    try {
      const ep = parseEndpoint(t.Endpoint, "Endpoint");
      if (ep.repaired) {
        done.push({ node, before: t.Endpoint, after: ep.text });
        t.Endpoint = ep.text;
      }
    } catch {
      /* validation reports it */
    }
  }
  return done;
}
