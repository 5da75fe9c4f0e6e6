// `ciab lab test`'s exposure check (issue 20): from the internet namespace, which stands for anyone who reaches a
// host's public address, nothing of the mesh may be reachable without WireGuard. Per node:
// - containers: the internet routes a container's (and the node's overlay and bridge) address through the node's
//   public address and pings it: no reply may come;
// - VXLAN: a VXLAN device in the internet namespace with the mesh's VNI sends frames to the node's public address:
//   a capture on the node's VXLAN device must see none of them;
// - ports: BGP (179/tcp), BFD (3784, 4784/udp), the VXLAN port and every socket the node listens on with a wildcard
//   or public address are probed: only the WireGuard listen port may accept (TCP: no connection; UDP: ICMP port
//   unreachable, which proves that nothing took the datagram).
// It changes the internet namespace only for the probe's duration (a /32 route per address, one probe device per
// node), and never a node. Must not print (cli/ renders the report).
import type { Runner } from "../adapters/exec.js";
import type { MeshNode } from "../model/mesh.js";
import { hostPart, vxlanDev } from "../model/topology.js";
import { BFD_PORTS } from "../render/nft.js";
import type { Check, CheckContext, CheckResult } from "./check.js";
import { mapLimit } from "./limit.js";
import type { NodePlan } from "./plan.js";
import { inNs } from "./private.js";

/** Probes run by the host's node binary inside the internet namespace: argv[1] is a JSON list of {host, port, proto}. */
const PROBE = `
const dgram = require("node:dgram"), net = require("node:net");
const probe = ({ host, port, proto }) => new Promise((done) => {
  if (proto === "udp") {
    const s = dgram.createSocket(host.includes(":") ? "udp6" : "udp4");
    let t, over = false;
    const end = (state) => { if (over) return; over = true; clearInterval(t); try { s.close(); } catch {} done({ host, port, proto, state }); };
    s.on("error", (e) => end(e.code === "ECONNREFUSED" ? "closed" : "error " + e.code));
    s.on("message", () => end("open"));
    s.connect(port, host, () => {
      let n = 0;
      t = setInterval(() => { if (over) return; if (n++ < 3) s.send(Buffer.from("ciab exposure probe")); else { clearInterval(t); setTimeout(() => end("silent"), 600); } }, 200);
    });
  } else {
    const c = net.connect({ host, port, timeout: 1500 });
    c.on("connect", () => { c.destroy(); done({ host, port, proto, state: "open" }); });
    c.on("timeout", () => { c.destroy(); done({ host, port, proto, state: "silent" }); });
    c.on("error", (e) => done({ host, port, proto, state: e.code === "ECONNREFUSED" ? "closed" : "error " + e.code }));
  }
});
Promise.all(JSON.parse(process.argv[1]).map(probe)).then((r) => console.log(JSON.stringify(r)));
`;

export interface Probe {
  host: string;
  port: number;
  proto: "tcp" | "udp";
}
export interface ProbeResult extends Probe {
  /** closed: refused (RST / ICMP port unreachable); silent: no answer; open: connected or answered. */
  state: string;
}

