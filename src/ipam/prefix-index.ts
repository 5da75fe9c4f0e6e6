// Which stored prefix overlaps a given one, without comparing against all of them (issue 12 part 8: laying 1000
// node records over a 1000-node mesh compared every record with every node, parsing each prefix again: 8 s).
// Two CIDR prefixes overlap exactly when they are equal cut to the shorter length, so the entries are grouped by
// family and length, and each group is hashed by its addresses cut to a query's length (built once per length,
// kept up to date on add). A query costs one lookup per group. Pure.
import { type Family, mask, type Prefix } from "./ip.js";

interface Entry<T> {
  p: Prefix;
  value: T;
}

interface Group<T> {
  family: Family;
  len: number;
  entries: Entry<T>[];
  /** Query length -> entries by their address cut to that length. */
  cut: Map<number, Map<bigint, Entry<T>[]>>;
}

const push = <K, V>(m: Map<K, V[]>, k: K, v: V) => {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
};

export class PrefixIndex<T> {
  private readonly groups = new Map<string, Group<T>>();

  add(p: Prefix, value: T): void {
    const key = `${p.family}/${p.len}`;
    let g = this.groups.get(key);
    if (!g) {
      g = { family: p.family, len: p.len, entries: [], cut: new Map() };
      this.groups.set(key, g);
    }
    const e = { p, value };
    g.entries.push(e);
    for (const [len, m] of g.cut) push(m, p.addr & mask(p.family, len), e);
  }

  /** The first stored value whose prefix overlaps `p` and that `keep` accepts. */
  find(p: Prefix, keep: (value: T) => boolean = () => true): T | undefined {
    for (const g of this.groups.values()) {
      if (g.family !== p.family) continue;
      const len = Math.min(g.len, p.len);
      let m = g.cut.get(len);
      if (!m) {
        m = new Map();
        for (const e of g.entries) push(m, e.p.addr & mask(g.family, len), e);
        g.cut.set(len, m);
      }
      for (const e of m.get(p.addr & mask(p.family, len)) ?? []) if (keep(e.value)) return e.value;
    }
    return undefined;
  }
}
