// Random sources. The default is the OS CSPRNG; a seeded one exists for reproducible tests and demos only.
import { createHash, randomBytes } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";
import type { RandomBytes } from "./x25519.js";

/** A random integer in [lo, hi], both included. */
export type RandInt = (lo: number, hi: number) => number;
/** Where ciab's randomness comes from (keys, allocations): a parameter of every pure function that needs it. */
export interface Random {
  int: RandInt;
  bytes: RandomBytes;
}

/**
 * The kernel's CSPRNG: /dev/urandom (the pool getrandom(2) draws from), read ahead in one block. node:crypto gives
 * the same bytes but costs each call a few ms to load (an edit needs nothing else of it); without /dev/urandom
 * (not Linux, a sealed /dev) node:crypto's randomBytes.
 */
export function cryptoRandom(): Random {
  let pool = Buffer.alloc(0);
  const take = (n: number): Buffer => {
    if (pool.length < n) pool = Buffer.concat([pool, urandom(Math.max(256, n))]);
    const out = Buffer.from(pool.subarray(0, n));
    pool.fill(0, 0, n);
    pool = pool.subarray(n);
    return out;
  };
  return {
    // uniform in [lo, hi] (hi - lo < 2^48, as node:crypto's randomInt): 48-bit draws above the last whole multiple
    // of the range are drawn again
    int: (lo, hi) => {
      const range = hi - lo + 1;
      if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(range) || range < 1 || range > 2 ** 48)
        throw new RangeError(`random integer range [${lo}, ${hi}] is empty or wider than 2^48`);
      const limit = 2 ** 48 - (2 ** 48 % range);
      for (;;) {
        const x = take(6).readUIntBE(0, 6);
        if (x < limit) return lo + (x % range);
      }
    },
    bytes: take,
  };
}

function urandom(n: number): Buffer {
  const b = Buffer.alloc(n);
  let fd: number;
  try {
    fd = openSync("/dev/urandom", "r");
  } catch {
    return randomBytes(n);
  }
  try {
    for (let off = 0; off < n; ) {
      const got = readSync(fd, b, off, n - off, null);
      if (got <= 0) return randomBytes(n);
      off += got;
    }
  } finally {
    closeSync(fd);
  }
  return b;
}

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
