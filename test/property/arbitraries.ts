// Generators of the property tier: hostile mesh documents (valid vwgen/ciab files, then mutated) and hostile argument
// vectors for every mesh command. Mutations are plain data (what to change, where), so a shrunk counterexample reads
// as a short list of edits to a known file; `applyMutations` turns them into bytes.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { seededRandom } from "../../src/keys/random.js";
import { clamp, pubkey } from "../../src/keys/x25519.js";
import { addNodes, applySet, ensureNetwork, SET_DIRECTIVES } from "../../src/model/edit.js";
import { dumpToml, parseToml, type TomlTable } from "../../src/model/toml.js";
import { FIXTURES } from "../helpers/env.js";
import { MESH_DIR } from "../helpers/meshes.js";

// --- the valid documents every case starts from --------------------------------------------------------------

export interface Base {
  /** Network name = file name without .conf. */
  name: string;
  text: string;
  nodes: string[];
  /** Private keys and PSKs the document holds. */
  secrets: string[];
}

const fakeKey = (label: string): string => clamp(createHash("sha256").update(`ciab-property:${label}`).digest()).toString("base64");

function base(name: string, text: string): Base {
  const doc = parseToml(text, `${name}.conf`);
  const nodes = doc.Node as Record<string, TomlTable>;
  const secrets = [
    ...Object.values(nodes).flatMap((n) => (typeof n.PrivateKey === "string" ? [n.PrivateKey] : [])),
    ...Object.values((doc.PresharedKeys as TomlTable | undefined) ?? {}).filter((v): v is string => typeof v === "string"),
  ];
  // A counterexample names its base file instead of printing it whole (the case's error message holds the text).
  return { name, text, nodes: Object.keys(nodes), secrets, [fc.toStringMethod]: () => `base(${JSON.stringify(name)})` } as Base;
}

/** A ciab-written file with what the fixtures lack: pre-shared keys, a reflector, subnets, a public-key-only node. */
function pskMesh(): Base {
  const doc: TomlTable = {};
  const rnd = seededRandom("property-tier-psk");
  ensureNetwork(doc, rnd);
  addNodes(doc, "psk", ["n1", "n2", "n3"], rnd);
  applySet(
    doc,
    "psk",
    [
      ...["n1", "n2", "n3"].flatMap((n, i) => ["node", n, "endpoint", `198.51.100.${i + 1}:51820`, "subnets", `10.9.${i + 1}.0/24`]),
      ...["psk", "on", "route-reflectors", "n1", "node", "n3", "public-key", pubkey(fakeKey("psk/n3-host"))],
    ],
    { random: rnd },
  );
  return base("psk", dumpToml(doc));
}

export const BASES: Base[] = [
  base("ciabmesh", readFileSync(join(FIXTURES, "basic3", "ciabmesh.conf"), "utf8")),
  base("lab", readFileSync(join(FIXTURES, "blacklist4", "lab.conf"), "utf8")),
  ...["rr5-blacklist", "ospf4-bird", "dualstack"].map((n) => base(n, readFileSync(join(MESH_DIR, `${n}.conf`), "utf8"))),
  pskMesh(),
];

// --- hostile values ------------------------------------------------------------------------------------------

const HOOK_INJECTION = "true\n[Peer]\nPublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\nAllowedIPs = 0.0.0.0/0";

/** TOML value texts of the wrong type for any key, or with characters no rendered file may hold. */
const WRONG_TYPES = [
  "5",
  "-1",
  "1e3",
  "3.5",
  "nan",
  "-inf",
  "99999999999999999999",
  "true",
  '""',
  "[]",
  "[5]",
  "[[]]",
  "{}",
  "{ a = 1 }",
  "1979-05-27T07:32:00Z",
  '"a\\nb"',
  '"\\u0000"',
  '"\\u001b[2J"',
  '"\\u202e"',
  '"ünïcødé"',
  '"𝕏"',
  `"${"a".repeat(5000)}"`,
];

const str = (...v: string[]) => v.map((x) => JSON.stringify(x));
const list = (...v: string[]) => v.map((x) => JSON.stringify([x]));

