// An edit checks that keys, MACs and IPv6 addresses are unique without deriving every public key when it can tell
// from the private keys (model/mesh.ts editNeedsKeys); what it reports must still hold every real duplicate.
import { describe, expect, it } from "vitest";
import { clamp, genkey, pubkey } from "../../src/keys/x25519.js";
import { meshFromDoc } from "../../src/model/mesh.js";
import type { TomlTable } from "../../src/model/toml.js";

const node = (i: number, key: { PrivateKey: string } | { PublicKey: string }): TomlTable => ({
  Address: [`10.9.0.${i}/24`],
  LinkLayerAddress: [`169.254.9.${i}/16`],
  ...key,
});
const doc = (keys: ({ PrivateKey: string } | { PublicKey: string })[], pool6 = "fd00:9::/80"): TomlTable => ({
  Network: { AddressPoolIPv4: "10.9.0.0/24", AddressPoolIPv6: pool6 },
  Node: Object.fromEntries(keys.map((k, i) => [`n${i + 1}`, node(i + 1, k)])),
});
const problems = (d: TomlTable, edit: boolean) =>
  meshFromDoc("m", d, { file: "m.conf", edit })
    .problems.map((p) => p.message)
    .filter((m) => /also used by/.test(m));

describe("key uniqueness in an edit", () => {
  const a = genkey();
  const b = genkey();
  it("finds a private key held twice, also when the copies differ only in the bits X25519 clamps away", () => {
    const raw = Buffer.from(a, "base64");
    raw[0] = (raw[0] as number) ^ 0x07; // the low three bits: cleared by clamping, so the same public key
    const twin = raw.toString("base64");
    expect(clamp(raw).equals(clamp(Buffer.from(a, "base64")))).toBe(true);
    for (const k of [a, twin]) {
      const d = doc([{ PrivateKey: a }, { PrivateKey: b }, { PrivateKey: k }]);
      // an edit reports what a read reports: the public key, its MAC and its IPv6
      expect(problems(d, true)).toEqual(problems(d, false));
      expect(problems(d, true)).toHaveLength(3);
    }
  });
  it("finds a node's public key given as another node's PublicKey", () => {
    const d = doc([{ PrivateKey: a }, { PublicKey: pubkey(a) }]);
    expect(problems(d, true)).toEqual(problems(d, false));
    expect(problems(d, true).length).toBeGreaterThan(0);
  });
  it("derives and compares IPv6 host parts when the pool leaves fewer than 48 bits of key", () => {
    // two distinct keys whose public keys end in the same byte: with a /120 pool their IPv6 addresses collide
    const byLast = new Map<number, string>();
    let pair: [string, string] | undefined;
    while (!pair) {
      const k = genkey();
      const last = Buffer.from(pubkey(k), "base64")[31] as number;
      const seen = byLast.get(last);
      if (seen) pair = [seen, k];
      else byLast.set(last, k);
    }
    const d = doc([{ PrivateKey: pair[0] }, { PrivateKey: pair[1] }], "fd00:9::/120");
    expect(problems(d, true)).toEqual(problems(d, false));
    expect(problems(d, true).join("\n")).toMatch(/IPv6 fd00:9::[0-9a-f]+ is also used by node 'n1'/);
    // the negative control: the same two keys under a /80 pool leave 48 bits: no collision, nothing reported
    expect(problems(doc([{ PrivateKey: pair[0] }, { PrivateKey: pair[1] }]), true)).toEqual([]);
  });
});
