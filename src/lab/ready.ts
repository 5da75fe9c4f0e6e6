// When is a lab "up"? Only when what users rely on works, checked in this order (cheap first):
//   1. every WireGuard pair has a handshake (`wg show IF dump` on every node),
//   2. every routing session is established (BGP: every configured neighbor, so every reflector; OSPF: an adjacency),
//   3. every node has every other node's subnets from the routing daemon (`ip route show proto X`),
//   4. one all-pairs ping between the containers succeeds (each pair once; a pair that answered stays answered).
// Owns: probing those conditions, deciding what is missing, and waiting with progress until all hold or a deadline.
// The parsers and the summary text are pure (unit-tested); probes go through the injected runner. Must not: change
// the lab, or print (progress goes through a callback).
// Why (issue 19): "routes are in the kernel" alone returned while a pair's tunnel was still dark; routes came
// through the other reflector, and the first `lab test` failed.
import { type Runner, tail } from "../adapters/exec.js";
import { canonicalAddr } from "../ipam/ip.js";
import { CiabError } from "../model/errors.js";
import type { Mesh } from "../model/mesh.js";
import { hostPart, topology } from "../model/topology.js";
import type { LabContainer } from "./containers.js";
import { mapLimit } from "./limit.js";
import type { LabPlan } from "./plan.js";

export type Condition = "handshakes" | "sessions" | "routes" | "pings";

/** What one condition still lacks; `total` counts the things it checks (pairs, sessions, routes, ping pairs). */
export interface Missing {
  condition: Condition;
  items: string[];
  total: number;
}

export const CONDITION_TEXT: Record<Condition, string> = {
  handshakes: "WireGuard handshakes",
  sessions: "routing sessions",
  routes: "routes",
  pings: "all-pairs ping",
};

const norm = canonicalAddr;
const pairKey = (a: string, b: string): string => (a < b ? `${a}–${b}` : `${b}–${a}`);

// ------------------------------------------------------------------------------------------------ pure parts

/**
 * Peers of `node` that never completed a handshake, from `wg show IF dump` (first line the interface; then one line
 * per peer: key, psk, endpoint, allowed-ips, latest-handshake, rx, tx, keepalive). A peer the mesh has but the
 * interface lacks counts as never handshaken too.
 */
export function peersWithoutHandshake(dump: string, want: { name: string; publicKey: string }[]): string[] {
  const latest = new Map<string, number>();
  for (const line of dump.split("\n").slice(1)) {
    const f = line.split("\t");
    if (f.length >= 8) latest.set(f[0] as string, Number(f[4]));
  }
  return want.filter((p) => !((latest.get(p.publicKey) ?? 0) > 0)).map((p) => p.name);
}

/**
 * BGP neighbors (by overlay address) of one node that are not Established, from `vtysh -c 'show bgp summary json'`;
 * a configured neighbor absent from the summary is reported as "missing". Undefined when the text is not JSON.
 */
export function bgpNotEstablished(summaryJson: string, want: { name: string; addresses: string[] }[]): { name: string; state: string }[] | undefined {
  let j: Record<string, { peers?: Record<string, { state?: string }> }>;
  try {
    j = JSON.parse(summaryJson);
  } catch {
    return undefined;
  }
  const state = new Map<string, string>();
  for (const fam of Object.values(j))
    for (const [ip, p] of Object.entries(fam?.peers ?? {})) if (!state.has(norm(ip)) || p.state !== "Established") state.set(norm(ip), p.state ?? "?");
  const out: { name: string; state: string }[] = [];
  for (const w of want) {
    const states = w.addresses.map((a) => state.get(norm(a))).filter((s): s is string => s !== undefined);
    if (states.length === 0) out.push({ name: w.name, state: "missing" });
    else if (states.some((s) => s !== "Established")) out.push({ name: w.name, state: states.find((s) => s !== "Established") as string });
  }
  return out;
}

/** One line for people: "WireGuard handshakes: 2 of 15 missing (n1–n3, n2–n5)". */
export function describeMissing(m: Missing, max = 6): string {
  const list = m.items.slice(0, max).join(", ") + (m.items.length > max ? `, … ${m.items.length - max} more` : "");
  return `${CONDITION_TEXT[m.condition]}: ${m.items.length} of ${m.total} missing (${list})`;
}

/** The argv-free ping jobs of the all-pairs round: per source container, one address of each family both have. */
export function pingJobs(cs: LabContainer[]): { from: LabContainer; to: { name: string; address: string }[] }[] {
  const fam = (c: LabContainer, f: 4 | 6) => c.addresses.filter((a) => a.includes(":") === (f === 6)).map((a) => a.split("/")[0] as string);
  return cs.map((a) => ({
    from: a,
    to: cs
      .filter((b) => b !== a)
      .flatMap((b) => ([4, 6] as const).flatMap((f) => (fam(a, f).length ? fam(b, f).slice(0, 1) : []).map((address) => ({ name: b.name, address })))),
  }));
}

