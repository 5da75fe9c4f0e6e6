// WireGuard keys: X25519 with node:crypto, clamped like `wg genkey`. Randomness is a parameter.
// Pure apart from the default random source; never logs or prints a key.
import { createPrivateKey, createPublicKey, randomBytes } from "node:crypto";
import { invalid } from "../model/errors.js";

export type RandomBytes = (n: number) => Buffer;

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
  // A JWK import is ~5x faster than PKCS#8 DER (no OpenSSL decoder round): it matters for 1000-node meshes.
  // Node derives the public half from `d`; `x` must be present as a string but is not used for private keys.
  const key = createPrivateKey({ key: { kty: "OKP", crv: "X25519", d: raw.toString("base64url"), x: "" }, format: "jwk" });
  const x = createPublicKey(key).export({ format: "jwk" }).x as string;
  return Buffer.from(x, "base64url").toString("base64");
}
