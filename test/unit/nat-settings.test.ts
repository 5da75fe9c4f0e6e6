// NAT settings in the mesh file (issue 13, part 2): [Network] STUNServers, per node NAT and Relay. Read with their
// defaults, set through `ciab set`'s directives, and every refusal names its table and key.
import { describe, expect, it } from "vitest";
import { seededRandom } from "../../src/keys/random.js";
import { addNodes, applySet, ensureNetwork } from "../../src/model/edit.js";
import { meshFromDoc, stunServerProblem } from "../../src/model/mesh.js";
import type { TomlTable } from "../../src/model/toml.js";
import { topology } from "../../src/model/topology.js";
import { renderNft } from "../../src/render/nft.js";
import { showJson, showText } from "../../src/render/show.js";
import { renderWireguard } from "../../src/render/wireguard.js";
import { documentProblems } from "../helpers/json-contract.js";

const env = { random: seededRandom("nat-settings") };
const base = (): TomlTable => {
  const doc: TomlTable = {};
  ensureNetwork(doc, env.random);
  addNodes(doc, "m", ["a", "b", "c", "p"], env.random);
  applySet(doc, "m", ["node", "p", "endpoint", "198.51.100.9:51820", "listen-port", "51820"], env);
  return doc;
};
const mesh = (doc: TomlTable) => meshFromDoc("m", doc, { file: "m.conf" });
const node = (doc: TomlTable, n: string) => (doc.Node as TomlTable)[n] as TomlTable;
/** Merge `v` into [Network] or [Node.<table>]; returns the document. */
const put = (doc: TomlTable, table: string, v: TomlTable): TomlTable => {
  Object.assign(table === "Network" ? (doc.Network as TomlTable) : node(doc, table), v);
  return doc;
};
const deploy = (doc: TomlTable) =>
  mesh(doc)
    .problems.filter((p) => p.phase === "deploy")
    .map((p) => p.message);

