// What a node publishes about itself in the registry (DESIGN.md §9): its public key, the endpoint it observed, the
// subnets it discovered, its agent's version and health. A record arrives from the network, so it is validated
// like a mesh file before anything uses it: every error names its field, and never repeats a value that could be a
// secret. Pure; no I/O.

import { parsePrefix } from "../ipam/ip.js";
import { overlapsSpecial } from "../ipam/special.js";
import { isLowOrderKey, keyShape } from "../keys/x25519.js";
import { CiabError } from "./errors.js";
import { checkNodeName, endpointProblem, parseEndpoint } from "./mesh.js";
import { controlAt } from "./schema.js";

export interface NodeRecord {
  version: 1;
  node: string;
  /** Base64 X25519 public key; the private key never leaves the host. */
  publicKey?: string;
  /** The endpoint the node observed for itself (configured, or learnt by STUN): `host:port`, `[v6]:port`. */
  endpoint?: string;
  /** Subnets the node discovered (LXD bridges), CIDR. */
  subnets?: string[];
  agentVersion?: string;
  health?: "ok" | "degraded" | "failed";
  lastError?: string;
  /**
   * What the node's agent learned about the NAT in front of it by STUN (issue 13): the verdict, how the mapping of
   * the WireGuard port was learned, and why (one line). With an endpoint-independent mapping, `endpoint` is the
   * mapping; a symmetric NAT advertises none (the node needs a relay).
   */
  nat?: { kind: NatKind; method: StunMethod; reason: string };
  /**
   * Peers this node's agent got no WireGuard handshake from for a bounded time (issue 13 part 5; agent/reach.ts),
   * sorted: the topology carries such a pair through a relay, and keeps their direct peer as a probe so that the pair
   * goes direct again once it handshakes.
   */
  unreached?: string[];
  /** ISO 8601, set by the publisher. */
  updatedAt: string;
}

/** How the mapping of the WireGuard port was learned (nat/classify.ts says which). */
export type StunMethod =
  /** A socket on a fixed STUN port whose requests an nft rule SNATs to the WireGuard port (NAT-FINDINGS §3a). */
  | "scoped-snat"
  /** The STUN socket's own port, no rewriting: the mapping of that port, not of WireGuard's (tests, diagnostics). */
  | "direct";

/** What STUN answers said about the NAT (nat/classify.ts): none, endpoint-independent (advertised), symmetric, unknown. */
export type NatKind = "none" | "endpoint-independent" | "symmetric" | "unknown";

const NAT_KINDS = new Set<string>(["none", "endpoint-independent", "symmetric", "unknown"]);
const STUN_METHODS = new Set<string>(["scoped-snat", "direct"]);

/** The most peers one record may report unreached (a mesh's node count is bounded by its pool, not here). */
const MAX_UNREACHED = 4096;

const HEALTH = new Set(["ok", "degraded", "failed"]);
const FIELDS = new Set(["version", "node", "publicKey", "endpoint", "subnets", "agentVersion", "health", "lastError", "nat", "unreached", "updatedAt"]);

/** One reason a record is refused, naming its field (never repeating a value that could be a secret). */
export interface RecordProblem {
  node: string;
  field: string;
  message: string;
}

class Refused extends Error {
  constructor(readonly problem: RecordProblem) {
    super(problem.message);
  }
}
const bad = (node: string, field: string, why: string) => new Refused({ node, field, message: why });

/** A problem as the error the user sees (exit 4). */
export const recordError = (p: RecordProblem): CiabError =>
  new CiabError("invalid", `record of node '${p.node}': ${p.field} ${p.message}`, {
    where: { node: p.node },
    hint: "the node's agent wrote it: fix or remove the record, then restart the agent",
  });

/** Parse and check one record (JSON text or a value) published under `node`'s key; a bad one throws (exit 4). */
export function parseRecord(input: string | unknown, node: string): NodeRecord {
  const r = readRecord(input, node);
  if ("problem" in r) throw recordError(r.problem);
  return r.record;
}

/** parseRecord without throwing: what a reader of many records uses (one bad record must not hide the others). */
export function readRecord(input: string | unknown, node: string): { record: NodeRecord } | { problem: RecordProblem } {
  try {
    return { record: checkRecord(input, node) };
  } catch (e) {
    if (e instanceof Refused) return { problem: e.problem };
    if (e instanceof CiabError) return { problem: { node: String(node).slice(0, 64), field: "node", message: e.message } };
    throw e;
  }
}