export async function runProbes(run: Runner, ns: string, probes: Probe[]): Promise<ProbeResult[]> {
  if (probes.length === 0) return [];
  const r = await run(inNs(ns, [process.execPath, "-e", PROBE, JSON.stringify(probes)]), { timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`probe failed (${r.code}): ${r.stderr.trim().split("\n").slice(-2).join(" ")}`);
  return JSON.parse(r.stdout) as ProbeResult[];
}

/** `ss -Hlntu` lines -> the sockets reachable from outside: wildcard or one of the node's public addresses. */
export function exposedSockets(ssOutput: string, publicAddrs: string[]): { proto: "tcp" | "udp"; port: number; wildcard: boolean; addr: string }[] {
  const out: { proto: "tcp" | "udp"; port: number; wildcard: boolean; addr: string }[] = [];
  for (const line of ssOutput.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    const proto = f[0] === "tcp" ? "tcp" : f[0] === "udp" ? "udp" : undefined;
    const m = /^(.*):(\d+)$/.exec(f[4] as string);
    if (!proto || !m) continue;
    const addr = (m[1] as string).replace(/^\[|\]$/g, "").replace(/%.*$/, "");
    const wildcard = addr === "*" || addr === "0.0.0.0" || addr === "::";
    if (wildcard || publicAddrs.includes(addr)) out.push({ proto, port: Number(m[2]), wildcard, addr });
  }
  return out;
}

const publicAddrs = (n: NodePlan): string[] => [n.underlay.v4, n.underlay.v6].filter((u) => u !== undefined).map((u) => hostPart(u.addr));

/** Addresses behind node `n` that only the mesh may reach: its containers, its overlay addresses, its bridge. */
function meshAddresses(ctx: CheckContext, n: NodePlan, m: MeshNode): string[] {
  const cs = ctx.state.containers.filter((c) => c.node === n.name).flatMap((c) => c.addresses.map(hostPart));
  const overlay = [...m.address.map(hostPart), ...(m.ipv6 ? [hostPart(m.ipv6)] : [])];
  return [...new Set([...cs, ...overlay, ...n.bridgeAddresses.map(hostPart)])];
}

async function containersCheck(ctx: CheckContext, n: NodePlan, m: MeshNode): Promise<CheckResult> {
  const name = `exposure ${n.name}: mesh addresses from the internet`;
  const inet = ctx.plan.inetNs;
  const gw = { 4: n.underlay.v4 ? hostPart(n.underlay.v4.addr) : undefined, 6: n.underlay.v6 ? hostPart(n.underlay.v6.addr) : undefined };
  const targets = meshAddresses(ctx, n, m).filter((a) => gw[a.includes(":") ? 6 : 4]);
  if (targets.length === 0) return { name, status: "skip", detail: "no address of the underlay's family behind this node" };
  const route = (verb: "replace" | "del", a: string) =>
    ctx.run(
      inNs(inet, ["ip", a.includes(":") ? "-6" : "-4", "route", verb, `${a}/${a.includes(":") ? 128 : 32}`, "via", gw[a.includes(":") ? 6 : 4] as string]),
    );
  const answered: string[] = [];
  try {
    for (const a of targets) await route("replace", a);
    await mapLimit(targets, 4, async (a) => {
      const r = await ctx.run(inNs(inet, ["ping", "-n", "-q", "-c", "2", "-i", "0.2", "-W", "1", "-w", "2", a]), { timeoutMs: 10_000 });
      if (r.code === 0) answered.push(a);
    });
  } finally {
    for (const a of targets) await route("del", a);
  }
  return {
    name,
    status: answered.length === 0 ? "pass" : "fail",
    detail:
      answered.length === 0
        ? `${targets.length} address(es) routed through ${n.name}'s public address: no reply (${targets.join(", ")})`
        : `REACHABLE without WireGuard through ${n.name}'s public address: ${answered.sort().join(", ")}`,
  };
}

/**
 * One probe device in the internet namespace for every node (the kernel allows one device per VNI and port): its
 * FDB sends each node's MAC to that node's public address, so a ping to a node's overlay address becomes a VXLAN
 * frame with the mesh's VNI at that node. A capture on each node's VXLAN device counts what got in.
 */
async function vxlanChecks(ctx: CheckContext): Promise<CheckResult[]> {
  const inet = ctx.plan.inetNs;
  const net = ctx.mesh.network;
  const vx = vxlanDev(ctx.mesh);
  const dev = "cxprobe";
  const mac = "02:c1:ab:00:00:01";
  const ip = (...a: string[]) => ctx.run(inNs(inet, ["ip", ...a]));
  const bridge = (...a: string[]) => ctx.run(inNs(inet, ["bridge", ...a]));
  const targets = ctx.plan.nodes.flatMap((n) => {
    const m = ctx.mesh.nodes.find((x) => x.name === n.name);
    const target = m?.overlayIPv4 ?? (m?.ipv6 ? hostPart(m.ipv6) : undefined);
    return m && target ? [{ n, m, target }] : [];
  });
  const name = (n: NodePlan) => `exposure ${n.name}: VXLAN frames from the internet`;
  if (targets.length === 0) return [];
  // `local` gives the device its family (without one it has an IPv4 socket only and cannot reach IPv6 underlays).
  const first = targets[0]?.n.underlay;
  const local = first?.endpointFamily === 6 ? first.v6?.gateway : first?.v4?.gateway;
  if (!local) return [];
  try {
    const made = await ip(
      "link",
      "add",
      dev,
      "address",
      mac,
      "type",
      "vxlan",
      "id",
      String(net.vxlanId),
      "local",
      local,
      "dstport",
      String(net.vxlanPort),
      "nolearning",
    );
    if (made.code !== 0) return targets.map(({ n }) => ({ name: name(n), status: "fail", detail: `cannot create the probe device: ${made.stderr.trim()}` }));
    await ip("-4", "address", "add", "198.19.254.1/32", "dev", dev);
    await ip("-6", "address", "add", "2001:db8:ffff::1/128", "dev", dev, "nodad");
    await ip("link", "set", dev, "up");
    for (const { n, m, target } of targets) {
      const fam = target.includes(":") ? "-6" : "-4";
      await bridge("fdb", "append", m.mac, "dev", dev, "dst", n.underlay.endpointHost, "self", "permanent");
      await ip(fam, "route", "replace", target, "dev", dev);
      await ip(fam, "neigh", "replace", target, "lladdr", m.mac, "dev", dev, "nud", "permanent");
    }
    const tcpdump = (ns: string, ifname: string, filter: string[]) =>
      ctx.run(inNs(ns, ["timeout", "-s", "INT", "5", "tcpdump", "-i", ifname, "-nn", "-l", "-q", ...filter]), { timeoutMs: 15_000 });
    const captures = targets.map(({ n }) => tcpdump(n.ns, vx, ["ether", "src", mac]));
    // The control: the probe's frames did leave for each node (a probe that sends nothing would pass falsely).
    const sentCaptures = targets.map(({ n }) =>
      tcpdump(inet, n.uplink, ["udp", "dst", "port", String(net.vxlanPort), "and", "dst", "host", n.underlay.endpointHost]),
    );
    await ctx.sleep(1500); // tcpdump needs a moment to open its socket
    await mapLimit(targets, 4, ({ target }) =>
      ctx.run(inNs(inet, ["ping", "-n", "-q", "-c", "10", "-i", "0.1", "-w", "2", "-I", target.includes(":") ? "2001:db8:ffff::1" : "198.19.254.1", target]), {
        timeoutMs: 10_000,
      }),
    );
    const seen = await Promise.all(captures);
    const sent = await Promise.all(sentCaptures);
    const lines = (r: { stdout: string }) => r.stdout.split("\n").filter((l) => l.trim()).length;
    return targets.map(({ n }, i): CheckResult => {
      const c = seen[i] as Awaited<(typeof captures)[number]>;
      if (c.code === 127 || /not found/.test(c.stderr)) return { name: name(n), status: "skip", detail: "tcpdump is not installed" };
      const frames = lines(c);
      const out = lines(sent[i] as { stdout: string });
      if (out === 0)
        return { name: name(n), status: "fail", detail: `the probe sent no VXLAN frame towards ${n.underlay.endpointHost} (the check itself is broken)` };
      return frames === 0
        ? {
            name: name(n),
            status: "pass",
            detail: `${out} frames with VNI ${net.vxlanId} sent to ${n.underlay.endpointHost}:${net.vxlanPort}: none reached ${vx}`,
          }
        : { name: name(n), status: "fail", detail: `${frames} injected frame(s) reached ${vx} on ${n.name} without WireGuard` };
    });
  } finally {
    await ip("link", "del", dev);
  }
}

async function portsCheck(ctx: CheckContext, n: NodePlan, m: MeshNode): Promise<CheckResult> {
  const name = `exposure ${n.name}: only the WireGuard port answers`;
  const ss = await ctx.run(inNs(n.ns, ["ss", "-Hlntu"]));
  const addrs = publicAddrs(n);
  const probes = new Map<string, Probe>();
  const add = (proto: "tcp" | "udp", port: number, host: string) => probes.set(`${proto}/${host}/${port}`, { proto, port, host });
  for (const host of addrs) {
    add("tcp", 179, host);
    for (const p of [...BFD_PORTS, ctx.mesh.network.vxlanPort]) add("udp", p, host);
  }
  for (const s of exposedSockets(ss.stdout, addrs)) {
    for (const host of s.wildcard ? addrs.filter((a) => s.addr === "*" || s.addr === "::" || !a.includes(":")) : [s.addr]) add(s.proto, s.port, host);
  }
  const results = await runProbes(ctx.run, ctx.plan.inetNs, [...probes.values()]);
  const wg = (r: ProbeResult) => r.proto === "udp" && r.port === m.listenPort;
  // WireGuard never answers garbage: "silent" is what an open WireGuard port looks like.
  const bad = results.filter((r) => (wg(r) ? r.state !== "silent" : r.proto === "tcp" ? r.state === "open" : r.state !== "closed"));
  const fmt = (r: ProbeResult) => `${r.proto}/${r.port}@${r.host} ${r.state}`;
  return {
    name,
    status: bad.length === 0 ? "pass" : "fail",
    detail:
      bad.length === 0
        ? `${results.length} probes: ${results.filter(wg).map(fmt).join(", ") || "no WireGuard port probed"} (WireGuard); every other port closed`
        : `exposed: ${bad.map(fmt).join(", ")}`,
  };
}

export const exposure: Check = async (ctx) => {
  const guarded = async (what: string, f: () => Promise<CheckResult[]>): Promise<CheckResult[]> => {
    try {
      return await f();
    } catch (e) {
      return [{ name: `exposure ${what}`, status: "fail", detail: `probe failed: ${(e as Error).message}` }];
    }
  };
  // Containers and ports per node (in parallel, bounded); then the VXLAN probe, which covers every node at once
  // and routes the overlay addresses differently from the container probe.
  const per = await mapLimit(ctx.plan.nodes, 3, async (n): Promise<CheckResult[]> => {
    const m = ctx.mesh.nodes.find((x) => x.name === n.name);
    if (!m) return [];
    return [...(await guarded(n.name, async () => [await containersCheck(ctx, n, m)])), ...(await guarded(n.name, async () => [await portsCheck(ctx, n, m)]))];
  });
  return [...per.flat(), ...(await guarded("VXLAN", () => vxlanChecks(ctx)))];
};
