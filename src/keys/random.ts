// Random sources. The default is the OS CSPRNG; a seeded one exists for reproducible tests and demos only.
import { createHash, randomBytes, randomInt } from "node:crypto";
import type { RandomBytes } from "./x25519.js";

/** A random integer in [lo, hi], both included. */
export type RandInt = (lo: number, hi: number) => number;
/** Where ciab's randomness comes from (keys, allocations): a parameter of every pure function that needs it. */
export interface Random {
  int: RandInt;
  bytes: RandomBytes;
}

export const cryptoRandom = (): Random => ({
  int: (lo, hi) => randomInt(lo, hi + 1),
  bytes: (n) => randomBytes(n),
});

/** Deterministic stream from SHA-256(seed || counter). NOT for real keys. */
export function seededRandom(seed: string): Random {
  let counter = 0;
  const next = (): Buffer => createHash("sha256").update(`${seed}\0${counter++}`).digest();
  const bytes = (n: number): Buffer => {
    const chunks: Buffer[] = [];
    for (let have = 0; have < n; have += 32) chunks.push(next());
    return Buffer.concat(chunks).subarray(0, n);
  };
  return {
    int: (lo, hi) => lo + Number(next().readBigUInt64BE(0) % BigInt(hi - lo + 1)),
    bytes,
  };
}