// ---------------------------------------------------------------------------------------------------- probes

export interface ReadyProbe {
  run: Runner;
  plan: LabPlan;
  mesh: Mesh;
  containers: LabContainer[];
  /** argv that runs `argv` on a node with its private mounts (wg and vtysh talk to that node's daemons). */
  onNode(node: string, argv: string[]): string[];
}

const PARALLEL = 8;

/** The kernel routing-table protocol of routes the mesh's routing daemon installs (`ip route show proto X`). */
export function kernelProto(mesh: Pick<Mesh, "network">): string | undefined {
  const { routing, routingDaemon } = mesh.network;
  if (routing === "none") return undefined;
  return routingDaemon === "bird" ? "bird" : routing;
}

/** Destinations of a namespace's routes of one protocol (`ip -j route show proto X`). */
export async function routesOf(run: Runner, ns: string, family: 4 | 6, proto: string): Promise<Set<string>> {
  const r = await run(["ip", "-n", ns, "-j", `-${family}`, "route", "show", "proto", proto]);
  if (r.code !== 0) return new Set();
  try {
    const routes = JSON.parse(r.stdout || "[]") as { dst: string }[];
    return new Set(routes.map((x) => x.dst));
  } catch {
    return new Set();
  }
}

/** "node lacks prefix (proto X)" for each subnet of another node missing from a node's kernel table. */
export async function missingRoutes(run: Runner, plan: LabPlan, mesh: Mesh): Promise<string[]> {
  return (await routesMissing(run, plan, mesh)).items;
}

async function routesMissing(run: Runner, plan: LabPlan, mesh: Mesh): Promise<Missing> {
  const proto = kernelProto(mesh);
  const items: string[] = [];
  let total = 0;
  if (proto) {
    const topo = topology(mesh);
    const per = await mapLimit(plan.nodes, PARALLEL, async (n) => {
      const out: string[] = [];
      let count = 0;
      for (const fam of [4, 6] as const) {
        const want = mesh.nodes.filter((o) => o.name !== n.name).flatMap((o) => topo.owned(o, fam));
        if (want.length === 0) continue;
        count += want.length;
        const have = await routesOf(run, n.ns, fam, proto);
        for (const p of want) if (!have.has(p)) out.push(`${n.name} lacks ${p} (proto ${proto})`);
      }
      return { out, count };
    });
    for (const p of per) {
      items.push(...p.out);
      total += p.count;
    }
  }
  return { condition: "routes", items, total };
}

async function handshakesMissing(p: ReadyProbe): Promise<Missing> {
  const pairs = new Set<string>();
  const all = new Set<string>();
  const topo = topology(p.mesh);
  await mapLimit(p.mesh.nodes, PARALLEL, async (node) => {
    const { peers } = topo.node(node);
    for (const x of peers) all.add(pairKey(node.name, x.name));
    const r = await p.run(p.onNode(node.name, ["wg", "show", p.mesh.name, "dump"]), { timeoutMs: 15_000 });
    const none = r.code === 0 ? peersWithoutHandshake(r.stdout, peers) : peers.map((x) => x.name);
    for (const x of none) pairs.add(pairKey(node.name, x));
  });
  return { condition: "handshakes", items: [...pairs].sort(), total: all.size };
}

async function sessionsMissing(p: ReadyProbe): Promise<Missing> {
  const { routing, routingDaemon } = p.mesh.network;
  const items: string[] = [];
  let total = 0;
  if (routing === "bgp") {
    const topo = topology(p.mesh);
    await mapLimit(p.mesh.nodes, PARALLEL, async (node) => {
      const want = topo.node(node).bgpNeighbors.map((b) => ({
        name: b.node.name,
        addresses: [b.node.overlayIPv4, b.node.ipv6 ? hostPart(b.node.ipv6) : undefined].filter((a): a is string => a !== undefined),
      }));
      total += want.length;
      const r = await p.run(p.onNode(node.name, ["vtysh", "-c", "show bgp summary json"]), { timeoutMs: 15_000 });
      const down = r.code === 0 ? bgpNotEstablished(r.stdout, want) : undefined;
      if (!down) items.push(`${node.name}: vtysh did not answer${r.code === 0 ? " JSON" : ` (${r.code}): ${tail(r.stderr || r.stdout, 1)}`}`);
      else for (const d of down) items.push(`${node.name}→${d.name} ${d.state}`);
    });
  } else if (routing === "ospf") {
    // On a broadcast segment only the adjacencies with the DR/BDR become Full (RFC 2328 §10.4): one per node.
    await mapLimit(p.mesh.nodes, PARALLEL, async (node) => {
      total++;
      const argv = routingDaemon === "bird" ? ["birdc", "-s", "/run/bird/bird.ctl", "show", "ospf", "neighbors"] : ["vtysh", "-c", "show ip ospf neighbor"];
      const r = await p.run(p.onNode(node.name, argv), { timeoutMs: 15_000 });
      if (r.code !== 0 || !/\bFull\b/.test(r.stdout)) items.push(`${node.name}: no Full OSPF adjacency`);
    });
  }
  return { condition: "sessions", items: items.sort(), total };
}

