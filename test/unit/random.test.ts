import { describe, expect, it } from "vitest";
import { cryptoRandom } from "../../src/keys/random.js";

describe("the OS random source (/dev/urandom, read ahead)", () => {
  it("gives fresh bytes of the asked length, also past its read-ahead block", () => {
    const r = cryptoRandom();
    const a = r.bytes(32);
    const b = r.bytes(300);
    expect([a.length, b.length]).toEqual([32, 300]);
    expect(a.equals(r.bytes(32))).toBe(false);
    // a handed-out key is a copy: drawing more does not change it
    const copy = Buffer.from(a);
    r.bytes(1000);
    expect(a.equals(copy)).toBe(true);
  });
  it("draws integers uniformly within [lo, hi], both included, and refuses an empty or too wide range", () => {
    const r = cryptoRandom();
    const counts = new Map<number, number>();
    for (let i = 0; i < 6000; i++) {
      const x = r.int(3, 8);
      counts.set(x, (counts.get(x) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual([3, 4, 5, 6, 7, 8]);
    // each value about 1000 times: far outside 700-1300 would be a biased draw (p of a false alarm < 1e-20)
    for (const n of counts.values()) expect(n).toBeGreaterThan(700);
    for (const n of counts.values()) expect(n).toBeLessThan(1300);
    expect(r.int(5, 5)).toBe(5);
    const wide = r.int(0, 2 ** 48 - 1);
    expect(wide >= 0 && wide < 2 ** 48).toBe(true);
    expect(() => r.int(2, 1)).toThrow(/empty or wider/);
    expect(() => r.int(0, 2 ** 48)).toThrow(/empty or wider/);
  });
});
