// `ciab lab test`: proves the running lab works. A reachability matrix (every container pings every other), then
// named checks: routing sessions, routes learned from the routing daemon, every learned route belongs to its next
// hop, blacklisted pairs talk through their transit node, no unicast flooding, the MTU boundary, no IP fragments on
// the internet. Owns: what each check measures and how it decides. Must not: change the lab (only pings, traceroutes
// and read-only queries), ping from the root namespace, or print (cli/ renders the report).
// Adding a check: write a `Check` and add it to CHECKS; it gets the lab's state, mesh and runner.
import { type Runner, tail } from "../adapters/exec.js";
import { contains, type Family, parsePrefix } from "../ipam/ip.js";
import { CiabError } from "../model/errors.js";
import { type MeshNode, pairKey } from "../model/mesh.js";
import { hostPart, type Topology, topology, vxlanDev } from "../model/topology.js";
import type { Check, CheckContext, CheckResult } from "./check.js";
import type { LabContainer } from "./containers.js";
import { exposure } from "./exposure.js";
import { kernelProto, loadLabMesh, missingRoutes } from "./lab.js";
import { mapLimit } from "./limit.js";
import { inNs, onNode } from "./private.js";
import { joinedView } from "./registry-lab.js";
import { LAB_ROOT, labPaths, readState } from "./state.js";
import { FRAG_COUNTER, NFT_TABLE } from "./topology.js";

export type { Check, CheckContext, CheckResult, Status } from "./check.js";

export interface PingResult {
  from: string;
  to: string;
  address: string;
  ok: boolean;
  /** Round-trip time of the successful echo, ms. */
  rttMs?: number;
}

export interface LabTestReport {
  lab: string;
  ok: boolean;
  containers: { name: string; node: string; addresses: string[] }[];
  matrix: PingResult[];
  checks: CheckResult[];
  seconds: number;
}

export { mapLimit } from "./limit.js";

const bare = (a: string) => a.split("/")[0] as string;
const ofFamily = (c: LabContainer, f: 4 | 6) => c.addresses.filter((a) => a.includes(":") === (f === 6)).map(bare);
/** A family both containers have, IPv4 first. */
const commonFamily = (a: LabContainer, b: LabContainer): Family | undefined => ([4, 6] as const).find((f) => ofFamily(a, f).length && ofFamily(b, f).length);
/** Runs a host program (iputils ping, traceroute) in the container's network namespace (LabContainer.netExec). */
const netExec = (c: LabContainer): string[] => c.netExec ?? c.exec;

/**
 * ping from inside a container (`prefix`: its exec or netExec); iputils resends every 0.2 s until one reply or 5 s
 * (the first packet may wait for a handshake). busybox ping (an LXD container's) takes the same flags but sends the
 * one packet only; the matrix runs after convergence, and WireGuard queues packets during a handshake anyway.
 */
export function pingArgv(prefix: string[], address: string, extra: string[] = []): string[] {
  return [...prefix, "ping", "-n", "-q", "-c", "1", "-i", "0.2", "-w", "5", ...extra, address];
}

const rtt = (out: string): number | undefined => {
  const m = /= [\d.]+\/([\d.]+)\//.exec(out);
  return m ? Number(m[1]) : undefined;
};

/** Every container pings every other container, on each address family both have. */
export async function matrix(ctx: CheckContext): Promise<PingResult[]> {
  const cs = ctx.state.containers;
  const jobs = cs.flatMap((a) =>
    cs
      .filter((b) => b !== a)
      .flatMap((b) => ([4, 6] as const).flatMap((f) => (ofFamily(a, f).length ? ofFamily(b, f).slice(0, 1) : []).map((address) => ({ a, b, address })))),
  );
  return mapLimit(jobs, 4, async ({ a, b, address }) => {
    const r = await ctx.run(pingArgv(a.exec, address), { timeoutMs: 10_000 });
    return { from: a.name, to: b.name, address, ok: r.code === 0, ...(r.code === 0 ? { rttMs: rtt(r.stdout) } : {}) };
  });
}

const result = (name: string, ok: boolean, detail: string): CheckResult => ({ name, status: ok ? "pass" : "fail", detail });

