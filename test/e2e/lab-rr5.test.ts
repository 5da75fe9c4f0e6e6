// End to end, real daemons: the fixture rr5-blacklist (5 nodes, reflectors rr1 and rr2, clients c1 c2 c3, the pair
// c1-c2 blacklisted; rr2 has no subnets, so 4 containers). Proves: the full matrix; the blacklisted pair's traffic
// goes through the transit rr1 (traceroute shows rr1's overlay address as a hop, both ways; a peering pair has no
// such hop); and stopping one reflector (rr2's whole FRR, by PID inside its namespace) keeps the matrix full, every
// client keeping its routes through the other reflector. Skips unless root with wireguard-go and FRR.
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { spawnRunner } from "../../src/adapters/exec.js";
import { labTest, traceHops } from "../../src/lab/checks.js";
import { execTarget, loadLabMesh, netnsPids } from "../../src/lab/lab.js";
import { LAB_ROOT, labPaths } from "../../src/lab/state.js";
import { ciabOn, deps, labReady, type RunningLab, startLab, stopLab } from "../helpers/lab.js";
import { MESH_DIR } from "../helpers/meshes.js";

/** FRR's processes on a node (frrinit.sh starts them under watchfrr). */
const FRR = new Set(["watchfrr", "zebra", "bgpd", "staticd", "bfdd", "mgmtd"]);

