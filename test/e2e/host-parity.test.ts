// End to end, real daemons: the two reconcilers (the bundle's POSIX bin/ciab-up and `ciab up`) leave equal host
// state. One 4-node lab (BGP, reflector n1) is shared by every kind of change; per change the mesh is edited and
// rendered with the CLI a user runs, then
// - n2 applies it with the bundle's bin/ciab-up; before that `ciab up --dry-run` plans something (the change is
//   real: the negative control), after it nothing (the planner's observation equals what ciab-up left);
// - n3 applies it with `ciab up`; then bin/ciab-up runs there and changes nothing observable (links, addresses,
//   FDB, neighbours, WireGuard peers, nft, installed files, sysctls, FRR's running configuration and daemon PIDs),
//   and `ciab up --dry-run` still plans nothing;
// - n1 and n4 apply it with `ciab up`, so the mesh stays one mesh.
// After an FRR daemons change, bin/ciab-up reloads FRR as `ciab up` does: bgpd keeps its PID (it used to restart).
// Skips unless root with wireguard-go and FRR.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnRunner } from "../../src/adapters/exec.js";
import { parseAddresses, parseFdb, parseLinks, parseNeighbours } from "../../src/adapters/iproute2.js";
import { parseWgDump } from "../../src/adapters/wireguard.js";
import { meshFromDoc } from "../../src/model/mesh.js";
import { parseToml } from "../../src/model/toml.js";
import { nftFingerprint, ownerMark } from "../../src/plan/plan.js";
import { CLI } from "../helpers/env.js";
import { ciabOn, labReady, onNode, type RunningLab, startLab, stopLab, waitFor } from "../helpers/lab.js";

interface UpJson {
  ok: boolean;
  actions: { kind: string; subject: string; reason: string }[];
}

const numbers: Record<string, unknown> = {};

