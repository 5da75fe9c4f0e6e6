// The planner on real captured host state (test/fixtures/host: node n1 and n2 of a 3-node lab after ciab-up):
// equal state gives zero actions; a new peer, a removed peer, an MTU change and a VNI change give exactly the
// actions they need, each with its reason. Whole-structure comparisons over named cases.
import { describe, expect, it } from "vitest";
import { userspaceBackend } from "../../src/adapters/wireguard.js";
import { addNodes, applySet, delNodes } from "../../src/model/edit.js";
import type { TomlTable } from "../../src/model/toml.js";
import { formatCommand } from "../../src/plan/commands.js";
import { plan } from "../../src/plan/plan.js";
import type { Action, DesiredHost } from "../../src/plan/types.js";
import { vxlanCreateArgv } from "../../src/state/desired.js";
import { desiredOf, emptyHost, meshDoc, meshOf, NET, observedOf, random } from "../helpers/host.js";

const summary = (actions: Action[]) => actions.map((a) => `${a.kind} ${a.subject}: ${a.reason}`);
const base = meshOf(meshDoc());
const installed = { n1: desiredOf(base, "n1"), n2: desiredOf(base, "n2") };

function edited(edit: (doc: TomlTable) => void): ReturnType<typeof meshOf> {
  const doc = meshDoc();
  edit(doc);
  return meshOf(doc);
}

