// Node records (DESIGN.md §9, issue 12 "Bad input"): what a node publishes about itself is validated like the mesh
// file before it is used, and the effective mesh is the mesh document with every valid record laid over its node
// (public key, endpoint, subnets). Pure: no I/O. The document stays vwgen's shape: a record only fills keys vwgen
// already has (PublicKey, Endpoint, Subnets), so the effective document renders like a hand-edited file.

import { parsePrefix } from "../ipam/ip.js";
import { PrefixIndex } from "../ipam/prefix-index.js";
import type { Learned, Mesh } from "../model/mesh.js";
import type { NodeRecord, RecordProblem } from "../model/record.js";
import type { TomlTable } from "../model/toml.js";

export type { RecordProblem } from "../model/record.js";

/**
 * What recordChecker reads of a mesh (its title, and each node's name, Subnets, addresses, public key and whether
 * its private key is in the mesh), as one string: meshes with equal keys accept and refuse the same records, so a
 * mesh edit of anything else (an endpoint, a port) needs no new check. Keep in step with recordChecker.
 */
export function checkKey(mesh: Mesh): string {
  return JSON.stringify([mesh.title, mesh.nodes.map((n) => [n.name, n.subnets, n.address, n.publicKey ?? null, Boolean(n.privateKey)])]);
}

/**
 * Checks records against `mesh` and against the records accepted so far: an unknown node, a key other than the one
 * the mesh holds for a node with a private key, another node's key, a subnet overlapping another node's subnet or
 * address (in the mesh or in an accepted record). The mesh's prefixes are parsed and indexed once (PrefixIndex).
 */
function recordChecker(mesh: Mesh) {
  const byName = new Map(mesh.nodes.map((n) => [n.name, n]));
  const taken = new PrefixIndex<{ owner: string; text: string }>();
  const keys = new Map<string, string[]>();
  const addKey = (key: string, owner: string) => keys.set(key, [...(keys.get(key) ?? []), owner]);
  const take = (text: string, owner: string) => {
    try {
      taken.add(parsePrefix(text, "subnet", false), { owner, text });
    } catch {
      /* the mesh's own validation names a bad prefix */
    }
  };
  for (const n of mesh.nodes) {
    for (const s of [...n.subnets, ...n.address]) take(s, n.name);
    if (n.publicKey) addKey(n.publicKey, n.name);
  }
  return {
    problems(rec: NodeRecord): RecordProblem[] {
      const out: RecordProblem[] = [];
      const p = (field: string, message: string) => out.push({ node: rec.node, field, message });
      const self = byName.get(rec.node);
      if (!self) p("node", `'${rec.node}' is not a node of network '${mesh.title}'`);
      if (rec.publicKey !== undefined) {
        if (self?.privateKey && self.publicKey !== rec.publicKey)
          p("publicKey", "differs from the key the mesh holds for this node (its private key is in the mesh)");
        else {
          const holder = keys.get(rec.publicKey)?.find((o) => o !== rec.node);
          if (holder) p("publicKey", `is the key of node '${holder}'`);
        }
      }
      for (const s of rec.subnets ?? []) {
        const clash = taken.find(parsePrefix(s, "subnet"), (t) => t.owner !== rec.node);
        if (clash) p("subnets", `${s} overlaps ${clash.text} of node '${clash.owner}'`);
      }
      return out;
    },
    accept(rec: NodeRecord): void {
      for (const s of rec.subnets ?? []) take(s, rec.node);
      if (rec.publicKey !== undefined) addKey(rec.publicKey, rec.node);
    },
  };
}

/** Why `rec` (parsed: model/record.ts checked its shape) may not be laid over `mesh` beside `others` (see recordChecker). */
export function recordProblems(mesh: Mesh, rec: NodeRecord, others: readonly NodeRecord[] = []): RecordProblem[] {
  const c = recordChecker(mesh);
  for (const o of others) if (o.node !== rec.node) c.accept(o);
  return c.problems(rec);
}

/**
 * The records that may be laid over `mesh`, in name order, and why the others are refused: each is checked against
 * the mesh and the records accepted before it, so of two nodes announcing one subnet the first keeps it. Depends
 * only on checkKey(mesh) and the records.
 */
export function acceptRecords(mesh: Mesh, records: readonly NodeRecord[]): { accepted: NodeRecord[]; refused: RecordProblem[] } {
  const check = recordChecker(mesh);
  const accepted: NodeRecord[] = [];
  const refused: RecordProblem[] = [];
  for (const rec of [...records].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0))) {
    const problems = check.problems(rec);
    if (problems.length) {
      refused.push(...problems);
      continue;
    }
    check.accept(rec);
    accepted.push(rec);
  }
  return { accepted, refused };
}

/**
 * Node tables laid over before (the agent's, between steps): the same node table with the same record gives the
 * same effective table object, so meshFromDoc's node memo (model/mesh.ts NodeMemo) reads it once.
 */
export type OverlayMemo = WeakMap<TomlTable, { key: string; table: TomlTable }>;

/**
 * `doc` with each accepted record's public key, endpoint and subnets on its node (acceptRecords checked them): a
 * new document and new tables for the nodes a record changes; every other table is `doc`'s own (do not mutate).
 */
export function overlayRecords(doc: TomlTable, accepted: readonly NodeRecord[], memo?: OverlayMemo): TomlTable {
  const nodes: TomlTable = { ...((doc.Node ?? {}) as TomlTable) };
  for (const rec of accepted) {
    const t = nodes[rec.node] as TomlTable;
    const key = JSON.stringify([t.PrivateKey ? null : (rec.publicKey ?? null), rec.endpoint ?? null, rec.subnets ?? null]);
    const known = memo?.get(t);
    if (known?.key === key) {
      nodes[rec.node] = known.table;
      continue;
    }
    const out: TomlTable = { ...t };
    if (rec.publicKey !== undefined && !t.PrivateKey) out.PublicKey = rec.publicKey;
    if (rec.endpoint !== undefined) out.Endpoint = rec.endpoint;
    if (rec.subnets !== undefined) out.Subnets = [...rec.subnets];
    memo?.set(t, { key, table: out });
    nodes[rec.node] = out;
  }
  return doc.Node === undefined ? { ...doc } : { ...doc, Node: nodes };
}

/**
 * What the accepted records say their agents learned (Mesh.learned): the STUN verdict, whether the record's endpoint
 * is the mapping STUN learned (agent.ts withLearned publishes it for an endpoint-independent NAT, or none), and the
 * peers they got no handshake from.
 */
export function learnedOf(accepted: readonly NodeRecord[]): Map<string, Learned> | undefined {
  const out = new Map<string, Learned>();
  for (const r of accepted) {
    if (!r.nat && !r.unreached?.length) continue;
    const mapped = r.nat?.kind === "endpoint-independent" || r.nat?.kind === "none";
    out.set(r.node, {
      ...(r.nat ? { nat: r.nat.kind } : {}),
      endpoint: mapped && r.endpoint !== undefined,
      ...(r.unreached?.length ? { unreached: new Set(r.unreached) } : {}),
    });
  }
  return out.size ? out : undefined;
}

/**
 * The effective mesh document: a copy of `doc` with each valid record's public key, endpoint and subnets on its
 * node (acceptRecords, overlayRecords); refused records are returned, not applied.
 */
export function effectiveDoc(doc: TomlTable, mesh: Mesh, records: readonly NodeRecord[]): { doc: TomlTable; refused: RecordProblem[] } {
  const { accepted, refused } = acceptRecords(mesh, records);
  return { doc: overlayRecords(doc, accepted), refused };
}
