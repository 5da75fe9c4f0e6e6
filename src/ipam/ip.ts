// IP address and prefix arithmetic on bigints. Pure; no I/O.
// Parsing is strict: a value that is not a well-formed address or prefix throws a CiabError naming it.
import ipaddr from "ipaddr.js";
import { invalid } from "../model/errors.js";

export type Family = 4 | 6;

export interface Prefix {
  family: Family;
  /** The address as written (host bits may be set, e.g. an interface address 10.0.0.5/24). */
  addr: bigint;
  len: number;
}

const BITS: Record<Family, number> = { 4: 32, 6: 128 };

export const bits = (f: Family): number => BITS[f];

// ipaddr.js's four-part decimal form (no leading zeros, each part 0-255), read without it: a mesh file holds a few
// IPv4 addresses per node, and this is most of what a call of `showconf` parses (issue 10).
const DOTTED_QUAD = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;

export function parseAddr(text: string, what = "address"): { family: Family; addr: bigint } {
  const t = text.trim();
  const q = DOTTED_QUAD.exec(t);
  if (q) {
    const [a, b, c, d] = [q[1], q[2], q[3], q[4]].map(Number) as [number, number, number, number];
    if (a <= 255 && b <= 255 && c <= 255 && d <= 255) return { family: 4, addr: BigInt(a * 2 ** 24 + b * 2 ** 16 + c * 2 ** 8 + d) };
  }
  // Not for an IPv6 text: ipaddr.js answers it by constructing and catching an error (with its stack trace), which
  // was a quarter of an agent's CPU per change at 1000 nodes (every node's IPv6 overlay address and link-local).
  if (!t.includes(":") && ipaddr.IPv4.isValidFourPartDecimal(t)) {
    const bytes = ipaddr.IPv4.parse(t).toByteArray();
    return { family: 4, addr: bytesToBig(bytes) };
  }
  if (t.includes(":") && ipaddr.IPv6.isValid(t) && !t.includes("%")) {
    const parsed = ipaddr.IPv6.parse(t);
    if (parsed.isIPv4MappedAddress() && t.includes(".")) {
      // keep as IPv6 even when written with an embedded dotted quad
    }
    return { family: 6, addr: bytesToBig(parsed.toByteArray()) };
  }
  throw invalid(`${what} '${text}' is not a valid IPv4 or IPv6 address`);
}

/** Parse "addr/len"; a missing /len means a host prefix. */
export function parsePrefix(text: string, what = "prefix", requireLen = true): Prefix {
  const t = text.trim();
  const slash = t.indexOf("/");
  if (slash < 0 && requireLen) throw invalid(`${what} '${text}' has no prefix length (expected address/length, e.g. 10.0.1.0/24)`);
  const a = parseAddr(slash < 0 ? t : t.slice(0, slash), what);
  const lenText = slash < 0 ? String(bits(a.family)) : t.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenText)) throw invalid(`${what} '${text}' has an invalid prefix length '${lenText}'`);
  const len = Number(lenText);
  if (len > bits(a.family)) throw invalid(`${what} '${text}': prefix length ${len} is longer than ${bits(a.family)} bits`);
  return { family: a.family, addr: a.addr, len };
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
  const hex = (from: number, to: number) =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(":");
  return best < 0 ? hex(0, 8) : `${hex(0, best)}::${hex(best + bestLen, 8)}`;
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

/** The prefixes of one family, canonical (host bits cleared) and sorted by address, then length. */
export function sortedNetworks(texts: readonly string[], family: Family): string[] {
  return texts
    .map((s) => network(parsePrefix(s)))
    .filter((p) => p.family === family)
    .sort((x, y) => (x.addr === y.addr ? x.len - y.len : x.addr < y.addr ? -1 : 1))
    .map(formatPrefix);
}
