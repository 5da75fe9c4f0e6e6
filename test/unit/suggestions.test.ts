// Suggestions (issue 18, part 2): the distance and its threshold, then a table of typical mistakes run through the
// real CLI (dist/ciab.mjs, built by the global setup) on a copy of vwgen's basic3 file: the command line, the exit
// code, a fragment stderr must hold and one it must not. Negative rows: a correct command gets no suggestion, a
// far-off word gets no "did you mean", a refusal leaves the file byte-identical.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { seededRandom } from "../../src/keys/random.js";
import { addNodes, applySet, ensureNetwork } from "../../src/model/edit.js";
import { EXIT } from "../../src/model/errors.js";
import { meshFromDoc } from "../../src/model/mesh.js";
import { nearMiss } from "../../src/model/schema.js";
import { closest, didYouMean, editDistance, noSuchNode, typoLimit } from "../../src/model/suggest.js";
import type { TomlTable } from "../../src/model/toml.js";
import { ciab, digest, withFiles } from "../helpers/cli.js";
import { FIXTURES } from "../helpers/env.js";

describe("edit distance (optimal string alignment)", () => {
  it.each([
    ["endpoint", "endpoint", 0],
    ["endpiont", "endpoint", 1], // a transposition is one edit (Levenshtein: 2)
    ["subnet", "subnets", 1],
    ["kitten", "sitting", 3],
    ["", "ab", 2],
    ["ab", "", 2],
    ["ca", "abc", 3], // OSA, not unrestricted Damerau (which gives 2)
    ["route-reflector", "route-reflectors", 1],
  ])("%s -> %s = %d", (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
    expect(editDistance(b, a)).toBe(d);
  });
  it.each([
    [1, 0],
    [2, 0],
    [3, 1],
    [4, 1],
    [5, 2],
    [8, 2],
    [9, 3],
    [20, 3],
  ])("a word of %d characters tolerates %d edits", (n, limit) => expect(typoLimit(n)).toBe(limit));
});

describe("closest / didYouMean", () => {
  const words = ["endpoint", "listen-port", "pool-ipv4", "pool-ipv6", "subnets", "psk", "asn", "node"];
  it.each([
    ["endpiont", "did you mean 'endpoint'?"],
    ["Endpoint", "did you mean 'endpoint'?"], // case ignored when asked
    ["listenport", "did you mean 'listen-port'?"],
    ["pool", "did you mean 'pool-ipv4' or 'pool-ipv6'?"], // no close word: the words it begins
    ["asm", "did you mean 'asn'?"],
    ["nod", "did you mean 'node'?"],
    ["frobnicate", undefined], // far off
    ["ab", undefined], // too short to guess
    ["xyz", undefined],
    ["endpoint", undefined], // the word itself is no suggestion
  ])("%s: %s", (w, want) => expect(didYouMean(w, words, { ignoreCase: true })).toBe(want));
  it("ties are all named, in the given order, at most max", () => {
    expect(closest("node", ["nodf", "nodg", "nodh", "nodi"])).toEqual(["nodf", "nodg", "nodh"]);
    expect(closest("node", ["nodf", "nodg"], { max: 1 })).toEqual(["nodf"]);
  });
  it("case matters unless ignoreCase", () => expect(closest("ENDPOINT", ["endpoint"])).toEqual([]));
  it("file keys keep their tighter limit: vwgen's own LinkLayerAddr gets no did-you-mean", () => {
    expect(nearMiss("LinkLayerAddr", ["LinkLayerAddress", "Address"])).toBeUndefined();
    expect(nearMiss("Endpiont", ["Endpoint"])).toBe("Endpoint");
    expect(nearMiss("Pre", ["PreUp", "PreDown"])).toBeUndefined(); // no prefix guesses for keys
  });
  it("noSuchNode names the closest node, lists a small mesh and points a big one at show", () => {
    const e = noSuchNode("m", "nod1", ["node2", "node1"]);
    expect([e.exitCode, e.message, e.hint]).toEqual([EXIT.notFound, "network 'm' has no node 'nod1' (did you mean 'node1'?)", "nodes: node1, node2"]);
    const big = noSuchNode(
      "m",
      "zzzz",
      Array.from({ length: 40 }, (_, i) => `n${i}`),
    );
    expect([big.message, big.hint]).toEqual(["network 'm' has no node 'zzzz'", "40 nodes: 'ciab show m' lists them"]);
    expect(noSuchNode("m", "a", []).hint).toBe("add it with 'ciab add m a'");
  });
});