function checkRecord(input: string | unknown, node: string): NodeRecord {
  let v: unknown = input;
  if (typeof input === "string") {
    try {
      v = JSON.parse(input);
    } catch {
      throw bad(node, "(the whole record)", "is not JSON");
    }
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad(node, "(the whole record)", "is not a JSON object");
  const r = v as Record<string, unknown>;
  for (const k of Object.keys(r)) if (!FIELDS.has(k)) throw bad(node, k, "is not a record field");
  if (r.version !== 1) throw bad(node, "version", "must be 1");
  if (r.node !== node) throw bad(node, "node", "must be the name of the key it is stored under");
  checkNodeName(node);
  const str = (k: string, max: number): string | undefined => {
    const x = r[k];
    if (x === undefined) return undefined;
    if (typeof x !== "string" || x.length > max) throw bad(node, k, `must be a string of at most ${max} characters`);
    return x;
  };
  const publicKey = str("publicKey", 64);
  if (publicKey !== undefined) {
    const shape = keyShape(publicKey);
    if (shape) throw bad(node, "publicKey", `is not a WireGuard public key (${shape})`);
    if (isLowOrderKey(publicKey)) throw bad(node, "publicKey", "is a low-order point (no tunnel could come up)");
  }
  const endpoint = str("endpoint", 300);
  if (endpoint !== undefined) {
    let why: string | undefined;
    try {
      why = endpointProblem(parseEndpoint(endpoint, "endpoint"));
    } catch (e) {
      why = e instanceof CiabError ? e.message : String(e);
    }
    if (why) throw bad(node, "endpoint", `is unusable: ${why}`);
  }
  let subnets: string[] | undefined;
  if (r.subnets !== undefined) {
    if (!Array.isArray(r.subnets) || r.subnets.length > 1024 || r.subnets.some((s) => typeof s !== "string"))
      throw bad(node, "subnets", "must be a list of at most 1024 CIDR strings");
    subnets = r.subnets as string[];
    for (const s of subnets) {
      let p: ReturnType<typeof parsePrefix>;
      try {
        p = parsePrefix(s, "subnet");
      } catch {
        throw bad(node, "subnets", `holds '${s.slice(0, 50)}', which is not a CIDR prefix`);
      }
      const special = overlapsSpecial(p);
      if (special) throw bad(node, "subnets", `holds ${s}, which overlaps ${special.text} (${special.name})`);
    }
  }
  const health = r.health;
  if (health !== undefined && !HEALTH.has(health as string)) throw bad(node, "health", "must be ok, degraded or failed");
  let nat: NodeRecord["nat"];
  if (r.nat !== undefined) {
    const n = r.nat as Record<string, unknown>;
    if (typeof n !== "object" || n === null || Array.isArray(n) || Object.keys(n).some((k) => !["kind", "method", "reason"].includes(k)))
      throw bad(node, "nat", "must be an object of kind, method and reason");
    if (!NAT_KINDS.has(n.kind as string)) throw bad(node, "nat.kind", "must be none, endpoint-independent, symmetric or unknown");
    if (!STUN_METHODS.has(n.method as string)) throw bad(node, "nat.method", "must be scoped-snat or direct");
    if (typeof n.reason !== "string" || n.reason.length > 500 || controlAt(n.reason) !== 0)
      throw bad(node, "nat.reason", "must be one line of at most 500 characters");
    nat = { kind: n.kind as NatKind, method: n.method as StunMethod, reason: n.reason };
  }
  let unreached: string[] | undefined;
  if (r.unreached !== undefined) {
    if (!Array.isArray(r.unreached) || r.unreached.length > MAX_UNREACHED || r.unreached.some((x) => typeof x !== "string"))
      throw bad(node, "unreached", `must be a list of at most ${MAX_UNREACHED} node names`);
    for (const x of r.unreached as string[]) {
      try {
        checkNodeName(x);
      } catch {
        throw bad(node, "unreached", `holds '${x.slice(0, 50).replace(/[^\x20-\x7e]/g, "?")}', which is not a node name`);
      }
      if (x === node) throw bad(node, "unreached", "names the node itself");
    }
    unreached = [...new Set(r.unreached as string[])].sort();
  }
  const updatedAt = str("updatedAt", 40);
  if (updatedAt === undefined || Number.isNaN(Date.parse(updatedAt))) throw bad(node, "updatedAt", "must be an ISO 8601 time");
  return {
    version: 1,
    node,
    ...(publicKey !== undefined ? { publicKey } : {}),
    ...(endpoint !== undefined ? { endpoint } : {}),
    ...(subnets !== undefined ? { subnets } : {}),
    ...(str("agentVersion", 64) !== undefined ? { agentVersion: str("agentVersion", 64) } : {}),
    ...(health !== undefined ? { health: health as NodeRecord["health"] } : {}),
    ...(str("lastError", 2000) !== undefined ? { lastError: str("lastError", 2000) } : {}),
    ...(nat !== undefined ? { nat } : {}),
    ...(unreached !== undefined ? { unreached } : {}),
    updatedAt,
  };
}
