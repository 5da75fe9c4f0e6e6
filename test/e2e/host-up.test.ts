// End to end, real daemons: `ciab up` / `ciab down` / `ciab status` run INSIDE lab nodes (their namespace and
// private /etc/frr, /run …, through the lab's node wrapper), exactly as on a host.
// - after the bundles' own ciab-up, `ciab up` finds nothing to do; on a fresh node a second run does nothing;
// - removing node n4 from the mesh (ciab up on the others, ciab down on n4) withdraws its routes everywhere and
//   leaves the other sessions alone; adding it back keeps n1..n3's WireGuard handshakes and BGP sessions (same
//   handshake timestamps or growing byte counters, same BGP established epochs) and n4 reaches everyone;
// - `ciab status --json` reports a peer whose wireguard-go was killed as down (exit 9);
// - LXD: a bridge created after `ciab up --watch` started is announced and reachable from other nodes.
// Skips unless root with wireguard-go and FRR (the LXD part also needs lxd, lxc, dnsmasq and busybox).
import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnRunner } from "../../src/adapters/exec.js";
import { parseBgpSummary } from "../../src/adapters/frr.js";
import { parseWgDump } from "../../src/adapters/wireguard.js";
import type { StatusReport } from "../../src/agent/status.js";
import { execTarget, routesOf } from "../../src/lab/lab.js";
import { LAB_ROOT, labPaths } from "../../src/lab/state.js";
import { CLI, hasTool, isRoot } from "../helpers/env.js";
import { oneDocument } from "../helpers/json-contract.js";
import { ciabOn, labReady, onNode, type RunningLab, startLab, stopLab, waitFor } from "../helpers/lab.js";

const numbers: Record<string, unknown> = {};

interface UpJson {
  ok: boolean;
  actions: { kind: string; reason: string }[];
  applied: number;
}
async function up(lab: RunningLab, node: string, bundle: string): Promise<UpJson> {
  const r = await ciabOn(lab, node, ["up", "--bundle", bundle, "--json"]);
  expect(r.code, `${node}: ${r.stderr}${r.stdout}`).toBe(0);
  return oneDocument(r.stdout, "ciab/up/v1") as unknown as UpJson;
}

/** Per peer key: latest handshake and transfer; per BGP neighbour description: established epoch. */
async function sessions(lab: RunningLab, node: string) {
  const wg = parseWgDump((await onNode(lab, node, ["wg", "show", lab.state.network, "dump"])).stdout, lab.state.network);
  const bgp = parseBgpSummary((await onNode(lab, node, ["vtysh", "-c", "show bgp summary json"])).stdout);
  return {
    wg: Object.fromEntries(wg.peers.map((p) => [p.publicKey, { hs: p.latestHandshake, rx: p.rxBytes, tx: p.txBytes }])),
    bgp: Object.fromEntries(bgp.map((s) => [s.desc ?? s.peer, { up: s.up, epoch: s.establishedEpoch }])),
  };
}

/** The same BGP session: up both times, established at the same time (FRR derives the epoch from the uptime: ±1 s). */
function sameSession(a: { up: boolean; epoch?: number } | undefined, b: { up: boolean; epoch?: number } | undefined, what: string): void {
  expect(a?.up, what).toBe(true);
  expect(b?.up, what).toBe(true);
  expect(Math.abs((a?.epoch ?? 0) - (b?.epoch ?? -99)), `${what}: established ${b?.epoch} -> ${a?.epoch}`).toBeLessThanOrEqual(2);
}

const net = (lab: RunningLab) => lab.state.network;
const bundleOf = (lab: RunningLab, node: string) => labPaths(LAB_ROOT, lab.name).bundle(node);
const nsOf = (lab: RunningLab, node: string) => lab.state.plan!.nodes.find((n) => n.name === node)!.ns;

