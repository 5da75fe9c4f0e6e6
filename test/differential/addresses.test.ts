// Differential: ciab reads IPv4 and IPv6 addresses as Python's ipaddress does (vwgen's reader, so a value vwgen
// accepts is the same address in ciab, and one it refuses is refused): RFC 4291 §2.2 text, "::" once, a final
// dotted quad, no zone, no leading zero in a dotted quad, at most four hex digits a group. Generated texts (near
// misses included) are classified by both; python3 is the one the vwgen oracle runs on.
import { spawnSync } from "node:child_process";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseAddr } from "../../src/ipam/ip.js";
import { SEED } from "../property/harness.js";

const PYTHON = `
import ipaddress, json, sys
for line in sys.stdin:
    t = json.loads(line).strip()
    try:
        a = ipaddress.ip_address(t)
        print("none" if a.version == 6 and a.scope_id else f"{a.version}:{int(a)}")
    except ValueError:
        print("none")
`;

const ours = (t: string): string => {
  try {
    const a = parseAddr(t);
    return `${a.family}:${a.addr}`;
  } catch {
    return "none";
  }
};

describe("addresses: ciab reads them as Python's ipaddress (vwgen) does", () => {
  it("agrees on generated IPv4 and IPv6 texts and their near misses", () => {
    const group = fc.oneof(
      fc.constantFrom(
        "0",
        "00",
        "0000",
        "1",
        "ffff",
        "FFFF",
        "10000",
        "g",
        "",
        "01",
        "1.2.3.4",
        "255.255.255.255",
        "01.2.3.4",
        "1.2.3",
        "256.1.1.1",
        " ",
        "%eth0",
      ),
      fc.stringMatching(/^[0-9a-fA-F]{1,5}$/),
    );
    const v6 = fc.array(group, { minLength: 1, maxLength: 10 }).map((g) => g.join(":"));
    const octet = fc.oneof(fc.nat(300).map(String), fc.constantFrom("00", "01", "1e1", "0x1", "", " 1", "-1", "+1"));
    const v4 = fc.array(octet, { minLength: 1, maxLength: 6 }).map((g) => g.join("."));
    const noise = fc.string({ maxLength: 20, unit: fc.constantFrom(..."0123456789abcdefABCDEF:.% x") });
    const texts = [
      ...["::", "::1", "1::", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8::", "1:2:3:4::5:6:7:8", "::ffff:1.2.3.4", "::1.2.3.4"],
      ...fc.sample(fc.oneof(fc.ipV4(), fc.ipV4Extended(), fc.ipV6(), v6, v4, noise), { numRuns: 30_000, seed: SEED }),
    ];
    const r = spawnSync("/usr/bin/python3", ["-c", PYTHON], { input: texts.map((t) => JSON.stringify(t)).join("\n"), encoding: "utf8", maxBuffer: 1 << 26 });
    expect(r.status, r.stderr).toBe(0);
    const python = r.stdout.trim().split("\n");
    expect(python).toHaveLength(texts.length);
    const differ = texts.map((t, i) => ({ t, python: python[i], ciab: ours(t) })).filter((x) => x.python !== x.ciab);
    expect(differ.slice(0, 10)).toEqual([]);
    // the negative control: both sides accept and refuse a good share, so the comparison can fail either way
    const accepted = python.filter((p) => p !== "none").length;
    expect(accepted).toBeGreaterThan(texts.length / 20);
    expect(texts.length - accepted).toBeGreaterThan(texts.length / 20);
  });
});
