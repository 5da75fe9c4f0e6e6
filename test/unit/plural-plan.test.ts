// The plural data plane: desired state, planner and `down` work on lists of WireGuard interfaces, VXLAN devices and
// routing instances. A host with two of each (the lab fixture's n1 plus a second, renamed pair) against an
// observation built from a desired state: equal -> no action; add one, remove one, change one -> exactly that.
import { describe, expect, it } from "vitest";
import { userspaceBackend } from "../../src/adapters/wireguard.js";
import { planDown } from "../../src/plan/down.js";
import { ownerMark, plan, sha256Hex, vxlanSysctls } from "../../src/plan/plan.js";
import type { Action, DesiredHost, DesiredVxlan, DesiredWireguard, ObservedHost } from "../../src/plan/types.js";
import { floodEntries, neighbourEntries, unicastEntries } from "../../src/plan/vxlan-entries.js";
import { desiredOf, meshDoc, meshOf, NET } from "../helpers/host.js";

const summary = (actions: Action[]) => actions.map((a) => `${a.kind} ${a.subject}: ${a.reason}`);
const one = desiredOf(meshOf(meshDoc()), "n1");
const wg1 = one.wireguard[0]!;
const vx1 = one.vxlan[0]!;
// A second WireGuard interface and VXLAN device over it (another port, VNI, MAC and VTEP), as tenants would add.
const wg2: DesiredWireguard = { ...wg1, ifname: `${NET}-b`, listenPort: wg1.listenPort + 1, addresses: ["169.254.200.1/32"] };
const vx2: DesiredVxlan = { ...vx1, ifname: `v${NET}-b`, vni: 4243, port: 4790, mac: "02:00:00:00:00:42", underlay: wg2.ifname, local: "169.254.200.1" };
const two: DesiredHost = { ...one, wireguard: [wg1, wg2], vxlan: [vx1, vx2] };

/** What a host looks like after a perfect reconcile of `d`: every interface marked, every entry in place. */
function observedAfter(d: DesiredHost, now = 1_800_000_000): ObservedHost {
  const mark = ownerMark(d.network);
  const files: ObservedHost["files"] = {};
  for (const f of d.files) files[f.path] = { sha256: sha256Hex(f.content), mode: f.mode };
  for (const r of d.routing) {
    if (r.daemon !== "frr") continue;
    files["/etc/frr/frr.conf"] = { sha256: sha256Hex(r.frrConf), mode: 0o640, text: r.frrConf };
    files["/etc/frr/daemons"] = { sha256: sha256Hex(r.daemons), mode: 0o644, text: r.daemons };
    files["/etc/frr/vtysh.conf"] = { sha256: sha256Hex("service integrated-vtysh-config\n"), mode: 0o644 };
  }
  const sysctls: ObservedHost["sysctls"] = {};
  for (const s of [...d.sysctls, ...d.vxlan.flatMap((x) => vxlanSysctls(x.ifname))]) sysctls[s.key] = `${s.value}\n`;
  return {
    now,
    links: [
      ...d.wireguard.map((w) => ({ name: w.ifname, kind: "tun", mtu: w.mtu, up: true, alias: mark })),
      ...d.vxlan.map((x) => ({
        name: x.ifname,
        kind: "vxlan",
        mtu: x.mtu,
        up: true,
        mac: x.mac,
        alias: mark,
        vxlan: { id: x.vni, port: x.port, learning: false, local: x.local },
      })),
    ],
    addresses: [...d.wireguard, ...d.vxlan].flatMap((i) =>
      i.addresses.map((cidr) => ({ dev: i.ifname, cidr, family: cidr.includes(":") ? 6 : 4, scope: "global" }) as const),
    ),
    neighbours: d.vxlan.flatMap((x) => neighbourEntries(x).map((n) => ({ dev: x.ifname, ip: n.ip, mac: n.mac, states: ["PERMANENT"] }))),
    fdb: d.vxlan.flatMap((x) => [
      ...floodEntries(x).map((dst) => ({ dev: x.ifname, mac: "00:00:00:00:00:00", dst, flags: ["self"], state: "permanent" })),
      ...unicastEntries(x).map((u) => ({ dev: x.ifname, mac: u.mac, dst: u.vtep, flags: ["self"], state: "permanent" })),
    ]),
    wireguard: d.wireguard.map((w) => ({
      ifname: w.ifname,
      publicKey: w.publicKey,
      listenPort: w.listenPort,
      fwMark: w.fwMark,
      peers: w.peers.map((p) => ({
        publicKey: p.publicKey,
        presharedKey: Boolean(p.presharedKey),
        ...(p.presharedKey ? { pskSha256: sha256Hex(p.presharedKey) } : {}),
        ...(p.endpoint ? { endpoint: p.endpoint } : {}),
        allowedIPs: p.allowedIPs,
        latestHandshake: now - 10,
        rxBytes: 1,
        txBytes: 1,
        keepalive: p.keepalive,
      })),
    })),
    wgBackend: "userspace",
    sysctls,
    files,
    nftTable: d.nft?.content,
    frr: { installed: true, running: true, reloadScript: true, systemd: false },
  };
}

const destroyWg = (ifname: string) => [{ argv: ["destroy-wg", ifname] }];