describe.skipIf(!labReady())("ciab up/down/status inside lab nodes (4 nodes, BGP, reflector n1)", () => {
  let lab: RunningLab | undefined;
  let dir = "";
  const others = ["n1", "n2", "n3"];

  beforeAll(async () => {
    lab = await startLab("hu", { nodes: 4, reflectors: 1 });
    dir = mkdtempSync(join(tmpdir(), "ciabt-hostup-"));
  }, 180_000);
  afterAll(async () => {
    writeFileSync(join(tmpdir(), "ciab-host-up-numbers.json"), `${JSON.stringify(numbers, null, 2)}\n`);
    await stopLab(lab);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 180_000);

  it("after the bundles' ciab-up, `ciab up` on every node finds nothing to do", async () => {
    for (const n of ["n1", "n2", "n3", "n4"]) {
      const r = await up(lab!, n, bundleOf(lab!, n));
      expect(
        r.actions.map((a) => a.reason),
        n,
      ).toEqual([]);
    }
  }, 120_000);

  it("removing n4: routes withdrawn everywhere, other sessions untouched, then `ciab down` on n4", async () => {
    const L = lab!;
    // The mesh without n4, rendered by the CLI a user would run.
    copyFileSync(L.state.meshFile, join(dir, `${net(L)}.conf`));
    const cli = (args: string[]) => spawnRunner([process.execPath, CLI, "-C", dir, ...args]);
    expect((await cli(["del", net(L), "n4"])).code).toBe(0);
    expect((await cli(["render", net(L), "--out", "without-n4"])).code).toBe(0);
    const before = Object.fromEntries(await Promise.all(others.map(async (n) => [n, await sessions(L, n)] as const)));
    for (const n of others) {
      const r = await up(L, n, join(dir, "without-n4", n));
      expect(r.actions.map((a) => a.kind)).toContain("wg-sync");
      expect(r.actions.some((a) => /stale \(no peer has VTEP .*: node removed\)/.test(a.reason))).toBe(true);
      expect(r.actions.map((a) => a.kind)).not.toContain("wg-create");
      expect(r.actions.map((a) => a.kind)).not.toContain("vxlan-create");
    }
    const down = await ciabOn(L, "n4", ["down", "--bundle", bundleOf(L, "n4"), "--json"]);
    expect(down.code, down.stderr).toBe(0);
    oneDocument(down.stdout, "ciab/down/v1");
    const withdrawn = await waitFor("10.0.4.0/24 gone from n1..n3", async () => {
      for (const n of others) if ((await routesOf(spawnRunner, nsOf(L, n), 4, "bgp")).has("10.0.4.0/24")) return false;
      return true;
    });
    numbers.withdrawMs = withdrawn;
    const after = Object.fromEntries(await Promise.all(others.map(async (n) => [n, await sessions(L, n)] as const)));
    for (const n of others) {
      for (const [desc, s] of Object.entries(after[n]!.bgp)) sameSession(s, before[n]!.bgp[desc], `${n} bgp ${desc}`);
      for (const [key, s] of Object.entries(after[n]!.wg)) {
        expect(s.rx, `${n} wg ${key} rx`).toBeGreaterThanOrEqual(before[n]!.wg[key]!.rx);
        expect(s.hs === before[n]!.wg[key]!.hs || s.hs - before[n]!.wg[key]!.hs >= 100, `${n} wg ${key} handshake reset`).toBe(true);
      }
    }
    // n4 is gone from everyone's WireGuard; its interfaces are gone on n4 itself
    for (const n of others) expect(Object.keys((await sessions(L, n)).wg)).toHaveLength(2);
    const links = (await onNode(L, "n4", ["ip", "-br", "link"])).stdout;
    expect(links).not.toContain(net(L));
  }, 180_000);

  it("adding n4 back: n1..n3 keep their handshakes and BGP sessions, n4 reaches everyone, a second up does nothing", async () => {
    const L = lab!;
    const before = Object.fromEntries(await Promise.all(others.map(async (n) => [n, await sessions(L, n)] as const)));
    const fresh = await up(L, "n4", bundleOf(L, "n4"));
    expect(fresh.actions.map((a) => a.kind)).toEqual(expect.arrayContaining(["wg-create", "wg-sync", "vxlan-create", "frr-start"]));
    for (const n of others) {
      const r = await up(L, n, bundleOf(L, n));
      expect(r.actions.filter((a) => a.kind === "wg-sync").map((a) => a.reason)).toEqual(["peer n4 missing"]);
      expect(r.actions.map((a) => a.kind)).not.toContain("wg-create");
      expect(r.actions.map((a) => a.kind)).not.toContain("vxlan-create");
    }
    const converged = await waitFor("every node has every other node's subnet", async () => {
      for (const n of ["n1", "n2", "n3", "n4"]) {
        const have = await routesOf(spawnRunner, nsOf(L, n), 4, "bgp");
        for (let i = 1; i <= 4; i++) if (`n${i}` !== n && !have.has(`10.0.${i}.0/24`)) return false;
      }
      return true;
    });
    numbers.addConvergeMs = converged;
    const after = Object.fromEntries(await Promise.all(others.map(async (n) => [n, await sessions(L, n)] as const)));
    numbers.addNode = { before, after };
    for (const n of others) {
      // BGP: every session that existed is still the same session (same established epoch).
      for (const [desc, s] of Object.entries(before[n]!.bgp)) sameSession(after[n]!.bgp[desc], s, `${n} bgp ${desc}`);
      // WireGuard: same handshake (or a scheduled rekey, >= 120 s later), byte counters never went back to 0.
      for (const [key, s] of Object.entries(before[n]!.wg)) {
        const a = after[n]!.wg[key]!;
        expect(a.rx, `${n} wg ${key} rx`).toBeGreaterThanOrEqual(s.rx);
        expect(a.hs === s.hs || a.hs - s.hs >= 100, `${n} wg ${key} handshake reset (${s.hs} -> ${a.hs})`).toBe(true);
      }
    }
    // n4 reaches every container, and every container reaches n4's
    for (let i = 1; i <= 3; i++) {
      const r = await spawnRunner(["ip", "netns", "exec", `${L.name}-c4`, "ping", "-c", "1", "-W", "2", `10.0.${i}.2`]);
      expect(r.code, `c4 -> c${i}`).toBe(0);
      const back = await spawnRunner(["ip", "netns", "exec", `${L.name}-c${i}`, "ping", "-c", "1", "-W", "2", "10.0.4.2"]);
      expect(back.code, `c${i} -> c4`).toBe(0);
    }
    for (const n of ["n1", "n2", "n3", "n4"]) expect((await up(L, n, bundleOf(L, n))).actions, `${n} second run`).toEqual([]);
  }, 180_000);

  it("`ciab status --json` reports a peer whose wireguard-go was killed as down (exit 9)", async () => {
    const L = lab!;
    const ok = await ciabOn(L, "n1", ["status", "--bundle", bundleOf(L, "n1"), "--json"]);
    expect(ok.code, ok.stdout).toBe(0);
    const healthy = oneDocument(ok.stdout, "ciab/status/v1") as unknown as StatusReport;
    expect(healthy.peers.map((p) => [p.name, p.up])).toEqual([
      ["n2", true],
      ["n3", true],
      ["n4", true],
    ]);
    expect(healthy.peers.find((p) => p.name === "n2")!.sessions[0]).toMatchObject({ state: "Established", prefixesReceived: 1 });
    // n4's wireguard-go was started by `ciab up`: its PID file is in n4's private /run.
    const pidFile = join(labPaths(LAB_ROOT, L.name).privateRoot("n4"), "run", "ciab", `${net(L)}.wireguard-go.pid`);
    const pid = Number(readFileSync(pidFile, "utf8"));
    process.kill(pid, "SIGKILL");
    const r = await ciabOn(L, "n1", ["status", "--bundle", bundleOf(L, "n1"), "--json"]);
    expect(r.code).toBe(9);
    const s = oneDocument(r.stdout, "ciab/status/v1") as unknown as StatusReport;
    expect(s.ok).toBe(false);
    const n4 = s.peers.find((p) => p.name === "n4")!;
    expect(n4.up).toBe(false);
    expect(n4.problems.join("; ")).toMatch(/overlay ping to .* failed/);
    expect(s.peers.filter((p) => p.name !== "n4").every((p) => p.up)).toBe(true);
    numbers.killedPeer = { n4 };
  }, 60_000);
});

const lxdReady = labReady() && isRoot && ["lxd", "lxc", "dnsmasq"].every(hasTool) && existsSync("/bin/busybox");

describe.skipIf(!lxdReady)("DiscoverLXD: a bridge created while `ciab up --watch` runs is announced", () => {
  let lab: RunningLab | undefined;
  let dir = "";
  let watch: ChildProcess | undefined;
  let lxd: { stop(): Promise<void>; addBridge(name: string, c: Record<string, string>): Promise<void>; socket: string } | undefined;

  afterAll(async () => {
    if (watch?.pid) watch.kill("SIGTERM");
    await lxd?.stop();
    await stopLab(lab);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 180_000);

  it("n3 owns 10.3.0.0/16; LXD bridge 10.3.7.0/24 appears; n1 learns it and its container reaches it", async () => {
    lab = await startLab("hl", { nodes: 3, reflectors: 1 });
    const L = lab;
    dir = mkdtempSync(join(tmpdir(), "ciabt-hostlxd-"));
    copyFileSync(L.state.meshFile, join(dir, `${net(L)}.conf`));
    const cli = (args: string[]) => spawnRunner([process.execPath, CLI, "-C", dir, ...args]);
    expect((await cli(["set", net(L), "node", "n3", "subnets", "10.0.3.0/24,10.3.0.0/16", "discover-lxd", "on"])).code).toBe(0);
    expect((await cli(["render", net(L), "--out", "b"])).code).toBe(0);
    for (const n of ["n1", "n2"]) await up(L, n, join(dir, "b", n));

    const { startLxdNode } = await import("../../src/lab/lxd-node.js");
    const node = await startLxdNode({ netns: nsOf(L, "n3"), name: `${L.name}n3`, stateDir: dir, subnet: "10.3.1.0/24", gateway: "10.3.1.1" });
    lxd = node;
    const argv = execTarget(LAB_ROOT, L.state, "n3", [
      process.execPath,
      CLI,
      "up",
      "--bundle",
      join(dir, "b", "n3"),
      "--watch",
      "--interval",
      "2",
      "--lxd-socket",
      node.socket,
      "--json",
      "--debug",
    ]).argv;
    watch = spawn(argv[0] as string, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    const collect = (b: Buffer) => {
      log += b.toString();
    };
    watch.stdout?.on("data", collect);
    watch.stderr?.on("data", collect);
    await waitFor("n1 learns lxdbr0 10.3.1.0/24", async () => (await routesOf(spawnRunner, nsOf(L, "n1"), 4, "bgp")).has("10.3.1.0/24"), 60_000);
    const t0 = Date.now();
    await node.addBridge("lxdbr1", { "ipv4.address": "10.3.7.1/24", "ipv4.nat": "false", "ipv6.address": "none" });
    // A bridge without a running container has no carrier: its connected route is "linkdown", and with
    // `bgp network import-check` FRR announces only prefixes it can deliver to. Start a container on it.
    const launched = await node.lxc(["launch", "ciab-busybox", `c2-${L.name}`, "--network", "lxdbr1"]);
    expect(launched.code, launched.stderr).toBe(0);
    await waitFor("n1 learns lxdbr1 10.3.7.0/24", async () => (await routesOf(spawnRunner, nsOf(L, "n1"), 4, "bgp")).has("10.3.7.0/24"), 60_000).catch(
      async (e: Error) => {
        const { discoverSubnets } = await import("../../src/adapters/lxd.js");
        const seen = await discoverSubnets({ socket: node.socket }).catch((x: Error) => x.message);
        const list = await node.lxc(["network", "list"]);
        throw new Error(
          `${e.message}; LXD reports ${JSON.stringify(seen)}; lxc network list:\n${list.stdout}${list.stderr}\nciab up --watch said:\n${log.slice(-1500)}`,
        );
      },
    );
    numbers.lxdAnnounceMs = Date.now() - t0;
    const ping = await spawnRunner(["ip", "netns", "exec", `${L.name}-c1`, "ping", "-c", "1", "-W", "2", "10.3.7.1"]);
    expect(ping.code, ping.stdout).toBe(0);
    // The watch loop's JSON round names what the node announces. The route can reach n1 while that round is still
    // finishing (frr-reload.py applies the new network line before it returns), so wait for the round's report.
    const announced = /"announce":\["10\.3\.1\.0\/24","10\.3\.7\.0\/24"\]/;
    await waitFor("the watch round reports the new announcement", async () => announced.test(log), 30_000).catch(() => undefined);
    expect(log).toMatch(announced);
  }, 300_000);
});