/** Special-purpose (RFC 6890) and malformed prefixes and addresses. */
const PREFIXES = [
  "127.0.0.0/8",
  "127.0.0.1/8",
  "224.0.0.0/4",
  "0.0.0.0/0",
  "255.255.255.255/32",
  "::/0",
  "::1/128",
  "fe80::/64",
  "ff02::1/128",
  "::ffff:10.0.0.0/104",
  "169.254.169.254/32",
  "169.254.0.0/16",
  "10.0.0.0/33",
  "10.0.0.300/24",
  "172.20.10.0/24",
  "172.20.10.255/24",
  "10.0.0.1/24\n",
  "10.0.0.1/24 ",
  "",
];
const ENDPOINTS = [
  "0.0.0.0:51820",
  "[::]:51820",
  "255.255.255.255:1",
  "224.0.0.1:51820",
  "127.0.0.1:51820",
  "[[2001:db8::b]:51821]:1234",
  "198.51.100.1:99999",
  "198.51.100.1:0",
  "a b:1",
  "198.51.100.1",
  "-x.example:1",
  "198.51.100.1:51820\nPublicKey = x",
  "",
];
const INTS = ["0", "-1", "1", "575", "576", "1279", "1280", "65535", "65536", "16777216", "4294967295", "9223372036854775807", "-9223372036854775808"];
const HOOKS = [
  JSON.stringify([HOOK_INJECTION]),
  JSON.stringify(["ip link del dev eth0 #\n"]),
  '[""]',
  '["a\\u0000b"]',
  JSON.stringify(["x".repeat(5000)]),
  '["true", 5]',
];
const ENUMS = str("bgp", "ospf", "none", "frr", "bird", "auto", "fragment", "BGP", "", "bgp\n", "rip");
const NAMES = [...str("missing"), '["missing"]', '["ALL"]', "[]", '["node1", "node1"]', '["rr1", "c1"]', '["n1", "d1", "a", "o1"]'];

/** Values for each known key: mostly of the right type (so the command gets past the type check), some not. */
const VALUES: Record<string, string[]> = {
  AddressPoolIPv4: str(...PREFIXES, "10.0.0.0/24,10.1.0.0/24", "10.0.0.0/30"),
  AddressPoolIPv6: str(...PREFIXES, "2001:db8::/127", "2001:db8::/8"),
  VxlanID: INTS,
  VxlanMTU: INTS,
  VxlanPort: INTS,
  Routing: ENUMS,
  RoutingDaemon: ENUMS,
  ASN: INTS,
  RouteReflectors: NAMES,
  BFD: ["true", "false"],
  BFDInterval: INTS,
  BFDMultiplier: INTS,
  BGPKeepalive: INTS,
  BGPHold: INTS,
  OSPFHello: INTS,
  OSPFDead: INTS,
  OSPFCost: INTS,
  UnderlayMTU: INTS,
  MTUMode: ENUMS,
  PresharedKeys: ["true", "false"],
  MSSClamp: ["true", "false"],
  Address: [...list(...PREFIXES), '["172.20.10.93/24", "172.20.10.93/24"]', '["172.20.10.5/24", "2001:db8:42::5/64"]'],
  AllowedIPs: [...list(...PREFIXES), "[]"],
  Endpoint: str(...ENDPOINTS),
  FwMark: INTS,
  LinkLayerAddress: [...list(...PREFIXES, "fe80::1/64", "169.254.169.254/16", "169.254.1.1/16"), "[]"],
  ListenPort: INTS,
  PersistentKeepalive: INTS,
  PreUp: HOOKS,
  PostUp: HOOKS,
  PreDown: HOOKS,
  PostDown: HOOKS,
  SaveConfig: ["true", "false"],
  UPnP: ["true", "false"],
  Subnets: [...list(...PREFIXES), '["198.51.100.0/24"]', '["203.0.113.0/24", "10.9.1.0/24"]', '["10.20.1.0/24"]'],
  DiscoverLXD: ["true", "false"],
  Endpiont: str("198.51.100.1:1"),
  Subnet: list("10.0.0.0/24"),
};