describe("planner with two WireGuard interfaces and two VXLAN devices", () => {
  it("equal: no action (also for the one-element case)", () => {
    expect(summary(plan(two, observedAfter(two)))).toEqual([]);
    expect(summary(plan(one, observedAfter(one)))).toEqual([]);
  });

  it("add one: the second pair is created and set up; the first is not touched", () => {
    const actions = plan(two, observedAfter(one), { backend: userspaceBackend({}) });
    expect(actions.filter((a) => a.subject === wg1.ifname || a.subject === vx1.ifname)).toEqual([]);
    expect(actions.map((a) => `${a.kind} ${a.subject}`)).toEqual(
      expect.arrayContaining([`wg-create ${wg2.ifname}`, `wg-sync ${wg2.ifname}`, `vxlan-create ${vx2.ifname}`, `link ${vx2.ifname}`]),
    );
    const create = actions.find((a) => a.kind === "vxlan-create")!;
    expect(create.commands.map((c) => c.argv.join(" "))).toEqual([
      `ip link add ${vx2.ifname} address ${vx2.mac} mtu ${vx2.mtu} type vxlan id 4243 dstport 4790 local 169.254.200.1 ttl 1 noudpcsum nolearning`,
      `ip link set dev ${vx2.ifname} alias ciab:${NET}`,
    ]);
    // Each VXLAN device gets its own entries and sysctls.
    expect(actions.filter((a) => a.kind === "fdb").every((a) => a.subject === vx2.ifname)).toBe(true);
    expect(actions.filter((a) => a.kind === "sysctl").map((a) => a.subject)).toEqual(vxlanSysctls(vx2.ifname).map((s) => s.key));
  });

  it("remove one: the marked interfaces no longer desired are removed, before anything else changes", () => {
    expect(summary(plan(one, observedAfter(two), { destroyWg }))).toEqual([
      `link ${vx2.ifname}: VXLAN device ${vx2.ifname} (vni 4243) is ciab's but no longer desired: stale`,
      `link ${wg2.ifname}: WireGuard interface ${wg2.ifname} is ciab's but no longer desired: stale`,
    ]);
    expect(plan(one, observedAfter(two), { destroyWg }).find((a) => a.subject === wg2.ifname)!.commands).toEqual(destroyWg(wg2.ifname));
  });

  it("a VXLAN device of an old name (another VNI) is deleted, the new one created", () => {
    const renamed: DesiredHost = { ...one, vxlan: [{ ...vx1, ifname: `v${NET}-n`, vni: 77 }] };
    const kinds = summary(plan(renamed, observedAfter(one)));
    expect(kinds[0]).toBe(`link ${vx1.ifname}: VXLAN device ${vx1.ifname} (vni ${vx1.vni}) is ciab's but no longer desired: stale`);
    expect(kinds).toContain(`vxlan-create v${NET}-n: VXLAN device v${NET}-n missing`);
  });

  it("change one: only that device is recreated", () => {
    const changed: DesiredHost = { ...two, vxlan: [vx1, { ...vx2, vni: 999 }] };
    const actions = plan(changed, observedAfter(two));
    expect(actions.filter((a) => a.kind === "vxlan-create").map((a) => a.reason)).toEqual([
      `VXLAN ${vx2.ifname} vni 4243 != 999: recreate (addresses, neighbours and FDB are re-added)`,
    ]);
    expect(actions.some((a) => a.subject === vx1.ifname || a.subject === wg1.ifname)).toBe(false);
    const mtu: DesiredHost = { ...two, wireguard: [wg1, { ...wg2, mtu: 1300 }] };
    expect(summary(plan(mtu, observedAfter(two)))).toEqual([`link ${wg2.ifname}: ${wg2.ifname} mtu ${wg1.mtu} != 1300`]);
  });

  it("an interface of another network or without the mark is never ciab's to remove (negative control)", () => {
    const o = observedAfter(two);
    o.links = o.links.map((l) => (l.name === vx2.ifname ? { ...l, alias: "ciab:other" } : l.name === wg2.ifname ? { ...l, alias: undefined } : l));
    expect(summary(plan(one, o, { destroyWg }))).toEqual([]);
    expect(planDown(one, o, { destroyWg }).map((a) => a.subject)).not.toContain(vx2.ifname);
  });

  it("down removes every interface ciab owns for the network, the ones the desired state no longer lists too", () => {
    const subjects = planDown(one, observedAfter(two), { destroyWg }).map((a) => `${a.kind} ${a.subject}`);
    expect(subjects).toEqual(
      expect.arrayContaining([`link ${vx1.ifname}`, `link ${vx2.ifname}`, `link ${wg1.ifname}`, `link ${wg2.ifname}`, `nft inet ciab_${NET}`]),
    );
    // VXLAN devices go before the WireGuard interfaces they ride on.
    expect(subjects.indexOf(`link ${vx2.ifname}`)).toBeLessThan(subjects.indexOf(`link ${wg1.ifname}`));
  });

  it("a routing instance with a VRF is refused until tenants exist", () => {
    const vrf: DesiredHost = { ...one, routing: [{ ...one.routing[0]!, vrf: "blue" }] };
    expect(() => plan(vrf, observedAfter(one))).toThrow(/routing instance default: VRF blue is not supported yet/);
  });
});