describe("set directives (model)", () => {
  const doc = (): TomlTable => {
    const d: TomlTable = {};
    const random = seededRandom("suggest");
    ensureNetwork(d, random);
    addNodes(d, "m", ["node1", "node2"], random);
    return d;
  };
  const err = (args: string[]) => {
    try {
      applySet(doc(), "m", args, { random: seededRandom("s") });
    } catch (e) {
      return e as Error & { exitCode: number; hint?: string };
    }
    throw new Error(`applySet(${args.join(" ")}) did not throw`);
  };
  it.each(["constructor", "toString", "__proto__", "hasOwnProperty"])("'%s' is no directive (own keys only)", (w) => {
    const e = err([w, "1"]);
    expect([e.exitCode, e.message]).toEqual([EXIT.usage, `invalid directive '${w}'`]);
  });
  it("the comma hint gathers every space-separated value, and stops at the next directive", () => {
    expect(err(["node", "node1", "subnets", "10.1.0.0/24", "10.2.0.0/24", "10.3.0.0/24", "listen-port", "1"]).message).toContain(
      "did you mean 'subnets 10.1.0.0/24,10.2.0.0/24,10.3.0.0/24'?",
    );
  });
  it("a node name after a list directive that takes prefixes is a node, not a list element", () => {
    expect(err(["node", "node1", "subnets", "10.1.0.0/24", "node2", "endpoint", "198.18.0.9:1"]).message).toBe(
      "invalid directive 'node2': 'node2' is a node (did you mean 'node node2 endpoint 198.18.0.9:1'?)",
    );
  });
  it("an IPv6 endpoint with a port-like last group is refused; bracketed, each reading is taken", () => {
    const d = doc();
    const set = (v: string) => {
      applySet(d, "m", ["node", "node1", "listen-port", "51820", "endpoint", v], { random: seededRandom("s") });
      return (d.Node as Record<string, TomlTable>).node1?.Endpoint;
    };
    expect(() => set("2001:db8::1:5182")).toThrow(/ambiguous/);
    expect(set("[2001:db8::1]:5182")).toBe("[2001:db8::1]:5182");
    expect(set("[2001:db8::1:5182]")).toBe("[2001:db8::1:5182]:51820");
    expect(set("2001:db8::abcd")).toBe("[2001:db8::abcd]:51820"); // hex: no port
    expect(set("2001:db8::7")).toBe("[2001:db8::7]:51820"); // "2001:db8:" is no address: no other reading
    expect(set("2001:db8:0:0:0:0:1:5182")).toBe("[2001:db8::1:5182]:51820"); // 8 groups: the last one is a group
    expect(() => set("::1:5182")).toThrow(/ambiguous/);
  });
});

