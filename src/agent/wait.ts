// `ciab up --wait`: after the reconcile, wait until this host's part of the mesh works as users rely on it, the same
// verdict as `ciab status` (agent/status.ts): every peer has a WireGuard handshake and answers an overlay ping, every
// routing session with it is up, and the routing daemon answers. Owns: the wait loop, its progress and the
// timeout's message. Must not: change anything, or print (progress goes through a callback; cli/ prints).
import { CiabError } from "../model/errors.js";
import type { DesiredHost } from "../plan/types.js";
import type { HostDeps } from "./host.js";
import { hostStatus, type StatusReport } from "./status.js";

export interface WaitOptions {
  timeoutMs: number;
  progress?: (msg: string) => void;
  /** Milliseconds; injectable for tests. */
  clock?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** The problems of a status report, one line: "peer n2 is down: never completed a WireGuard handshake; …". */
export const missingText = (s: StatusReport, max = 6): string =>
  s.problems.slice(0, max).join("; ") + (s.problems.length > max ? `; … ${s.problems.length - max} more` : "");

/** Resolves the first healthy status report; throws a `degraded` CiabError naming what is missing at the deadline. */
export async function waitHealthy(d: DesiredHost, deps: HostDeps, o: WaitOptions): Promise<StatusReport> {
  const clock = o.clock ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = clock() + o.timeoutMs;
  let said = "";
  for (;;) {
    const s = await hostStatus(d, deps);
    if (s.ok) return s;
    const text = missingText(s);
    if (text !== said) o.progress?.(`waiting for: ${text}`);
    said = text;
    if (clock() >= deadline)
      throw new CiabError("degraded", `node ${d.node} is not ready after ${Math.round(o.timeoutMs / 1000)} s: ${missingText(s, 20)}`, {
        hint: "see 'ciab status' on this host (and on the peers named above)",
      });
    await sleep(1000);
  }
}
