// STUN Binding (RFC 8489) as bytes: the request a client sends, the checks a reply must pass, the mapped address it
// carries, and the retransmission schedule. Pure; no I/O (the socket is adapters/stun.ts), no clock, no randomness
// (the 96-bit transaction id is drawn by the caller from a CSPRNG, keys/random.ts).
//
// Why our own ~250 lines and not an npm package: the `stun` package (2.1.0) pulls in ten dependencies for this
// (`ip`, which had CVE-2023-42282 and CVE-2024-29415 and is unmaintained; `meow` for a CLI we do not use; binary-data,
// buffer-xor, ip2buf, is-stun, parse-url, turbo-crc32, universalify, debug), hides retransmission behind its own
// timers, and does not check a reply's source. A Binding client needs a 20-byte header, two address attributes and a
// TLV walk; owning them lets every bad reply be refused with a reason that is tested (test/unit/stun.test.ts).
import { bytesToBig, formatAddr, parseAddr } from "../ipam/ip.js";
import { CiabError } from "../model/errors.js";

/** RFC 8489 §5: the fixed value in bytes 4-7 of every STUN message since RFC 5389. */
export const MAGIC_COOKIE = 0x2112a442;
export const HEADER_BYTES = 20;
export const TRANSACTION_ID_BYTES = 12;

/**
 * The fixed local port the agent sends STUN from, which the bundle's nft rule rewrites to the WireGuard port
 * (scoped SNAT, NAT-FINDINGS §3a). Fixed, not ephemeral: a second flow with a new port would need the same reply
 * tuple as the first one's live conntrack entry, and the kernel drops it (insert_failed).
 */
export const stunSourcePort = (listenPort: number): number => (listenPort === 51899 ? 51898 : 51899);

/**
 * The fixed local port the agent sends its low-TTL pre-punch from (NAT-FINDINGS §5): the bundle's nft rule rewrites
 * it to the WireGuard port for any destination, so the datagram opens the NAT's mapping of WireGuard's own port
 * towards a peer. Never the STUN port (a STUN round may run at the same time) nor the listen port.
 */
export const punchSourcePort = (listenPort: number): number => (listenPort === 51897 ? 51896 : 51897);

/**
 * The pre-punch's hop limit: one hop past the host's own NAT (a home router, the host's gateway), so it opens that
 * NAT and dies before the peer's, which would otherwise keep an unsolicited entry that deadlocks hole punching.
 */
export const PUNCH_TTL = 2;

export const METHOD = { bindingRequest: 0x0001, bindingSuccess: 0x0101, bindingError: 0x0111 } as const;
export const ATTR = { mappedAddress: 0x0001, errorCode: 0x0009, xorMappedAddress: 0x0020, software: 0x8022 } as const;

/** Why a reply was refused; stable strings, tested as a table. */
export type StunReason =
  | "truncated" // shorter than the 20-byte header, or than its own length field says
  | "not-stun" // the two top bits of the type are not zero, or the length is not a multiple of 4
  | "cookie" // bytes 4-7 are not the magic cookie (an RFC 3489 server, or not STUN)
  | "transaction" // not the transaction id we sent (a late reply to an earlier request, or spoofed)
  | "not-success" // an error response, or another message type
  | "attribute-length" // an attribute's length runs past the end of the message
  | "no-address" // neither XOR-MAPPED-ADDRESS nor MAPPED-ADDRESS
  | "family" // an address family other than IPv4 (0x01) or IPv6 (0x02), or not the family asked for
  | "address-length" // an address attribute of the wrong size for its family
  | "source" // from another address or port than the server asked
  | "timeout"; // no valid reply before the deadline (adapters/stun.ts)

/** The one error a bad reply raises: a CiabError ("external": the fault is the server's or the network's). */
export class StunError extends CiabError {
  readonly reason: StunReason;
  constructor(reason: StunReason, message: string) {
    super("external", `STUN: ${message}`, { hint: reason === "timeout" ? "check that the STUN server is reachable over UDP" : undefined });
    this.name = "StunError";
    this.reason = reason;
  }
}

export interface MappedAddress {
  family: 4 | 6;
  /** IPv4 dotted quad or RFC 5952 IPv6 text. */
  address: string;
  port: number;
  /** Which attribute carried it: XOR-MAPPED-ADDRESS, or the RFC 3489 MAPPED-ADDRESS fallback. */
  attribute: "xor-mapped" | "mapped";
}

export interface BindingReply {
  mapped: MappedAddress;
  /** SOFTWARE, when the server sent one (for logs). */
  software?: string;
}

const fail = (reason: StunReason, message: string): never => {
  throw new StunError(reason, message);
};

/** A Binding request (RFC 8489 §6.1): type 0x0001, length 0, the cookie, the transaction id; no attributes. */
export function encodeBindingRequest(transactionId: Uint8Array): Uint8Array {
  if (transactionId.length !== TRANSACTION_ID_BYTES) throw new CiabError("internal", `STUN transaction id must be ${TRANSACTION_ID_BYTES} bytes`);
  const b = new Uint8Array(HEADER_BYTES);
  const v = new DataView(b.buffer);
  v.setUint16(0, METHOD.bindingRequest);
  v.setUint16(2, 0);
  v.setUint32(4, MAGIC_COOKIE);
  b.set(transactionId, 8);
  return b;
}

