// Parsers of real host outputs (test/fixtures/host, captured in a lab node), each defensive: garbage is a CiabError
// "external" naming the command. Also the bundle loader, the LXD announcement choice, and renderFrr's announce option.

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseBirdOspfNeighbors, parseBirdProtocols } from "../../src/adapters/bird.js";
import { parseBgpSummary, parseOspfNeighborsJson } from "../../src/adapters/frr.js";
import { parseAddresses, parseFdb, parseLinks, parseNeighbours, parseRoutes } from "../../src/adapters/iproute2.js";
import { parseWgDump } from "../../src/adapters/wireguard.js";
import { CiabError } from "../../src/model/errors.js";
import { topology } from "../../src/model/topology.js";
import { chooseAnnouncements, desiredFromBundle } from "../../src/plan/bundle.js";
import { nftFingerprint } from "../../src/plan/plan.js";
import { floodEntries, neighbourEntries, unicastEntries } from "../../src/plan/vxlan-entries.js";
import { renderBundle } from "../../src/render/bundle.js";
import { renderFrr } from "../../src/render/frr.js";
import { type DesiredStateV1, spliceAnnouncements, vxlanCreateArgv } from "../../src/state/desired.js";
import { desiredOf, fx, meshDoc, meshOf, NET } from "../helpers/host.js";
import { FIXTURE_MESHES, loadFixture } from "../helpers/meshes.js";

const external = (f: () => unknown, command: RegExp) => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CiabError);
    expect((e as CiabError).code).toBe("external");
    expect((e as CiabError).message).toMatch(command);
    return;
  }
  throw new Error("did not throw");
};

describe("iproute2 parsers (ip -j, bridge -j)", () => {
  it("links: kinds, MTU, VXLAN parameters, wireguard-go's tun", () => {
    const links = parseLinks(fx("n1.ip-link.json"));
    expect(links.map((l) => [l.name, l.kind, l.mtu, l.up])).toEqual([
      ["lo", "", 65536, true],
      ["eth0", "veth", 1500, true],
      ["br0", "bridge", 1390, true],
      ["vc1", "veth", 1390, true],
      [NET, "tun", 1440, true],
      [`v${NET}`, "vxlan", 1390, true],
    ]);
    expect(links.find((l) => l.kind === "vxlan")!.vxlan).toEqual({ id: 884812, port: 4789, learning: false, local: "169.254.226.176" });
  });
  it("addresses, neighbours, fdb, routes", () => {
    expect(
      parseAddresses(fx("n1.ip-addr.json"))
        .filter((a) => a.dev === `v${NET}`)
        .map((a) => a.cidr),
    ).toEqual(["192.168.105.34/24", "fd61:3d97:c13b::a1f9:beae:4c46/80", "fe80::a0f9:beff:feae:4c46/64"]);
    expect(parseNeighbours(fx("n1.ip-neigh.json")).filter((n) => n.states.includes("PERMANENT"))).toHaveLength(4);
    const fdb = parseFdb(fx("n1.bridge-fdb.json")).filter((f) => f.dev === `v${NET}`);
    expect(fdb.map((f) => `${f.mac} ${f.dst}`)).toEqual([
      "06:5a:90:02:15:0c 169.254.33.119",
      "f6:fe:ec:81:8e:49 169.254.245.218",
      "00:00:00:00:00:00 169.254.245.218",
      "00:00:00:00:00:00 169.254.33.119",
    ]);
    expect(parseRoutes(fx("n1-ospf.ip-route-bird.json")).map((r) => `${r.dst} via ${r.gateway}`)).toEqual([
      "10.0.2.0/24 via 192.168.71.252",
      "10.0.3.0/24 via 192.168.71.100",
    ]);
    // filtered by device: iproute2 leaves the device out of each entry
    expect(parseNeighbours('[{"dst":"10.9.9.9","lladdr":"02:00:00:00:00:01","state":["PERMANENT"]}]', "ip -j neigh show dev vx1", "vx1")[0]!.dev).toBe("vx1");
  });
  it.each([
    ["not JSON", "Cannot find device", /'ip -j -d link show' printed output that is not JSON/],
    ["an object", '{"ifname":"x"}', /JSON that is not a list/],
    ["an item without ifname", '[{"mtu":1}]', /without a string "ifname"/],
    ["a vxlan without id", '[{"ifname":"v","mtu":1,"linkinfo":{"info_kind":"vxlan","info_data":{}}}]', /vxlan v without a numeric id/],
  ])("links: %s is an external error", (_n, text, why) => external(() => parseLinks(text), why));
  it("empty output is an empty list", () => expect(parseFdb("")).toEqual([]));
});

