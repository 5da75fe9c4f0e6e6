// Special-purpose address ranges (RFC 6890 and its registries) that must never be a mesh pool, a node's address,
// a subnet it owns, or an endpoint. Pure; no I/O.
import { contains, overlaps, type Prefix, parsePrefix } from "./ip.js";

export interface SpecialRange {
  prefix: Prefix;
  text: string;
  name: string;
}

const range = (text: string, name: string): SpecialRange => ({ prefix: parsePrefix(text), text, name });

/** The ranges no part of a mesh may use. 169.254.0.0/16 is also where the VTEPs live (link-local, RFC 3927). */
export const SPECIAL_RANGES: readonly SpecialRange[] = [
  range("0.0.0.0/8", "'this network' (RFC 6890), never a source or destination"),
  range("127.0.0.0/8", "loopback (RFC 6890)"),
  range("169.254.0.0/16", "link-local (RFC 3927), the VTEP range"),
  range("224.0.0.0/4", "multicast (RFC 5771)"),
  range("240.0.0.0/4", "reserved (RFC 1112), including the limited broadcast 255.255.255.255"),
  range("::/128", "the unspecified address (RFC 4291)"),
  range("::1/128", "loopback (RFC 4291)"),
  range("::ffff:0:0/96", "IPv4-mapped (RFC 4291 §2.5.5.2)"),
  range("fe80::/10", "link-local (RFC 4291)"),
  range("ff00::/8", "multicast (RFC 4291)"),
];

/** The first special range that `p` overlaps (a pool or a subnet must not touch one). */
export const overlapsSpecial = (p: Prefix): SpecialRange | undefined => SPECIAL_RANGES.find((r) => overlaps(r.prefix, p));

/** The special range that holds the host address `p.addr` (a node's address must be outside all of them). */
export function inSpecial(p: Prefix): SpecialRange | undefined {
  const host = { family: p.family, addr: p.addr, len: p.family === 4 ? 32 : 128 };
  return SPECIAL_RANGES.find((r) => contains(r.prefix, host));
}
