// Addresses derived from a node's public key, exactly as vwgen derives them, so existing meshes keep them.
// Pure; no I/O.
import { decodeKey } from "../keys/x25519.js";
import { formatIPv6Groups, type Prefix } from "./ip.js";

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** VXLAN MAC: the last 6 bytes of the public key, made unicast and locally administered. */
export function macFromPublicKey(publicKey: string): string {
  const b = decodeKey(publicKey, "public key");
  let mac = HEX[((b[26] ?? 0) & 0xfe) | 0x02] as string;
  for (let i = 27; i < 32; i++) mac += `:${HEX[b[i] ?? 0]}`;
  return mac;
}

/** Overlay IPv6: the pool's network bits, host bits from the last 16 bytes of the public key. */
export function ipv6FromPublicKey(pool: Prefix, publicKey: string): string {
  const key = decodeKey(publicKey, "public key");
  const { poolGroups, masks } = poolBits(pool);
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) {
    const keyGroup = ((key[16 + 2 * i] ?? 0) << 8) | (key[17 + 2 * i] ?? 0);
    groups.push(((poolGroups[i] as number) & (masks[i] as number)) | (keyGroup & ~(masks[i] as number) & 0xffff));
  }
  return `${formatIPv6Groups(groups)}/${pool.len}`;
}

// Every node of a mesh shares the pool: its groups and masks are worked out once.
const pools = new WeakMap<Prefix, { poolGroups: number[]; masks: number[] }>();
function poolBits(pool: Prefix): { poolGroups: number[]; masks: number[] } {
  let bits = pools.get(pool);
  if (bits === undefined) {
    bits = { poolGroups: [], masks: [] };
    for (let i = 0; i < 8; i++) {
      // the leading bits of this group that are the pool's (0-16), the rest are the key's
      const own = Math.min(16, Math.max(0, pool.len - i * 16));
      bits.masks.push(own === 0 ? 0 : (0xffff << (16 - own)) & 0xffff);
      bits.poolGroups.push(Number((pool.addr >> BigInt(112 - i * 16)) & 0xffffn));
    }
    pools.set(pool, bits);
  }
  return bits;
}
