// Node records (DESIGN.md §9, issue 12 "Bad input"): what a node publishes about itself is validated like the mesh
// file before it is used, and the effective mesh is the mesh document with every valid record laid over its node
// (public key, endpoint, subnets). Pure: no I/O. The document stays vwgen's shape: a record only fills keys vwgen
// already has (PublicKey, Endpoint, Subnets), so the effective document renders like a hand-edited file.

import { overlaps, parsePrefix } from "../ipam/ip.js";
import type { Mesh } from "../model/mesh.js";
import type { NodeRecord, RecordProblem } from "../model/record.js";
import type { TomlTable } from "../model/toml.js";

export type { RecordProblem } from "../model/record.js";

/**
 * Why `rec` (parsed: model/record.ts checked its shape, key, endpoint and special-purpose subnets) may not be laid
 * over `mesh`: an unknown node, a key other than the one the mesh holds for a node with a private key, another
 * node's key, a subnet overlapping another node's subnet or address (in the mesh or in the other records).
 */
export function recordProblems(mesh: Mesh, rec: NodeRecord, others: readonly NodeRecord[] = []): RecordProblem[] {
  const out: RecordProblem[] = [];
  const p = (field: string, message: string) => out.push({ node: rec.node, field, message });
  const self = mesh.nodes.find((n) => n.name === rec.node);
  if (!self) p("node", `'${rec.node}' is not a node of network '${mesh.title}'`);
  if (rec.publicKey !== undefined) {
    if (self?.privateKey && self.publicKey !== rec.publicKey)
      p("publicKey", "differs from the key the mesh holds for this node (its private key is in the mesh)");
    else {
      const holder =
        mesh.nodes.find((n) => n.name !== rec.node && n.publicKey === rec.publicKey) ??
        others.find((o) => o.node !== rec.node && o.publicKey === rec.publicKey);
      if (holder) p("publicKey", `is the key of node '${"name" in holder ? holder.name : holder.node}'`);
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
    const pre = parsePrefix(s, "subnet");
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