const BLACKLISTS = [
  '["x"]',
  "[[1, 2]]",
  '[["node1"]]',
  '[["node1", "node33"]]',
  '[["node1", "node1"]]',
  '[["a", "b", "c"]]',
  '"x"',
  "[{}]",
  '[["c1", "c3"], ["c3", "c1"]]',
  '[["a", "c"], ["d", "b"]]',
];

/** A value for a key: its own hostile pool 4 times out of 5, a wrong type otherwise. */
const valueFor = (key: string): fc.Arbitrary<string> =>
  fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...(VALUES[key] ?? WRONG_TYPES)) }, { weight: 1, arbitrary: fc.constantFrom(...WRONG_TYPES) });

/** A key turned into what a user mistypes; the result is still a secret (it is most of the key). */
const mistype = (key: string, how: number): string =>
  [
    key.replace(/=$/, ""),
    key.replace(/\+/g, "-").replace(/\//g, "_"),
    `${key.slice(0, 20)}!${key.slice(21)}`,
    `'${key}'`,
    `${key.slice(0, 40)}=`,
    `${key}${key}`,
    ` ${key} `,
  ][how % 7] as string;

const NETWORK_KEYS: string[] = [
  "AddressPoolIPv4",
  "AddressPoolIPv6",
  "VxlanID",
  "VxlanMTU",
  "VxlanPort",
  "Routing",
  "RoutingDaemon",
  "ASN",
  "RouteReflectors",
  "BFD",
  "BFDInterval",
  "BFDMultiplier",
  "BGPKeepalive",
  "BGPHold",
  "OSPFHello",
  "OSPFDead",
  "OSPFCost",
  "UnderlayMTU",
  "MTUMode",
  "PresharedKeys",
  "MSSClamp",
];
const NODE_KEYS: string[] = [
  "Address",
  "AllowedIPs",
  "Endpoint",
  "FwMark",
  "LinkLayerAddress",
  "ListenPort",
  "PersistentKeepalive",
  "PreUp",
  "PostUp",
  "PreDown",
  "PostDown",
  "PrivateKey",
  "PublicKey",
  "SaveConfig",
  "UPnP",
  "Subnets",
  "DiscoverLXD",
  "Endpiont",
  "Subnet",
];

/** Node names no kernel, DNS or file system should get, as TOML keys; "@upper" is an existing name upper-cased. */
const HOSTILE_NODE_KEYS = [
  "plain",
  "adir",
  "out",
  "keyfile",
  '"all"',
  '"default"',
  '"-x"',
  '"a b"',
  '"@mesh.conf"',
  "@upper",
  '"é"',
  '"a\\nb"',
  '"a\\u0000b"',
  '""',
  "a".repeat(64),
  '"."',
  '".."',
  '"../x"',
];

// --- document mutations --------------------------------------------------------------------------------------

export type Table = "Network" | "PeerBlacklist" | "PresharedKeys" | `node${number}`;
export type Mutation =
  | { op: "set"; table: Table; key: string; value: string }
  | { op: "key"; table: Table; key: "PrivateKey" | "PublicKey"; how: number }
  | { op: "psk"; pair: string; how: number }
  | { op: "truncate"; at: number }
  | { op: "flip"; at: number; mask: number }
  | { op: "insert"; at: number; bytes: readonly number[] }
  | { op: "dupTable"; node: number; renamed: boolean }
  | { op: "renameNode"; node: number; to: string }
  | { op: "crlf" };

const frac = fc.double({ min: 0, max: 1, noNaN: true });
const nodeTable = fc.nat({ max: 7 }).map((i): Table => `node${i}`);

const setArb = (table: fc.Arbitrary<Table>, keys: string[]) =>
  fc.record({ op: fc.constant("set" as const), table, key: fc.constantFrom(...keys) }).chain((m) => valueFor(m.key).map((value) => ({ ...m, value })));

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: setArb(fc.constant("Network"), NETWORK_KEYS) },
  { weight: 6, arbitrary: setArb(nodeTable, NODE_KEYS) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("set" as const),
      table: fc.constant("PeerBlacklist" as const),
      key: fc.constant("Blacklist"),
      value: fc.constantFrom(...BLACKLISTS),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("key" as const),
      table: nodeTable,
      key: fc.constantFrom("PrivateKey" as const, "PublicKey" as const),
      how: fc.nat({ max: 6 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant("psk" as const), pair: fc.constantFrom("n1,n33", "n1,n1", "n2,n1", "n1,n2,n3", "n1,n2"), how: fc.nat({ max: 7 }) }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("truncate" as const), at: frac }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("flip" as const), at: frac, mask: fc.integer({ min: 1, max: 255 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("insert" as const),
      at: frac,
      bytes: fc.constantFrom([0xff], [0xc3], [0xed, 0xa0, 0x80], [0xef, 0xbb, 0xbf], [0x00], [0x0d], [0x0a, 0x5b, 0x0a], [0x22], [0x1b, 0x5b, 0x32, 0x4a]),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("dupTable" as const), node: fc.nat({ max: 7 }), renamed: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("renameNode" as const), node: fc.nat({ max: 7 }), to: fc.constantFrom(...HOSTILE_NODE_KEYS) }) },
  { weight: 1, arbitrary: fc.constant({ op: "crlf" as const }) },
);