describe("wg show dump", () => {
  it("keeps the public key, drops the private key, reads peers", () => {
    const wg = parseWgDump(fx("n1.wg-dump.txt"), NET);
    expect(JSON.stringify(wg)).not.toContain("private key");
    expect(wg).toMatchObject({ ifname: NET, publicKey: "47vkhCkJhAUNBaoDZxVWjl1egd2JIQHRfjmh+b6uTEY=", listenPort: 51820, fwMark: 0 });
    expect(wg.peers[0]).toEqual({
      publicKey: "u5eMuhW6++73VqBDoCDqeR6cFYC7GXZRkBH1/uyBjkk=",
      presharedKey: false,
      endpoint: "198.18.2.1:51820",
      allowedIPs: ["169.254.245.218/32"],
      latestHandshake: 1795408247,
      rxBytes: 14256,
      txBytes: 15236,
      keepalive: 0,
    });
  });
  it("never returns a private key even from a real dump line", () => {
    const priv = "QDiTEvRkhixidJ//Apw9xnlIO8IE7ukH9aXsv7wtumA=";
    const psk = "NSGyn9yhjuhSO5gNz6IGT0063ivjhDvmo0Q2naiaIUs=";
    const wg = parseWgDump(
      `${priv}\tiQSxaGIcoaB46PemzNxKfYL+KwI5G913nwS37pPqZ3M=\t51999\t0x10\n73IY7mXSku7C3oCZEG5OTA6VKk5Rm0yl8ozpxg2dCyE=\t${psk}\t(none)\t(none)\t0\t0\t0\t25\n`,
      "wgt",
    );
    expect(JSON.stringify(wg)).not.toContain(priv);
    expect(JSON.stringify(wg)).not.toContain(psk);
    expect(wg.peers[0]).toMatchObject({ presharedKey: true, keepalive: 25, allowedIPs: [] });
    expect(wg.fwMark).toBe(16);
  });
  it.each([
    ["an error message", "Unable to access interface: Protocol not supported", /'wg show wg0 dump' printed a first line/],
    ["a short peer line", "x\tiQSxaGIcoaB46PemzNxKfYL+KwI5G913nwS37pPqZ3M=\t1\toff\nabc\t(none)\n", /peer line #1 with 2 fields/],
  ])("%s is an external error", (_n, text, why) => external(() => parseWgDump(text, "wg0"), why));
});

describe("FRR and BIRD", () => {
  it("bgp summary: sessions with uptime epoch and prefixes; a peer down", () => {
    expect(parseBgpSummary(fx("n1.bgp-summary.json")).map((s) => [s.desc, s.state, s.up, s.establishedEpoch, s.prefixesReceived])).toEqual([
      ["n3", "Established", true, 1795408247, 1],
      ["n2", "Established", true, 1795408247, 1],
    ]);
    expect(parseBgpSummary(fx("n1-peer-down.bgp-summary.json")).map((s) => [s.desc, s.state, s.up])).toEqual([
      ["n3", "Active", false],
      ["n2", "Established", true],
    ]);
    expect(parseBgpSummary("{}")).toEqual([]);
    external(() => parseBgpSummary("% No BGP process is configured"), /show bgp summary json'' printed output that is not JSON/);
    external(() => parseBgpSummary('{"ipv4Unicast":{"peers":{"1.2.3.4":{}}}}'), /peer 1.2.3.4 without a state/);
  });
  it("ospf neighbor json", () => {
    expect(
      parseOspfNeighborsJson('{"neighbors":{"10.0.0.2":[{"nbrState":"Full/DR"}],"10.0.0.3":[{"nbrState":"Init/DROther"}]}}').map((s) => [s.peer, s.up]),
    ).toEqual([
      ["10.0.0.2", true],
      ["10.0.0.3", false],
    ]);
  });
  it("birdc show protocols / show ospf neighbors", () => {
    expect(parseBirdProtocols(fx("n1-ospf.birdc-protocols.txt")).map((p) => `${p.name} ${p.proto} ${p.state} ${p.info}`.trim())).toEqual([
      "device1 Device up",
      "direct1 Direct up",
      "kernel4 Kernel up",
      "bfd1 BFD up",
      "ospf4 OSPF up Running",
    ]);
    expect(parseBirdOspfNeighbors(fx("n1-ospf.birdc-ospf-neighbors.txt")).map((n) => [n.peer, n.state, n.up])).toEqual([
      ["192.168.71.100", "Full/BDR", true],
      ["192.168.71.252", "Full/DR", true],
    ]);
    external(() => parseBirdProtocols("Unable to connect to server control socket"), /birdc show protocols' printed no table header/);
  });
  it("nft: the rendered file and nft's listing compare equal", () => {
    const d = desiredOf(meshOf(meshDoc()), "n1");
    expect(nftFingerprint(fx("n1.nft-table.txt"))).toEqual(nftFingerprint(d.nft!.content));
    expect(nftFingerprint(d.nft!.content)).toMatch(
      /^ciab sha256:[0-9a-f]{16} forward:\d+ input:\d+ mss_clamp:2 prerouting:3 vxlan_notrack_in:1 vxlan_notrack_out:1$/,
    );
    // A rule deleted by hand shows, though the digest comment stays.
    expect(nftFingerprint(fx("n1.nft-table.txt").replace(/^.*tcp dport 179.*\n/m, ""))).not.toEqual(nftFingerprint(d.nft!.content));
  });
});

/** The batch files as the bundle's bin/ciab-up writes them: its own lines, run by sh in a temp dir for /etc/wireguard. */
function shellBatches(files: Map<string, string>, vx: string): { ip: string; fdb: string } {
  const up = files.get("bin/ciab-up") ?? "";
  const block = /\n(\{ printf [\s\S]*?\n\} > [^\n]*\n[^\n]*\nmv [^\n]*)\n/.exec(up)?.[1];
  if (!block) throw new Error("no batch file block in bin/ciab-up");
  const dir = mkdtempSync(join(tmpdir(), "ciabt-batches-"));
  try {
    mkdirSync(join(dir, "b"));
    mkdirSync(join(dir, "etc"));
    writeFileSync(join(dir, "b", "desired.json"), files.get("desired.json") ?? "");
    const script = `die() { echo "$*" >&2; exit 1; }\n${block.replaceAll("/etc/wireguard/", `${dir}/etc/`)}\n`;
    const r = spawnSync("sh", ["-eu", "-c", script], { encoding: "utf8", env: { ...process.env, B: join(dir, "b"), VX: vx } });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const [ip, fdb] = readdirSync(join(dir, "etc")).sort((a, b) => (a.endsWith("-ip") ? -1 : b.endsWith("-ip") ? 1 : 0));
    return { ip: readFileSync(join(dir, "etc", ip ?? ""), "utf8"), fdb: readFileSync(join(dir, "etc", fdb ?? ""), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("bundle loader and announcements", () => {
  it.each(FIXTURE_MESHES)("%s: every node's bundle loads; the VXLAN create line is the bundle's", (m) => {
    const mesh = loadFixture(m);
    for (const n of mesh.nodes) {
      const files = new Map(renderBundle(topology(mesh).node(n), "x").map((f) => [f.path, f.content]));
      const d = desiredFromBundle("x", files);
      expect(d.wireguard[0]!.peers.map((p) => p.name)).toEqual(
        mesh.nodes.filter((p) => p.name !== n.name && !mesh.blacklist.has([n.name, p.name].sort().join(","))).map((p) => p.name),
      );
      expect(d.vxlan[0]!.mac).toBe(n.mac);
      expect(d.vxlan[0]!.vni).toBe(mesh.network.vxlanId);
      expect(d.wireguard[0]!.publicKey).toBe(n.publicKey);
      // The planner's entries (from desired.json's VXLAN peers) are the batch files' entries, and the bundle's
      // ciab-up writes the same batch files (byte for byte) as the planner installs.
      const vx = d.vxlan[0]!;
      const ip = d.files.find((f) => f.path === `/etc/wireguard/${mesh.name}.vxlan-ip`)?.content ?? "";
      const fdb = d.files.find((f) => f.path === `/etc/wireguard/${mesh.name}.vxlan-fdb`)?.content ?? "";
      expect(shellBatches(files, vx.ifname)).toEqual({ ip, fdb });
      expect(neighbourEntries(vx).map((e) => `neigh replace ${e.ip} lladdr ${e.mac} dev ${vx.ifname} nud permanent`)).toEqual(
        ip.split("\n").filter((l) => l.startsWith("neigh ")),
      );
      const via = vx.bindDev ? ` via ${vx.underlay}` : "";
      expect([
        ...floodEntries(vx).map((v) => `fdb append 00:00:00:00:00:00 dev ${vx.ifname} dst ${v}${via}`),
        ...unicastEntries(vx).map((u) => `fdb replace ${u.mac} dev ${vx.ifname} dst ${u.vtep}${via} self permanent`),
      ]).toEqual(fdb.split("\n").filter(Boolean));
      // The wg-quick hook creates the device from the same value the planner uses.
      expect(files.get(`wireguard/${mesh.name}.conf`)).toContain(`PostUp = ${vxlanCreateArgv(d.vxlan[0]!).join(" ")}\n`);
    }
  });
  it("a bundle that ships its VXLAN batch files (rendered before they left it) installs them once, as shipped", () => {
    const mesh = loadFixture("rr3");
    const files = new Map(renderBundle(topology(mesh).node(mesh.nodes[0]!), "x").map((f) => [f.path, f.content]));
    const derived = desiredFromBundle("x", files).files.map((f) => f.path);
    const desired = JSON.parse(files.get("desired.json") ?? "") as DesiredStateV1;
    const manifest = JSON.parse(files.get("manifest.json") ?? "") as { files: { path: string; mode: string; sha256: string }[] };
    const shipped = (path: string, content: string) => {
      files.set(path, content);
      manifest.files.push({ path, mode: "0644", sha256: createHash("sha256").update(content).digest("hex") });
    };
    for (const kind of ["ip", "fdb"]) {
      const path = `/etc/wireguard/${mesh.name}.vxlan-${kind}`;
      desired.files.push({ path, source: `wireguard/${mesh.name}.vxlan-${kind}`, mode: "0600" });
      shipped(`wireguard/${mesh.name}.vxlan-${kind}`, `# as shipped (${kind})\n`);
    }
    files.set("desired.json", JSON.stringify(desired));
    const entry = manifest.files.find((f) => f.path === "desired.json");
    if (entry)
      entry.sha256 = createHash("sha256")
        .update(files.get("desired.json") ?? "")
        .digest("hex");
    files.set("manifest.json", JSON.stringify(manifest));
    const d = desiredFromBundle("x", files);
    expect(d.files.map((f) => f.path)).toEqual(derived);
    expect(d.files.find((f) => f.path.endsWith(".vxlan-fdb"))?.content).toBe("# as shipped (fdb)\n");
  });
  it("a broken bundle is refused before anything else", () => {
    const mesh = loadFixture("rr3");
    const files = new Map(renderBundle(topology(mesh).node(mesh.nodes[0]!), "x").map((f) => [f.path, f.content]));
    files.set("frr/frr.conf", `${files.get("frr/frr.conf")}extra\n`);
    expect(() => desiredFromBundle("/b", files)).toThrow(/bundle \/b: frr\/frr.conf does not match its SHA-256/);
    files.delete("frr/frr.conf");
    expect(() => desiredFromBundle("/b", files)).toThrow(/frr\/frr.conf is missing \(listed in manifest.json\)/);
    expect(() => desiredFromBundle("/b", new Map([["manifest.json", "{"]]))).toThrow(/manifest.json is not JSON/);
  });
  it("spliceAnnouncements at desired.json's networkLines equals renderFrr(topology(mesh).node(node), { announce })", () => {
    for (const m of ["rr3", "dualstack", "rr5-blacklist"]) {
      const mesh = loadFixture(m);
      for (const n of mesh.nodes) {
        const announce = [...n.subnets.map((s) => s.replace(/\/\d+$/, s.includes(":") ? "/80" : "/28")), ...(n.subnets.length ? [] : [])];
        const f = renderFrr(topology(mesh).node(n));
        expect(spliceAnnouncements(f.frrConf, f.networks!, announce)).toBe(renderFrr(topology(mesh).node(n), { announce }).frrConf);
        expect(spliceAnnouncements(f.frrConf, f.networks!, n.subnets)).toBe(f.frrConf);
        expect(spliceAnnouncements(f.frrConf, f.networks!, [])).not.toMatch(/^ {2}network /m);
      }
    }
  });
  it.each([
    ["inside the Subnets", ["10.1.0.0/16"], [{ network: "lxdbr0", ipv4: "10.1.5.0/24" }], ["10.1.5.0/24"], []],
    ["outside: refused", ["10.1.0.0/16"], [{ network: "lxdbr1", ipv4: "10.9.0.0/24" }], [], ["lxdbr1 10.9.0.0/24"]],
    [
      "dual stack, sorted",
      ["10.1.0.0/16", "fd00:1::/48"],
      [
        { network: "b", ipv4: "10.1.9.0/24", ipv6: "fd00:1:0:5::/64" },
        { network: "a", ipv4: "10.1.2.0/24" },
      ],
      ["10.1.2.0/24", "10.1.9.0/24", "fd00:1:0:5::/64"],
      [],
    ],
    ["no Subnets: nothing", [], [{ network: "lxdbr0", ipv4: "10.1.5.0/24" }], [], ["lxdbr0 10.1.5.0/24"]],
  ])("chooseAnnouncements: %s", (_n, owned, bridges, announce, refused) => {
    const c = chooseAnnouncements(owned, bridges);
    expect(c.announce).toEqual(announce);
    expect(c.refused.map((r) => `${r.bridge} ${r.prefix}`)).toEqual(refused);
  });
});
