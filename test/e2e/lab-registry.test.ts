// End to end, real daemons (issue 12 part 7): `ciab lab up --registry etcd`. A real etcd-server with auth runs in
// its own namespace on the lab's internet; the nodes start with no mesh, join with tokens (`ciab join`) and their
// agents bring them into the full container matrix. Then: a 4th node joins while traffic flows (the others'
// WireGuard interfaces and BGP sessions are untouched, no ping lost); a change reaches every agent (time measured);
// with etcd killed the matrix stays at 100 % and `ciab status` says the registry is unreachable; after a restart a
// change converges. Skips unless root with wireguard-go, FRR and etcd.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { spawnRunner } from "../../src/adapters/exec.js";
import { labEtcd, labJoin } from "../../src/lab/lab.js";
import { agentFile } from "../../src/lab/registry-lab.js";
import { LAB_ROOT, labPaths, readState } from "../../src/lab/state.js";
import { EXIT } from "../../src/model/errors.js";
import { CLI, hasTool } from "../helpers/env.js";
import { ciabOn, deps, labReady, onNode, type RunningLab, startLab, stopLab } from "../helpers/lab.js";

const ciab = [process.execPath, CLI];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every container pings every other once: [ok, total]. */
async function matrix(lab: RunningLab): Promise<[number, number]> {
  const cs = readState(LAB_ROOT, lab.name).containers.filter((c) => readState(LAB_ROOT, lab.name).registry?.joined.includes(c.node));
  const pairs = cs.flatMap((a) => cs.filter((b) => b !== a).map((b) => [a, b] as const));
  const ok = await Promise.all(
    pairs.map(async ([a, b]) => (await spawnRunner([...a.exec, "ping", "-c", "1", "-W", "2", (b.addresses[0] as string).split("/")[0] as string])).code === 0),
  );
  return [ok.filter(Boolean).length, pairs.length];
}

/** What must not change on a node when another joins: its WireGuard interface (ifindex) and BGP sessions (up since). */
async function untouched(lab: RunningLab, node: string): Promise<{ ifindex: number; sessions: Record<string, number> }> {
  const link = await onNode(lab, node, ["ip", "-j", "link", "show", lab.state.network]);
  const bgp = await onNode(lab, node, ["vtysh", "-c", "show bgp summary json"]);
  const peers =
    (JSON.parse(bgp.stdout || "{}") as { ipv4Unicast?: { peers?: Record<string, { peerUptimeEstablishedEpoch?: number }> } }).ipv4Unicast?.peers ?? {};
  return {
    ifindex: (JSON.parse(link.stdout) as { ifindex: number }[])[0]?.ifindex ?? -1,
    sessions: Object.fromEntries(Object.entries(peers).map(([k, v]) => [k, v.peerUptimeEstablishedEpoch ?? -1])),
  };
}

/** The admin's ciab (etcd's root) in etcd's namespace. */
async function admin(lab: RunningLab, args: string[]) {
  const reg = readState(LAB_ROOT, lab.name).registry;
  const pw = join(labPaths(LAB_ROOT, lab.name).dir, "etcd", "root.password");
  return spawnRunner([
    "ip",
    "netns",
    "exec",
    reg?.ns as string,
    ...ciab,
    "--registry",
    "etcd://127.0.0.1:2379/ciab",
    "--registry-user",
    "root",
    "--registry-password-file",
    pw,
    ...args,
  ]);
}

const agentStatus = (lab: RunningLab, node: string) =>
  JSON.parse(readFileSync(agentFile(labPaths(LAB_ROOT, lab.name), node, lab.state.network, "status.json"), "utf8")) as {
    revision?: string;
    reachable: boolean;
  };
const frrConf = (lab: RunningLab, node: string) => readFileSync(join(labPaths(LAB_ROOT, lab.name).privateRoot(node), "etc-frr", "frr.conf"), "utf8");
const agentEvents = (lab: RunningLab, node: string) =>
  readFileSync(join(labPaths(LAB_ROOT, lab.name).privateRoot(node), "var-log", `ciab-agent-${lab.state.network}.log`), "utf8")
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { at: string; event: string; revision?: string });

async function until(what: string, ok: () => boolean | Promise<boolean>, ms: number): Promise<number> {
  const t0 = Date.now();
  while (!(await ok())) {
    if (Date.now() - t0 > ms) throw new Error(`not within ${ms / 1000} s: ${what}`);
    await sleep(100);
  }
  return Date.now() - t0;
}