interface Lines {
  lines: string[];
}

/** The [start, end) line range of a table, or undefined. */
function tableRange(d: Lines, header: string): [number, number] | undefined {
  const start = d.lines.indexOf(header);
  if (start < 0) return undefined;
  let end = start + 1;
  while (end < d.lines.length && !(d.lines[end] as string).startsWith("[")) end++;
  return [start, end];
}

function headerOf(b: Base, t: Table): string {
  if (t.startsWith("node")) return `[Node.${b.nodes[Number(t.slice(4)) % b.nodes.length]}]`;
  return `[${t}]`;
}

function setLine(d: Lines, header: string, key: string, value: string): void {
  const r = tableRange(d, header);
  if (!r) {
    d.lines.push("", header, `${key} = ${value}`);
    return;
  }
  const re = new RegExp(`^\\s*"?${key}"?\\s*=`);
  for (let i = r[0] + 1; i < r[1]; i++) {
    if (re.test(d.lines[i] as string)) {
      d.lines[i] = `${key} = ${value}`;
      return;
    }
  }
  d.lines.splice(r[0] + 1, 0, `${key} = ${value}`);
}

export interface Doc {
  bytes: Uint8Array;
  /** Secrets the mutations added (mistyped keys). */
  secrets: string[];
}

export function applyMutations(b: Base, muts: Mutation[]): Doc {
  const d: Lines = { lines: b.text.split("\n") };
  let bytes: Buffer | undefined; // once a mutation works on bytes, the rest do too
  const secrets: string[] = [];
  const key = b.secrets[0] ?? fakeKey("none");
  const text = () => (bytes ? bytes.toString("latin1") : d.lines.join("\n"));
  for (const m of muts) {
    if (bytes && ["set", "key", "psk", "dupTable", "renameNode", "crlf"].includes(m.op)) {
      // Line edits on a byte-mangled file: go through latin1 so that every byte survives the round trip.
      d.lines = bytes.toString("latin1").split("\n");
      bytes = undefined;
    }
    switch (m.op) {
      case "set":
        setLine(d, headerOf(b, m.table), m.key, m.value);
        break;
      case "key": {
        // A mistyped private key is still a secret; a mistyped public key is not.
        const v = mistype(m.key === "PrivateKey" ? key : pubkey(fakeKey("public")), m.how);
        if (m.key === "PrivateKey") secrets.push(v.replace(/^[ ']+|[ ']+$/g, ""));
        setLine(d, headerOf(b, m.table), m.key, JSON.stringify(v));
        break;
      }
      case "psk": {
        const v = m.how === 7 ? fakeKey("psk-extra") : mistype(fakeKey("psk-extra"), m.how);
        secrets.push(v.replace(/^[ ']+|[ ']+$/g, ""));
        setLine(d, "[PresharedKeys]", JSON.stringify(m.pair), JSON.stringify(v));
        break;
      }
      case "dupTable": {
        const h = `[Node.${b.nodes[m.node % b.nodes.length]}]`;
        const r = tableRange(d, h);
        if (r) d.lines.push("", m.renamed ? `[Node.${b.nodes[m.node % b.nodes.length]}copy]` : h, ...d.lines.slice(r[0] + 1, r[1]));
        break;
      }
      case "renameNode": {
        const name = b.nodes[m.node % b.nodes.length] as string;
        const to = m.to === "@upper" ? name.toUpperCase() : m.to.replace("@mesh.conf", `${b.name}.conf`);
        const i = d.lines.indexOf(`[Node.${name}]`);
        if (i >= 0) d.lines[i] = `[Node.${to}]`;
        break;
      }
      case "crlf":
        d.lines = d.lines.map((l) => l.replace(/\r?$/, "\r"));
        break;
      default: {
        const buf = bytes ?? Buffer.from(text(), "latin1");
        const at = Math.min(buf.length, Math.floor(m.at * buf.length));
        if (m.op === "truncate") bytes = buf.subarray(0, at);
        else if (m.op === "flip") {
          bytes = Buffer.from(buf);
          if (at < bytes.length) bytes[at] = (bytes[at] as number) ^ m.mask;
        } else bytes = Buffer.concat([buf.subarray(0, at), Buffer.from(m.bytes), buf.subarray(at)]);
      }
    }
  }
  // Line edits hold UTF-8 text (the hostile values include non-ASCII); byte edits hold raw bytes.
  return { bytes: bytes ?? Buffer.from(d.lines.join("\n"), "utf8"), secrets };
}

