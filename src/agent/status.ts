// `ciab status`: per peer, is the overlay working? Endpoint, latest handshake age, bytes, the routing session and
// its prefixes, the routes learned through the peer, and one overlay ping. Owns: gathering and judging. Must not:
// change anything, or print (cli/ does). A peer is down when its overlay ping fails, when it never completed a
// WireGuard handshake, or when a routing session to it exists but is not up. The handshake age alone is not a verdict: WireGuard only handshakes while traffic
// flows, so an idle peer may show an old one (the ping, sent first, refreshes it).

import { isIP } from "node:net";
import { birdSessions } from "../adapters/bird.js";
import { frrSessions, type RoutingSession } from "../adapters/frr.js";
import { observeIp, parseRoutes } from "../adapters/iproute2.js";
import { observeWireguard } from "../adapters/wireguard.js";
import { canonicalAddr, contains, parsePrefix } from "../ipam/ip.js";
import type { DesiredHost, DesiredPeer, DesiredWireguard, ObservedWireguard } from "../plan/types.js";
import type { HostDeps } from "./host.js";

export interface PeerStatus {
  name: string;
  /** Absent for a node reached through a relay (it is not a WireGuard peer of this one). */
  publicKey?: string;
  /** Directly over its own WireGuard peer, or relayed through `via` (a blacklisted pair, or one behind NATs). */
  path: "direct" | "relayed";
  via?: string;
  /** Relayed because an agent reported the pair unreached; its direct peer stays, and a handshake there ends the relay. */
  probing?: boolean;
  /** The NAT in front of the peer (learned by its agent's STUN, or configured); absent: none. */
  nat?: DesiredPeer["nat"];
  /**
   * Where the endpoint in use came from: the mesh file or a record ("static"), the peer's STUN mapping ("stun"),
   * or WireGuard itself, from an authenticated handshake from another address ("roamed"); none without one.
   */
  endpointSource?: "static" | "stun" | "roamed";
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

/** wg's endpoint and the configured one: the same address (canonical) and port; a host name cannot be compared. */
function sameEndpoint(shown: string, configured: string | undefined): boolean {
  if (configured === undefined) return false;
  const split = (e: string) => {
    const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(e);
    return m ? { host: m[1] as string, port: m[2] as string } : undefined;
  };
  const a = split(shown);
  const b = split(configured);
  if (!a || !b || isIP(b.host) === 0) return true;
  return a.port === b.port && isIP(a.host) !== 0 && norm(a.host) === norm(b.host);
}

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
  const relayed = d.wireguard.flatMap((w) => (w.relayed ?? []).map((r) => ({ w, r })));
  const pingFirst = (w: DesiredWireguard, overlay: string[]) => {
    const target = overlay.find((a) => !a.includes(":")) ?? overlay[0];
    return linkOf(w.ifname) && target ? ping(deps, target) : Promise.resolve(null);
  };
  // The ping goes first: it also refreshes the handshake of an idle peer.
  const pings = await Promise.all(all.map(({ w, p }) => pingFirst(w, overlayOf(w, p.allowedIPs))));

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
    const endpoint = w?.endpoint ?? p.endpoint;
    // wg shows the address it sends to: another one than configured is one it learned from a handshake.
    const source = !endpoint ? undefined : w?.endpoint && !sameEndpoint(w.endpoint, p.endpoint) ? "roamed" : p.endpointSource === "stun" ? "stun" : "static";
    return {
      name: p.name,
      publicKey: p.publicKey,
      path: "direct" as const,
      ...(p.nat ? { nat: p.nat } : {}),
      ...(source ? { endpointSource: source } : {}),
      ...(endpoint ? { endpoint } : {}),
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
  // A relayed partner has no WireGuard peer, VXLAN entry or session here (its overlay address is unreachable on
  // purpose): it works when the relay is up and, with routing, its Subnets' routes point at the relay.
  for (const { r } of relayed) {
    const relay = peers.find((p) => p.name === r.via);
    const inside = (dst: string) => r.subnets.some((s) => dst.includes("/") && contains(parsePrefix(s), parsePrefix(dst)));
    const via = relay ? relay.routes.filter(inside) : [];
    const pr: string[] = [];
    if (!relay?.up) pr.push(`its relay ${r.via} is ${relay ? "down" : "not a peer"}`);
    if (r.subnets.length && routing.daemon !== "none" && via.length === 0) pr.push(`no route to its subnets through ${r.via}`);
    // A probed partner is still a WireGuard peer: its handshake age and endpoint say how the probe goes, and its
    // failing ping is why it is relayed, not a problem.
    const probe = r.probe ? peers.findIndex((p) => p.name === r.name && p.path === "direct") : -1;
    if (probe >= 0) {
      const p = peers[probe] as PeerStatus;
      peers[probe] = { ...p, path: "relayed", via: r.via, probing: true, sessions: [], routes: via, up: pr.length === 0, problems: pr };
      continue;
    }
    peers.push({
      name: r.name,
      path: "relayed",
      via: r.via,
      ...(r.nat ? { nat: r.nat } : {}),
      handshakeAgeSeconds: null,
      rxBytes: 0,
      txBytes: 0,
      overlay: [],
      sessions: [],
      routes: via,
      ping: null,
      up: pr.length === 0,
      problems: pr,
    });
  }
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