// One shell per source container: each address once (one echo, 1 s), printing which answered.
const PINGS = `for a; do if ping -n -q -c 1 -W 1 "$a" >/dev/null 2>&1; then echo "ok $a"; else echo "fail $a"; fi; done`;

/** The all-pairs ping; `done` holds the pairs that answered in an earlier round (they are not pinged again). */
async function pingsMissing(p: ReadyProbe, done: Set<string>): Promise<Missing> {
  const jobs = pingJobs(p.containers);
  const total = jobs.reduce((n, j) => n + j.to.length, 0);
  const key = (from: string, address: string) => `${from}>${address}`;
  const failed = await mapLimit(jobs, PARALLEL, async (j) => {
    const todo = j.to.filter((t) => !done.has(key(j.from.name, t.address)));
    if (todo.length === 0) return [];
    const r = await p.run([...j.from.exec, "sh", "-c", PINGS, "ciab-ready", ...todo.map((t) => t.address)], { timeoutMs: 30_000 + 2000 * todo.length });
    const out: string[] = [];
    for (const t of todo) {
      if (r.stdout.includes(`ok ${t.address}\n`)) done.add(key(j.from.name, t.address));
      else out.push(`${j.from.name}→${t.name} ${t.address}`);
    }
    return out;
  });
  return { condition: "pings", items: failed.flat(), total };
}

/** The first condition that does not hold yet (in the order of the header), or undefined when all hold. */
export async function firstMissing(p: ReadyProbe, pinged: Set<string>, onRoutes?: () => void): Promise<Missing | undefined> {
  const hs = await handshakesMissing(p);
  if (hs.items.length) return hs;
  const s = await sessionsMissing(p);
  if (s.items.length) return s;
  const r = await routesMissing(p.run, p.plan, p.mesh);
  if (r.items.length) return r;
  onRoutes?.();
  const pg = await pingsMissing(p, pinged);
  return pg.items.length ? pg : undefined;
}

export interface WaitOptions {
  timeoutMs: number;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  progress: (msg: string) => void;
  /** Checked between rounds: an abort stops the wait (the caller tears down). */
  aborted?: () => void;
  /** How often an unchanged "waiting for" line is repeated (default 5 s). */
  repeatMs?: number;
}

/**
 * Wait until every condition holds. Says which condition it waits for whenever that changes (and every few
 * seconds while it does not); throws a CiabError naming what is still missing at the deadline.
 */
export async function waitReady(p: ReadyProbe, o: WaitOptions): Promise<void> {
  const start = o.now();
  const deadline = start + o.timeoutMs;
  const pinged = new Set<string>();
  let last: Condition | undefined;
  let lastAt = 0;
  let routed = false;
  for (;;) {
    o.aborted?.();
    const m = await firstMissing(p, pinged, () => {
      if (!routed && kernelProto(p.mesh)) o.progress(`routing converged: every node has every other node's subnets (proto ${kernelProto(p.mesh)})`);
      routed = true;
    });
    if (!m) break;
    if (m.condition !== last || o.now() - lastAt >= (o.repeatMs ?? 5000)) {
      o.progress(`waiting for ${describeMissing(m)}`);
      last = m.condition;
      lastAt = o.now();
    }
    if (o.now() >= deadline) {
      throw new CiabError("external", `the lab is not ready after ${Math.round(o.timeoutMs / 1000)} s: ${describeMissing(m, 10)}`, {
        hint: hintFor(m, p),
      });
    }
    await o.sleep(m.condition === "pings" ? 100 : 250);
  }
}

function hintFor(m: Missing, p: ReadyProbe): string {
  const n = p.plan.nodes[0]?.name ?? "NODE";
  const lab = `--name ${p.plan.name}`;
  if (m.condition === "handshakes") return `look at WireGuard: ciab lab exec ${n} ${lab} -- wg show ${p.mesh.name}`;
  if (m.condition === "sessions" || m.condition === "routes")
    return `look at the daemons: ciab lab exec ${n} ${lab} -- ${p.mesh.network.routingDaemon === "bird" ? "birdc show protocols" : "vtysh -c 'show bgp summary'"}`;
  return `try a pair by hand: ciab lab exec ${p.containers[0]?.name ?? "c1"} ${lab} -- ping -c 1 ADDRESS`;
}
