// The forwarding and neighbour entries of a VXLAN device, from its list of peers (desired.json lists each remote
// VTEP once: its VTEP, VXLAN MAC and overlay addresses). Pure; no I/O. The batch files both reconcilers
// write (state/desired.ts vxlanBatchFiles) hold the same entries; a unit test keeps them equal.
import type { DesiredVxlan } from "./types.js";

/** Flood (all-zero MAC) entries: one per peer VTEP, head-end replication of broadcast, ARP and multicast. */
export const floodEntries = (vx: DesiredVxlan): string[] => vx.peers.map((p) => p.vtep);

/** Known unicast: each peer's VXLAN MAC at its VTEP, so unicast is not flooded to every peer. */
export const unicastEntries = (vx: DesiredVxlan): { mac: string; vtep: string }[] => vx.peers.map((p) => ({ mac: p.mac, vtep: p.vtep }));

/** Static neighbours: each peer's overlay addresses at its MAC (no ARP/ND on the mesh). */
export const neighbourEntries = (vx: DesiredVxlan): { ip: string; mac: string }[] => vx.peers.flatMap((p) => p.ips.map((ip) => ({ ip, mac: p.mac })));
