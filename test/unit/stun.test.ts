// STUN Binding bytes (nat/stun.ts) and the NAT verdict (nat/classify.ts): RFC 8489's own test vector, the bad-reply
// table, the retransmission schedule, and properties (round trip; no byte mutation throws anything but StunError).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { classify, type ServerAnswer } from "../../src/nat/classify.js";
import {
  ATTR,
  checkSource,
  decodeBindingResponse,
  encodeBindingRequest,
  encodeBindingSuccess,
  encodeMessage,
  MAGIC_COOKIE,
  METHOD,
  retransmitSchedule,
  StunError,
  type StunReason,
} from "../../src/nat/stun.js";

const TID = Uint8Array.from([0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae]);
const fromHex = (h: string) => Uint8Array.from(h.replace(/\s+/g, "").match(/../g) ?? [], (x) => Number.parseInt(x, 16));

// RFC 5769 §2.2 and §2.3 (the sample responses the STUN RFCs test against), without their MESSAGE-INTEGRITY and
// FINGERPRINT attributes (so the length field is the attributes we keep): SOFTWARE "test vector " + XOR-MAPPED-ADDRESS.
const RFC5769_V4 = fromHex(`0101 001c 2112a442 b7e7a701bc34d686fa87dfae
  8022 000b 7465737420766563746f7220
  0020 0008 0001a147e112a643`);
const RFC5769_V6 = fromHex(`0101 0028 2112a442 b7e7a701bc34d686fa87dfae
  8022 000b 7465737420766563746f7220
  0020 0014 0002a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9`);

const reason = (f: () => unknown): StunReason | string => {
  try {
    f();
    return "accepted";
  } catch (e) {
    return e instanceof StunError ? e.reason : `other: ${String(e)}`;
  }
};

const good = () => encodeBindingSuccess(TID, { family: 4, address: "198.18.1.1", port: 51820 });
const patch = (b: Uint8Array, at: number, bytes: number[]) => {
  const c = Uint8Array.from(b);
  c.set(bytes, at);
  return c;
};

describe("STUN encoding", () => {
  it("a Binding request is 20 bytes: type 1, length 0, the cookie, the transaction id", () => {
    expect(Buffer.from(encodeBindingRequest(TID)).toString("hex")).toBe("000100002112a442b7e7a701bc34d686fa87dfae");
    expect(() => encodeBindingRequest(new Uint8Array(11))).toThrow(/12 bytes/);
  });

  it("decodes RFC 5769's IPv4 and IPv6 sample responses", () => {
    expect(decodeBindingResponse(RFC5769_V4, TID)).toEqual({
      mapped: { family: 4, address: "192.0.2.1", port: 32853, attribute: "xor-mapped" },
      software: "test vector",
    });
    expect(decodeBindingResponse(RFC5769_V6, TID).mapped).toEqual({
      family: 6,
      address: "2001:db8:1234:5678:11:2233:4455:6677",
      port: 32853,
      attribute: "xor-mapped",
    });
  });

  it("encodes the same bytes as RFC 5769 for its addresses", () => {
    const v4 = encodeBindingSuccess(TID, { family: 4, address: "192.0.2.1", port: 32853 });
    expect(Buffer.from(v4.subarray(20)).toString("hex")).toBe("002000080001a147e112a643");
    const v6 = encodeBindingSuccess(TID, { family: 6, address: "2001:db8:1234:5678:11:2233:4455:6677", port: 32853 });
    expect(Buffer.from(v6.subarray(20)).toString("hex")).toBe("002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d9");
  });

  it("falls back to MAPPED-ADDRESS (RFC 3489 servers), and prefers XOR-MAPPED-ADDRESS when both are there", () => {
    const plain = encodeBindingSuccess(TID, { family: 4, address: "203.0.113.9", port: 4000 }, { attribute: "mapped" });
    expect(decodeBindingResponse(plain, TID).mapped).toEqual({ family: 4, address: "203.0.113.9", port: 4000, attribute: "mapped" });
    const both = encodeMessage(METHOD.bindingSuccess, TID, [
      { type: ATTR.mappedAddress, value: Uint8Array.from([0, 1, 0x0f, 0xa0, 10, 0, 0, 1]) }, // 10.0.0.1:4000, a lie a NAT ALG writes
      { type: ATTR.xorMappedAddress, value: good().subarray(24) },
    ]);
    expect(decodeBindingResponse(both, TID).mapped).toMatchObject({ address: "198.18.1.1", port: 51820, attribute: "xor-mapped" });
  });
});