describe.skipIf(!labReady())("ciab lab: 5 nodes, two reflectors, a blacklisted pair (rr5-blacklist)", () => {
  let lab: RunningLab | undefined;
  afterAll(() => stopLab(lab), 120_000);

  const on = async (target: string, argv: string[]) => {
    if (!lab) throw new Error("no lab");
    const r = await spawnRunner(execTarget(LAB_ROOT, lab.state, target, argv).argv, { timeoutMs: 20_000 });
    expect(r.code, `${target}: ${argv.join(" ")}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  const overlay = (node: string): string => {
    const n = lab && loadLabMesh(lab.state).nodes.find((x) => x.name === node);
    if (!n?.overlayIPv4) throw new Error(`no overlay address for ${node}`);
    return n.overlayIPv4;
  };
  /** The peers (reflectors) each remote prefix is heard from on a node: prefix -> sorted peer addresses. */
  const pathsOn = async (node: string): Promise<Record<string, string[]>> => {
    const table = JSON.parse(await on(node, ["vtysh", "-c", "show bgp ipv4 unicast json"])) as {
      routes: Record<string, { peerId?: string; peer?: { peerId?: string } }[]>;
    };
    const out: Record<string, string[]> = {};
    for (const [prefix, paths] of Object.entries(table.routes)) {
      const peers = paths.map((p) => p.peer?.peerId ?? p.peerId ?? "").filter((p) => p !== "(unspec)" && p !== "");
      if (peers.length) out[prefix] = peers.sort();
    }
    return out;
  };
  const sessionState = async (node: string, peer: string): Promise<string | undefined> => {
    const s = JSON.parse(await on(node, ["vtysh", "-c", "show bgp summary json"])) as { ipv4Unicast?: { peers?: Record<string, { state?: string }> } };
    return s.ipv4Unicast?.peers?.[peer]?.state;
  };

  it("full matrix; c1<->c2 go through rr1 (traceroute), a peering pair goes direct", async () => {
    const t0 = Date.now();
    lab = await startLab("er", { nodes: undefined, mesh: join(MESH_DIR, "rr5-blacklist.conf") });
    const up = (Date.now() - t0) / 1000;
    expect(lab.state.containers.map((c) => `${c.name}@${c.node}`)).toEqual(["c1@c1", "c2@c2", "c3@c3", "c4@rr1"]);
    const r = await labTest(lab.name, deps());
    console.log(`up ${up.toFixed(1)} s, test ${r.seconds} s\n${r.checks.map((c) => `${c.status} ${c.name}: ${c.detail}`).join("\n")}`);
    expect(r.matrix.filter((p) => !p.ok)).toEqual([]);
    expect(r.matrix).toHaveLength(12);
    expect(r.checks.filter((c) => c.status === "fail")).toEqual([]);
    // The generic check: both directions of the pair, the transit rr1 at hop 2 (after the sender's own node).
    const [rr1, c1, c2, c3] = ["rr1", "c1", "c2", "c3"].map(overlay) as [string, string, string, string];
    const transit = r.checks.filter((c) => c.name.startsWith("blacklist transit"));
    expect(transit.map((c) => [c.name, c.status, c.detail.replace(/^.*hops /, "")])).toEqual([
      ["blacklist transit c1->c2", "pass", `10.20.1.1 ${rr1} ${c2} 10.20.2.2 (transit at hop 2)`],
      ["blacklist transit c2->c1", "pass", `10.20.2.1 ${rr1} ${c1} 10.20.1.2 (transit at hop 2)`],
    ]);
    // Control: c1 and c3 peer directly, so their path has no third node (and the same traceroute shows it).
    const direct = traceHops(await on("c1/c1", ["traceroute", "-n", "-q", "1", "-w", "2", "-m", "8", "10.20.3.2"]));
    expect(direct).toEqual(["10.20.1.1", c3, "10.20.3.2"]);
    // Why: on c1 the partner's route points at the transit (the inbound policy's `set ip next-hop`), not at c2.
    expect(await on("c1", ["ip", "route", "show", "10.20.2.0/24", "proto", "bgp"])).toContain(`via ${rr1} `);
    // ciab status on c1 says so per peer: c2 relayed via rr1 (its subnet's route through it), the others direct
    // with their configured endpoints.
    const st = await ciabOn(lab, "c1", ["status", "--bundle", labPaths(LAB_ROOT, lab.name).bundle("c1"), "--json"]);
    const peers = (JSON.parse(st.stdout) as { peers: { name: string; path: string; via?: string; endpointSource?: string; routes: string[]; up: boolean }[] })
      .peers;
    expect(peers.map((p) => [p.name, p.path, p.via ?? p.endpointSource, p.up])).toEqual([
      ["c3", "direct", "static", true],
      ["rr1", "direct", "static", true],
      ["rr2", "direct", "static", true],
      ["c2", "relayed", "rr1", true],
    ]);
    expect(peers.find((p) => p.name === "c2")?.routes).toEqual(["10.20.2.0/24"]);
  }, 150_000);

  it("stopping reflector rr2's FRR (by PID in its namespace) keeps the matrix full: routes stay via rr1", async () => {
    if (!lab) throw new Error("no lab");
    const [rr1, rr2] = [overlay("rr1"), overlay("rr2")];
    const clients = ["c1", "c2", "c3"];
    // Before: every client hears every remote prefix from both reflectors.
    for (const c of clients) for (const peers of Object.values(await pathsOn(c))) expect(peers).toEqual([rr1, rr2].sort());

    const ns = lab.state.plan?.nodes.find((n) => n.name === "rr2")?.ns as string;
    const frr: number[] = [];
    for (const pid of await netnsPids(spawnRunner, ns)) {
      const comm = (await spawnRunner(["cat", `/proc/${pid}/comm`])).stdout.trim();
      if (FRR.has(comm)) frr.push(pid);
    }
    expect(frr.length).toBeGreaterThanOrEqual(4); // watchfrr, zebra, bgpd, staticd (+ bfdd)
    const t0 = Date.now();
    // All at once, watchfrr included, so nothing restarts them: rr2 stops routing for good.
    expect((await spawnRunner(["kill", "-KILL", ...frr.map(String)])).code).toBe(0);
    // The other nodes notice (the TCP session closes with the process).
    for (const n of [...clients, "rr1"]) {
      for (let i = 0; (await sessionState(n, rr2)) === "Established"; i++) {
        if (i > 100) throw new Error(`${n} still has an Established session with rr2`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const down = (Date.now() - t0) / 1000;
    // After: every client's remote prefixes are still there, each heard from rr1 alone.
    for (const c of clients) {
      const paths = await pathsOn(c);
      expect(Object.keys(paths).length).toBeGreaterThanOrEqual(3);
      for (const peers of Object.values(paths)) expect(peers).toEqual([rr1]);
    }
    const r = await labTest(lab.name, deps());
    console.log(`rr2 sessions down ${down.toFixed(2)} s after the kill\n${r.checks.map((c) => `${c.status} ${c.name}: ${c.detail}`).join("\n")}`);
    expect(r.matrix.filter((p) => !p.ok)).toEqual([]);
    expect(r.matrix).toHaveLength(12);
    // What fails is exactly the sessions with rr2 (and rr2's own, its FRR is gone); routes, transit, MTU … pass.
    expect(r.checks.filter((c) => c.status === "fail").map((c) => c.name)).toEqual(["c1", "c2", "c3", "rr1", "rr2"].map((n) => `routing sessions on ${n}`));
    for (const n of [...clients, "rr1"])
      expect(r.checks.find((c) => c.name === `routing sessions on ${n}`)?.detail).toMatch(new RegExp(`not up: ${rr2.replaceAll(".", "\\.")} \\w+$`));
  }, 120_000);
});
