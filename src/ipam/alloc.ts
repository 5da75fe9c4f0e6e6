// Address, port and VNI allocation, as vwgen allocates them (random, never reusing one in use). Pure:
// the random source is a parameter, so tests are deterministic.
import type { RandInt } from "../keys/random.js";
import { conflict } from "../model/errors.js";
import { formatAddr, network, type Prefix } from "./ip.js";

export type { RandInt } from "../keys/random.js";

export const mathRandInt: RandInt = (lo, hi) => lo + Math.floor(Math.random() * (hi - lo + 1));

// VTEP (link-local) range vwgen uses: 169.254.1.0 - 169.254.254.255 (RFC 3927 §2.1 reserves the first and last /24).
const VTEP_LO = 0xa9fe0100;
const VTEP_HI = 0xa9fefeff;
// 169.254.169.0/24 holds the cloud metadata service (169.254.169.254) and friends: never a VTEP.
const METADATA_LO = 0xa9fea900;
const METADATA_HI = 0xa9fea9ff;

export const isMetadataRange = (a: number): boolean => a >= METADATA_LO && a <= METADATA_HI;
export const isVtepRange = (a: number): boolean => a >= VTEP_LO && a <= VTEP_HI && !isMetadataRange(a);

/**
 * Pick a random value in [lo, hi] accepted by `ok` and not in `used`. Tries random draws first (fast in a sparse
 * space); when they keep colliding, enumerates what is left so a nearly full pool still works, or reports it full.
 */
function pick(lo: number, hi: number, used: Set<number>, ok: (n: number) => boolean, rand: RandInt, what: string): number {
  for (let i = 0; i < 64; i++) {
    const n = rand(lo, hi);
    if (ok(n) && !used.has(n)) return n;
  }
  const free: number[] = [];
  for (let n = lo; n <= hi; n++) if (ok(n) && !used.has(n)) free.push(n);
  if (free.length === 0) throw conflict(`${what} is exhausted: no free value left`, { hint: "use a larger pool or delete unused nodes" });
  return free[rand(0, free.length - 1)] as number;
}

export function allocateVtep(used: Set<number>, rand: RandInt): string {
  return formatAddr(4, BigInt(pick(VTEP_LO, VTEP_HI, used, isVtepRange, rand, "the link-local VTEP range 169.254.1.0-169.254.254.255")));
}

/** A host address from an IPv4 pool, with the pool's prefix length (e.g. 172.20.10.93/24). */
export function allocateIPv4(pool: Prefix, usedHosts: Set<number>, rand: RandInt): string {
  const net = network(pool);
  const span = 2 ** (32 - pool.len);
  const [lo, hi] = pool.len >= 31 ? [0, span - 1] : [1, span - 2];
  const host = pick(lo, hi, usedHosts, () => true, rand, `IPv4 address pool ${formatAddr(4, net.addr)}/${pool.len}`);
  return `${formatAddr(4, net.addr + BigInt(host))}/${pool.len}`;
}

export const allocateListenPort = (rand: RandInt): number => rand(32768, 60999);
export const allocateVni = (rand: RandInt): number => rand(1, 0xffffff);