describe("STUN: bad replies are refused with their reason", () => {
  const errorResponse = encodeMessage(METHOD.bindingError, TID, [{ type: ATTR.errorCode, value: Uint8Array.from([0, 0, 4, 20, 0x42, 0x61, 0x64, 0x21]) }]);
  const noAddress = encodeMessage(METHOD.bindingSuccess, TID, [{ type: ATTR.software, value: new TextEncoder().encode("x") }]);
  const withAddr = (value: number[]) => encodeMessage(METHOD.bindingSuccess, TID, [{ type: ATTR.xorMappedAddress, value: Uint8Array.from(value) }]);
  const cases: [string, Uint8Array, StunReason, RegExp][] = [
    ["wrong transaction id", patch(good(), 19, [0]), "transaction", /another transaction/],
    ["wrong magic cookie", patch(good(), 4, [0, 0, 0, 0]), "cookie", /magic cookie 0x0?/],
    ["an error response", errorResponse, "not-success", /error \(420\)/],
    ["a Binding request, not a response", encodeBindingRequest(TID), "not-success", /type 0x0001/],
    ["truncated header", good().subarray(0, 19), "truncated", /shorter than the 20-byte header/],
    ["length field past the datagram", good().subarray(0, 28), "truncated", /says 12 bytes/],
    ["top bits of the type set (not STUN)", patch(good(), 0, [0xc1]), "not-stun", /not a STUN message/],
    ["length not a multiple of 4", patch(good(), 2, [0, 13]), "not-stun", /length 13/],
    ["attribute length past the end", patch(good(), 22, [0, 200]), "attribute-length", /200 bytes runs past the end/],
    ["missing XOR-MAPPED-ADDRESS (and MAPPED-ADDRESS)", noAddress, "no-address", /neither XOR-MAPPED-ADDRESS nor MAPPED-ADDRESS/],
    ["unknown address family 0x03", withAddr([0, 3, 0, 0, 1, 2, 3, 4]), "family", /family 0x03/],
    ["IPv4 family with 16 address bytes", withAddr([0, 1, 0, 0, ...new Array(16).fill(1)]), "address-length", /20 bytes; an IPv4 address takes 8/],
    ["IPv6 family with 4 address bytes", withAddr([0, 2, 0, 0, 1, 2, 3, 4]), "address-length", /8 bytes; an IPv6 address takes 20/],
    ["address attribute shorter than its head", withAddr([0, 1]), "address-length", /shorter than its 4-byte head/],
  ];
  it.each(cases)("%s", (_name, msg, want, text) => {
    expect(reason(() => decodeBindingResponse(msg, TID))).toBe(want);
    expect(() => decodeBindingResponse(msg, TID)).toThrow(text);
  });

  it("an IPv6 mapping on an IPv4 socket is the wrong family", () => {
    expect(reason(() => decodeBindingResponse(RFC5769_V6, TID, { family: 4 }))).toBe("family");
    expect(reason(() => decodeBindingResponse(RFC5769_V4, TID, { family: 4 }))).toBe("accepted");
  });

  it.each([
    ["another port", { address: "127.0.0.1", port: 3479 }, "source"],
    ["another address", { address: "127.0.0.2", port: 3478 }, "source"],
    ["the server itself", { address: "127.0.0.1", port: 3478 }, "accepted"],
    ["the server as a v4-mapped IPv6 address", { address: "::ffff:127.0.0.1", port: 3478 }, "accepted"],
  ])("a reply from %s", (_n, from, want) => {
    expect(reason(() => checkSource({ address: "127.0.0.1", port: 3478 }, from))).toBe(want);
  });

  it("a StunError is a CiabError of code external", () => {
    const e = new StunError("cookie", "x");
    expect(e.code).toBe("external");
    expect(e.exitCode).toBe(8);
  });
});

describe("STUN retransmission (RFC 8489 §6.2.1)", () => {
  it("RTO 500 ms doubling, Rc = 7, Rm = 16: the RFC's own example", () => {
    expect(retransmitSchedule()).toEqual({ sends: [0, 500, 1500, 3500, 7500, 15500, 31500], giveUp: 39500 });
  });
  it.each([
    [2000, [0, 500, 1500], 2000],
    [500, [0], 500],
    [1, [0], 1],
    [39500, [0, 500, 1500, 3500, 7500, 15500, 31500], 39500],
    [100000, [0, 500, 1500, 3500, 7500, 15500, 31500], 39500],
  ])("a deadline of %i ms cuts it", (deadline, sends, giveUp) => {
    expect(retransmitSchedule(undefined, deadline)).toEqual({ sends, giveUp });
  });
  it("other parameters", () => expect(retransmitSchedule({ rtoMs: 100, rc: 3, rm: 4 })).toEqual({ sends: [0, 100, 300], giveUp: 700 }));
});

