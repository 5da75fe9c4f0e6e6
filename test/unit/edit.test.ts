import { describe, expect, it } from "vitest";
import { isMetadataRange } from "../../src/ipam/alloc.js";
import { parseAddr } from "../../src/ipam/ip.js";
import { seededRandom } from "../../src/keys/random.js";
import { addNodes, applySet, blacklist, delNodes, ensureNetwork, type Random, repairEndpoints } from "../../src/model/edit.js";
import { meshFromDoc } from "../../src/model/mesh.js";
import type { TomlTable } from "../../src/model/toml.js";

const env = (seed = "t") => ({ random: seededRandom(seed) });
const fresh = (nodes: string[] = ["a", "b", "c"], seed = "t"): TomlTable => {
  const doc: TomlTable = {};
  ensureNetwork(doc, env(seed).random);
  addNodes(doc, "m", nodes, env(seed).random);
  return doc;
};
const node = (doc: TomlTable, n: string) => (doc.Node as Record<string, TomlTable>)[n] as TomlTable;
const mesh = (doc: TomlTable) => meshFromDoc("m", doc, { file: "m.conf" });

describe("add", () => {
  it("creates vwgen's defaults", () => {
    const doc = fresh([]);
    const net = doc.Network as TomlTable;
    expect(net.AddressPoolIPv4).toMatch(/^192\.168\.\d+\.0\/24$/);
    expect(net.AddressPoolIPv6).toMatch(/^fd[0-9a-f]{2}:[0-9a-f]{4}:[0-9a-f]{4}::\/80$/);
    expect(net.VxlanID).toBeGreaterThanOrEqual(1);
    expect(net.VxlanID).toBeLessThanOrEqual(0xffffff);
    expect(net).toMatchObject({ VxlanMTU: 1500, VxlanPort: 4789 });
  });
  it("gives every node a key, an address in the pool, a VTEP, a port", () => {
    const m = mesh(fresh(["a", "b", "c", "d"]));
    expect(new Set(m.nodes.map((n) => n.vtep)).size).toBe(4);
    expect(new Set(m.nodes.map((n) => n.overlayIPv4)).size).toBe(4);
    for (const n of m.nodes) {
      expect(n.listenPort).toBeGreaterThanOrEqual(32768);
      expect(n.listenPort).toBeLessThanOrEqual(60999);
      expect(n.allowedIPs).toEqual([`${n.vtep}/32`]);
    }
  });
  it("never picks a VTEP in 169.254.169.0/24, even when the random source insists", () => {
    const stubborn: Random = { int: (lo, hi) => Math.min(hi, Math.max(lo, 0xa9fea9fe)), bytes: seededRandom("k").bytes };
    const doc: TomlTable = {};
    ensureNetwork(doc, env().random);
    addNodes(doc, "m", ["a", "b"], stubborn);
    for (const n of mesh(doc).nodes) expect(isMetadataRange(Number(parseAddr(n.vtep).addr))).toBe(false);
  });
});

describe("set endpoint", () => {
  it.each([
    ["198.51.100.7:51820", "198.51.100.7:51820"],
    ["[2001:db8::b]:51821", "[2001:db8::b]:51821"],
    ["[2001:DB8:0::B]:1", "[2001:db8::b]:1"],
    ["2001:db8::b", "[2001:db8::b]:40000"],
    ["[2001:db8::b]", "[2001:db8::b]:40000"],
    ["vpn.example.com", "vpn.example.com:40000"],
    ["198.51.100.7", "198.51.100.7:40000"],
  ])("%s is stored as %s", (input, stored) => {
    const doc = fresh();
    applySet(doc, "m", ["node", "a", "listen-port", "40000", "endpoint", input], env());
    expect(node(doc, "a").Endpoint).toBe(stored);
  });
  it("an empty endpoint removes it", () => {
    const doc = fresh();
    applySet(doc, "m", ["node", "a", "endpoint", "198.51.100.7:1", "endpoint", ""], env());
    expect(node(doc, "a").Endpoint).toBeUndefined();
  });
  it("repairs vwgen's mangled IPv6 endpoint", () => {
    const doc = fresh();
    node(doc, "a").Endpoint = "[[2001:db8::b]:51821]:54228";
    expect(mesh(doc).nodes[0]?.endpoint?.text).toBe("[2001:db8::b]:51821");
    expect(mesh(doc).warnings.join()).toMatch(/repaired/);
    repairEndpoints(doc);
    expect(node(doc, "a").Endpoint).toBe("[2001:db8::b]:51821");
  });
});