/** Every routing session of every node is up (BGP: every configured neighbor Established; OSPF: adjacencies Full). */
export const sessions: Check = async (ctx) => {
  const { routing, routingDaemon } = ctx.mesh.network;
  if (routing === "none") return [{ name: "routing sessions", status: "skip", detail: "Routing = none" }];
  const topo = topology(ctx.mesh);
  return Promise.all(
    ctx.mesh.nodes.map(async (node): Promise<CheckResult> => {
      const name = `routing sessions on ${node.name}`;
      if (routing === "bgp") {
        const want = topo.node(node).bgpNeighbors.length;
        const r = await ctx.run(ctx.onNode(node.name, ["vtysh", "-c", "show bgp summary json"]), { timeoutMs: 15_000 });
        if (r.code !== 0) return result(name, false, `vtysh failed (${r.code}): ${tail(r.stderr || r.stdout, 2)}`);
        let summary: Record<string, { peers?: Record<string, { state?: string }> }>;
        try {
          summary = JSON.parse(r.stdout);
        } catch {
          return result(name, false, `vtysh did not answer JSON: ${tail(r.stdout, 2)}`);
        }
        // Each address family lists its sessions; the IPv4 family carries every neighbor.
        const peers = Object.entries(summary.ipv4Unicast?.peers ?? {});
        const up = peers.filter(([, p]) => p.state === "Established").length;
        const down = peers.filter(([, p]) => p.state !== "Established").map(([ip, p]) => `${ip} ${p.state ?? "?"}`);
        return result(name, up === want && down.length === 0, `BGP ${up}/${want} established${down.length ? `; not up: ${down.join(", ")}` : ""}`);
      }
      const argv = routingDaemon === "bird" ? ["birdc", "-s", "/run/bird/bird.ctl", "show", "ospf", "neighbors"] : ["vtysh", "-c", "show ip ospf neighbor"];
      const r = await ctx.run(ctx.onNode(node.name, argv), { timeoutMs: 15_000 });
      if (r.code !== 0) return result(name, false, `${argv[0]} failed (${r.code}): ${tail(r.stderr || r.stdout, 2)}`);
      // On a broadcast segment only adjacencies with the DR/BDR become Full; others stay 2-Way (RFC 2328 §10.4).
      const full = r.stdout.split("\n").filter((l) => /\bFull\b/.test(l)).length;
      return result(name, full > 0, `OSPF ${full} full adjacenc${full === 1 ? "y" : "ies"}`);
    }),
  );
};

/** Every node has every other node's subnets in its kernel, installed by the routing daemon (proto bgp/bird). */
export const routes: Check = async (ctx) => {
  const proto = kernelProto(ctx.mesh);
  if (!proto) return [{ name: "routes learned", status: "skip", detail: "Routing = none" }];
  const missing = await missingRoutes(ctx.run, ctx.plan, ctx.mesh);
  return [result("routes learned", missing.length === 0, missing.length ? missing.join("; ") : `every node has every other node's subnets (proto ${proto})`)];
};

/** Prefixes of ip's JSON: a host route's dst has no length. */
const asPrefix = (dst: string): string => (dst.includes("/") ? dst : `${dst}/${dst.includes(":") ? 128 : 32}`);

/** The nodes whose Subnets hold `dst` (other than `self`). */
function ownersOf(topo: Topology, self: MeshNode, dst: string, family: Family): MeshNode[] {
  let p: ReturnType<typeof parsePrefix>;
  try {
    p = parsePrefix(asPrefix(dst));
  } catch {
    return [];
  }
  return topo.prefixOwners[family].filter((o) => o.name !== self.name && topo.owned(o, family).some((s) => contains(parsePrefix(s), p)));
}

/**
 * Every route the routing daemon installed belongs to where it points (ARCHITECTURE "Prefix ownership"): its
 * prefix is inside another node's Subnets and, for IPv4, its next hop is that node's overlay address (for a
 * blacklisted partner: its transit's). A node announcing what it does not own must not get into any table. IPv6
 * next hops may be link-local (OSPFv3, BGP over one segment), so IPv6 is checked for the prefix only.
 */