// --- hostile argument vectors --------------------------------------------------------------------------------

/**
 * Private keys given to `private-key` (a valid one and its mistyped forms) and held by key files: secrets from then
 * on. Other directives get a key of their own (a pasted key where a number belongs), which is not counted as a secret.
 */
export const ARGV_KEY = fakeKey("argv");
const FILE_KEY = fakeKey("argv-file");
const PRIVATE_KEY_VALUES = [ARGV_KEY, ...[0, 1, 2, 4, 5, 6].map((h) => mistype(ARGV_KEY, h)), "keyfile", "goodkeyfile", "adir", "missing-file", "plain"];
export const ARGV_SECRETS = [ARGV_KEY, FILE_KEY];

/** Fill in the placeholders: "@" the network, "@0"/"@1" its nodes, "@U" the first node upper-cased. */
function sub(b: Base, w: string): string {
  if (w === "@U") return (b.nodes[0] as string).toUpperCase();
  return w.replace(/@(\d)?/g, (_m, i: string | undefined) => (i === undefined ? b.name : (b.nodes[Number(i) % b.nodes.length] as string)));
}

/**
 * Files every case starts with, beside the mesh file: key files, a directory, a plain file, a user's note inside
 * what looks like a bundle directory and a file where a bundle would go. None belongs to ciab: every command must
 * leave them as they are. "@0"/"@1" are the base's first nodes.
 */
export function caseFiles(b: Base): Record<string, string | null> {
  const files: Record<string, string | null> = {
    keyfile: `${mistype(FILE_KEY, 2)}\n`,
    goodkeyfile: `${FILE_KEY}\n`,
    adir: null,
    "keys/existing.key": "not a key\n",
    "keys/dirkey.key": null,
    plain: "just a file\n",
    "out/@0/notes.txt": "the user's notes\n",
    "out/@1": "a file where a bundle would go\n",
  };
  return Object.fromEntries(Object.entries(files).map(([k, v]) => [sub(b, k), v]));
}

const HOSTILE_WORDS = [
  "",
  " ",
  "-1",
  "0",
  "65536",
  "4294967296",
  "1e3",
  "0x10",
  "99999999999999999999",
  "on",
  "off",
  "none",
  "auto",
  "a,b",
  ",",
  "--json",
  "--debug",
  "-x",
  "a\nb",
  "\u001b[31m",
  "\r",
  "é",
  "𝕏",
  "\u202e",
  "x".repeat(300),
];

