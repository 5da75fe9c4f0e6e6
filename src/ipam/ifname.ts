// The one namer of the interfaces ciab creates: stable names of at most 15 bytes (Linux's IFNAMSIZ 16 with its NUL).
// A name that fits is used as it is, so today's `NET` (WireGuard) and `vNET` (VXLAN) never change; a longer one
// keeps a readable head and ends in a hash of the whole name, so different long names stay different and the same
// name always maps to the same interface (cdk8s's bounded, hashed names). Pure; no I/O.
import { createHash } from "node:crypto";

/** Linux refuses longer interface names (IFNAMSIZ - 1). */
export const IFNAME_MAX = 15;
/** Hash characters at the end of a shortened name: 32^8 = 2^40 values (20000 names collide with p < 0.0002). */
export const HASH_CHARS = 8;
const B32 = "abcdefghijklmnopqrstuvwxyz234567";

const bytes = (s: string): number => Buffer.byteLength(s, "utf8");

/** Lower-case base32 of the name's SHA-256, `n` characters: the one hash of every shortened interface name. */
export function hashName(name: string, n: number): string {
  const h = createHash("sha256").update(name).digest();
  let out = "";
  for (let i = 0; out.length < n; i++) out += B32[(h[i] as number) & 31];
  return out;
}

/**
 * The interface name for `prefix` + `base` (+ `-suffix`): as it is when it fits in 15 bytes, else the longest head
 * that fits with `-` and an 8-character hash of the full name.
 */
export function ifname(prefix: string, base: string, suffix?: string): string {
  const full = `${prefix}${base}${suffix === undefined ? "" : `-${suffix}`}`;
  if (bytes(full) <= IFNAME_MAX) return full;
  const room = IFNAME_MAX - HASH_CHARS - 1;
  let head = "";
  for (const ch of full) {
    if (bytes(head + ch) > room) break;
    head += ch;
  }
  return `${head}-${hashName(full, HASH_CHARS)}`;
}

/** The mesh's WireGuard interface: the network name (vwgen's), shortened only when it does not fit. */
export const wgIfname = (network: string, suffix?: string): string => ifname("", network, suffix);
/** The mesh's VXLAN device: `v` + the network name (vwgen's), shortened only when it does not fit. */
export const vxlanIfname = (network: string, suffix?: string): string => ifname("v", network, suffix);
