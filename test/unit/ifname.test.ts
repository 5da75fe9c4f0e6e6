// The one interface namer (ipam/ifname.ts): today's names unchanged when they fit, at most 15 bytes always, stable,
// and different long names stay different.
import { describe, expect, it } from "vitest";
import { IFNAME_MAX, ifname, vxlanIfname, wgIfname } from "../../src/ipam/ifname.js";
import { IFNAME } from "../../src/model/mesh.js";

const bytes = (s: string) => Buffer.byteLength(s, "utf8");

describe("interface names", () => {
  it.each([
    ["a short network keeps vwgen's names", "ciabmesh", "ciabmesh", "vciabmesh"],
    ["14 bytes: v + 14 = 15 still fits", "abcdefghijklmn", "abcdefghijklmn", "vabcdefghijklmn"],
    ["one byte", "x", "x", "vx"],
  ])("%s", (_n, net, wg, vx) => {
    expect(wgIfname(net)).toBe(wg);
    expect(vxlanIfname(net)).toBe(vx);
  });

  it.each([
    ["15 bytes + v", "v", "abcdefghijklmno"],
    ["a long tenant suffix", "v", "mesh", "tenant-blue-42"],
    ["a routed-mode peer suffix", "", "ciabmesh", "peer-node17"],
    ["multi-byte characters are counted in bytes", "v", "ääääääää"],
  ])("%s: shortened to at most 15 bytes with a hash", (_n, prefix, base, suffix?: string) => {
    const name = ifname(prefix, base, suffix);
    expect(bytes(name)).toBeLessThanOrEqual(IFNAME_MAX);
    expect(name).toMatch(/-[a-z2-7]{8}$/);
    expect(name.startsWith(`${prefix}${base}`.slice(0, 3))).toBe(true);
  });

  it("a name that fits is never hashed; one byte more is", () => {
    expect(ifname("", "a".repeat(15))).toBe("a".repeat(15));
    expect(ifname("", "a".repeat(16))).not.toBe("a".repeat(16));
    expect(bytes(ifname("", "a".repeat(16)))).toBe(15);
  });

  it("stable: the same name every time", () => {
    expect(ifname("v", "a-very-long-network", "t1")).toBe(ifname("v", "a-very-long-network", "t1"));
  });

  it("no collisions among 20000 long names that share their first 6 bytes", () => {
    const seen = new Map<string, string>();
    for (let i = 0; i < 20_000; i++) {
      const full = `tenantname-${i}`;
      const name = ifname("v", full);
      expect(IFNAME.test(name), name).toBe(true);
      expect(seen.get(name), `${full} and ${seen.get(name)} both map to ${name}`).toBeUndefined();
      seen.set(name, full);
    }
  });

  it("a shortened name never equals a name that fits", () => {
    const short = new Set(Array.from({ length: 1000 }, (_, i) => ifname("v", `net${i}`)));
    for (let i = 0; i < 1000; i++) expect(short.has(ifname("v", `network-number-${i}`))).toBe(false);
  });
});
