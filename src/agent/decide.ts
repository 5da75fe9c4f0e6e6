// The agent's decisions as pure functions (issue 12 part 5 and "Bad input"): whether a registry answer replaces
// the last good mesh, when to retry, what the status says. The agent's I/O loop only calls these.
import type { MeshText, Revision } from "../registry/registry.js";

/** What the agent last applied (also what it caches on disk, 0600). */
export interface Cached {
  text: string;
  revision: Revision;
}

export type Answer = { kind: "mesh"; mesh: MeshText | undefined } | { kind: "error"; error: Error } | { kind: "timeout"; afterMs: number };

export type Decision = { action: "apply"; mesh: MeshText } | { action: "keep"; reason: string; reachable: boolean } | { action: "same" };

/**
 * Revisions are opaque, but two numeric ones (etcd's mod revisions) are ordered: a smaller one is a registry going
 * back in time (a restored backup, a lagging member). Undefined when they cannot be compared.
 */
export function olderThan(a: Revision, b: Revision): boolean | undefined {
  if (!/^\d+$/.test(a) || !/^\d+$/.test(b)) return undefined;
  return BigInt(a) < BigInt(b);
}

/**
 * What to do with a registry answer. `parse` checks the text (throws on garbage: a CiabError naming what is wrong).
 * Anything that is not a newer, valid mesh keeps the last good one and says why.
 */
export function decide(cache: Cached | undefined, answer: Answer, parse: (text: string) => void): Decision {
  if (answer.kind === "timeout") return { action: "keep", reachable: false, reason: `registry did not answer within ${answer.afterMs} ms` };
  if (answer.kind === "error") return { action: "keep", reachable: false, reason: `registry unreachable: ${answer.error.message}` };
  const m = answer.mesh;
  if (!m) return { action: "keep", reachable: true, reason: "the registry holds no mesh for this network (removed?); keeping the last good one" };
  if (typeof m.text !== "string" || typeof m.revision !== "string")
    return { action: "keep", reachable: true, reason: "registry answered garbage (no text or revision)" };
  if (cache && m.revision === cache.revision) return { action: "same" };
  if (cache && olderThan(m.revision, cache.revision))
    return { action: "keep", reachable: true, reason: `registry revision ${m.revision} is older than the cached ${cache.revision}; keeping the cache` };
  try {
    parse(m.text);
  } catch (e) {
    return { action: "keep", reachable: true, reason: `registry mesh at revision ${m.revision} is invalid: ${e instanceof Error ? e.message : String(e)}` };
  }
  return { action: "apply", mesh: m };
}

/** Retry delay after `failures` failures in a row: 250 ms doubling to 10 s (a registry back after an outage is used within 10 s), with ±20 % jitter from `rand` in [0,1). */
export function backoffMs(failures: number, rand: number): number {
  const base = Math.min(10_000, 250 * 2 ** Math.max(0, failures - 1));
  return Math.round(base * (0.8 + 0.4 * rand));
}

/** Coalesces a burst of registry events into one reconcile `delayMs` after the last one, at most `maxMs` after the first. */
export function debounceDue(firstAt: number, lastAt: number, delayMs = 100, maxMs = 400): number {
  return Math.min(lastAt + delayMs, firstAt + maxMs);
}

/** The agent's status file (shown by `ciab status`). */
export interface AgentStatus {
  version: 1;
  net: string;
  node: string;
  registry: string;
  reachable: boolean;
  /** The revision applied last (the cached mesh's). */
  revision?: Revision;
  appliedAt?: string;
  lastError?: string;
  lastErrorAt?: string;
  failures: number;
}

/** The status after `d` at `now`. */
export function nextStatus(s: AgentStatus, d: Decision, now: Date): AgentStatus {
  if (d.action === "apply")
    return { ...s, reachable: true, revision: d.mesh.revision, appliedAt: now.toISOString(), lastError: undefined, lastErrorAt: undefined, failures: 0 };
  if (d.action === "same") return { ...s, reachable: true, failures: 0 };
  return { ...s, reachable: d.reachable, lastError: d.reason, lastErrorAt: now.toISOString(), failures: s.failures + 1 };
}