/** Values for `set` directives: plausible ones, special-purpose addresses, wrong types, keys and key files. */
const SET_VALUES = [
  ...HOSTILE_WORDS,
  "10.0.0.0/24",
  "10.0.0.1",
  "10.0.0.0/33",
  "172.20.10.0/25",
  "::/0",
  "fe80::1",
  "fe80::/64",
  "127.0.0.1/8",
  "224.0.0.1/32",
  "169.254.169.254",
  "169.254.1.1",
  "::ffff:10.0.0.1/128",
  "0.0.0.0:1",
  "[::]:51820",
  "255.255.255.255:1",
  "[2001:db8::1]:51820",
  "2001:db8::1:51820",
  "host.example:1",
  "198.51.100.1:51820",
  "1280",
  "1500",
  "4789",
  "bgp",
  "ospf",
  "bird",
  "frr",
  "fragment",
  fakeKey("argv-other"),
  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
];

/** Names for nodes on the command line; "@0" is the base's first node, "@U" it upper-cased. */
const ARGV_NODES = ["@0", "@1", "@U", "new1", "all", "default", ".", "..", "-x", "a b", "é", "a".repeat(64), "n1\nx", "", "n1,n2", "node33"];
/** Network arguments; "@" is the base's name. Never a path out of the case directory (see harness.ts). */
const ARGV_NETWORKS = [
  "@",
  "@",
  "@",
  "@.conf",
  "./@",
  "missing",
  "all",
  "default",
  ".",
  "..",
  "-x",
  "a b",
  "é",
  "x".repeat(15),
  "x".repeat(20),
  "../x",
  "adir/x",
  "plain",
];

const GLOBAL_FLAGS = fc.constantFrom<string[]>(
  [],
  [],
  ["--json"],
  ["--debug"],
  ["--lock-timeout", "0"],
  ["--lock-timeout", "-1"],
  ["--lock-timeout", "x"],
  ["-C", "."],
  ["-C", "missing"],
);

const net = fc.constantFrom(...ARGV_NETWORKS);
const nodeName = fc.constantFrom(...ARGV_NODES);

const setItem = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...SET_DIRECTIVES), fc.constantFrom(...SET_VALUES)).map((t) => [...t]) },
  { weight: 2, arbitrary: fc.constantFrom(...PRIVATE_KEY_VALUES).map((v) => ["private-key", v]) },
  { weight: 2, arbitrary: fc.tuple(fc.constant("node"), nodeName).map((t) => [...t]) },
  { weight: 1, arbitrary: fc.constantFrom(...SET_DIRECTIVES).map((d) => [d]) },
  { weight: 1, arbitrary: fc.constantFrom(["node"], ["nodes"], ["Pool-IPv4"], ["--show-keys"], ["-"], ["--"]) },
);

/** `set` argv: several directives, node blocks, missing values, unknown words. */
export const setArgv = (b: Base): fc.Arbitrary<string[]> =>
  fc
    .tuple(
      net,
      fc.array(fc.oneof({ weight: 3, arbitrary: fc.tuple(fc.constant(["node", "@0"]), setItem).map(([n, i]) => [...n, ...i]) }, setItem), {
        minLength: 1,
        maxLength: 3,
      }),
      GLOBAL_FLAGS,
    )
    .map(([n, items, flags]) => ["set", sub(b, n), ...items.flat().map((w) => sub(b, w)), ...flags]);

const ZONE_DOMAINS = ["example.com", "", ".", "a..b", "-x.com", "a b", "é.com", `${"x".repeat(64)}.com`, "a\nb", "example.com.", "*.com"];
const ZONE_OPTS = fc.constantFrom<string[]>(
  [],
  ["--serial", "-1"],
  ["--serial", "1e3"],
  ["--serial", "99999999999999999999"],
  ["--serial", "4294967296"],
  ["--ns", "a\nb"],
  ["--ns", ""],
  ["--ns", "ns1.example.com"],
  ["--reverse", "ipv4"],
  ["--reverse", "ipv6"],
  ["--reverse", "x"],
  ["--out", "zones"],
  ["--out", "plain"],
  ["--out", "adir"],
  ["--out", "missing/deeper"],
);
const RENDER_OUTS = ["out", ".", "", "@.conf", "plain", "adir", "out/sub", "keyfile"];
const KEY_DIRS = ["keys", ".", "plain", "adir", "keys/dirkey.key", "new/deeper"];
/** `key init` network names: the node-dir join must stay inside the case directory, so at most one "../". */
const KEY_NETWORKS = ["@", "existing", "dirkey", "all", "..", "../x", "a b", "é", "x".repeat(20), "-x", ""];

