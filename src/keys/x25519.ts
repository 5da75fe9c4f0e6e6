// WireGuard keys: X25519 with node:crypto, clamped like `wg genkey`. Randomness is a parameter.
// Pure apart from the default random source; never logs or prints a key.
import { createPrivateKey, randomBytes } from "node:crypto";
import { invalid } from "../model/errors.js";

export type RandomBytes = (n: number) => Buffer;

/**
 * What is wrong with the shape of a would-be key, without repeating any of it (the text may be a private key with
 * one typo): length, alphabet, padding, quotes, whitespace. Undefined when the shape is right.
 */
export function keyShape(text: string): string | undefined {
  const t = text.trim();
  if (/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(t)) return undefined;
  const parts: string[] = [`got ${t.length} character${t.length === 1 ? "" : "s"}`];
  if (text !== t) parts.push("with surrounding whitespace");
  if (/^["']|["']$/.test(t)) parts.push("in quotes");
  if (/[-_]/.test(t)) parts.push("with '-' or '_' (base64url, not base64)");
  const other = [...t].filter((c) => !/[A-Za-z0-9+/=\-_"']/.test(c)).length;
  if (other) parts.push(`with ${other} character${other === 1 ? "" : "s"} outside base64`);
  if (!t.endsWith("=")) parts.push("without the '=' padding");
  else if (t.endsWith("==")) parts.push("with '==' padding (that encodes fewer than 32 bytes)");
  else if (t.length === 44 && /^[A-Za-z0-9+/]{43}=$/.test(t)) parts.push("whose last character before '=' leaves stray bits (not 32 bytes)");
  return `${parts.join(", ")}; a WireGuard key is 44 characters of base64 (A-Z a-z 0-9 + /) ending in one '='`;
}

/** Decode a base64 WireGuard key (32 bytes); throws naming `what` and the shape problem, never the value. */
export function decodeKey(b64: string, what = "key"): Buffer {
  const shape = keyShape(b64);
  if (shape !== undefined) throw invalid(`${what} is not a valid WireGuard key (${shape})`);
  return Buffer.from(b64.trim(), "base64");
}

// Curve25519 points of small order (and their non-canonical encodings, which X25519 reduces to them): a peer with
// such a public key yields an all-zero shared secret, which WireGuard refuses (noise.c: "curve25519 ... zero").
// From https://cr.yp.to/ecdh.html#validate (the list libsodium and WireGuard's selftest use).
const LOW_ORDER = [
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0100000000000000000000000000000000000000000000000000000000000000",
  "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
  "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
];

/** A public key that is all zeros or another point of small order (the top bit is ignored, as X25519 does). */
export function isLowOrderKey(b64: string): boolean {
  const raw = Buffer.from(decodeKey(b64));
  raw[31] = (raw[31] ?? 0) & 0x7f;
  return LOW_ORDER.includes(raw.toString("hex"));
}

/** curve25519 clamping (RFC 7748 §5), as `wg genkey` applies it. */
export function clamp(secret: Buffer): Buffer {
  const s = Buffer.from(secret);
  s[0] = (s[0] ?? 0) & 248;
  s[31] = ((s[31] ?? 0) & 127) | 64;
  return s;
}

export function genkey(random: RandomBytes = randomBytes): string {
  return clamp(random(32)).toString("base64");
}

export function genpsk(random: RandomBytes = randomBytes): string {
  return random(32).toString("base64");
}

// Derived public keys of this process: an edit validates the mesh before and after the change, and each X25519
// derivation costs more than the rest of a node's validation (issue 10: one call as fast as vwgen's).
const derived = new Map<string, string>();

/** Public key of a base64 private key; equals `wg pubkey` (X25519 clamps the scalar itself). */
export function pubkey(privateB64: string, what = "private key"): string {
  let pub = derived.get(privateB64);
  if (pub === undefined) {
    pub = derive(privateB64, what);
    derived.set(privateB64, pub);
  }
  return pub;
}

function derive(privateB64: string, what: string): string {
  const raw = decodeKey(privateB64, what);
  // A JWK import is ~5x faster than PKCS#8 DER (no OpenSSL decoder round): it matters for 1000-node meshes.
  // Node derives the public half from `d`; `x` must be present as a string but is not used for private keys.
  // The private key's own JWK holds the public half too (one key object fewer than createPublicKey).
  const key = createPrivateKey({ key: { kty: "OKP", crv: "X25519", d: raw.toString("base64url"), x: "" }, format: "jwk" });
  const x = key.export({ format: "jwk" }).x as string;
  return Buffer.from(x, "base64url").toString("base64");
}
