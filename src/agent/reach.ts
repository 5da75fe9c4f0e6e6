// Which peers this node cannot reach directly (issue 13 part 5, "no handshake after a bounded time"): the agent
// reads WireGuard's latest handshakes every REACH_EVERY_MS and reports in its record the peers it has tried for
// RELAY_AFTER_MS without one. The topology (model/topology.ts unreachedPairs) then carries the pair through a relay
// and keeps the direct peer as a probe; a handshake on it takes the pair off the list, and the pair goes direct
// again. Only pairs with a node behind a NAT are watched. Pure; no I/O.

import type { Mesh } from "../model/mesh.js";
import { topology } from "../model/topology.js";

/** How often the agent reads the handshakes. */
export const REACH_EVERY_MS = 30_000;
/** How long a peer is tried without a handshake before it is reported unreached. */
export const RELAY_AFTER_MS = 120_000;
/**
 * A handshake this recent means the peer is reached. WireGuard renews a session after 120 s of sending, and a node
 * behind a NAT keeps alive every 25 s (model/mesh.ts NAT_KEEPALIVE), so a working pair's handshake is never older
 * than ~150 s; one older than this has stopped.
 */
export const FRESH_HANDSHAKE_MS = 180_000;

export interface ReachState {
  /** Peers tried without a fresh handshake: since when (ms), with the endpoint tried (a new one starts again). */
  trying: Map<string, { since: number; endpoint: string }>;
  /** Peers reported unreached, sorted. */
  unreached: string[];
}

export const initialReach = (): ReachState => ({ trying: new Map(), unreached: [] });

/** A peer of this node the agent watches: its name, the endpoint configured (none: "") and its public key. */
export interface Watched {
  name: string;
  publicKey: string;
  endpoint: string;
}

/**
 * The WireGuard interface of `node` in `mesh` and the peers on it that are watched: those that one of the pair can
 * send to (an endpoint), where one of the two is behind a NAT.
 */
export function watchedPeers(mesh: Mesh, node: string): { ifname: string; peers: Watched[] } {
  const t = topology(mesh);
  const self = mesh.nodes.find((n) => n.name === node);
  const out: Watched[] = [];
  if (!self) return { ifname: t.wgIf, peers: out };
  for (const p of t.node(self).peers) {
    if (self.nat === "none" && p.nat === "none") continue;
    if (!p.publicKey) continue;
    // Without an endpoint on either side, the topology relays the pair already; ours is enough to be tried.
    const endpoint = p.endpoint && !p.endpoint.broken ? p.endpoint.text : "";
    if (!endpoint && !(self.endpoint && !self.endpoint.broken)) continue;
    out.push({ name: p.name, publicKey: p.publicKey, endpoint });
  }
  return { ifname: t.wgIf, peers: out };
}

/**
 * The next state from the peers watched now and their latest handshakes (public key -> epoch seconds, 0 never):
 * a fresh handshake takes a peer off the list and stops its clock; a peer tried without one for `afterMs` (since it
 * was first watched, or since its endpoint changed) is reported. A peer no longer watched is forgotten.
 */
export function nextReach(
  st: ReachState,
  watched: readonly Watched[],
  handshakes: ReadonlyMap<string, number>,
  nowMs: number,
  afterMs = RELAY_AFTER_MS,
): ReachState {
  const trying = new Map<string, { since: number; endpoint: string }>();
  const was = new Set(st.unreached);
  const unreached: string[] = [];
  for (const w of watched) {
    const at = (handshakes.get(w.publicKey) ?? 0) * 1000;
    if (at > 0 && nowMs - at < FRESH_HANDSHAKE_MS) continue;
    const known = st.trying.get(w.name);
    const since = known && known.endpoint === w.endpoint ? known.since : nowMs;
    trying.set(w.name, { since, endpoint: w.endpoint });
    if (was.has(w.name) || nowMs - since >= afterMs) unreached.push(w.name);
  }
  unreached.sort();
  return { trying, unreached };
}