describe.skipIf(!labReady())("bin/ciab-up and `ciab up` leave equal host state (4 nodes, BGP, reflector n1)", () => {
  let lab: RunningLab | undefined;
  let dir = "";
  let net = "";

  beforeAll(async () => {
    lab = await startLab("hp", { nodes: 4, reflectors: 1 });
    net = lab.state.network;
    dir = mkdtempSync(join(tmpdir(), "ciabt-parity-"));
    copyFileSync(lab.state.meshFile, join(dir, `${net}.conf`));
    copyFileSync(lab.state.meshFile, join(dir, "original.conf"));
  }, 240_000);
  afterAll(async () => {
    writeFileSync(join(tmpdir(), "ciab-host-parity-numbers.json"), `${JSON.stringify(numbers, null, 2)}\n`);
    await stopLab(lab);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 180_000);

  const cli = async (args: string[]) => {
    const r = await spawnRunner([process.execPath, CLI, "-C", dir, ...args]);
    expect(r.code, `ciab ${args.join(" ")}: ${r.stderr}`).toBe(0);
  };
  const mesh = () => meshFromDoc(net, parseToml(readFileSync(join(dir, `${net}.conf`), "utf8"), "mesh"), { file: "mesh" });

  async function upJson(node: string, bundle: string, dry: boolean): Promise<UpJson> {
    const r = await ciabOn(lab!, node, ["up", "--bundle", bundle, "--json", ...(dry ? ["--dry-run"] : [])]);
    expect(r.code, `${node}: ciab up${dry ? " --dry-run" : ""}: ${r.stderr}${r.stdout}`).toBe(0);
    return JSON.parse(r.stdout) as UpJson;
  }
  async function ciabUpScript(node: string, bundle: string): Promise<string> {
    const r = await onNode(lab!, node, ["sh", `${bundle}/bin/ciab-up`]);
    expect(r.code, `${node}: bin/ciab-up: ${r.stderr}`).toBe(0);
    return r.stderr;
  }
  const out = async (node: string, argv: string[]) => (await onNode(lab!, node, argv)).stdout;

  /** What a host looks like, as far as the mesh is concerned (no counters, no handshake times). */
  async function hostState(node: string) {
    const vx = `v${net}`;
    const mark = ownerMark(net);
    const links = parseLinks(await out(node, ["ip", "-j", "-d", "link", "show"]))
      .filter((l) => l.alias === mark || l.name === net || l.name === vx)
      .map((l) => ({ name: l.name, kind: l.kind, mtu: l.mtu, up: l.up, mac: l.mac, alias: l.alias, vxlan: l.vxlan }));
    const names = new Set(links.map((l) => l.name));
    const wg = parseWgDump(await out(node, ["wg", "show", net, "dump"]), net);
    const files = [`/etc/wireguard/${net}.conf`, `/etc/wireguard/${net}.vxlan-ip`, `/etc/wireguard/${net}.vxlan-fdb`, "/etc/frr/frr.conf", "/etc/frr/daemons"];
    return {
      links,
      addresses: parseAddresses(await out(node, ["ip", "-j", "addr", "show"]))
        .filter((a) => names.has(a.dev))
        .map((a) => `${a.dev} ${a.cidr}`)
        .sort(),
      fdb: parseFdb(await out(node, ["bridge", "-j", "fdb", "show", "dev", vx]), "fdb", vx)
        .filter((f) => f.dst && !f.master)
        .map((f) => `${f.mac} ${f.dst}`)
        .sort(),
      neighbours: parseNeighbours(await out(node, ["ip", "-j", "neigh", "show", "dev", vx, "nud", "permanent"]), "neigh", vx)
        .map((n) => `${n.ip} ${n.mac}`)
        .sort(),
      wireguard: {
        publicKey: wg.publicKey,
        listenPort: wg.listenPort,
        fwMark: wg.fwMark,
        peers: wg.peers
          .map((p) => ({ key: p.publicKey, allowed: [...p.allowedIPs].sort(), endpoint: p.endpoint, keepalive: p.keepalive, psk: p.presharedKey }))
          .sort((a, b) => (a.key < b.key ? -1 : 1)),
      },
      nft: nftFingerprint(await out(node, ["nft", "list", "table", "inet", `ciab_${net}`])),
      files: await out(node, ["sh", "-c", 'for f; do [ -e "$f" ] && echo "$(stat -c %a "$f") $(sha256sum < "$f")" "$f"; done; true', "files", ...files]),
      sysctls: await out(node, [
        "sh",
        "-c",
        'for k; do echo "$k=$(cat /proc/sys/$k 2>/dev/null)"; done',
        "sysctls",
        "net/ipv4/ip_forward",
        `net/ipv4/conf/${vx}/accept_redirects`,
        `net/ipv4/conf/${vx}/send_redirects`,
        `net/ipv6/conf/${vx}/accept_redirects`,
      ]),
      frrConfig: await out(node, ["vtysh", "-c", "show running-config"]).then((t) => t.replace(/^(Building configuration|Current configuration).*$/gm, "")),
      frrPids: await frrPids(node),
    };
  }
  const frrPids = async (node: string) => out(node, ["sh", "-c", 'for f in /run/frr/*.pid; do [ -e "$f" ] && echo "$(basename "$f") $(cat "$f")"; done; true']);

  /** The state once FRR has settled (daemons started by a reload come up a moment later): equal twice, 1 s apart. */
  async function settled(node: string): Promise<Awaited<ReturnType<typeof hostState>>> {
    let last = JSON.stringify(await hostState(node));
    let now = last;
    await waitFor(
      `${node} settles`,
      async () => {
        await new Promise((r) => setTimeout(r, 1000));
        now = JSON.stringify(await hostState(node));
        const same = now === last;
        last = now;
        return same;
      },
      30_000,
    );
    return JSON.parse(now);
  }

  /** One kind of change: edit + render, then each reconciler on its own node. */
  async function change(name: string, edit: () => Promise<void>, expectKinds: string[]) {
    await edit();
    const outDir = join(dir, name);
    await cli(["render", net, "--out", outDir]);
    const bundle = (n: string) => join(outDir, n);
    for (const n of ["n1", "n4"]) if (existsSync(bundle(n))) await upJson(n, bundle(n), false);

    // n2: the bundle's bin/ciab-up, judged by the planner's observation.
    const before = await upJson("n2", bundle("n2"), true);
    expect(before.actions.length, `${name}: the change reaches n2 (negative control)`).toBeGreaterThan(0);
    const bgpd = /^bgpd\.pid (\d+)$/m.exec(await frrPids("n2"))?.[1];
    const said = await ciabUpScript("n2", bundle("n2"));
    const after = await upJson("n2", bundle("n2"), true);
    expect(
      after.actions.map((a) => `${a.kind} ${a.subject}: ${a.reason}`),
      `${name}: ciab up --dry-run after bin/ciab-up on n2`,
    ).toEqual([]);

    // n3: `ciab up`, then bin/ciab-up must find nothing to change.
    const applied = await upJson("n3", bundle("n3"), false);
    expect(applied.ok, `${name}: ciab up on n3`).toBe(true);
    expect(applied.actions.map((a) => a.kind)).toEqual(expect.arrayContaining(expectKinds));
    const byPlanner = await settled("n3");
    await ciabUpScript("n3", bundle("n3"));
    const byScript = await settled("n3");
    expect(byScript, `${name}: bin/ciab-up after ciab up on n3 changed the host`).toEqual(byPlanner);
    expect((await upJson("n3", bundle("n3"), true)).actions, `${name}: ciab up --dry-run on n3`).toEqual([]);
    numbers[name] = { n2Before: before.actions.map((a) => a.reason), n3: applied.actions.map((a) => a.reason), script: said.trim().split("\n") };
    return { bgpd, said };
  }

  it("peer removed (n4 leaves the mesh)", async () => {
    await change("peer-removed", () => cli(["del", net, "n4"]), ["wg-sync", "fdb", "neighbour"]);
  }, 180_000);

  it("peer added (n4 comes back)", async () => {
    await change("peer-added", async () => copyFileSync(join(dir, "original.conf"), join(dir, `${net}.conf`)), ["wg-sync", "fdb", "neighbour"]);
  }, 180_000);

  it("endpoint (n4 moves to another port)", async () => {
    const n4 = mesh().nodes.find((n) => n.name === "n4")!;
    const host = n4.endpoint!.text.replace(/:\d+$/, "");
    const port = String(n4.listenPort + 17);
    // n4 moves first (n1, n4 apply before n2, n3), so its peers may see it roam to the new port before they apply.
    await change("endpoint", () => cli(["set", net, "node", "n4", "listen-port", port, "endpoint", `${host}:${port}`]), ["file"]);
    for (const n of ["n2", "n3"]) {
      const peer = parseWgDump(await out(n, ["wg", "show", net, "dump"]), net).peers.find((p) => p.publicKey === n4.publicKey);
      expect(peer?.endpoint, `${n}: n4's endpoint`).toBe(`${host}:${port}`);
    }
  }, 180_000);

  it("VNI and port", async () => {
    await change("vni-port", () => cli(["set", net, "vxlan-id", "4242", "vxlan-port", "4790"]), ["vxlan-create"]);
  }, 180_000);

  it("FRR daemons and configuration (BFD): bin/ciab-up reloads, bgpd keeps running", async () => {
    const bfd = mesh().network.bfd;
    const r = await change("frr-daemons", () => cli(["set", net, "bfd", bfd ? "off" : "on"]), ["frr-reload"]);
    expect(r.said).toMatch(/FRR daemons changed: reloading FRR \(sessions stay up\)/);
    const pids = await frrPids("n2");
    expect(/^bgpd\.pid (\d+)$/m.exec(pids)?.[1], "bgpd on n2 was restarted").toBe(r.bgpd);
    expect(pids.includes("bfdd.pid"), `bfdd on n2 ${bfd ? "still runs" : "did not start"}`).toBe(!bfd);
  }, 180_000);

  it("FRR configuration only (BGP timers)", async () => {
    await change("frr-config", () => cli(["set", net, "bgp-keepalive", "7", "bgp-hold", "21"]), ["frr-reload"]);
  }, 180_000);

  it("MTU", async () => {
    await change("mtu", () => cli(["set", net, "underlay-mtu", "1400"]), ["link"]);
    // Still one mesh: a container on n3 reaches n2's at the new MTU.
    const ping = await spawnRunner(["ip", "netns", "exec", `${lab!.name}-c3`, "ping", "-c", "1", "-W", "2", "10.0.2.2"]);
    expect(ping.code, ping.stdout).toBe(0);
  }, 180_000);
});
