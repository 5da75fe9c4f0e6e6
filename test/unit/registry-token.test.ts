import { describe, expect, it } from "vitest";
import { CiabError } from "../../src/model/errors.js";
import { decodeToken, encodeToken, newToken, parseTtl, redeem } from "../../src/registry/token.js";

const now = new Date("2026-12-02T20:00:00Z");
const code = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return e instanceof CiabError ? `${e.code}:${e.exitCode}` : "other";
  }
  return undefined;
};

/** A registry's token store in miniature: TTL and take-once, as putToken/takeToken promise. */
function store() {
  const m = new Map<string, { value: string; until: number }>();
  return {
    put: (id: string, value: string, ttl: number, at: Date) => m.set(id, { value, until: at.getTime() + ttl * 1000 }),
    take: (id: string, at: Date) => {
      const e = m.get(id);
      m.delete(id);
      return e && e.until > at.getTime() ? e.value : undefined;
    },
  };
}

describe("join tokens", () => {
  it("round-trip; only a hash of the secret is stored", () => {
    const { token, text, stored } = newToken("m", 3600, { node: "n1", now, credentials: { user: "ciab-m-n1", password: "pw" } });
    expect(decodeToken(text)).toEqual(token);
    expect(JSON.stringify(stored)).not.toContain(token.secret);
    expect(stored.expiresAt).toBe("2026-12-02T21:00:00.000Z");
    expect(redeem(token, JSON.stringify(stored), now)).toEqual({ node: "n1" });
  });
  it("works once: the second use is refused with its reason (exit 5)", () => {
    const s = store();
    const { token, stored } = newToken("m", 60, { now });
    s.put(token.id, JSON.stringify(stored), 60, now);
    expect(redeem(token, s.take(token.id, now), now)).toEqual({ node: undefined });
    expect(code(() => redeem(token, s.take(token.id, now), now))).toBe("conflict:5");
    expect(() => redeem(token, undefined, now)).toThrow(/already used/);
  });
  it("expires, by the registry's TTL and by its own expiry time", () => {
    const { token, stored } = newToken("m", 60, { now });
    const later = new Date(now.getTime() + 61_000);
    expect(() => redeem(token, JSON.stringify(stored), later)).toThrow(/expired at 2026-12-02T20:01:00.000Z/);
    const s = store();
    s.put(token.id, JSON.stringify(stored), 60, now);
    expect(s.take(token.id, later)).toBeUndefined();
  });
  it("refuses a wrong secret or another node's token, never printing the secret", () => {
    const { token, stored } = newToken("m", 60, { node: "n1", now });
    const other = newToken("m", 60, { now }).token;
    let msg = "";
    try {
      redeem({ ...token, secret: other.secret }, JSON.stringify(stored), now);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/secret does not match/);
    expect(msg).not.toContain(other.secret);
    expect(msg).not.toContain(token.secret);
    expect(() => redeem({ ...token, node: "n2" }, JSON.stringify(stored), now)).toThrow(/for node 'n1'/);
    expect(code(() => redeem(token, "{garbage", now))).toBe("conflict:5");
  });
  it("refuses malformed tokens with exit 4, naming what is wrong", () => {
    const { token, text } = newToken("m", 60, { now });
    expect(code(() => decodeToken("hello"))).toBe("invalid:4");
    expect(() => decodeToken(text.slice(0, 20))).toThrow(/does not decode|field/);
    expect(() => decodeToken(`${text}!`)).toThrow(/base64url/);
    expect(() => decodeToken(encodeToken({ ...token, secret: "short" }))).toThrow(/field 'secret'/);
    expect(() => decodeToken(encodeToken({ ...token, node: "-bad-" }))).toThrow(/node name/);
    expect(decodeToken(` ${text}\n`)).toEqual(token);
  });
  it("parses --ttl", () => {
    expect(parseTtl("1h")).toBe(3600);
    expect(parseTtl("90")).toBe(90);
    expect(parseTtl("2d")).toBe(172800);
    expect(code(() => parseTtl("0"))).toBe("usage:2");
    expect(code(() => parseTtl("8d"))).toBe("usage:2");
    expect(code(() => parseTtl("1w"))).toBe("usage:2");
  });
});