/** The 16 bytes an IPv6 XOR-MAPPED-ADDRESS is XORed with (§14.2): the cookie, then the transaction id. */
function xorMask(transactionId: Uint8Array): Uint8Array {
  const m = new Uint8Array(16);
  new DataView(m.buffer).setUint32(0, MAGIC_COOKIE);
  m.set(transactionId, 4);
  return m;
}

function addressBytes(family: 4 | 6, address: string): Uint8Array {
  const { family: f, addr } = parseAddr(address, "STUN address");
  if (f !== family) throw new CiabError("internal", `STUN address ${address} is not IPv${family}`);
  const n = family === 4 ? 4 : 16;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Number((addr >> BigInt(8 * (n - 1 - i))) & 0xffn);
  return out;
}

/** The value of an address attribute (§14.1, §14.2): 0, family, port, address; XORed for XOR-MAPPED-ADDRESS. */
function encodeAddress(a: Omit<MappedAddress, "attribute">, xor: boolean, transactionId: Uint8Array): Uint8Array {
  const addr = addressBytes(a.family, a.address);
  const v = new Uint8Array(4 + addr.length);
  const dv = new DataView(v.buffer);
  v[1] = a.family === 4 ? 0x01 : 0x02;
  dv.setUint16(2, xor ? a.port ^ (MAGIC_COOKIE >>> 16) : a.port);
  const mask = xorMask(transactionId);
  for (let i = 0; i < addr.length; i++) v[4 + i] = xor ? (addr[i] as number) ^ (mask[i] as number) : (addr[i] as number);
  return v;
}

export interface Attribute {
  type: number;
  value: Uint8Array;
}

/** Any STUN message: header plus attributes, each padded to 4 bytes (§14). For tests and for a STUN responder. */
export function encodeMessage(type: number, transactionId: Uint8Array, attributes: readonly Attribute[]): Uint8Array {
  const body = attributes.reduce((n, a) => n + 4 + a.value.length + ((4 - (a.value.length % 4)) % 4), 0);
  const b = new Uint8Array(HEADER_BYTES + body);
  const v = new DataView(b.buffer);
  v.setUint16(0, type);
  v.setUint16(2, body);
  v.setUint32(4, MAGIC_COOKIE);
  b.set(transactionId, 8);
  let off = HEADER_BYTES;
  for (const a of attributes) {
    v.setUint16(off, a.type);
    v.setUint16(off + 2, a.value.length);
    b.set(a.value, off + 4);
    off += 4 + a.value.length + ((4 - (a.value.length % 4)) % 4);
  }
  return b;
}

/** A Binding success response carrying `mapped` in XOR-MAPPED-ADDRESS (or MAPPED-ADDRESS, as an RFC 3489 server). */
export function encodeBindingSuccess(
  transactionId: Uint8Array,
  mapped: Omit<MappedAddress, "attribute">,
  opts: { attribute?: MappedAddress["attribute"]; software?: string } = {},
): Uint8Array {
  const xor = (opts.attribute ?? "xor-mapped") === "xor-mapped";
  const attrs: Attribute[] = [{ type: xor ? ATTR.xorMappedAddress : ATTR.mappedAddress, value: encodeAddress(mapped, xor, transactionId) }];
  if (opts.software !== undefined) attrs.push({ type: ATTR.software, value: new TextEncoder().encode(opts.software) });
  return encodeMessage(METHOD.bindingSuccess, transactionId, attrs);
}

function decodeAddress(value: Uint8Array, xor: boolean, transactionId: Uint8Array, name: string): MappedAddress {
  if (value.length < 4) fail("address-length", `${name} is ${value.length} bytes, shorter than its 4-byte head`);
  const fam = value[1];
  if (fam !== 0x01 && fam !== 0x02) fail("family", `${name} has address family 0x${(fam ?? 0).toString(16).padStart(2, "0")} (IPv4 is 0x01, IPv6 0x02)`);
  const family = fam === 0x01 ? 4 : 6;
  const want = family === 4 ? 8 : 20;
  if (value.length !== want) fail("address-length", `${name} is ${value.length} bytes; an IPv${family} address takes ${want}`);
  const raw = (((value[2] as number) << 8) | (value[3] as number)) >>> 0;
  const port = xor ? raw ^ (MAGIC_COOKIE >>> 16) : raw;
  const mask = xorMask(transactionId);
  const bytes = value.subarray(4).map((b, i) => (xor ? b ^ (mask[i] as number) : b));
  return { family, address: formatAddr(family, bytesToBig(bytes)), port, attribute: xor ? "xor-mapped" : "mapped" };
}

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/**
 * Check a datagram as the reply to our Binding request and return the mapped address (§6.3.1, §14.2). Throws a
 * StunError with a reason for anything else; never another exception, whatever the bytes (a property test holds it
 * to that). `family` refuses a mapping of the other family than the socket's.
 */
