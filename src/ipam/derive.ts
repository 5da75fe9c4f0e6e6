// Addresses derived from a node's public key, exactly as vwgen derives them, so existing meshes keep them.
// Pure; no I/O.
import { decodeKey } from "../keys/x25519.js";
import { bytesToBig, formatAddr, hostmask, mask, type Prefix } from "./ip.js";

/** VXLAN MAC: the last 6 bytes of the public key, made unicast and locally administered. */
export function macFromPublicKey(publicKey: string): string {
  const b = decodeKey(publicKey, "public key").subarray(26);
  const first = ((b[0] ?? 0) & 0xfe) | 0x02;
  return [first, ...b.subarray(1)].map((x) => x.toString(16).padStart(2, "0")).join(":");
}

/** Overlay IPv6: the pool's network bits, host bits from the last 16 bytes of the public key. */
export function ipv6FromPublicKey(pool: Prefix, publicKey: string): string {
  const host = bytesToBig(decodeKey(publicKey, "public key").subarray(16));
  const addr = (pool.addr & mask(6, pool.len)) | (host & hostmask(6, pool.len));
  return `${formatAddr(6, addr)}/${pool.len}`;
}
