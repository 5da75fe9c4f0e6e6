// Node records (DESIGN.md §9, issue 12 "Bad input"): what a node publishes about itself is validated like the mesh
// file before it is used, and the effective mesh is the mesh document with every valid record laid over its node
// (public key, endpoint, subnets). Pure: no I/O. The document stays vwgen's shape: a record only fills keys vwgen
// already has (PublicKey, Endpoint, Subnets), so the effective document renders like a hand-edited file.

import { overlaps, parsePrefix } from "../ipam/ip.js";
import { overlapsSpecial } from "../ipam/special.js";
import { keyShape } from "../keys/x25519.js";
import type { Mesh } from "../model/mesh.js";
import { endpointProblem, NODE_NAME, parseEndpoint } from "../model/mesh.js";
import type { TomlTable } from "../model/toml.js";
import type { NodeRecord } from "./registry.js";

/** One reason a record is refused, naming its field. */
export interface RecordProblem {
  node: string;
  field: "node" | "version" | "publicKey" | "endpoint" | "subnets" | "updatedAt" | "record";
  message: string;
}

/** The shape of a record read back from a registry (anything may be there: a registry can answer garbage). */
export function recordShapeProblems(v: unknown): RecordProblem[] {
  const o = v as Record<string, unknown>;
  const node = typeof o?.node === "string" ? o.node : "?";
  const p = (field: RecordProblem["field"], message: string): RecordProblem => ({ node, field, message });
  if (typeof v !== "object" || v === null || Array.isArray(v)) return [p("record", "is not an object")];
  const out: RecordProblem[] = [];
  if (o.version !== 1) out.push(p("version", `is ${JSON.stringify(o.version)}, expected 1`));
  if (typeof o.node !== "string" || !NODE_NAME.test(o.node)) out.push(p("node", "is missing or not a node name"));
  if (o.publicKey !== undefined && typeof o.publicKey !== "string") out.push(p("publicKey", "is not a string"));
  if (o.endpoint !== undefined && typeof o.endpoint !== "string") out.push(p("endpoint", "is not a string"));
  if (o.subnets !== undefined && !(Array.isArray(o.subnets) && o.subnets.every((s) => typeof s === "string")))
    out.push(p("subnets", "is not a list of strings"));
  if (typeof o.updatedAt !== "string" || Number.isNaN(Date.parse(o.updatedAt))) out.push(p("updatedAt", "is missing or not an ISO 8601 time"));
  return out;
}

/**
 * Why `rec` may not be laid over `mesh`: unknown node, a key of the wrong shape or not the one the mesh holds for a
 * node with a private key, an endpoint no peer can reach (special-purpose range), a subnet that is special-purpose
 * or overlaps another node's subnet or address (in the mesh or in the other records).
 */
export function recordProblems(mesh: Mesh, rec: NodeRecord, others: readonly NodeRecord[] = []): RecordProblem[] {
  const shape = recordShapeProblems(rec);
  if (shape.length) return shape;
  const out: RecordProblem[] = [];
  const p = (field: RecordProblem["field"], message: string) => out.push({ node: rec.node, field, message });
  const self = mesh.nodes.find((n) => n.name === rec.node);
  if (!self) p("node", `'${rec.node}' is not a node of network '${mesh.title}'`);
  if (rec.publicKey !== undefined) {
    const why = keyShape(rec.publicKey);
    if (why) p("publicKey", `is not a valid WireGuard key (${why})`);
    else if (self?.privateKey && self.publicKey !== rec.publicKey)
      p("publicKey", "differs from the key the mesh holds for this node (its private key is in the mesh)");
    else {
      const holder =
        mesh.nodes.find((n) => n.name !== rec.node && n.publicKey === rec.publicKey) ??
        others.find((o) => o.node !== rec.node && o.publicKey === rec.publicKey);
      if (holder) p("publicKey", `is the key of node '${"name" in holder ? holder.name : holder.node}'`);
    }
  }
  if (rec.endpoint !== undefined) {
    try {
      const ep = parseEndpoint(rec.endpoint, "endpoint");
      const why = endpointProblem(ep);
      if (why) p("endpoint", why);
    } catch (e) {
      p("endpoint", e instanceof Error ? e.message : String(e));
    }
  }
  const taken: { owner: string; text: string }[] = [];
  for (const n of mesh.nodes) {
    if (n.name === rec.node) continue;
    for (const s of n.subnets) taken.push({ owner: n.name, text: s });
    for (const a of n.address) taken.push({ owner: n.name, text: a });
  }
  for (const o of others) if (o.node !== rec.node) for (const s of o.subnets ?? []) taken.push({ owner: o.node, text: s });
  for (const s of rec.subnets ?? []) {
    let pre: ReturnType<typeof parsePrefix>;
    try {
      pre = parsePrefix(s, "subnet");
    } catch (e) {
      p("subnets", e instanceof Error ? e.message : String(e));
      continue;
    }
    const special = overlapsSpecial(pre);
    if (special) {
      p("subnets", `${s} overlaps ${special.text}, ${special.name}`);
      continue;
    }
    const clash = taken.find((t) => {
      try {
        return overlaps(parsePrefix(t.text, "subnet", false), pre);
      } catch {
        return false;
      }
    });
    if (clash) p("subnets", `${s} overlaps ${clash.text} of node '${clash.owner}'`);
  }
  return out;
}

/**
 * The effective mesh document: a copy of `doc` with each record's public key, endpoint and subnets on its node.
 * Records are taken in name order and each is checked against the mesh and the records accepted before it, so
 * of two nodes announcing one subnet the first keeps it; refused records are returned, not applied.
 */
export function effectiveDoc(doc: TomlTable, mesh: Mesh, records: readonly NodeRecord[]): { doc: TomlTable; refused: RecordProblem[] } {
  const out = structuredClone(doc) as TomlTable;
  const nodes = (out.Node ?? {}) as TomlTable;
  const accepted: NodeRecord[] = [];
  const refused: RecordProblem[] = [];
  for (const rec of [...records].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0))) {
    const problems = recordProblems(mesh, rec, accepted);
    if (problems.length) {
      refused.push(...problems);
      continue;
    }
    accepted.push(rec);
    const t = nodes[rec.node] as TomlTable;
    if (rec.publicKey !== undefined && !t.PrivateKey) t.PublicKey = rec.publicKey;
    if (rec.endpoint !== undefined) t.Endpoint = rec.endpoint;
    if (rec.subnets !== undefined) t.Subnets = [...rec.subnets];
  }
  return { doc: out, refused };
}
