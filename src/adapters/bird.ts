// BIRD 2: whether it is installed and running, its protocols (`birdc show protocols`) and OSPF neighbours
// (`birdc show ospf neighbors`), parsed from birdc's text tables. Owns: reading that text defensively (a reply
// that is not a birdc table is an "external" error naming the command). Must not: change BIRD's configuration
// (the planner emits `birdc configure`; the agent runs it).
import { CiabError } from "../model/errors.js";
import { BIRD_CTL } from "../plan/plan.js";
import type { ObservedBird } from "../plan/types.js";
import type { Runner } from "./exec.js";
import type { RoutingSession } from "./frr.js";
import type { Host } from "./host.js";
import { garbage } from "./iproute2.js";

export interface BirdProtocol {
  name: string;
  proto: string;
  table: string;
  state: string;
  since: string;
  info: string;
}

/** Lines after birdc's banner ("BIRD 2.0.12 ready.") and the table's header line. */
function table(text: string, command: string, header: RegExp): string[] {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  const h = lines.findIndex((l) => header.test(l));
  if (h < 0) throw garbage(command, "no table header", text);
  return lines.slice(h + 1);
}

export const BIRD_PROTOCOLS = "birdc show protocols";

export function parseBirdProtocols(text: string): BirdProtocol[] {
  return table(text, BIRD_PROTOCOLS, /^Name\s+Proto\s+Table\s+State\s+Since/).map((l) => {
    const w = l.trim().split(/\s+/);
    if (w.length < 5) throw garbage(BIRD_PROTOCOLS, "a protocol line with fewer than 5 columns", l);
    // "Since" is a time (today) or a date and a time (older): one or two columns.
    const two = /^\d{4}-\d{2}-\d{2}$/.test(w[4] as string);
    const since = two ? `${w[4]} ${w[5] ?? ""}`.trim() : (w[4] as string);
    return { name: w[0] as string, proto: w[1] as string, table: w[2] as string, state: w[3] as string, since, info: w.slice(two ? 6 : 5).join(" ") };
  });
}

export const BIRD_OSPF_NEIGHBORS = "birdc show ospf neighbors";

/** OSPF neighbours: router id, state ("Full/DR", "2-Way/Other" …), interface and address. */
export function parseBirdOspfNeighbors(text: string): (RoutingSession & { iface: string; address: string })[] {
  return table(text, BIRD_OSPF_NEIGHBORS, /^Router ID\s+Pri\s+State/)
    .filter((l) => !/^\S+:$/.test(l.trim())) // "ospf4:" protocol headings
    .map((l) => {
      const w = l.trim().split(/\s+/);
      if (w.length < 6) throw garbage(BIRD_OSPF_NEIGHBORS, "a neighbour line with fewer than 6 columns", l);
      const state = w[2] as string;
      return { protocol: "ospf", peer: w[0] as string, state, up: state.startsWith("Full"), iface: w[4] as string, address: w[5] as string };
    })
    .sort((a, b) => (a.peer < b.peer ? -1 : 1));
}

export async function observeBird(h: Pick<Host, "run" | "exists" | "readFile">): Promise<ObservedBird> {
  const have = await h.run(["sh", "-c", "command -v bird && command -v birdc"], { timeoutMs: 5000 });
  const running = have.code === 0 && (await h.run(["birdc", "-s", BIRD_CTL, "show", "status"], { timeoutMs: 5000 })).code === 0;
  return { installed: have.code === 0, running, systemd: h.exists("/run/systemd/system") };
}

export async function birdSessions(run: Runner): Promise<RoutingSession[]> {
  const argv = ["birdc", "-s", BIRD_CTL, "show", "ospf", "neighbors"];
  const r = await run(argv, { timeoutMs: 15_000 });
  if (r.code !== 0)
    throw new CiabError("external", `'${argv.join(" ")}' exited with ${r.code}: ${(r.stderr || r.stdout).trim().split("\n")[0] ?? ""}`, {
      hint: "is BIRD running?",
    });
  return parseBirdOspfNeighbors(r.stdout);
}
