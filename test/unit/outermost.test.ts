// outermost(): nftables refuses overlapping intervals in a set, so the guard's sets keep only prefixes that no
// other element of the same set covers.
import { describe, expect, it } from "vitest";
import { aggregate, outermost } from "../../src/ipam/ip.js";

describe("outermost", () => {
  it.each<[string, string[], string[]]>([
    ["disjoint stay, in order", ["10.0.2.0/24", "10.0.1.0/24"], ["10.0.2.0/24", "10.0.1.0/24"]],
    ["a nested subnet goes", ["10.0.1.0/24", "10.0.0.0/16"], ["10.0.0.0/16"]],
    ["an address inside a prefix goes", ["172.20.10.2", "172.20.10.0/24", "169.254.1.2"], ["172.20.10.0/24", "169.254.1.2"]],
    ["exact duplicates keep one", ["10.0.1.0/24", "10.0.1.0/24"], ["10.0.1.0/24"]],
    ["families do not cover each other", ["::", "0.0.0.0/0", "fe80::/10", "fe80::1"], ["::", "0.0.0.0/0", "fe80::/10"]],
    ["host bits do not matter", ["10.0.1.5/16", "10.0.200.0/24"], ["10.0.1.5/16"]],
  ])("%s", (_, input, want) => {
    expect(outermost(input)).toEqual(want);
  });
});

// aggregate(): the same address set in fewer elements, for the guard's "any of these addresses" sets.
describe("aggregate", () => {
  it.each<[string, string[], string[]]>([
    ["siblings merge", ["10.0.0.0/24", "10.0.1.0/24"], ["10.0.0.0/23"]],
    ["neighbours that are not siblings stay", ["10.0.1.0/24", "10.0.2.0/24"], ["10.0.1.0/24", "10.0.2.0/24"]],
    ["merging repeats up the tree", ["10.0.3.0/24", "10.0.0.0/24", "10.0.2.0/24", "10.0.1.0/24"], ["10.0.0.0/22"]],
    ["a supernet takes the place of its first part", ["172.20.0.1", "10.0.2.0/24", "10.0.3.0/24"], ["172.20.0.1", "10.0.2.0/23"]],
    ["halves of different lengths stay", ["10.0.0.0/24", "10.0.1.0/25"], ["10.0.0.0/24", "10.0.1.0/25"]],
    ["two addresses are a /31", ["10.0.0.4", "10.0.0.5"], ["10.0.0.4/31"]],
    ["covered elements go first, then siblings merge", ["10.0.0.0/25", "10.0.0.0/24", "10.0.1.0/24"], ["10.0.0.0/23"]],
    ["the whole space", ["0.0.0.0/1", "128.0.0.0/1"], ["0.0.0.0/0"]],
    ["IPv6", ["2001:db8::/64", "2001:db8:0:1::/64", "fe80::/10"], ["2001:db8::/63", "fe80::/10"]],
    ["families never merge", ["0.0.0.0/1", "::/1", "128.0.0.0/1"], ["0.0.0.0/0", "::/1"]],
    ["nothing", [], []],
  ])("%s", (_, input, want) => {
    expect(aggregate(input)).toEqual(want);
  });

  it("keeps exactly the address set (every /28 of a /20, random picks)", () => {
    const contains = (set: string[], a: number): boolean =>
      set.some((s) => {
        const [ip, len] = s.split("/") as [string, string | undefined];
        const n = ip.split(".").reduce((x, o) => x * 256 + Number(o), 0);
        const l = len === undefined ? 32 : Number(len);
        return Math.floor(a / 2 ** (32 - l)) === Math.floor(n / 2 ** (32 - l));
      });
    let seed = 7;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let round = 0; round < 8; round++) {
      const items = Array.from({ length: 256 }, (_, i) => i)
        .filter(() => rnd() < 0.6)
        .map((i) => `10.1.${i >> 4}.${(i & 15) * 16}/28`);
      const out = aggregate(items);
      for (let a = 10 * 2 ** 24 + 2 ** 16; a < 10 * 2 ** 24 + 2 ** 16 + 4096; a += 16) expect(contains(out, a)).toBe(contains(items, a));
      expect(out.length).toBeLessThanOrEqual(items.length);
    }
  });
});