describe("set, other directives", () => {
  it("applies several node blocks in one call, as vwgen does", () => {
    const doc = fresh();
    applySet(doc, "m", ["vxlan-port", "4790", "node", "a", "listen-port", "1000", "upnp", "node", "b", "fwmark", "0x1a", "save-config"], env());
    expect((doc.Network as TomlTable).VxlanPort).toBe(4790);
    expect(node(doc, "a")).toMatchObject({ ListenPort: 1000, UPnP: true });
    expect(node(doc, "b")).toMatchObject({ FwMark: 26, SaveConfig: true });
  });
  it("ll-addr moves the VTEP and its AllowedIPs /32 together", () => {
    const doc = fresh();
    applySet(doc, "m", ["node", "a", "ll-addr", "169.254.10.20"], env());
    expect(node(doc, "a")).toMatchObject({ LinkLayerAddress: ["169.254.10.20/16"], AllowedIPs: ["169.254.10.20/32"] });
    applySet(doc, "m", ["node", "a", "ll-addr", "auto"], env("other"));
    const m = mesh(doc).nodes.find((n) => n.name === "a");
    expect(m?.allowedIPs).toEqual([`${m?.vtep}/32`]);
  });
  it("public-key hands the key to the host: the private key leaves the file", () => {
    const doc = fresh();
    const other = mesh(fresh(["x"], "other")).nodes[0]?.publicKey as string;
    applySet(doc, "m", ["node", "a", "public-key", other], env());
    expect(node(doc, "a").PrivateKey).toBeUndefined();
    expect(mesh(doc).nodes.find((n) => n.name === "a")?.publicKey).toBe(other);
  });
  it("psk on creates one key per pair, kept across changes, dropped with the node", () => {
    const doc = fresh();
    applySet(doc, "m", ["psk", "on"], env());
    const psk = doc.PresharedKeys as TomlTable;
    expect(Object.keys(psk).sort()).toEqual(["a,b", "a,c", "b,c"]);
    const ab = psk["a,b"];
    addNodes(doc, "m", ["d"], env("d").random);
    expect(Object.keys(psk)).toHaveLength(6);
    expect(psk["a,b"]).toBe(ab);
    delNodes(doc, "m", ["a"]);
    expect(Object.keys(psk).sort()).toEqual(["b,c", "b,d", "c,d"]);
  });
  it("subnets are stored as networks", () => {
    const doc = fresh();
    applySet(doc, "m", ["node", "a", "subnets", "10.0.1.1/24, fd00:1::5/64"], env());
    expect(node(doc, "a").Subnets).toEqual(["10.0.1.0/24", "fd00:1::/64"]);
    applySet(doc, "m", ["node", "a", "subnets", "none"], env());
    expect(node(doc, "a").Subnets).toEqual([]);
  });
});

describe("blacklist and del", () => {
  it("stores both directions, sorted, like vwgen", () => {
    const doc = fresh(["a", "b", "c", "d"]);
    blacklist(doc, "m", "add", "c", ["a", "d"]);
    expect((doc.PeerBlacklist as TomlTable).Blacklist).toEqual([
      ["a", "c"],
      ["c", "a"],
      ["c", "d"],
      ["d", "c"],
    ]);
    blacklist(doc, "m", "del", "a", ["c"]);
    expect((doc.PeerBlacklist as TomlTable).Blacklist).toEqual([
      ["c", "d"],
      ["d", "c"],
    ]);
    expect([...mesh(doc).blacklist]).toEqual(["c,d"]);
  });
  it("del removes the node's pairs and reflector role", () => {
    const doc = fresh(["a", "b", "c", "d"]);
    blacklist(doc, "m", "add", "a", ["b", "c", "d"]);
    applySet(doc, "m", ["route-reflectors", "b,c"], env());
    delNodes(doc, "m", ["a", "c"]);
    expect((doc.PeerBlacklist as TomlTable).Blacklist).toEqual([]);
    expect((doc.Network as TomlTable).RouteReflectors).toEqual(["b"]);
    expect(mesh(doc).nodes.map((n) => n.name)).toEqual(["b", "d"]);
  });
});

// Issue 10: `ciab set --help` lists every directive with one line each.
describe("set --help", () => {
  it("has one help line for every directive, and none for a directive that does not exist", async () => {
    const { SET_DIRECTIVES, SET_HELP } = await import("../../src/model/edit.js");
    expect(Object.keys(SET_HELP).sort()).toEqual([...SET_DIRECTIVES].sort());
    for (const line of Object.values(SET_HELP)) expect(line).not.toContain("\n");
  });
});