describe("planner on captured host state", () => {
  it.each(["n1", "n2"] as const)("%s: desired == observed gives zero actions", (n) => {
    expect(summary(plan(installed[n], observedOf(n, installed[n])))).toEqual([]);
  });

  it("a new peer: one wg syncconf, its FDB and neighbours, FRR reload (RR n1 gets a neighbor)", () => {
    const mesh = edited((doc) => {
      addNodes(doc, NET, ["n4"], random());
      applySet(doc, NET, ["node", "n4", "endpoint", "198.18.4.1:51820", "listen-port", "51820", "subnets", "10.0.4.0/24"], { random: random() });
    });
    const n4 = mesh.nodes.find((x) => x.name === "n4")!;
    const d = desiredOf(mesh, "n1");
    const actions = plan(d, observedOf("n1", installed.n1));
    const v4 = n4.overlayIPv4!;
    const v6 = n4.ipv6!.split("/")[0]!;
    expect(summary(actions)).toEqual([
      // The guard's peer sets gain n4 (its MAC with its addresses and subnet, its VTEP).
      expect.stringMatching(
        new RegExp(`^nft inet ciab_${NET}: nft table inet ciab_${NET} differs \\(loaded: ciab sha256:\\w+ .*; bundle: ciab sha256:\\w+ .*\\)$`),
      ),
      `file /etc/wireguard/${NET}.conf: /etc/wireguard/${NET}.conf differs (+6 -0 lines)`,
      `file /etc/wireguard/${NET}.vxlan-ip: /etc/wireguard/${NET}.vxlan-ip differs (+2 -0 lines)`,
      `file /etc/wireguard/${NET}.vxlan-fdb: /etc/wireguard/${NET}.vxlan-fdb differs (+2 -0 lines)`,
      `wg-sync ${NET}: peer n4 missing`,
      `neighbour v${NET}: neighbour ${v4} lladdr ${n4.mac} missing`,
      `neighbour v${NET}: neighbour ${v6} lladdr ${n4.mac} missing`,
      `fdb v${NET}: fdb 00:00:00:00:00:00 dst ${n4.vtep} missing (flood to the peer's VTEP)`,
      `fdb v${NET}: fdb ${n4.mac} dst ${n4.vtep} missing (known unicast)`,
      expect.stringMatching(/^frr-reload frr: \/etc\/frr\/frr.conf differs \(\+\d+ -0 lines\): frr-reload.py applies the deltas$/),
    ]);
    const sync = actions.find((a) => a.kind === "wg-sync")!;
    // One command, wg syncconf semantics; the private key stays in its file (the mesh has only public keys).
    expect(sync.commands).toHaveLength(1);
    expect(sync.commands[0]!.argv.slice(-2)).toEqual([`/etc/wireguard/${NET}.key`, NET]);
    expect(sync.commands[0]!.input).toContain(`PublicKey = ${n4.publicKey}`);
    expect(sync.commands[0]!.input).not.toMatch(/PrivateKey/);
    const frr = actions.find((a) => a.kind === "frr-reload")!;
    expect(frr.commands.map(formatCommand)).toEqual([
      expect.stringMatching(/^write \/etc\/frr\/frr.conf.ciab-new < \(\d+ bytes\) and check it \(vtysh --dryrun -f\)$/),
      "/usr/lib/frr/frr-reload.py --reload /etc/frr/frr.conf.ciab-new",
      "mv /etc/frr/frr.conf.ciab-new /etc/frr/frr.conf (host's original kept as .ciab-orig)",
    ]);
  });

  it("a removed peer: the peer, its FDB entries and its neighbours go; nothing is recreated", () => {
    const gone = base.nodes.find((x) => x.name === "n3")!;
    const mesh = edited((doc) => delNodes(doc, NET, ["n3"]));
    const actions = plan(desiredOf(mesh, "n1"), observedOf("n1", installed.n1));
    expect(summary(actions)).toEqual([
      expect.stringMatching(
        new RegExp(`^nft inet ciab_${NET}: nft table inet ciab_${NET} differs \\(loaded: ciab sha256:\\w+ .*; bundle: ciab sha256:\\w+ .*\\)$`),
      ),
      `file /etc/wireguard/${NET}.conf: /etc/wireguard/${NET}.conf differs (+0 -6 lines)`,
      `file /etc/wireguard/${NET}.vxlan-ip: /etc/wireguard/${NET}.vxlan-ip differs (+0 -2 lines)`,
      `file /etc/wireguard/${NET}.vxlan-fdb: /etc/wireguard/${NET}.vxlan-fdb differs (+0 -2 lines)`,
      `wg-sync ${NET}: peer ${gone.publicKey.slice(0, 8)}… stale (not a node of the mesh)`,
      `neighbour v${NET}: neighbour ${gone.overlayIPv4} lladdr ${gone.mac} stale (no such peer address)`,
      `neighbour v${NET}: neighbour ${gone.ipv6!.split("/")[0]} lladdr ${gone.mac} stale (no such peer address)`,
      `fdb v${NET}: fdb 00:00:00:00:00:00 dst ${gone.vtep} stale (no peer has VTEP ${gone.vtep}: node removed)`,
      `fdb v${NET}: fdb ${gone.mac} dst ${gone.vtep} stale (no peer has VTEP ${gone.vtep}: node removed)`,
      expect.stringMatching(/^frr-reload frr: \/etc\/frr\/frr.conf differs \(\+0 -\d+ lines\): frr-reload.py applies the deltas$/),
    ]);
    expect(actions.filter((a) => a.kind === "fdb").map((a) => a.commands[0]!.argv.join(" "))).toEqual([
      `bridge fdb del 00:00:00:00:00:00 dev v${NET} dst ${gone.vtep}`,
      `bridge fdb del ${gone.mac} dev v${NET} dst ${gone.vtep} self`,
    ]);
  });

  it("an MTU change: both links change in place (no recreate)", () => {
    const mesh = edited((doc) => applySet(doc, NET, ["underlay-mtu", "1400"], { random: random() }));
    const actions = plan(desiredOf(mesh, "n2"), observedOf("n2", installed.n2));
    expect(summary(actions).filter((s) => !s.startsWith("file "))).toEqual([`link ${NET}: ${NET} mtu 1440 != 1340`, `link v${NET}: vxlan mtu 1390 != 1290`]);
    expect(actions.some((a) => a.kind === "vxlan-create" || a.kind === "wg-create" || a.kind === "wg-sync")).toBe(false);
  });

  it("a VNI change: the VXLAN device is recreated, and all its entries re-added", () => {
    const mesh = edited((doc) => applySet(doc, NET, ["vxlan-id", "4242"], { random: random() }));
    const d: DesiredHost = desiredOf(mesh, "n2");
    const actions = plan(d, observedOf("n2", installed.n2));
    const create = actions.find((a) => a.kind === "vxlan-create")!;
    expect(create.reason).toBe(`VXLAN v${NET} vni 884812 != 4242: recreate (addresses, neighbours and FDB are re-added)`);
    expect(create.commands.map((c) => c.argv.join(" "))).toEqual([
      `ip link del dev v${NET}`,
      vxlanCreateArgv(d.vxlan[0]!).join(" "),
      `ip link set dev v${NET} alias ciab:${NET}`,
    ]);
    const kinds = actions.map((a) => a.kind);
    expect(kinds.filter((k) => k === "address")).toHaveLength(2);
    expect(kinds.filter((k) => k === "neighbour")).toHaveLength(4);
    expect(kinds.filter((k) => k === "fdb")).toHaveLength(4);
    expect(kinds.filter((k) => k === "sysctl")).toHaveLength(3);
    expect(kinds).not.toContain("wg-sync");
    // the order: create, then its sysctls, addresses, up, neighbours, FDB
    const i = kinds.indexOf("vxlan-create");
    expect(kinds.slice(i, i + 7)).toEqual(["vxlan-create", "sysctl", "sysctl", "sysctl", "address", "address", "link"]);
  });

  it("a fresh host: create with the chosen backend, sync, addresses, up, then VXLAN and FRR start", () => {
    const d = installed.n1;
    const empty = emptyHost();
    const actions = plan(d, empty, { backend: userspaceBackend({}) });
    expect(actions.map((a) => a.kind)).toEqual([
      "nft", // the guard before forwarding and the tunnels
      "sysctl",
      "sysctl",
      "file",
      "file",
      "file",
      "wg-create",
      "wg-sync",
      "link",
      "address",
      "link",
      "vxlan-create",
      "sysctl",
      "sysctl",
      "sysctl",
      "address",
      "address",
      "link",
      ...Array(4).fill("neighbour"),
      ...Array(4).fill("fdb"),
      // n1's key sorts before its peers' (keys/contact.ts): it makes first contact with both, and waits for none
      "wg-contact",
      "file",
      "frr-start",
    ]);
    expect(actions.find((a) => a.kind === "wg-create")!.reason).toBe(`WireGuard interface ${NET} missing (userspace implementation)`);
  });

  it("a roamed peer (fresh handshake from another address) is left alone; a stale one is pointed back", () => {
    const o = observedOf("n1", installed.n1);
    const ow = o.wireguard[0]!;
    const peer = ow.peers[0]!;
    const name = installed.n1.wireguard[0]!.peers.find((p) => p.publicKey === peer.publicKey)!.name;
    const roamed = {
      ...o,
      wireguard: [{ ...ow, peers: [{ ...peer, endpoint: "198.18.77.1:40000", latestHandshake: o.now - 30 }, ...ow.peers.slice(1)] }],
    };
    expect(plan(installed.n1, roamed)).toEqual([]);
    const stale = { ...roamed, now: o.now + 1000 };
    expect(summary(plan(installed.n1, stale))).toEqual([
      `wg-sync ${NET}: peer ${name} endpoint 198.18.77.1:40000 != ${installed.n1.wireguard[0]!.peers.find((p) => p.name === name)!.endpoint}`,
    ]);
  });

  it("a roamed peer gets its configured endpoint back when the configuration changed (as bin/ciab-up syncs it)", () => {
    const o = observedOf("n1", installed.n1);
    const ow = o.wireguard[0]!;
    const peer = ow.peers[0]!;
    const want = installed.n1.wireguard[0]!.peers.find((p) => p.publicKey === peer.publicKey)!;
    const roamed = {
      ...o,
      wireguard: [{ ...ow, peers: [{ ...peer, endpoint: "198.18.77.1:40000", latestHandshake: o.now - 30 }, ...ow.peers.slice(1)] }],
      files: { ...o.files, [`/etc/wireguard/${NET}.conf`]: { sha256: "older", mode: 0o600 } },
    };
    expect(summary(plan(installed.n1, roamed)).filter((l) => l.startsWith("wg-sync"))).toEqual([
      `wg-sync ${NET}: peer ${want.name} endpoint 198.18.77.1:40000 != ${want.endpoint}`,
    ]);
  });

  it("the agent (keepRoamed) keeps a roamed endpoint when the configuration changed, also in the sync it sends", () => {
    const o = observedOf("n1", installed.n1);
    const ow = o.wireguard[0]!;
    const [peer, other] = ow.peers as [(typeof ow.peers)[number], (typeof ow.peers)[number]];
    const peers = installed.n1.wireguard[0]!.peers;
    const otherWant = peers.find((p) => p.publicKey === other.publicKey)!;
    // another peer's published endpoint changed (and it has no handshake), while the first one roamed 30 s ago
    const moved = "198.18.66.2:51820";
    const d: DesiredHost = {
      ...installed.n1,
      wireguard: [{ ...installed.n1.wireguard[0]!, peers: peers.map((p) => (p === otherWant ? { ...p, endpoint: moved } : p)) }],
    };
    const roamed = {
      ...o,
      wireguard: [
        { ...ow, peers: [{ ...peer, endpoint: "198.18.77.1:40000", latestHandshake: o.now - 30 }, { ...other, latestHandshake: 0 }, ...ow.peers.slice(2)] },
      ],
      files: { ...o.files, [`/etc/wireguard/${NET}.conf`]: { sha256: "older", mode: 0o600 } },
    };
    const sync = plan(d, roamed, { keepRoamed: true }).find((a) => a.kind === "wg-sync")!;
    expect(sync.reason).toBe(`peer ${otherWant.name} endpoint ${other.endpoint} != ${moved}; 1 roamed endpoint(s) kept`);
    const input = sync.commands[0]!.input as string;
    const section = (key: string) => input.split("[Peer]").find((x) => x.includes(`PublicKey = ${key}`)) ?? "";
    expect(section(peer.publicKey)).toMatch(/Endpoint = 198\.18\.77\.1:40000/);
    expect(section(other.publicKey)).toMatch(new RegExp(`Endpoint = ${moved.replace(/\./g, "\\.")}`));
    // negative control: without keepRoamed the changed file points the roamed peer back
    const back = plan(d, roamed).find((a) => a.kind === "wg-sync")!;
    expect(back.reason).toMatch(/endpoint 198\.18\.77\.1:40000 != /);
    expect((back.commands[0]!.input as string).includes("198.18.77.1:40000")).toBe(false);
  });

  it("no WireGuard implementation: a clear error, not a half plan", () => {
    const empty = emptyHost();
    expect(() => plan(installed.n1, empty)).toThrow(/kernel has no WireGuard module and wireguard-go is not installed/);
  });

  it("an interface of that name that is not WireGuard is refused, never replaced", () => {
    const o = observedOf("n1", installed.n1);
    expect(() => plan(installed.n1, { ...o, wireguard: [] })).toThrow(/exists \(tun\) but is not a WireGuard interface/);
  });
});