describe("STUN properties", () => {
  const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((a) => a.join("."));
  const v6 = fc.ipV6();
  const tid = fc.uint8Array({ minLength: 12, maxLength: 12 });
  const params = { seed: process.env.CI ? 42 : undefined, numRuns: 300 };

  it("encode -> decode round trip (IPv4, IPv6; XOR-MAPPED and MAPPED)", () => {
    fc.assert(
      fc.property(
        tid,
        fc.oneof(
          v4.map((a) => ({ family: 4 as const, address: a })),
          v6.map((a) => ({ family: 6 as const, address: a })),
        ),
        fc.integer({ min: 0, max: 65535 }),
        fc.constantFrom("xor-mapped" as const, "mapped" as const),
        fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
        (t, a, port, attribute, software) => {
          const got = decodeBindingResponse(encodeBindingSuccess(t, { ...a, port }, { attribute, software }), t);
          // the decoder writes RFC 5952 text; fc.ipV6 may write another spelling of the same address
          const canon = a.family === 6 ? decodeBindingResponse(encodeBindingSuccess(t, { ...a, port }), t).mapped.address : a.address;
          expect(got.mapped).toEqual({ family: a.family, address: canon, port, attribute });
          expect(got.software).toBe(software?.replace(/\0+$/, ""));
        },
      ),
      params,
    );
  });

  it("random byte mutations of a valid reply throw nothing but StunError", () => {
    const base = encodeBindingSuccess(TID, { family: 6, address: "2001:db8::1", port: 443 }, { software: "coturn" });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(base.length + 8), fc.nat(255)), { minLength: 1, maxLength: 8 }), fc.nat(base.length + 8), (edits, cut) => {
        const m = new Uint8Array(Math.max(base.length, ...edits.map(([i]) => i + 1)));
        m.set(base);
        for (const [i, b] of edits) m[i] = b;
        const msg = m.subarray(0, Math.min(m.length, cut + 1));
        const r = reason(() => decodeBindingResponse(msg, TID));
        expect(r.startsWith("other")).toBe(false);
      }),
      { ...params, numRuns: 2000 },
    );
  });

  it("arbitrary datagrams throw nothing but StunError", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.boolean(), (bytes, header) => {
        const msg = header && bytes.length >= 20 ? patch(patch(bytes, 4, [0x21, 0x12, 0xa4, 0x42]), 8, [...TID]) : bytes;
        expect(reason(() => decodeBindingResponse(msg, TID)).startsWith("other")).toBe(false);
      }),
      { ...params, numRuns: 2000 },
    );
  });

  it("the cookie constant is RFC 8489's", () => expect(MAGIC_COOKIE).toBe(0x2112a442));
});

describe("NAT verdict from several servers", () => {
  const ok = (server: string, address: string, port: number): ServerAnswer => ({
    server,
    result: { ok: true, mapped: { family: 4, address, port, attribute: "xor-mapped" }, rttMs: 1, tries: 1 },
  });
  const lost = (server: string): ServerAnswer => ({ server, result: { ok: false, error: new StunError("timeout", `no reply from ${server}`) } });
  const local = { addresses: ["100.64.1.2"], port: 51820 };
  it.each([
    [
      "equal mappings: endpoint-independent, advertised",
      [ok("s1:3478", "198.18.1.1", 51820), ok("s2:3478", "198.18.1.1", 51820)],
      "endpoint-independent",
      "198.18.1.1:51820",
    ],
    [
      "equal, not port-preserving: still advertised",
      [ok("s1:3478", "198.18.1.1", 22107), ok("s2:3478", "198.18.1.1", 22107)],
      "endpoint-independent",
      "198.18.1.1:22107",
    ],
    ["different ports: symmetric, not advertised", [ok("s1:3478", "198.18.1.1", 59572), ok("s2:3478", "198.18.1.1", 32367)], "symmetric", undefined],
    ["different addresses: symmetric", [ok("s1:3478", "198.18.1.1", 51820), ok("s2:3478", "198.18.9.1", 51820)], "symmetric", undefined],
    ["the host's own address: no NAT", [ok("s1:3478", "100.64.1.2", 51820), ok("s2:3478", "100.64.1.2", 51820)], "none", "100.64.1.2:51820"],
    ["one answer only: unknown", [ok("s1:3478", "198.18.1.1", 51820), lost("s2:3478")], "unknown", undefined],
    ["no answer: unknown", [lost("s1:3478"), lost("s2:3478")], "unknown", undefined],
    [
      "two agree, one lost: advertised",
      [ok("s1:3478", "198.18.1.1", 51820), ok("s2:3478", "198.18.1.1", 51820), lost("s3:3478")],
      "endpoint-independent",
      "198.18.1.1:51820",
    ],
  ])("%s", (_n, answers, kind, advertised) => {
    const c = classify(answers, local, "scoped-snat");
    expect(c.kind).toBe(kind);
    expect(c.advertise && `${c.advertise.address}:${c.advertise.port}`).toBe(advertised);
    expect(c.method).toBe("scoped-snat");
    expect(c.reason.length).toBeGreaterThan(10);
  });
  it("the reason names the servers and what they saw", () => {
    expect(classify([ok("s1:3478", "198.18.1.1", 1), ok("s2:3478", "198.18.1.1", 2)], local, "direct").reason).toMatch(
      /s1:3478 -> 198\.18\.1\.1:1, s2:3478 -> 198\.18\.1\.1:2/,
    );
    expect(classify([ok("s1:3478", "198.18.1.1", 1), lost("s2:3478")], local, "direct").reason).toMatch(/no answer from s2:3478: STUN: no reply/);
  });
});