export function decodeBindingResponse(msg: Uint8Array, transactionId: Uint8Array, opts: { family?: 4 | 6 } = {}): BindingReply {
  if (msg.length < HEADER_BYTES) fail("truncated", `reply of ${msg.length} bytes is shorter than the 20-byte header`);
  const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const type = v.getUint16(0);
  const length = v.getUint16(2);
  if ((type & 0xc000) !== 0 || length % 4 !== 0) fail("not-stun", `reply is not a STUN message (type 0x${type.toString(16)}, length ${length})`);
  if (v.getUint32(4) !== MAGIC_COOKIE) fail("cookie", `reply has magic cookie 0x${v.getUint32(4).toString(16)}, not 0x2112a442`);
  const tid = msg.subarray(8, HEADER_BYTES);
  if (hex(tid) !== hex(transactionId)) fail("transaction", "reply is for another transaction id (a late or spoofed reply)");
  if (HEADER_BYTES + length > msg.length) fail("truncated", `reply says ${length} bytes of attributes but has ${msg.length - HEADER_BYTES}`);
  const attrs = new Map<number, Uint8Array>();
  let off = HEADER_BYTES;
  const end = HEADER_BYTES + length;
  // off and end are multiples of 4 (the length was checked), so a 4-byte attribute header always fits before end.
  while (off < end) {
    const t = v.getUint16(off);
    const l = v.getUint16(off + 2);
    if (off + 4 + l > end) fail("attribute-length", `attribute 0x${t.toString(16).padStart(4, "0")} of ${l} bytes runs past the end of the message`);
    // §5: only the first of a repeated attribute counts.
    if (!attrs.has(t)) attrs.set(t, msg.subarray(off + 4, off + 4 + l));
    off += 4 + l + ((4 - (l % 4)) % 4);
  }
  if (type !== METHOD.bindingSuccess) {
    const e = attrs.get(ATTR.errorCode);
    const code = e && e.length >= 4 ? ((e[2] as number) & 7) * 100 + (e[3] as number) : undefined;
    fail(
      "not-success",
      type === METHOD.bindingError
        ? `server answered with an error${code === undefined ? "" : ` (${code})`}`
        : `reply is message type 0x${type.toString(16).padStart(4, "0")}, not a Binding success`,
    );
  }
  const xa = attrs.get(ATTR.xorMappedAddress);
  const ma = attrs.get(ATTR.mappedAddress);
  if (!xa && !ma) fail("no-address", "reply carries neither XOR-MAPPED-ADDRESS nor MAPPED-ADDRESS");
  const mapped = xa ? decodeAddress(xa, true, transactionId, "XOR-MAPPED-ADDRESS") : decodeAddress(ma as Uint8Array, false, transactionId, "MAPPED-ADDRESS");
  if (opts.family !== undefined && mapped.family !== opts.family)
    fail("family", `mapped address ${mapped.address} is IPv${mapped.family}, the socket is IPv${opts.family}`);
  const sw = attrs.get(ATTR.software);
  return sw ? { mapped, software: new TextDecoder("utf-8", { fatal: false }).decode(sw).replace(/\0+$/, "") } : { mapped };
}

/** A reply must come from the address and port the request went to (§6.3: else it is not that server's answer). */
export function checkSource(expected: { address: string; port: number }, from: { address: string; port: number }): void {
  const norm = (a: string) => a.replace(/^::ffff:(?=\d+\.)/, "");
  if (norm(from.address) !== norm(expected.address) || from.port !== expected.port)
    fail("source", `reply from ${from.address}:${from.port}, not from the server ${expected.address}:${expected.port}`);
}

export interface Retransmit {
  /** Initial RTO, ms (§6.2.1: 500 ms recommended). */
  rtoMs: number;
  /** Requests sent in all (Rc, 7). */
  rc: number;
  /** After the last request, wait Rm x RTO (16) for its reply. */
  rm: number;
}

export const RFC8489_RETRANSMIT: Retransmit = { rtoMs: 500, rc: 7, rm: 16 };

/**
 * When each request is sent and when the transaction gives up, in ms from the first send (§6.2.1): the RTO doubles
 * after each send: 0, 500, 1500, 3500, 7500, 15500, 31500, giving up at 39500 with the defaults. A caller's deadline
 * cuts the schedule: no send at or after it, and the give-up time is at most the deadline.
 */
export function retransmitSchedule(r: Retransmit = RFC8489_RETRANSMIT, deadlineMs = Number.POSITIVE_INFINITY): { sends: number[]; giveUp: number } {
  const sends: number[] = [];
  let t = 0;
  let rto = r.rtoMs;
  for (let i = 0; i < r.rc; i++) {
    if (t >= deadlineMs) break;
    sends.push(t);
    if (i < r.rc - 1) {
      t += rto;
      rto *= 2;
    }
  }
  const last = sends.at(-1) ?? 0;
  return { sends, giveUp: Math.min(last + r.rm * r.rtoMs, deadlineMs) };
}