/** argv of every other mesh command with hostile words. */
export const otherArgv = (b: Base): fc.Arbitrary<string[]> =>
  fc
    .oneof(
      fc.tuple(fc.constant("add"), net, fc.array(nodeName, { maxLength: 3 })).map(([c, n, ns]) => [c, n, ...ns]),
      fc.tuple(fc.constant("del"), net, fc.array(nodeName, { minLength: 1, maxLength: 3 })).map(([c, n, ns]) => [c, n, ...ns]),
      fc
        .tuple(fc.constant("blacklist"), net, fc.constantFrom("add", "del", "ADD", "x", ""), nodeName, fc.array(nodeName, { minLength: 1, maxLength: 2 }))
        .map(([c, n, op, l, rs]) => [c, n, op, l, ...rs]),
      fc.tuple(fc.constant("zone"), net, fc.constantFrom(...ZONE_DOMAINS), ZONE_OPTS).map(([c, n, d, o]) => [c, n, d, ...o]),
      fc
        .tuple(
          fc.constant("show"),
          fc.array(net, { minLength: 1, maxLength: 2 }),
          fc.constantFrom<string[]>([], ["--show-keys"], ["--node", "@0"], ["--node", "é"], ["--node", ""], ["--color"]),
        )
        .map(([c, ns, o]) => [c, ...ns, ...o]),
      fc.tuple(fc.constant("showconf"), net, nodeName).map((t) => [...t]),
      fc
        .tuple(fc.constant("render"), net, fc.constantFrom(...RENDER_OUTS), fc.option(nodeName, { nil: undefined }))
        .map(([c, n, o, nd]) => [c, n, "--out", o, ...(nd === undefined ? [] : ["--node", nd])]),
      fc.tuple(fc.constantFrom(...KEY_NETWORKS), nodeName, fc.constantFrom(...KEY_DIRS)).map(([n, nd, k]) => ["key", "init", n, nd, "--key-dir", k]),
    )
    .chain((argv) => GLOBAL_FLAGS.map((flags) => [...argv, ...flags].map((w) => sub(b, w))));

/** Ordinary commands for the hostile-document property: each reads or edits the (mutated) mesh file. */
export const docCommand = (b: Base): fc.Arbitrary<string[]> =>
  fc
    .oneof(
      fc.constantFrom<string[]>(
        ["show", "@"],
        ["show", "@", "--json"],
        ["show", "@", "--show-keys"],
        ["show", "@", "--node", "@0"],
        ["showconf", "@", "@0"],
        ["showconf", "@", "@1"],
        ["zone", "@", "example.com"],
        ["zone", "@", "example.com", "--reverse", "ipv4"],
        ["zone", "@", "example.com", "--out", "adir"],
        ["key", "init", "@", "@0", "--key-dir", "keys"],
      ),
      // render twice as often: it is the command that writes most
      fc.constantFrom<string[]>(
        ["render", "@", "--out", "out"],
        ["render", "@", "--out", "out", "--node", "@1"],
        ["render", "@", "--out", "."],
        ["render", "@", "--out", "adir"],
      ),
      fc.constantFrom<string[]>(["render", "@", "--out", "."], ["render", "@", "--out", "adir"]),
      fc.constantFrom<string[]>(
        ["set", "@", "vxlan-port", "4790"],
        ["set", "@", "psk", "on"],
        ["set", "@", "route-reflectors", "@0"],
        ["set", "@", "node", "@0", "endpoint", "198.51.100.9:51820"],
        ["set", "@", "node", "@0", "ll-addr", "auto"],
        ["set", "@", "node", "@1", "subnets", "10.99.0.0/24"],
        ["set", "@", "node", "@0", "listen-port", "51999", "--json"],
        ["add", "@", "newnode"],
        ["add", "@"],
        ["del", "@", "@1"],
        ["blacklist", "@", "add", "@0", "@1"],
        ["blacklist", "@", "del", "@0", "@1"],
      ),
    )
    .map((argv) => argv.map((w) => sub(b, w)));

export const baseArb = fc.constantFrom(...BASES);
