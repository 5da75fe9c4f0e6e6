import ipaddr from "ipaddr.js";
import { describe, expect, it } from "vitest";
import { canonicalNetwork, contains, formatAddr, overlaps, parseAddr, parsePrefix, reversePointer, reverseZone } from "../../src/ipam/ip.js";

describe("prefix parsing", () => {
  it.each([
    ["10.0.1.5/24", "10.0.1.0/24"],
    ["172.20.10.0/24", "172.20.10.0/24"],
    ["2001:db8:42::1/64", "2001:db8:42::/64"],
    ["fd42:0077:0000::/64", "fd42:77::/64"],
    ["0.0.0.0/0", "0.0.0.0/0"],
  ])("%s canonicalizes to %s", (input, want) => expect(canonicalNetwork(input)).toBe(want));

  it.each([
    ["10.0.0.300/24", /not a valid IPv4 or IPv6 address/],
    ["10.0.0.0/33", /longer than 32 bits/],
    ["10.0.0.0", /no prefix length/],
    ["10.0.0.0/x", /invalid prefix length/],
    ["2001:db8::/129", /longer than 128 bits/],
    ["fe80::1%eth0/64", /not a valid/],
    ["", /no prefix length/],
  ])("%s is refused", (input, msg) => expect(() => parsePrefix(input)).toThrow(msg));
});

describe("IPv4 addresses read without ipaddr.js agree with it", () => {
  it.each(["0.0.0.0", "255.255.255.255", "10.0.0.1", "192.168.5.7", "1.2.3.4", " 10.1.2.3 "])("%s", (t) => {
    expect(parseAddr(t)).toEqual({
      family: 4,
      addr: BigInt(
        `0x${t
          .trim()
          .split(".")
          .map((x) => Number(x).toString(16).padStart(2, "0"))
          .join("")}`,
      ),
    });
  });
  it.each(["256.0.0.1", "01.2.3.4", "1.2.3", "1.2.3.4.5", "1.2.3.1000", "0x1.2.3.4"])("%s is refused", (t) => {
    expect(() => parseAddr(t)).toThrow(/not a valid IPv4 or IPv6 address/);
  });
});

describe("containment and overlap", () => {
  const p = (s: string) => parsePrefix(s);
  it.each([
    ["10.0.0.0/8", "10.1.0.0/16", true, true],
    ["10.1.0.0/16", "10.0.0.0/8", false, true],
    ["10.0.1.0/24", "10.0.2.0/24", false, false],
    ["10.0.0.0/8", "2001:db8::/32", false, false],
    ["2001:db8::/32", "2001:db8:1::/48", true, true],
  ])("%s vs %s", (a, b, c, o) => {
    expect(contains(p(a), p(b))).toBe(c);
    expect(overlaps(p(a), p(b))).toBe(o);
  });
});

describe("reverse DNS", () => {
  it("names IPv4 and IPv6 pointers", () => {
    expect(reversePointer(4, parseAddr("172.20.10.93").addr)).toBe("93.10.20.172.in-addr.arpa");
    expect(reversePointer(6, parseAddr("2001:db8:42:0:42db:3c2e:1756:ad7e").addr)).toBe(
      "e.7.d.a.6.5.7.1.e.2.c.3.b.d.2.4.0.0.0.0.2.4.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
    );
  });
  it.each([
    ["172.20.10.0/24", "10.20.172.in-addr.arpa"],
    ["10.77.0.0/20", "77.10.in-addr.arpa"],
    ["2001:db8:42::/64", "0.0.0.0.2.4.0.0.8.b.d.0.1.0.0.2.ip6.arpa"],
    ["fd00:1:2::/80", "0.0.0.0.0.0.0.0.2.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa"],
  ])("zone of %s is %s", (prefix, zone) => expect(reverseZone(parsePrefix(prefix))).toBe(zone));
  it("formats IPv6 compressed", () => expect(formatAddr(6, parseAddr("2001:0db8:0000:0000:0000:0000:0000:0001").addr)).toBe("2001:db8::1"));
});

describe("formatAddr's IPv6 text (RFC 5952 §4, as Python's ipaddress and so vwgen write it)", () => {
  const big = (bytes: number[]) => bytes.reduce((v, b) => (v << 8n) | BigInt(b), 0n);
  // ipaddr.js prefers an inner run of zeros over an equal one at either end; RFC 5952 and Python take the first
  it.each([
    ["0:0:8d:0:0:31:0:7a", "::8d:0:0:31:0:7a"],
    ["1:0:0:2:3:4:0:0", "1::2:3:4:0:0"],
    ["1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"],
    ["0:0:0:0:0:0:0:0", "::"],
    ["fe80:0:0:0:0:0:0:1", "fe80::1"],
    ["1:2:3:4:5:6:0:0", "1:2:3:4:5:6::"],
  ])("%s -> %s", (text, want) => expect(formatAddr(6, parseAddr(text).addr)).toBe(want));
  it("agrees with ipaddr.js wherever the longest run of zeros is unique", () => {
    for (let n = 0; n < 5000; n++) {
      const bytes = Array.from({ length: 16 }, () => (Math.random() < 0.6 ? 0 : Math.floor(Math.random() * 256)));
      const groups = Array.from({ length: 8 }, (_, i) => (bytes[2 * i] as number) * 256 + (bytes[2 * i + 1] as number));
      const runs: number[] = [];
      let len = 0;
      for (const g of [...groups, 1]) {
        if (g === 0) len++;
        else if (len) runs.push(len), (len = 0);
      }
      const longest = Math.max(0, ...runs);
      if (runs.filter((r) => r === longest).length > 1) continue;
      expect(formatAddr(6, big(bytes))).toBe(ipaddr.fromByteArray(bytes).toString());
    }
  });
});