export const ownership: Check = async (ctx) => {
  const name = "route ownership";
  const proto = kernelProto(ctx.mesh);
  if (!proto) return [{ name, status: "skip", detail: "Routing = none" }];
  const bad: string[] = [];
  let seen = 0;
  const topo = topology(ctx.mesh);
  for (const p of ctx.plan.nodes) {
    const self = ctx.mesh.nodes.find((x) => x.name === p.name);
    if (!self) continue;
    for (const f of [4, 6] as const) {
      const r = await ctx.run(["ip", "-n", p.ns, "-j", `-${f}`, "route", "show", "proto", proto]);
      let routes: { dst: string; gateway?: string; nexthops?: { gateway?: string }[] }[];
      try {
        routes = r.code === 0 ? JSON.parse(r.stdout || "[]") : [];
      } catch {
        routes = [];
      }
      if (r.code !== 0) bad.push(`${p.name}: ip route failed: ${tail(r.stderr, 1)}`);
      for (const route of routes) {
        seen++;
        const owners = ownersOf(topo, self, route.dst, f);
        if (owners.length === 0) {
          bad.push(`${p.name} has ${route.dst}, which is no node's subnet`);
          continue;
        }
        const gateways = [route.gateway, ...(route.nexthops ?? []).map((h) => h.gateway)].filter((g): g is string => g !== undefined);
        if (f === 6 || gateways.length === 0) continue;
        const allowed = owners.map((o) => (topo.apart(self, o) ? topo.transit(self, o) : o)?.overlayIPv4);
        const wrong = gateways.filter((g) => !allowed.includes(g));
        if (wrong.length)
          bad.push(`${p.name} has ${route.dst} via ${wrong.join(",")}, but it belongs to ${owners.map((o) => o.name).join("/")} (${allowed.join("/")})`);
      }
    }
  }
  return [result(name, bad.length === 0, bad.length ? bad.join("; ") : `all ${seen} learned routes (proto ${proto}) point to the nodes that own them`)];
};

/** Hop addresses of a traceroute (Linux traceroute and busybox print the same hop lines); "*" where none answered. */
export function traceHops(out: string): string[] {
  return out
    .split("\n")
    .map((l) => /^\s*\d+\s+(\S+)/.exec(l)?.[1])
    .filter((h): h is string => h !== undefined);
}

/**
 * A blacklisted pair has no WireGuard peer, so its traffic must go through the transit node (topology, set as
 * the BGP next hop by the pair's inbound policy): a traceroute from a container of each to a container of the other
 * must reach it with the transit's overlay address as a hop on the way. One line per direction.
 */
export const transit: Check = async (ctx) => {
  const name = "blacklist transit";
  const topo = topology(ctx.mesh);
  // Blacklisted pairs, and pairs behind NATs (or reported unreached) that the topology relays ("relay transit").
  const nodes = ctx.mesh.nodes;
  const pairs = nodes.flatMap((a, i) => nodes.slice(i + 1).flatMap((b) => (topo.transit(a, b) ? [[a.name, b.name] as [string, string]] : [])));
  if (pairs.length === 0) return [{ name, status: "skip", detail: "no blacklisted or relayed pairs" }];
  if (ctx.mesh.network.routing === "none") return [{ name, status: "skip", detail: "Routing = none: blacklisted pairs have no relay" }];
  const node = (n: string) => ctx.mesh.nodes.find((x) => x.name === n) as MeshNode;
  const labelOf = (x: string, y: string) => `${ctx.mesh.blacklist.has(pairKey(x, y)) ? name : "relay transit"} ${x}->${y}`;
  const containerOn = (n: string) => ctx.state.containers.find((c) => c.node === n);
  const jobs = pairs.flatMap(([a, b]) => [
    [a, b],
    [b, a],
  ]);
  return mapLimit(jobs, 2, async ([x, y]): Promise<CheckResult> => {
    const cx = containerOn(x as string);
    const cy = containerOn(y as string);
    const label = labelOf(x as string, y as string);
    const f = cx && cy ? commonFamily(cx, cy) : undefined;
    if (!cx || !cy || !f) return { name: label, status: "skip", detail: "needs containers of one address family on both nodes" };
    const t = topo.transit(node(x as string), node(y as string));
    if (!t) return { name: label, status: "fail", detail: `no node can relay between ${x} and ${y}` };
    const want = f === 4 ? t.overlayIPv4 : t.ipv6 && hostPart(t.ipv6);
    if (!want) return { name: label, status: "skip", detail: `transit ${t.name} has no IPv${f} overlay address` };
    const dst = ofFamily(cy, f)[0] as string;
    // One probe per hop, 2 s each, at most 8 hops: the path is container, node, transit, node, container.
    const r = await ctx.run([...netExec(cx), "traceroute", "-n", "-q", "1", "-w", "2", "-m", "8", dst], { timeoutMs: 30_000 });
    if (r.code === 127 || /not found|No such file/.test(r.stderr)) return { name: label, status: "skip", detail: "traceroute is not installed" };
    const hops = traceHops(r.stdout);
    const at = hops.indexOf(want);
    const ok = at >= 0 && hops.at(-1) === dst && at < hops.length - 1;
    return result(
      label,
      ok,
      `${cx.name}->${cy.name} (${dst}) via ${t.name} ${want}: hops ${hops.join(" ") || "none"}${ok ? ` (transit at hop ${at + 1})` : ""}`,
    );
  });
};

