// IP address and prefix arithmetic on bigints. Pure; no I/O.
// Parsing is strict: a value that is not a well-formed address or prefix throws a CiabError naming it.
import { invalid } from "../model/errors.js";

export type Family = 4 | 6;

export interface Prefix {
  readonly family: Family;
  /** The address as written (host bits may be set, e.g. an interface address 10.0.0.5/24). */
  readonly addr: bigint;
  readonly len: number;
}

const BITS: Record<Family, number> = { 4: 32, 6: 128 };

export const bits = (f: Family): number => BITS[f];

/** An IPv4 address in four-part decimal (each part 0-255, no leading zero, as inet_pton and ipaddr.js read it). */
function parseIPv4(t: string): number | undefined {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i <= t.length; i++) {
    const c = i < t.length ? t.charCodeAt(i) : 46; // the end closes the last part as a dot would
    if (c >= 48 && c <= 57) {
      if (digits === 1 && part === 0) return undefined; // a leading zero
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return undefined;
    } else if (c === 46 && digits > 0) {
      n = n * 256 + part;
      part = 0;
      digits = 0;
      if (i < t.length && ++dots > 3) return undefined;
    } else return undefined;
  }
  return dots === 3 ? n : undefined;
}

/** A 1-4 digit hex group, or -1. */
function hexGroup(g: string): number {
  if (g.length === 0 || g.length > 4) return -1;
  let v = 0;
  for (let i = 0; i < g.length; i++) {
    const c = g.charCodeAt(i);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/** The 16-bit groups of one side of "::" (the last may be a dotted quad, two groups), or undefined. */
function ipv6Groups(side: string, last: boolean): number[] | undefined {
  if (side === "") return [];
  const parts = side.split(":");
  const out: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const g = parts[i] as string;
    if (last && i === parts.length - 1 && g.includes(".")) {
      const v4 = parseIPv4(g);
      if (v4 === undefined) return undefined;
      out.push(v4 >>> 16, v4 & 0xffff);
    } else {
      const v = hexGroup(g);
      if (v < 0) return undefined;
      out.push(v);
    }
  }
  return out;
}

/** An IPv6 address as RFC 4291 §2.2 writes it ("::" once, for one or more zero groups; a final dotted quad), no zone. */
function parseIPv6(t: string): bigint | undefined {
  const gap = t.indexOf("::");
  let groups: number[];
  if (gap < 0) {
    const all = ipv6Groups(t, true);
    if (all?.length !== 8) return undefined;
    groups = all;
  } else {
    if (t.indexOf("::", gap + 1) >= 0) return undefined;
    const head = ipv6Groups(t.slice(0, gap), false);
    const tail = ipv6Groups(t.slice(gap + 2), true);
    if (!head || !tail || head.length + tail.length > 7) return undefined;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  return v;
}

export function parseAddr(text: string, what = "address"): { family: Family; addr: bigint } {
  const t = text.trim();
  const v4 = parseIPv4(t);
  if (v4 !== undefined) return { family: 4, addr: BigInt(v4) };
  const v6 = t.includes(":") ? parseIPv6(t) : undefined;
  if (v6 !== undefined) return { family: 6, addr: v6 };
  throw invalid(`${what} '${text}' is not a valid IPv4 or IPv6 address`);
}

// A mesh file names the same address in several places (Address, AllowedIPs, LinkLayerAddress, endpoints) and each
// check reads it again: the prefixes that parsed are kept by their text (callers never change a Prefix).
const parsed = new Map<string, Prefix>();

/** Parse "addr/len"; a missing /len means a host prefix. */
export function parsePrefix(text: string, what = "prefix", requireLen = true): Prefix {
  const known = parsed.get(text);
  if (known !== undefined && (!requireLen || text.includes("/"))) return known;
  const t = text.trim();
  const slash = t.indexOf("/");
  if (slash < 0 && requireLen) throw invalid(`${what} '${text}' has no prefix length (expected address/length, e.g. 10.0.1.0/24)`);
  const a = parseAddr(slash < 0 ? t : t.slice(0, slash), what);
  const lenText = slash < 0 ? String(bits(a.family)) : t.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenText)) throw invalid(`${what} '${text}' has an invalid prefix length '${lenText}'`);
  const len = Number(lenText);
  if (len > bits(a.family)) throw invalid(`${what} '${text}': prefix length ${len} is longer than ${bits(a.family)} bits`);
  const p: Prefix = { family: a.family, addr: a.addr, len };
  if (parsed.size < 100_000) parsed.set(text, p);
  return p;
}

const MASKS: Record<Family, bigint[]> = { 4: [], 6: [] };
for (const f of [4, 6] as Family[]) {
  const b = BigInt(BITS[f]);
  for (let len = 0; len <= BITS[f]; len++) MASKS[f].push(len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << (b - BigInt(len)));
}

export const mask = (f: Family, len: number): bigint => MASKS[f][len] as bigint;

export const hostmask = (f: Family, len: number): bigint => ((1n << BigInt(bits(f))) - 1n) ^ mask(f, len);

export const network = (p: Prefix): Prefix => ({ family: p.family, addr: p.addr & mask(p.family, p.len), len: p.len });

export const size = (p: Prefix): bigint => 1n << BigInt(bits(p.family) - p.len);

export function contains(outer: Prefix, inner: Prefix): boolean {
  return (
    outer.family === inner.family && outer.len <= inner.len && (inner.addr & mask(outer.family, outer.len)) === (outer.addr & mask(outer.family, outer.len))
  );
}

export function overlaps(a: Prefix, b: Prefix): boolean {
  return contains(a, b) || contains(b, a);
}

export function formatAddr(family: Family, addr: bigint): string {
  if (family === 4) {
    const n = Number(addr);
    return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((addr >> BigInt(i * 16)) & 0xffffn));
  return formatIPv6Groups(groups);
}

