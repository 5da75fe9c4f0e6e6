// "Did you mean": the closest known words to a mistyped one (set directives, node names, mesh-file keys). Pure; no
// I/O. One distance (optimal string alignment: Levenshtein plus the transposition of two neighbours, so `endpiont`
// is one edit from `endpoint`) and one threshold that grows with the word, so a far-off word gets no suggestion.
import { CiabError } from "./errors.js";

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent transpositions, each 1. */
export function editDistance(a: string, b: string): number {
  // Three rows: the one before the previous is needed for transpositions.
  let before: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, (before[j - 2] as number) + 1);
      row.push(d);
    }
    before = prev;
    prev = row;
  }
  return prev[b.length] as number;
}

/**
 * How many edits still count as a typo of a word of `length` characters: none for 1-2 (any two short words are
 * close), 1 for 3-4, 2 for 5-8, 3 beyond. The same rule for every kind of word.
 */
export const typoLimit = (length: number): number => (length <= 2 ? 0 : length <= 4 ? 1 : length <= 8 ? 2 : 3);

export interface SuggestOptions {
  /** Compare case-insensitively (`Endpoint` typed for `endpoint`). */
  ignoreCase?: boolean;
  /** Largest distance that counts (default: typoLimit of the typed word's length). */
  limit?: (word: string, candidate: string) => number;
  /** At most this many suggestions (default 3). */
  max?: number;
  /** Without a close word, suggest the words `word` begins (default true). */
  prefixes?: boolean;
}

/**
 * The known words closest to `word`: those at the smallest distance within the limit, in the order given. Without
 * one, the words `word` begins (`pool` for pool-ipv4 and pool-ipv6) when it has 3 characters or more. `word` itself
 * is never suggested.
 */
export function closest(word: string, known: readonly string[], o: SuggestOptions = {}): string[] {
  const fold = (s: string) => (o.ignoreCase ? s.toLowerCase() : s);
  const w = fold(word);
  const limit = o.limit ?? ((x: string) => typoLimit(x.length));
  const max = o.max ?? 3;
  let best = Number.POSITIVE_INFINITY;
  let found: string[] = [];
  for (const k of known) {
    if (k === word) continue;
    const d = editDistance(w, fold(k));
    if (d > limit(word, k) || d > best) continue;
    if (d < best) {
      best = d;
      found = [];
    }
    found.push(k);
  }
  if (found.length === 0 && o.prefixes !== false && w.length >= 3) found = known.filter((k) => k !== word && fold(k).startsWith(w));
  return found.slice(0, max);
}

/** "did you mean 'a'?", "did you mean 'a' or 'b'?", or undefined when nothing is close. */
export function didYouMean(word: string, known: readonly string[], o: SuggestOptions = {}): string | undefined {
  const found = closest(word, known, o);
  if (found.length === 0) return undefined;
  const quoted = found.map((k) => `'${k}'`);
  const last = quoted.pop() as string;
  return `did you mean ${quoted.length ? `${quoted.join(", ")} or ${last}` : last}?`;
}

/** At most this many node names are listed in a hint; a bigger mesh is pointed at `show`. */
const LIST_NODES = 12;

/**
 * "network 'm' has no node 'nod1' (did you mean 'node1'?)": the suggestion in the message, so it survives where only
 * messages are printed (the skipped arguments of add/del/blacklist); the hint lists the nodes of a small mesh.
 */
export function noSuchNode(net: string, name: string, nodes: readonly string[]): CiabError {
  const sorted = [...nodes].sort();
  const guess = didYouMean(name, sorted);
  const hint =
    sorted.length === 0
      ? `add it with 'ciab add ${net} ${name}'`
      : sorted.length <= LIST_NODES
        ? `nodes: ${sorted.join(", ")}`
        : `${sorted.length} nodes: 'ciab show ${net}' lists them`;
  return new CiabError("notFound", `network '${net}' has no node '${name}'${guess ? ` (${guess})` : ""}`, { where: { node: name }, hint });
}
