// FRR: whether it is installed and running, and its routing sessions from `vtysh -c 'show bgp summary json'`
// (BGP) or `vtysh -c 'show ip ospf neighbor json'` (OSPF). Owns: reading FRR's JSON defensively (garbage is an
// "external" error naming the command). Must not: change FRR's configuration or daemons (the planner emits the
// reload commands; the agent runs them).
import { CiabError } from "../model/errors.js";
import { FRR_INIT, FRR_RELOAD } from "../plan/plan.js";
import type { ObservedFrr } from "../plan/types.js";
import type { Runner } from "./exec.js";
import type { Host } from "./host.js";
import { garbage, isObj, jsonObject } from "./iproute2.js";

export interface RoutingSession {
  /** "bgp" (per address family) or "ospf". */
  protocol: string;
  family?: "ipv4" | "ipv6";
  /** Neighbour address (BGP) or router id (OSPF). */
  peer: string;
  /** FRR's neighbor description: the node name ciab renders. */
  desc?: string;
  state: string;
  up: boolean;
  /** Time the session has been up, in seconds. */
  uptimeSeconds?: number;
  /** Unix time it was established (BGP): equal before and after a change = the session was not reset. */
  establishedEpoch?: number;
  prefixesReceived?: number;
}

export const BGP_SUMMARY = "vtysh -c 'show bgp summary json'";

/** Sessions of every address family in `show bgp summary json`; {} (no BGP configured) gives none. */
export function parseBgpSummary(text: string): RoutingSession[] {
  const v = jsonObject(BGP_SUMMARY, text);
  const out: RoutingSession[] = [];
  for (const [af, family] of [
    ["ipv4Unicast", "ipv4"],
    ["ipv6Unicast", "ipv6"],
  ] as const) {
    const sec = v[af];
    if (sec === undefined) continue;
    if (!isObj(sec) || !isObj(sec.peers)) throw garbage(BGP_SUMMARY, `an ${af} section without peers`);
    for (const [peer, p] of Object.entries(sec.peers)) {
      if (!isObj(p) || typeof p.state !== "string") throw garbage(BGP_SUMMARY, `peer ${peer} without a state`);
      const up = p.state === "Established";
      out.push({
        protocol: "bgp",
        family,
        peer,
        ...(typeof p.desc === "string" ? { desc: p.desc } : {}),
        state: p.state,
        up,
        ...(up && typeof p.peerUptimeMsec === "number" ? { uptimeSeconds: Math.floor(p.peerUptimeMsec / 1000) } : {}),
        ...(up && typeof p.peerUptimeEstablishedEpoch === "number" ? { establishedEpoch: p.peerUptimeEstablishedEpoch } : {}),
        ...(typeof p.pfxRcd === "number" ? { prefixesReceived: p.pfxRcd } : {}),
      });
    }
  }
  return out.sort((a, b) => (a.family === b.family ? (a.peer < b.peer ? -1 : 1) : a.family === "ipv4" ? -1 : 1));
}

export const OSPF_NEIGHBORS = "vtysh -c 'show ip ospf neighbor json'";

/** `show ip ospf neighbor json` (FRR 8.4): { neighbors: { <router id>: [ { state: "Full/DR", … } ] } }. */
export function parseOspfNeighborsJson(text: string): RoutingSession[] {
  const v = jsonObject(OSPF_NEIGHBORS, text);
  if (v.neighbors === undefined) return [];
  if (!isObj(v.neighbors)) throw garbage(OSPF_NEIGHBORS, "a neighbors entry that is not an object");
  const out: RoutingSession[] = [];
  for (const [rid, list] of Object.entries(v.neighbors)) {
    for (const n of Array.isArray(list) ? list : [list]) {
      if (!isObj(n)) throw garbage(OSPF_NEIGHBORS, `neighbor ${rid} that is not an object`);
      const state = typeof n.nbrState === "string" ? n.nbrState : typeof n.state === "string" ? n.state : "";
      if (!state) throw garbage(OSPF_NEIGHBORS, `neighbor ${rid} without a state`);
      out.push({ protocol: "ospf", peer: rid, state, up: state.startsWith("Full") });
    }
  }
  return out.sort((a, b) => (a.peer < b.peer ? -1 : 1));
}

/** Is a process (by PID file) alive and is it `name`? Zombies count as dead. */
export function pidAlive(readFile: (p: string) => string | undefined, pidFile: string, name: string): boolean {
  const pid = Number(readFile(pidFile)?.trim());
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const stat = readFile(`/proc/${pid}/stat`);
  if (!stat) return false;
  const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  return state !== "Z" && (readFile(`/proc/${pid}/cmdline`) ?? "").includes(name);
}

/** Installed, running (watchfrr alive: frrinit.sh and the systemd unit both run FRR under watchfrr), reload path. */
export function observeFrr(h: Pick<Host, "run" | "exists" | "readFile">): ObservedFrr {
  return {
    installed: h.exists(FRR_INIT),
    running: pidAlive(h.readFile, "/run/frr/watchfrr.pid", "watchfrr"),
    reloadScript: h.exists(FRR_RELOAD),
    systemd: h.exists("/run/systemd/system"),
  };
}

/** Routing sessions from vtysh; a vtysh that cannot answer is an "external" error. */
export async function frrSessions(run: Runner, protocol: "bgp" | "ospf"): Promise<RoutingSession[]> {
  const argv = ["vtysh", "-c", protocol === "bgp" ? "show bgp summary json" : "show ip ospf neighbor json"];
  const r = await run(argv, { timeoutMs: 15_000 });
  if (r.code !== 0)
    throw new CiabError("external", `'${argv.join(" ")}' exited with ${r.code}: ${(r.stderr || r.stdout).trim().split("\n")[0] ?? ""}`, {
      hint: "is FRR running? /usr/lib/frr/frrinit.sh status",
    });
  return protocol === "bgp" ? parseBgpSummary(r.stdout) : parseOspfNeighborsJson(r.stdout);
}
