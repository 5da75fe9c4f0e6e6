// `ciab status`: per peer, is the overlay working? Endpoint, latest handshake age, bytes, the routing session and
// its prefixes, the routes learned through the peer, and one overlay ping. Owns: gathering and judging. Must not:
// change anything, or print (cli/ does). A peer is down when its overlay ping fails, when it never completed a
// WireGuard handshake, or when a routing session to it exists but is not up. The handshake age alone is not a verdict: WireGuard only handshakes while traffic
// flows, so an idle peer may show an old one (the ping, sent first, refreshes it).
import { birdSessions } from "../adapters/bird.js";
import { frrSessions, type RoutingSession } from "../adapters/frr.js";
import { observeIp, parseRoutes } from "../adapters/iproute2.js";
import { observeWireguard } from "../adapters/wireguard.js";
import { canonicalAddr } from "../ipam/ip.js";
import type { DesiredHost, DesiredWireguard, ObservedWireguard } from "../plan/types.js";
import type { HostDeps } from "./host.js";

export interface PeerStatus {
  name: string;
  publicKey: string;
  endpoint?: string;
  /** Seconds since the latest handshake; null = never. */
  handshakeAgeSeconds: number | null;
  rxBytes: number;
  txBytes: number;
  /** The peer's overlay addresses (BGP neighbour addresses, ping targets). */
  overlay: string[];
  /** Routing sessions with the peer (none for a reflector client's other clients: their routes come reflected). */
  sessions: RoutingSession[];
  /** Kernel routes installed by the routing daemon with this peer as next hop. */
  routes: string[];
  ping: { address: string; ok: boolean; rttMs?: number } | null;
  up: boolean;
  problems: string[];
}

export interface StatusReport {
  network: string;
  node: string;
  ok: boolean;
  wireguard: { ifname: string; exists: boolean; listenPort?: number }[];
  vxlan: { ifname: string; exists: boolean; up?: boolean }[];
  routing: { daemon: string; answering: boolean; error?: string };
  peers: PeerStatus[];
  problems: string[];
}

const norm = canonicalAddr;

async function ping(deps: HostDeps, address: string): Promise<PeerStatus["ping"]> {
  const r = await deps.run(["ping", address.includes(":") ? "-6" : "-4", "-n", "-c", "1", "-W", "1", address], { timeoutMs: 5000 });
  const rtt = /time=([\d.]+) ms/.exec(r.stdout)?.[1];
  return { address, ok: r.code === 0, ...(rtt ? { rttMs: Number(rtt) } : {}) };
}