describe("NAT settings", () => {
  it("defaults: no STUN servers, NAT none, no relay", () => {
    const m = mesh(base());
    expect(m.network.stunServers).toEqual([]);
    expect(m.nodes.map((n) => [n.name, n.nat, n.relay])).toEqual([
      ["a", "none", undefined],
      ["b", "none", undefined],
      ["c", "none", undefined],
      ["p", "none", undefined],
    ]);
  });

  it("set writes them, the typed view reads them, `none` removes them", () => {
    const doc = base();
    applySet(
      doc,
      "m",
      ["stun-servers", "stun.example.net:3478,[2001:db8::3]:3478", "node", "a", "nat", "auto", "relay", "p", "node", "b", "nat", "symmetric", "relay", "auto"],
      env,
    );
    expect((doc.Network as TomlTable).STUNServers).toEqual(["stun.example.net:3478", "[2001:db8::3]:3478"]);
    expect([node(doc, "a").NAT, node(doc, "a").Relay, node(doc, "b").NAT, node(doc, "b").Relay]).toEqual(["auto", "p", "symmetric", "auto"]);
    const m = mesh(doc);
    expect(m.network.stunServers).toEqual(["stun.example.net:3478", "[2001:db8::3]:3478"]);
    expect(m.nodes.find((n) => n.name === "a")).toMatchObject({ nat: "auto", relay: "p" });
    expect(deploy(doc)).toEqual([]);
    applySet(doc, "m", ["node", "a", "nat", "none", "relay", "none", "node", "b", "nat", "none", "relay", "none", "stun-servers", "none"], env);
    expect([node(doc, "a").Relay, node(doc, "b").Relay, (doc.Network as TomlTable).STUNServers]).toEqual([undefined, undefined, []]);
  });

  it.each([
    ["stun.example.net:3478", undefined],
    ["198.51.100.1:3478", undefined],
    ["[2001:db8::3]:3478", undefined],
    ["2001:db8::3:3478", /IPv6 address without brackets/],
    ["[2001:DB8::3]:3478", /write it as \[2001:db8::3\]:3478/],
    ["stun.example.net", /expected host:port/],
    ["stun.example.net:0", /out of range/],
    ["stun.example.net:70000", /out of range/],
    ["[198.51.100.1]:3478", /brackets are only for IPv6/],
    [" a.example:3478", /write it as a\.example:3478/],
    ["bad_host!:3478", /neither an IP address nor a host name/],
  ])("STUN server %s", (s, want) => {
    const why = stunServerProblem(s);
    if (want === undefined) expect(why).toBeUndefined();
    else expect(why).toMatch(want);
  });

  it.each<[string, (d: TomlTable) => unknown, RegExp]>([
    [
      "a bad server in the file names the element",
      (d) => put(d, "Network", { STUNServers: ["s1.example:3478", "s2.example"] }),
      /\[Network\] STUNServers: element 2 's2\.example': expected host:port/,
    ],
    [
      "a server listed twice",
      (d) => put(d, "Network", { STUNServers: ["s1.example:3478", "s1.example:3478"] }),
      /\[Network\] STUNServers: element 2 's1\.example:3478' is listed twice/,
    ],
    ["NAT auto without STUN servers", (d) => put(d, "a", { NAT: "auto" }), /\[Node\.a\] NAT: is "auto" but \[Network\] STUNServers is empty/],
    ["Relay naming no node", (d) => put(d, "a", { Relay: "pp" }), /\[Node\.a\] Relay: 'pp' is not a node of this network/],
    ["Relay naming the node itself", (d) => put(d, "a", { Relay: "a" }), /\[Node\.a\] Relay: names the node itself/],
    ["Relay naming a node without endpoint", (d) => put(d, "a", { Relay: "b" }), /\[Node\.a\] Relay: 'b' is not public \(no Endpoint\)/],
    [
      "Relay naming a NATed node",
      (d) => put(put(d, "p", { NAT: "symmetric" }), "a", { Relay: "p" }),
      /\[Node\.a\] Relay: 'p' is not public \(NAT = "symmetric"\)/,
    ],
    [
      "symmetric NAT and no public node",
      (d) => put(put(d, "p", { Endpoint: "" }), "a", { NAT: "symmetric" }),
      /\[Node\.a\] NAT: needs a relay, but no node is public/,
    ],
    [
      "two nodes behind one NAT on one listen port",
      (d) => {
        for (const n of ["a", "b"]) Object.assign(node(d, n), { NAT: "symmetric", Endpoint: "203.0.113.7:51820", ListenPort: 51820 });
      },
      /\[Node\.b\] ListenPort: 51820 is also the listen port of node 'a' behind the same NAT \(203\.0\.113\.7\)/,
    ],
  ])("refused: %s", (_n, change, want) => {
    const doc = base();
    change(doc);
    expect(deploy(doc).join("\n")).toMatch(want);
  });

  it("nodes behind one NAT on distinct ports, and public nodes sharing nothing, are fine", () => {
    const doc = base();
    Object.assign(node(doc, "a"), { NAT: "symmetric", Endpoint: "203.0.113.7:51820", ListenPort: 51820 });
    Object.assign(node(doc, "b"), { NAT: "symmetric", Endpoint: "203.0.113.7:51830", ListenPort: 51830 });
    expect(deploy(doc)).toEqual([]);
  });

  it("one STUN server is a warning (one answer cannot tell cone from symmetric), not a refusal", () => {
    const doc = base();
    applySet(doc, "m", ["stun-servers", "s1.example:3478", "node", "a", "nat", "auto"], env);
    const m = mesh(doc);
    expect(m.problems.filter((p) => p.phase === "deploy")).toEqual([]);
    expect(m.warnings.join("\n")).toMatch(/\[Network\] STUNServers: has one server/);
  });

  it("a node behind a NAT keeps its mapping alive every 25 s when its keepalive is off (0, as `add` writes it); its own value wins", () => {
    const doc = put(put(put(base(), "a", { NAT: "auto", ListenPort: 51820 }), "b", { NAT: "symmetric" }), "Network", { STUNServers: ["198.18.0.10:3478"] });
    put(doc, "c", { NAT: "auto", ListenPort: 51821, PersistentKeepalive: 10 });
    const m = mesh(doc);
    expect(m.nodes.map((n) => [n.name, n.persistentKeepalive])).toEqual([
      ["a", 25],
      ["b", 25],
      ["c", 10],
      ["p", 0],
    ]);
    const a = m.nodes.find((n) => n.name === "a");
    if (!a) throw new Error("no node a");
    expect(renderWireguard(topology(m).node(a))).toMatch(/\nPersistentKeepalive = 25\n/);
  });

  it("set refuses bad values naming the directive", () => {
    expect(() => applySet(base(), "m", ["stun-servers", "s1.example:3478,2001:db8::1:3478"], env)).toThrow(
      /stun-servers: '2001:db8::1:3478' is an IPv6 address without brackets/,
    );
    expect(() => applySet(base(), "m", ["node", "a", "nat", "cone"], env)).toThrow(/nat: 'cone' must be one of auto, none, symmetric/);
    expect(() => applySet(base(), "m", ["nat", "auto"], env)).toThrow(/node/);
  });

  it("a NAT value of the wrong kind in the file is a load error naming the key", () => {
    const doc = base();
    node(doc, "a").NAT = "cone";
    expect(() => mesh(doc)).toThrow(/\[Node\.a\] NAT: must be one of "auto", "none", "symmetric", got "cone"/);
  });
});