describe.skipIf(!labReady() || !hasTool("etcd") || !hasTool("etcdctl"))("ciab lab up --registry etcd", () => {
  let lab: RunningLab | undefined;
  const nodes = ["n1", "n2", "n3", "n4"];
  afterAll(() => stopLab(lab), 120_000);

  it("nodes start with no mesh, join with tokens, and their agents bring them into the full matrix", async () => {
    lab = await startLab("rg", { nodes: 4, registry: "etcd", standby: 1 }, { ciab });
    expect(lab.state.registry).toMatchObject({ joined: ["n1", "n2", "n3"], standby: ["n4"] });
    // no bundle anywhere: the nodes' state is what their agents got from etcd
    expect(await matrix(lab)).toEqual([6, 6]);
  }, 240_000);

  it("a 4th node joins while traffic flows: the others' WireGuard and BGP sessions are untouched, no ping lost", async () => {
    const l = lab as RunningLab;
    const before = await Promise.all(["n1", "n2", "n3"].map((n) => untouched(l, n)));
    expect(Object.keys(before[0]?.sessions ?? {}).length).toBeGreaterThan(0);
    const c2 = (l.state.containers.find((c) => c.node === "n2")?.addresses[0] as string).split("/")[0] as string;
    const c1 = l.state.containers.find((c) => c.node === "n1")?.exec as string[];
    const pinging = spawnRunner([...c1, "ping", "-n", "-q", "-i", "0.1", "-w", "20", c2], { timeoutMs: 30_000 });
    await sleep(1000);
    await labJoin(l.name, "n4", deps({ ciab }));
    const ping = await pinging;
    const after = await Promise.all(["n1", "n2", "n3"].map((n) => untouched(l, n)));
    for (const [i, b] of before.entries()) {
      expect(after[i]?.ifindex).toBe(b.ifindex);
      // FRR derives "established at" from its uptime in whole seconds: ±1 s of jitter; a reset would move it to the join.
      for (const [peer, since] of Object.entries(b.sessions))
        expect(Math.abs((after[i]?.sessions[peer] ?? 0) - since), `n${i + 1}'s session with ${peer}`).toBeLessThanOrEqual(2);
    }
    const [sent, got] = [/(\d+) packets transmitted/.exec(ping.stdout)?.[1], /(\d+) received/.exec(ping.stdout)?.[1]].map(Number);
    expect(sent).toBeGreaterThan(50);
    expect(got, ping.stdout).toBe(sent);
    expect(await matrix(l)).toEqual([12, 12]);
  }, 180_000);

  it("a change in etcd reaches every agent's WireGuard and FDB, then its routing daemon", async () => {
    const l = lab as RunningLab;
    /** The admin's change, then per node: ms from the write returning to data plane done, and to everything done. */
    const change = async (args: string[], done: (n: string) => boolean) => {
      const t0 = Date.now();
      const r = await admin(l, ["set", l.state.network, ...args]);
      const t1 = Date.now();
      expect(r.code, r.stderr).toBe(0);
      // NET.conf in the agent's state is written before the apply: wait for the apply's own event as well.
      const applied = (n: string) =>
        agentEvents(l, n).find((e) => e.event === "applied" && Date.parse(e.at) >= t0) as { at: string; ms: number; dataPlaneMs: number } | undefined;
      await until(`every node applied ${args.join(" ")}`, () => nodes.every((n) => done(n) && applied(n)), 15_000);
      return nodes.map((n) => {
        const ev = applied(n) as { at: string; ms: number; dataPlaneMs: number };
        const end = Date.parse(ev.at);
        return { dataPlane: end - ev.ms + ev.dataPlaneMs - t1, all: end - t1 };
      });
    };
    // n4 moves to a new VTEP: every other node's WireGuard allowed-ips and FDB entry for n4 change.
    const fdbHas = (n: string, ip: string) =>
      readFileSync(agentFile(labPaths(LAB_ROOT, l.name), n, l.state.network, `${l.state.network}.conf`), "utf8").includes(ip);
    const newVtep = "169.254.77.77";
    const moved = await change(["node", "n4", "ll-addr", newVtep], (n) => fdbHas(n, newVtep) && agentStatus(l, n).reachable);
    const routing = await change(["bfd-interval", "300"], (n) => frrConf(l, n).includes("receive-interval 300"));
    console.log(
      `registry change -> agents (ms after the admin's write returned): VTEP of n4 moved: data plane ${moved.map((x) => x.dataPlane).join(", ")}; ` +
        `BFD interval: frr-reload done ${routing.map((x) => x.all).join(", ")}`,
    );
    expect(Math.max(...moved.map((x) => x.dataPlane))).toBeLessThan(1500);
    expect(Math.max(...routing.map((x) => x.all))).toBeLessThan(8000);
    // Moving a VTEP cuts n4's VXLAN for the moment between its own apply and its peers' (BFD may take its BGP
    // sessions down, which then come back): the matrix must be full again, within BGP's reconnect time.
    const full = await until("the container matrix is full again", async () => (await matrix(l))[0] === 12, 45_000);
    console.log(`container matrix full ${full} ms after the last apply`);
    expect(await matrix(l)).toEqual([12, 12]);
  }, 150_000);

  it("with etcd killed the matrix stays at 100 % and status says so; after a restart a change converges", async () => {
    const l = lab as RunningLab;
    await labEtcd(l.name, "stop", deps());
    expect(await matrix(l)).toEqual([12, 12]);
    await until("n1's agent notices the registry is gone", () => agentStatus(l, "n1").reachable === false, 30_000);
    const st = await ciabOn(l, "n1", ["status", l.state.network, "n1", "--state-dir", `/run/ciab/${l.state.network}`, "--json"]);
    expect(st.code).toBe(EXIT.degraded);
    const report = JSON.parse(st.stdout) as { agent: { reachable: boolean }; problems: string[]; peers: { up: boolean }[] };
    expect(report.agent.reachable).toBe(false);
    expect(report.problems.join("\n")).toMatch(/unreachable.*keeps revision/);
    expect(report.peers.every((p) => p.up)).toBe(true);
    const rev = agentStatus(l, "n1").revision;
    await labEtcd(l.name, "start", deps());
    const r = await admin(l, ["set", l.state.network, "bfd-interval", "350"]);
    expect(r.code, r.stderr).toBe(0);
    const took = await until(
      "every agent applied the change made after the restart",
      () => nodes.every((n) => agentStatus(l, n).reachable && agentStatus(l, n).revision !== rev && frrConf(l, n).includes("receive-interval 350")),
      30_000,
    );
    console.log(`after etcd's restart, a change reached every agent in ${took} ms`);
    expect(await matrix(l)).toEqual([12, 12]);
  }, 120_000);
});