/**
 * Eight 16-bit groups as RFC 5952 text (§4: lowercase, no leading zeros, the longest run of two or more zero groups
 * as "::", the first of equal runs), as Python's ipaddress (so vwgen) writes it; ipaddr.js picks an inner run on ties.
 */
export function formatIPv6Groups(groups: readonly number[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  let out = "";
  for (let i = 0; i < 8; i++) {
    if (i === best) {
      out += "::";
      i += bestLen - 1;
    } else out += out === "" || out.endsWith(":") ? (groups[i] as number).toString(16) : `:${(groups[i] as number).toString(16)}`;
  }
  return out;
}

export const formatPrefix = (p: Prefix): string => `${formatAddr(p.family, p.addr)}/${p.len}`;

/** Canonical form of a network prefix (host bits cleared), as Python's ipaddress strict=False gives. */
export const canonicalNetwork = (text: string, what?: string): string => formatPrefix(network(parsePrefix(text, what)));

export function bytesToBig(bytes: ArrayLike<number>): bigint {
  let v = 0n;
  for (let i = 0; i < bytes.length; i++) v = (v << 8n) | BigInt(bytes[i] ?? 0);
  return v;
}

/** Reverse-DNS name of an address (in-addr.arpa / ip6.arpa), without the trailing dot. */
export function reversePointer(family: Family, addr: bigint): string {
  if (family === 4) return `${formatAddr(4, addr).split(".").reverse().join(".")}.in-addr.arpa`;
  const hex = addr.toString(16).padStart(32, "0");
  return `${[...hex].reverse().join(".")}.ip6.arpa`;
}

/** The reverse zone that holds a prefix: the prefix widened to a label boundary (8 bits v4, 4 bits v6). */
export function reverseZone(p: Prefix): string {
  const step = p.family === 4 ? 8 : 4;
  const len = Math.floor(p.len / step) * step;
  const labels = len / step;
  const full = reversePointer(p.family, p.addr).split(".");
  const suffix = p.family === 4 ? 2 : 2; // "in-addr","arpa" | "ip6","arpa"
  const total = full.length - suffix;
  return full.slice(total - labels).join(".");
}

/** An address in canonical text ("2001:DB8::0:1" -> "2001:db8::1"); text that is no address comes back unchanged. */
export function canonicalAddr(a: string): string {
  try {
    const p = parseAddr(a);
    return formatAddr(p.family, p.addr);
  } catch {
    return a;
  }
}

/**
 * The prefixes (or bare addresses) not covered by another one of the list, in their original order and text:
 * nftables refuses overlapping intervals in a set. Prefixes either nest or are disjoint, so after sorting by
 * address and length one sweep finds every covered one: O(n log n).
 */
export function outermost(items: string[]): string[] {
  const parsed = items.map((text, i) => ({ i, p: network(parsePrefix(text, "prefix", false)) }));
  parsed.sort((a, b) => a.p.family - b.p.family || (a.p.addr < b.p.addr ? -1 : a.p.addr > b.p.addr ? 1 : a.p.len - b.p.len));
  const keep = new Set<number>();
  let last: Prefix | undefined;
  for (const { i, p } of parsed) {
    if (last && contains(last, p)) continue;
    keep.add(i);
    last = p;
  }
  return items.filter((_, i) => keep.has(i));
}

/**
 * The same address set as `items`, in fewer elements: outermost(), then any two sibling halves that are both present
 * (10.0.0.0/24 and 10.0.1.0/24) become their supernet (10.0.0.0/23), repeatedly. Only for sets that mean "any of
 * these addresses" (nftables interval sets). Elements left as they were keep their text and order; a supernet takes
 * the place of the first of its parts. Sorted and disjoint after outermost, siblings are neighbours: one sweep with a stack,
 * O(n log n).
 */
export function aggregate(items: string[]): string[] {
  const parsed = items
    .map((text, i) => ({ i, text, p: network(parsePrefix(text, "prefix", false)) }))
    .sort((a, b) => a.p.family - b.p.family || (a.p.addr < b.p.addr ? -1 : a.p.addr > b.p.addr ? 1 : a.p.len - b.p.len));
  const stack: { i: number; text: string; p: Prefix }[] = [];
  for (const x of parsed) {
    const last = stack[stack.length - 1];
    if (last && contains(last.p, x.p)) continue;
    stack.push(x);
    for (;;) {
      const hi = stack[stack.length - 1] as (typeof stack)[number];
      const lo = stack[stack.length - 2];
      if (!lo || !siblings(lo.p, hi.p)) break;
      stack.length -= 2;
      const up: Prefix = { family: lo.p.family, addr: lo.p.addr, len: lo.p.len - 1 };
      stack.push({ i: Math.min(lo.i, hi.i), text: formatPrefix(up), p: up });
    }
  }
  return stack.sort((a, b) => a.i - b.i).map((x) => x.text);
}

/** `lo` and `hi` are the two halves of one prefix: same family and length, `lo` the lower half, `hi` right after it. */
const siblings = (lo: Prefix, hi: Prefix): boolean =>
  lo.family === hi.family && lo.len === hi.len && lo.len > 0 && (lo.addr & hostmask(lo.family, lo.len - 1)) === 0n && hi.addr === lo.addr + size(lo);

/** The prefixes of one family, canonical (host bits cleared) and sorted by address, then length. */
export function sortedNetworks(texts: readonly string[], family: Family): string[] {
  return texts
    .map((s) => network(parsePrefix(s)))
    .filter((p) => p.family === family)
    .sort((x, y) => (x.addr === y.addr ? x.len - y.len : x.addr < y.addr ? -1 : 1))
    .map(formatPrefix);
}