/**
 * No unicast flooding (FINDINGS §4): while container a pings container b, a third node's VXLAN device must see none
 * of their frames. The capture on b's node is the control: it must see them, which also proves both captures ran.
 */
export const flood: Check = async (ctx) => {
  const name = "no unicast flooding";
  const cs = ctx.state.containers.filter((c) => ofFamily(c, 4).length);
  const node = (n: string) => ctx.mesh.nodes.find((x) => x.name === n);
  const topo = topology(ctx.mesh);
  let pick: { a: LabContainer; b: LabContainer; third: string } | undefined;
  for (const a of cs) {
    for (const b of cs) {
      const na = node(a.node);
      const nb = node(b.node);
      if (!na || !nb || a.node === b.node || topo.apart(na, nb)) continue;
      const third = ctx.plan.nodes.find((n) => n.name !== a.node && n.name !== b.node);
      if (third) pick = pick ?? { a, b, third: third.name };
    }
  }
  if (!pick) return [{ name, status: "skip", detail: "needs containers on two peering nodes and a third node" }];
  const { a, b, third } = pick;
  const src = ofFamily(a, 4)[0] as string;
  const dst = ofFamily(b, 4)[0] as string;
  const vx = vxlanDev(ctx.mesh);
  const nsOf = (n: string) => ctx.plan.nodes.find((x) => x.name === n)?.ns as string;
  const capture = (ns: string) =>
    ctx.run(inNs(ns, ["timeout", "-s", "INT", "5", "tcpdump", "-i", vx, "-nn", "-l", "-q", `icmp and host ${src} and host ${dst}`]), { timeoutMs: 15_000 });
  const atThird = capture(nsOf(third));
  const atDst = capture(nsOf(b.node));
  await ctx.sleep(1500); // tcpdump needs a moment to open its socket
  const ping = await ctx.run([...netExec(a), "ping", "-n", "-q", "-c", "20", "-i", "0.05", "-w", "3", dst], { timeoutMs: 10_000 });
  const [t, d] = await Promise.all([atThird, atDst]);
  if (t.code === 127 || /not found/.test(t.stderr)) return [{ name, status: "skip", detail: "tcpdump is not installed" }];
  const frames = (r: { stdout: string }) => r.stdout.split("\n").filter((l) => l.trim()).length;
  const seenThird = frames(t);
  const seenDst = frames(d);
  const ok = ping.code === 0 && seenDst > 0 && seenThird === 0;
  return [
    result(
      name,
      ok,
      `${a.name}->${b.name} ping ${ping.code === 0 ? "ok" : "FAILED"}; ${b.node} (destination) saw ${seenDst} frames, ${third} (uninvolved) saw ${seenThird}`,
    ),
  ];
};

/**
 * MTU boundary (FINDINGS §4): with DF set, a packet of exactly the container MTU crosses the mesh and one byte more
 * is refused. Each container sends to the next one (a ring covers every node's path once).
 */
