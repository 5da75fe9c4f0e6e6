// WireGuard keys: X25519 with node:crypto, clamped like `wg genkey`. Randomness is a parameter.
// Pure apart from the default random source; never logs or prints a key.
import { createPrivateKey, createPublicKey, randomBytes } from "node:crypto";
import { invalid } from "../model/errors.js";

export type RandomBytes = (n: number) => Buffer;

// PKCS#8 wrapper for a raw X25519 private key (RFC 8410 §7): SEQUENCE { version, AlgorithmIdentifier 1.3.101.110, OCTET STRING }.
const PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");

/** Decode a base64 WireGuard key (32 bytes); throws naming `what` otherwise. */
export function decodeKey(b64: string, what = "key"): Buffer {
  const t = b64.trim();
  if (!/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(t)) {
    throw invalid(`${what} is not a valid WireGuard key (expected 44 characters of base64 encoding 32 bytes)`);
  }
  return Buffer.from(t, "base64");
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

/** Public key of a base64 private key; equals `wg pubkey` (X25519 clamps the scalar itself). */
export function pubkey(privateB64: string, what = "private key"): string {
  const raw = decodeKey(privateB64, what);
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: "der", type: "pkcs8" });
  const spki = createPublicKey(key).export({ format: "der", type: "spki" });
  return Buffer.from(spki.subarray(spki.length - 32)).toString("base64");
}
