// outermost(): nftables refuses overlapping intervals in a set, so the guard's sets keep only prefixes that no
// other element of the same set covers.
import { describe, expect, it } from "vitest";
import { outermost } from "../../src/ipam/ip.js";

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