export const mtu: Check = async (ctx) => {
  const cs = ctx.state.containers;
  if (cs.length < 2) return [{ name: "MTU boundary", status: "skip", detail: "needs two containers" }];
  return mapLimit(cs, 4, async (a) => {
    const b = cs[(cs.indexOf(a) + 1) % cs.length] as LabContainer;
    const name = `MTU boundary ${a.name}->${b.name}`;
    // IPv4 when both have it, else IPv6; ICMP echo headers: 20+8 (IPv4) or 40+8 (IPv6) bytes.
    const f = commonFamily(a, b);
    if (!f) return { name, status: "skip", detail: "no address family in common" };
    const dst = ofFamily(b, f)[0] as string;
    const size = a.mtu - (f === 4 ? 28 : 48);
    // iputils' -M do (DF, no local fragmentation): run in the container's namespace, whatever ping its image has.
    const fits = await ctx.run(pingArgv(netExec(a), dst, ["-M", "do", "-s", String(size)]), { timeoutMs: 10_000 });
    const over = await ctx.run([...netExec(a), "ping", "-n", "-q", "-c", "1", "-w", "2", "-M", "do", "-s", String(size + 1), dst], { timeoutMs: 10_000 });
    return result(
      name,
      fits.code === 0 && over.code !== 0,
      `${a.mtu}-byte IPv${f} packets (ping -M do -s ${size}) ${fits.code === 0 ? "pass" : "are LOST"}; ${a.mtu + 1} bytes ${over.code !== 0 ? "refused" : "PASS (the container MTU is wrong)"}`,
    );
  });
};

/** The internet dropped no IP fragments: no WireGuard packet was too big for the underlay. Runs last. */
export const fragments: Check = async (ctx) => {
  const r = await ctx.run(inNs(ctx.plan.inetNs, ["nft", "-j", "list", "counter", "inet", NFT_TABLE, FRAG_COUNTER]));
  if (r.code !== 0) return [result("no IP fragments", false, `cannot read the counter: ${tail(r.stderr, 2)}`)];
  const m = /"packets":\s*(\d+)/.exec(r.stdout);
  const n = m ? Number(m[1]) : Number.NaN;
  return [result("no IP fragments", n === 0, Number.isNaN(n) ? "counter not found" : `the internet dropped ${n} IP fragment(s)`)];
};

export const CHECKS: Check[] = [sessions, routes, ownership, transit, flood, mtu, exposure, fragments];

export async function labTest(
  name: string,
  deps: { run: Runner; root?: string; sleep?: (ms: number) => Promise<void>; now?: () => number },
): Promise<LabTestReport> {
  const root = deps.root ?? LAB_ROOT;
  const now = deps.now ?? Date.now;
  const t0 = now();
  const state = readState(root, name);
  if (state.phase !== "up" || !state.plan) {
    throw new CiabError("invalid", `lab '${name}' is not up (phase: ${state.phase})`, { hint: `ciab lab down --name ${name}, then ciab lab up` });
  }
  // A registry lab's standby nodes are not in the mesh yet: they are left out of the matrix and the checks.
  const view = joinedView(state.plan, state.containers, state.registry);
  const plan = view.plan;
  const paths = labPaths(root, name);
  const ctx: CheckContext = {
    run: deps.run,
    state: { ...state, plan, containers: view.containers },
    plan,
    mesh: loadLabMesh(state),
    onNode: (node, argv) => {
      const n = plan.nodes.find((x) => x.name === node);
      if (!n) throw new CiabError("internal", `no node ${node}`);
      return onNode(n.ns, paths.privateRoot(n.name), paths.root, argv);
    },
    sleep: deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
  };
  const m = await matrix(ctx);
  const good = m.filter((p) => p.ok).length;
  const checks: CheckResult[] = [
    m.length === 0
      ? { name: "reachability matrix", status: "skip", detail: "fewer than two containers" }
      : result("reachability matrix", good === m.length, `${good}/${m.length} container pairs reach each other`),
  ];
  for (const c of CHECKS) checks.push(...(await c(ctx)));
  const ok = checks.every((c) => c.status !== "fail");
  return {
    lab: name,
    ok,
    containers: state.containers.map((c) => ({ name: c.name, node: c.node, addresses: c.addresses })),
    matrix: m,
    checks,
    seconds: Math.round((now() - t0) / 100) / 10,
  };
}
