// What an edit changed, computed from the mesh document before and after it (README "Machine-readable output"):
// the nodes added and removed, the keys set per network and node with their old and new values, the blacklist pairs
// added and removed. Pure; no I/O. Secrets (private keys, pre-shared keys, passwords) never leave here as values:
// only whether they were set ("(redacted)").
import type { Mesh, MeshNode } from "./mesh.js";
import type { TomlTable, TomlValue } from "./toml.js";

/** One key of a table, before and after; undefined (absent in JSON) when the key did not exist on that side. */
export interface KeyChange {
  key: string;
  before?: unknown;
  after?: unknown;
}

/** A node the edit allocated: what other hosts and the admin need of it (never its private key). */
export interface NodeSummary {
  name: string;
  address: string[];
  vtep: string;
  linkLayerAddress: string[];
  listenPort: number;
  publicKey: string;
}

export interface DocChanges {
  added: NodeSummary[];
  removed: string[];
  /** Keys of [Network], [PresharedKeys] and other tables that are not a node's. */
  network: KeyChange[];
  /** Keys changed on nodes that exist before and after, by node name. */
  nodes: Record<string, KeyChange[]>;
  blacklist: { added: [string, string][]; removed: [string, string][] };
}

export const REDACTED = "(redacted)";
const SECRET_KEY = /privatekey|preshared|password|secret/i;

const isTable = (v: unknown): v is TomlTable => typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);

/** A value as JSON shows it: bigints as numbers when exact, dates as ISO text. */
function plain(v: TomlValue | undefined): unknown {
  if (v === undefined) return undefined;
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(plain);
  if (isTable(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

const same = (a: TomlValue | undefined, b: TomlValue | undefined): boolean => JSON.stringify(plain(a)) === JSON.stringify(plain(b));

/** The changed keys of one table (a nested table is one key, compared whole); `secret` redacts every value. */
function tableChanges(before: TomlTable, after: TomlTable, secret = false): KeyChange[] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const hide = (k: string, v: TomlValue | undefined) => (v === undefined ? undefined : secret || SECRET_KEY.test(k) ? REDACTED : plain(v));
  return keys
    .filter((k) => !same(before[k], after[k]))
    .map((k) => {
      const c: KeyChange = { key: k };
      const b = hide(k, before[k]);
      const a = hide(k, after[k]);
      if (b !== undefined) c.before = b;
      if (a !== undefined) c.after = a;
      return c;
    });
}

const pairsOf = (doc: TomlTable): Set<string> => {
  const bl = isTable(doc.PeerBlacklist) ? doc.PeerBlacklist.Blacklist : undefined;
  if (!Array.isArray(bl)) return new Set();
  return new Set(bl.filter((p): p is TomlValue[] => Array.isArray(p) && p.length === 2).map((p) => `${String(p[0])},${String(p[1])}`));
};

const toPair = (s: string): [string, string] => {
  const i = s.indexOf(",");
  return [s.slice(0, i), s.slice(i + 1)];
};

export const nodeSummary = (n: MeshNode): NodeSummary => ({
  name: n.name,
  address: n.address,
  vtep: n.vtep,
  linkLayerAddress: n.linkLayerAddress,
  listenPort: n.listenPort,
  publicKey: n.publicKey,
});

/** The changes from `before` (undefined: a new file) to `after`; `mesh` is `after` read, for what add allocated. */
export function docChanges(before: TomlTable | undefined, after: TomlTable, mesh: Mesh): DocChanges {
  const b = before ?? {};
  const nodesOf = (d: TomlTable): TomlTable => (isTable(d.Node) ? d.Node : {});
  const bn = nodesOf(b);
  const an = nodesOf(after);
  const addedNames = Object.keys(an).filter((n) => !Object.hasOwn(bn, n));
  const byName = new Map(mesh.nodes.map((n) => [n.name, n]));
  const nodes: Record<string, KeyChange[]> = {};
  for (const n of Object.keys(an).sort()) {
    const bt = bn[n];
    const at = an[n];
    if (!Object.hasOwn(bn, n) || !isTable(bt) || !isTable(at)) continue;
    const c = tableChanges(bt, at);
    if (c.length) nodes[n] = c;
  }
  // Every table but the nodes and the blacklist, as "Table.Key" (the [Network] keys as plain "Key").
  const network: KeyChange[] = [];
  for (const t of [...new Set([...Object.keys(b), ...Object.keys(after)])].sort()) {
    if (t === "Node" || t === "PeerBlacklist") continue;
    const bt = b[t];
    const at = after[t];
    if (!isTable(bt) && !isTable(at)) {
      network.push(...tableChanges({ [t]: bt as TomlValue }, { [t]: at as TomlValue }).filter((c) => c.before !== undefined || c.after !== undefined));
      continue;
    }
    const changes = tableChanges(isTable(bt) ? bt : {}, isTable(at) ? at : {}, t === "PresharedKeys");
    network.push(...changes.map((c) => (t === "Network" ? c : { ...c, key: `${t}.${c.key}` })));
  }
  const bp = pairsOf(b);
  const ap = pairsOf(after);
  return {
    added: addedNames
      .sort()
      .map((n) => byName.get(n))
      .filter((n): n is MeshNode => n !== undefined)
      .map(nodeSummary),
    removed: Object.keys(bn)
      .filter((n) => !Object.hasOwn(an, n))
      .sort(),
    network,
    nodes,
    blacklist: { added: [...ap].filter((p) => !bp.has(p)).map(toPair), removed: [...bp].filter((p) => !ap.has(p)).map(toPair) },
  };
}

export const noChanges = (): DocChanges => ({ added: [], removed: [], network: [], nodes: {}, blacklist: { added: [], removed: [] } });