export async function hostStatus(d: DesiredHost, deps: HostDeps): Promise<StatusReport> {
  const problems: string[] = [];
  const ip = await observeIp(
    deps.run,
    d.vxlan.map((x) => x.ifname),
  );
  const linkOf = (name: string) => ip.links.find((l) => l.name === name);
  for (const w of d.wireguard) if (!linkOf(w.ifname)) problems.push(`WireGuard interface ${w.ifname} is missing (run 'ciab up')`);
  for (const x of d.vxlan) {
    const l = linkOf(x.ifname);
    if (!l) problems.push(`VXLAN device ${x.ifname} is missing (run 'ciab up')`);
    else if (!l.up) problems.push(`VXLAN device ${x.ifname} is down`);
  }

  // Peer -> overlay addresses: its VTEP is in its AllowedIPs; the VXLAN devices over the peer's WireGuard
  // interface list that VTEP with its addresses.
  const overlayOf = (w: DesiredWireguard, allowed: string[]): string[] => {
    const vteps = new Set(allowed.map((a) => a.split("/")[0] as string));
    return d.vxlan.filter((x) => x.underlay === w.ifname).flatMap((x) => x.peers.filter((p) => vteps.has(p.vtep)).flatMap((p) => p.ips));
  };
  const all = d.wireguard.flatMap((w) => w.peers.map((p) => ({ w, p })));
  // The ping goes first: it also refreshes the handshake of an idle peer.
  const pings = await Promise.all(
    all.map(async ({ w, p }) => {
      const overlay = overlayOf(w, p.allowedIPs);
      const target = overlay.find((a) => !a.includes(":")) ?? overlay[0];
      return linkOf(w.ifname) && target ? ping(deps, target) : null;
    }),
  );
  const observedWg = new Map<string, ObservedWireguard>();
  for (const w of d.wireguard) {
    if (!linkOf(w.ifname)) continue;
    const o = await observeWireguard(deps.run, w.ifname);
    if (o) observedWg.set(w.ifname, o);
    else problems.push(`${w.ifname} does not answer 'wg show' (is its wireguard-go running?)`);
  }

  let sessions: RoutingSession[] = [];
  // The host's default-VRF instance (the only kind today).
  const r = d.routing.find((x) => x.vrf === undefined) ?? { daemon: "none" as const, protocol: "none" as const };
  const routing: StatusReport["routing"] = { daemon: r.daemon, answering: r.daemon === "none" };
  let proto = "";
  if (r.daemon !== "none") {
    const bgp = r.protocol === "bgp";
    proto = r.daemon === "bird" ? "bird" : bgp ? "bgp" : "ospf";
    try {
      sessions = r.daemon === "bird" ? await birdSessions(deps.run) : await frrSessions(deps.run, bgp ? "bgp" : "ospf");
      routing.answering = true;
    } catch (e) {
      routing.error = (e as Error).message;
      problems.push(`routing daemon (${r.daemon}) does not answer: ${routing.error}`);
    }
  }
  const routes = proto ? parseRoutes((await deps.run(["ip", "-j", "route", "show", "proto", proto])).stdout || "[]") : [];
  const routes6 = proto ? parseRoutes((await deps.run(["ip", "-j", "-6", "route", "show", "proto", proto])).stdout || "[]") : [];

  const peers: PeerStatus[] = all.map(({ w: iface, p }, i) => {
    const w = observedWg.get(iface.ifname)?.peers.find((x) => x.publicKey === p.publicKey);
    const overlay = overlayOf(iface, p.allowedIPs);
    const ov = new Set(overlay.map(norm));
    // BGP sessions are keyed by the neighbour's overlay address; OSPF ones by router id (its overlay IPv4).
    const mine = sessions.filter((s) => ov.has(norm(s.peer)));
    const via = [...routes, ...routes6].filter((r) => r.gateway && ov.has(norm(r.gateway))).map((r) => r.dst);
    const pr: string[] = [];
    const pg = pings[i] ?? null;
    if (!w) pr.push("not configured on the WireGuard interface");
    // After the ping above: a peer that still never handshook cannot carry anything (issue 19).
    else if (w.latestHandshake === 0) pr.push("never completed a WireGuard handshake");
    if (pg && !pg.ok) pr.push(`overlay ping to ${pg.address} failed`);
    for (const s of mine) if (!s.up) pr.push(`${s.protocol}${s.family ? ` ${s.family}` : ""} session ${s.state}`);
    return {
      name: p.name,
      publicKey: p.publicKey,
      ...(w?.endpoint ? { endpoint: w.endpoint } : p.endpoint ? { endpoint: p.endpoint } : {}),
      handshakeAgeSeconds: w && w.latestHandshake > 0 ? Math.max(0, deps.now() - w.latestHandshake) : null,
      rxBytes: w?.rxBytes ?? 0,
      txBytes: w?.txBytes ?? 0,
      overlay,
      sessions: mine,
      routes: via.sort(),
      ping: pg,
      up: pr.length === 0,
      problems: pr,
    };
  });
  for (const p of peers) if (!p.up) problems.push(`peer ${p.name} is down: ${p.problems.join("; ")}`);
  return {
    network: d.network,
    node: d.node,
    ok: problems.length === 0,
    wireguard: d.wireguard.map((w) => {
      const o = observedWg.get(w.ifname);
      return { ifname: w.ifname, exists: Boolean(linkOf(w.ifname)), ...(o ? { listenPort: o.listenPort } : {}) };
    }),
    vxlan: d.vxlan.map((x) => {
      const l = linkOf(x.ifname);
      return { ifname: x.ifname, exists: Boolean(l), ...(l ? { up: l.up } : {}) };
    }),
    routing,
    peers,
    problems,
  };
}