describe("the scoped STUN SNAT rule in the node's nft table (NAT-FINDINGS §3a)", () => {
  const doc = base();
  applySet(
    doc,
    "m",
    [
      "stun-servers",
      "s1.example:3478,s2.example:3479,[2001:db8::3]:3478",
      "node",
      "a",
      "nat",
      "auto",
      "listen-port",
      "51820",
      "node",
      "b",
      "nat",
      "symmetric",
      "listen-port",
      "51899",
    ],
    env,
  );
  const m = mesh(doc);
  const t = topology(m);
  const nft = (n: string) => renderNft(t.node(m.nodes.find((x) => x.name === n) as (typeof m.nodes)[number]));
  it("NAT auto: the fixed STUN port leaves as the WireGuard port, only towards the servers' ports", () => {
    expect(nft("a")).toContain(
      "\tchain stun_snat {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\t# STUN from the agent's port leaves as WireGuard's, so the servers report WireGuard's NAT mapping.\n\t\tudp sport 51899 udp dport { 3478, 3479 } snat to :51820\n\t\t# The low-TTL pre-punch towards a peer leaves as WireGuard's too; the agent forgets its flow once sent.\n\t\tudp sport 51897 snat to :51820\n\t}",
    );
  });
  it("the pre-punch port never equals the listen port", () => {
    const doc2 = base();
    applySet(doc2, "m", ["stun-servers", "s1.example:3478", "node", "a", "nat", "auto", "listen-port", "51897"], env);
    const m2 = mesh(doc2);
    const text = renderNft(topology(m2).node(m2.nodes.find((x) => x.name === "a") as (typeof m2.nodes)[number]));
    expect(text).toMatch(/udp sport 51896 snat to :51897\n/);
  });
  it("a WireGuard port equal to the usual STUN port moves the STUN port", () =>
    expect(nft("b")).toMatch(/udp sport 51898 udp dport \{ 3478, 3479 \} snat to :51899/));
  it("NAT none: no rule (no address rewriting on public nodes)", () => {
    expect(nft("p")).not.toMatch(/stun_snat|snat/);
    expect(nft("c")).not.toMatch(/snat/);
  });
  it("NAT auto needs a fixed listen port", () => {
    const d = base();
    applySet(d, "m", ["stun-servers", "s1.example:3478,s2.example:3478", "node", "a", "nat", "auto"], env);
    node(d, "a").ListenPort = 0;
    expect(deploy(d).join("\n")).toMatch(/\[Node\.a\] ListenPort: is 0 .* NAT is "auto"/);
  });
});

describe("NAT settings in show", () => {
  const doc = () => {
    const d = base();
    applySet(d, "m", ["stun-servers", "198.18.0.10:3478,198.18.0.11:3478"], env);
    return put(put(d, "a", { NAT: "auto", ListenPort: 51820 }), "b", { NAT: "symmetric", Relay: "p" });
  };
  it("show --json has each node's nat and relay (show.v1 schema), and the servers in the settings", () => {
    const m = mesh(doc());
    const j = showJson(m, { showKeys: false });
    expect(j.settings.stunServers).toEqual(["198.18.0.10:3478", "198.18.0.11:3478"]);
    expect(j.nodes.map((n) => [n.name, n.nat, n.relay])).toEqual([
      ["a", "auto", null],
      ["b", "symmetric", "p"],
      ["c", "none", null],
      ["p", "none", null],
    ]);
    expect(documentProblems({ schema: "ciab/show/v1", ok: true, networks: [j], warnings: [] })).toEqual([]);
    // negative control: the schema refuses a NAT mode it does not know
    const bad = { ...j, nodes: j.nodes.map((n) => ({ ...n, nat: "full-cone" })) };
    expect(documentProblems({ schema: "ciab/show/v1", ok: true, networks: [bad], warnings: [] })).not.toEqual([]);
  });
  it("show --extra lists them only where set (the vwgen layout is unchanged without NAT)", () => {
    const text = showText(mesh(doc()), { showKeys: false, extra: true });
    expect(text).toContain("  stun servers: 198.18.0.10:3478, 198.18.0.11:3478\n");
    expect(text).toMatch(/node: a\n(?: {2}.*\n)*? {2}nat: auto\n/);
    expect(text).toMatch(/node: b\n(?: {2}.*\n)*? {2}nat: symmetric\n {2}relay: p\n/);
    expect(showText(mesh(base()), { showKeys: false, extra: true })).not.toMatch(/nat:|relay:|stun servers:/);
  });
});