describe("endpoint warnings (model)", () => {
  const load = (set: string[]) => {
    const d: TomlTable = {};
    const random = seededRandom("warn");
    ensureNetwork(d, random);
    addNodes(d, "m", ["a", "b", "c"], random);
    applySet(d, "m", set, { random });
    return meshFromDoc("m", d, { file: "m.conf" }).warnings.join("\n");
  };
  it.each([
    ["IP, other port", ["node", "a", "listen-port", "51820", "endpoint", "198.18.0.1:51821"], /port 51821 is not the node's ListenPort 51820/],
    ["DNS name, other port", ["node", "a", "listen-port", "51820", "endpoint", "vpn.example.com:443"], /port 443 is not the node's ListenPort 51820/],
    ["same port", ["node", "a", "listen-port", "51820", "endpoint", "198.18.0.1:51820"], /^$/],
    [
      "listen port 0 (random) with an endpoint",
      ["node", "a", "listen-port", "0", "endpoint", "198.18.0.1:51820"],
      /ListenPort: is 0 \(WireGuard picks a random port/,
    ],
    ["host only: takes the listen port", ["node", "a", "endpoint", "198.18.0.1"], /^$/],
    [
      "two nodes, one endpoint",
      ["node", "a", "listen-port", "1", "endpoint", "198.18.0.1:1", "node", "b", "listen-port", "1", "endpoint", "198.18.0.1:1"],
      /\[Node\.b\] Endpoint: 198\.18\.0\.1:1 is also the endpoint of node 'a'/,
    ],
    [
      "one DNS name in two cases",
      ["node", "a", "listen-port", "1", "endpoint", "VPN.example.com:1", "node", "b", "listen-port", "1", "endpoint", "vpn.example.com.:1"],
      /also the endpoint of node 'a'/,
    ],
    [
      "one IPv6 address in two spellings",
      ["node", "a", "listen-port", "1", "endpoint", "[2001:db8:0::1]:1", "node", "b", "listen-port", "1", "endpoint", "[2001:db8::1]:1"],
      /also the endpoint of node 'a'/,
    ],
    ["one host, two ports", ["node", "a", "listen-port", "1", "endpoint", "198.18.0.1:1", "node", "b", "listen-port", "2", "endpoint", "198.18.0.1:2"], /^$/],
  ])("%s", (_name, set, want) => expect(load(set as string[])).toMatch(want as RegExp));
});

// --- the table of typical mistakes, through the real CLI ---------------------------------------------------------

const BASIC = join(FIXTURES, "basic3", "ciabmesh.conf");
const { ok, usage, notFound, invalid } = EXIT;
const set = (...a: string[]) => ["set", "ciabmesh", ...a];

interface Row {
  name: string;
  args: string[];
  code: number;
  /** stderr must match */
  says: RegExp;
  /** stderr must not match */
  not?: RegExp;
  file?: (text: string) => string;
}

const DID = /did you mean/i;

const ROWS: Row[] = [
  // commands (commander's suggestion)
  { name: "command typo", args: ["shwo", "ciabmesh"], code: usage, says: /unknown command 'shwo'\n\(Did you mean show\?\)/ },
  { name: "command typo, longer", args: ["showconfig", "ciabmesh", "node1"], code: usage, says: /\(Did you mean showconf\?\)/ },
  { name: "far-off command", args: ["xyzzy", "ciabmesh"], code: usage, says: /unknown command 'xyzzy'/, not: DID },
  // directives
  {
    name: "directive transposition",
    args: set("node", "node1", "endpiont", "198.51.100.9:50000"),
    code: usage,
    says: /invalid directive 'endpiont' \(did you mean 'endpoint'\?\)\n {2}hint: 'ciab set --help' lists every directive/,
    not: /valid directives:/,
  },
  {
    name: "directive without its s",
    args: set("node", "node1", "subnet", "10.1.0.0/24"),
    code: usage,
    says: /invalid directive 'subnet' \(did you mean 'subnets'\?\)/,
  },
  { name: "route-reflector", args: set("route-reflector", "node1"), code: usage, says: /\(did you mean 'route-reflectors'\?\)/ },
  { name: "the file's key as a directive", args: set("node", "node1", "ListenPort", "50001"), code: usage, says: /\(did you mean 'listen-port'\?\)/ },
  { name: "a prefix of two directives", args: set("pool", "10.9.0.0/24"), code: usage, says: /\(did you mean 'pool-ipv4' or 'pool-ipv6'\?\)/ },
  {
    name: "far-off directive: the whole list, no guess",
    args: set("frobnicate", "1"),
    code: usage,
    says: /invalid directive 'frobnicate'\n {2}hint: valid directives: node, pool-ipv4, .*discover-lxd, stun-servers, nat, relay \('ciab set --help' describes each\)/,
    not: DID,
  },
  { name: "short word: no guess", args: set("zq", "1"), code: usage, says: /invalid directive 'zq'/, not: DID },
  // node names
  {
    name: "node name without 'node'",
    args: set("node1", "endpoint", "198.51.100.9:50000"),
    code: usage,
    says: /invalid directive 'node1': 'node1' is a node \(did you mean 'node node1 endpoint 198\.51\.100\.9:50000'\?\)/,
  },
  {
    name: "node name without 'node', more after",
    args: set("node2", "listen-port", "50001", "upnp"),
    code: usage,
    says: /did you mean 'node node2 listen-port 50001 …'\?/,
  },
  {
    name: "node typo in set",
    args: set("node", "nod1", "listen-port", "50001"),
    code: notFound,
    says: /network 'ciabmesh' has no node 'nod1' \(did you mean 'node1'\?\)\n {2}hint: nodes: node1, node2, node3/,
  },
  { name: "node typo in del", args: ["del", "ciabmesh", "nod1"], code: notFound, says: /has no node 'nod1' \(did you mean 'node1'\?\)/ },
  { name: "node typo in showconf", args: ["showconf", "ciabmesh", "ndoe3"], code: notFound, says: /has no node 'ndoe3' \(did you mean 'node3'\?\)/ },
  {
    name: "node typo in show --node",
    args: ["show", "ciabmesh", "--node", "node4"],
    code: notFound,
    says: /has no node 'node4' \(did you mean 'node1', 'node2' or 'node3'\?\)/,
  },
  {
    name: "node typo in blacklist",
    args: ["blacklist", "ciabmesh", "add", "nod2", "node3"],
    code: notFound,
    says: /has no node 'nod2' \(did you mean 'node2'\?\)/,
  },
  { name: "far-off node", args: ["showconf", "ciabmesh", "gateway"], code: notFound, says: /has no node 'gateway'\n/, not: DID },
  // comma lists
  {
    name: "subnets with a space",
    args: set("node", "node1", "subnets", "10.1.0.0/24", "10.2.0.0/24"),
    code: usage,
    says: /'subnets' takes one comma-separated list \(did you mean 'subnets 10\.1\.0\.0\/24,10\.2\.0\.0\/24'\?\)\n {2}hint: join the values with commas/,
  },
  {
    name: "addr with a space",
    args: set("node", "node1", "addr", "172.20.10.93/24", "2001:db8:42::93/64"),
    code: usage,
    says: /did you mean 'addr 172\.20\.10\.93\/24,2001:db8:42::93\/64'\?/,
  },
  {
    name: "allowed-ips with a space",
    args: set("node", "node1", "allowed-ips", "169.254.187.149/32", "10.7.0.0/16"),
    code: usage,
    says: /did you mean 'allowed-ips 169\.254\.187\.149\/32,10\.7\.0\.0\/16'\?/,
  },
  {
    name: "route-reflectors with a space",
    args: set("route-reflectors", "node1", "node2"),
    code: usage,
    says: /did you mean 'route-reflectors node1,node2'\?/,
  },
  {
    name: "a second value of a non-list",
    args: set("node", "node1", "listen-port", "50000", "50001"),
    code: usage,
    says: /invalid directive '50001'\n/,
    not: /comma/,
  },
  // IPv6 endpoints
  {
    name: "IPv6 endpoint, port-like last group",
    args: set("node", "node1", "endpoint", "2001:db8::1:5182"),
    code: invalid,
    says: /ambiguous: its last group '5182' may be a port\n {2}hint: write \[2001:db8::1\]:5182 \(address 2001:db8::1, port 5182\) or \[2001:db8::1:5182\]:50000/,
  },
  {
    name: "IPv6 endpoint, last group over ffff",
    args: set("node", "node1", "endpoint", "2001:db8::1:51820"),
    code: invalid,
    says: /not an IPv6 address \('51820' is a port, not an IPv6 group\)\n {2}hint: did you mean \[2001:db8::1\]:51820\?/,
  },
  { name: "bracketed IPv6 endpoint", args: set("node", "node1", "endpoint", "[2001:db8::1]:50000"), code: ok, says: /^$/ },
  { name: "bare IPv6 endpoint with no other reading", args: set("node", "node1", "endpoint", "2001:db8::7"), code: ok, says: /^$/ },
  // warnings (never refusals)
  {
    name: "endpoint port is not the listen port",
    args: set("node", "node1", "endpoint", "198.51.100.9:51820"),
    code: ok,
    says: /warning: .*\[Node\.node1\] Endpoint: port 51820 is not the node's ListenPort 50000: .*'ciab set ciabmesh node node1 listen-port 51820'/,
  },
  { name: "both changed together", args: set("node", "node1", "endpoint", "198.51.100.9:51820", "listen-port", "51820"), code: ok, says: /^$/ },
  {
    name: "two nodes, one endpoint",
    args: set("node", "node2", "endpoint", "132.65.71.21:50000"),
    code: ok,
    says: /\[Node\.node2\] Endpoint: 132\.65\.71\.21:50000 is also the endpoint of node 'node1'/,
  },
  {
    name: "a read command warns about the file's duplicate endpoint",
    args: ["showconf", "ciabmesh", "node1"],
    file: (t) => t.replace('"198.51.100.7:50000"', '"132.65.71.21:50000"'),
    code: ok,
    says: /ciabmesh\.conf:\d+:\d+: \[Node\.node2\] Endpoint: 132\.65\.71\.21:50000 is also the endpoint of node 'node1'/,
  },
  // keys in the file
  {
    name: "misspelt key in the file",
    args: ["show", "ciabmesh"],
    file: (t) => t.replace("[Node.node1]\n", '[Node.node1]\nEndpiont = "1.2.3.4:5"\n'),
    code: ok,
    says: /\[Node\.node1\] Endpiont: unknown key \(did you mean 'Endpoint'\?\)/,
  },
  {
    name: "vwgen's LinkLayerAddr: its own warning, no guess",
    args: ["show", "ciabmesh"],
    file: (t) => t.replace("[Node.node1]\n", '[Node.node1]\nLinkLayerAddr = "169.254.1.1/16"\n'),
    code: ok,
    says: /LinkLayerAddr: is written by vwgen's 'll-addr'/,
    not: DID,
  },
  {
    name: "a key of one's own: kept, no guess",
    args: ["show", "ciabmesh"],
    file: (t) => t.replace("[Node.node1]\n", "[Node.node1]\nRack = 7\n"),
    code: ok,
    says: /^$/,
  },
  // a correct command
  { name: "correct set", args: set("node", "node1", "subnets", "10.1.0.0/24,10.2.0.0/24", "node", "node2", "listen-port", "50000"), code: ok, says: /^$/ },
  { name: "correct showconf", args: ["showconf", "ciabmesh", "node2"], code: ok, says: /^$/ },
];

describe("typical mistakes through the CLI", () => {
  it.each(ROWS.map((r) => [r.name, r] as const))("%s", (_name, row) => {
    const dir = withFiles(BASIC);
    const path = join(dir, "ciabmesh.conf");
    if (row.file) writeFileSync(path, row.file(readFileSync(path, "utf8")));
    const before = digest(path);
    const r = ciab(row.args, { cwd: dir });
    const stderr = r.stderr.replace(/^.*unchanged \(it already holds these values\)\n/m, "");
    expect(stderr).toMatch(row.says);
    if (row.not) expect(stderr).not.toMatch(row.not);
    expect(r.code, stderr).toBe(row.code);
    if (row.code !== ok) expect(digest(path)).toBe(before);
  });
});
