import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ipv6FromPublicKey, macFromPublicKey } from "../../src/ipam/derive.js";
import { parsePrefix } from "../../src/ipam/ip.js";
import { seededRandom } from "../../src/keys/random.js";
import { clamp, decodeKey, genkey, genpsk, pubkey } from "../../src/keys/x25519.js";
import { hasTool } from "../helpers/env.js";

// Key pairs and derived addresses as the real vwgen printed them (../shared/fixtures/vwgen/*/show.txt).
const VWGEN = [
  {
    priv: "8IAwa1Q70d1sjnefunzxYCB2mh3c3f8jcUQnJdKKEEM=",
    pub: "63Ii0Vbwcp4YQ+twKiXE7io2AgLbnSHSQts8LhdWrX4=",
    mac: "3e:2e:17:56:ad:7e",
    pool: "2001:db8:42::/64",
    v6: "2001:db8:42:0:42db:3c2e:1756:ad7e/64",
  },
  {
    priv: "qMqhUxGu+Xo5EBxjlEQjdotj+6m95RmTyeGRLIVbAXQ=",
    pub: "gGcBhoe4YBCtCjKhdN0i2WS5Z4DYxZ22ls/1b0NGOkk=",
    mac: "f6:6f:43:46:3a:49",
    pool: "2001:db8:42::/64",
    v6: "2001:db8:42:0:96cf:f56f:4346:3a49/64",
  },
  {
    priv: "wPjW6BuDaDXU9JyDojJdklUhvPwye5EqnCYl3XaN9l8=",
    pub: "S/u4zL7big1h79e07KwJI9elHxXLRNp1B4/BbEhWVVs=",
    mac: "c2:6c:48:56:55:5b",
    pool: "fd42:77::/64",
    v6: "fd42:77::78f:c16c:4856:555b/64",
  },
  {
    priv: "kAoZlZB8WtOd2GXL4pHkCIORjU+yOLzpQE3ekW5k23Q=",
    pub: "oa1y6lzH6aLbISqdZ9kd/eqCAwF/0IDW4fwiBqXj+ko=",
    mac: "22:06:a5:e3:fa:4a",
    pool: "fd42:77::/64",
    v6: "fd42:77::e1fc:2206:a5e3:fa4a/64",
  },
];

describe("X25519 keys", () => {
  it.each(VWGEN)("public key of $priv equals vwgen's", ({ priv, pub }) => expect(pubkey(priv)).toBe(pub));
  it.each(VWGEN)("MAC and IPv6 derived from $pub as vwgen derives them", ({ pub, mac, pool, v6 }) => {
    expect(macFromPublicKey(pub)).toBe(mac);
    expect(ipv6FromPublicKey(parsePrefix(pool), pub)).toBe(v6);
  });
  it("genkey clamps like wg genkey", () => {
    const k = decodeKey(genkey(() => Buffer.alloc(32, 0xff)));
    expect(k[0]).toBe(0xf8);
    expect(k[31]).toBe(0x7f);
    expect(clamp(Buffer.alloc(32, 0))[31]).toBe(0x40);
  });
  it("genpsk is 32 random bytes", () => expect(decodeKey(genpsk(seededRandom("x").bytes))).toHaveLength(32));
  it.each(["", "abc", "8IAwa1Q70d1sjnefunzxYCB2mh3c3f8jcUQnJdKKEE=", "8IAwa1Q70d1sjnefunzxYCB2mh3c3f8jcUQnJdKKEEM"])("refuses malformed key %j", (k) =>
    expect(() => pubkey(k)).toThrow(/not a valid WireGuard key/),
  );
  it.skipIf(!hasTool("wg"))("pubkey equals `wg pubkey` for random keys", () => {
    const rnd = seededRandom("wg-compat");
    for (let i = 0; i < 20; i++) {
      const raw = rnd.bytes(32).toString("base64"); // unclamped on purpose: both must clamp
      expect(pubkey(raw)).toBe(execFileSync("wg", ["pubkey"], { input: raw }).toString().trim());
    }
  });
});
