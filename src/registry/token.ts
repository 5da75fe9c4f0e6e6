// Join tokens (issue 12 part 4): single use, expiring. A token is `ciab1.` + base64url(JSON) holding the network,
// a random id, a random secret, the node name it is for (optional) and, with etcd auth on, the node's own
// credentials. The registry stores only sha256(secret) under the id, with a TTL; `takeToken` hands it out once.
// Pure apart from the random source and the clock, both injectable.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { CiabError, invalid } from "../model/errors.js";
import { checkNetworkName, checkNodeName } from "../model/mesh.js";

export const TOKEN_PREFIX = "ciab1.";

/** What the new host learns from its token (never stored in the registry as such). */
export interface JoinToken {
  net: string;
  id: string;
  secret: string;
  node?: string;
  /** etcd auth on: the node's user and password (least privilege, see etcd-access.ts). */
  credentials?: { user: string; password: string };
}

/** What the registry keeps under the token id: no secret, only its hash. */
export interface StoredToken {
  version: 1;
  secretSha256: string;
  node?: string;
  /** ISO 8601: a driver whose TTL is coarse (file) is still held to this. */
  expiresAt: string;
}

const ID = /^[A-Za-z0-9_-]{16,64}$/;
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");
const b64url = (b: Buffer) => b.toString("base64url");

/** `--ttl` as `30s`, `15m`, `1h`, `2d` or a number of seconds; at most 7 days (a token is not a credential to keep). */
export function parseTtl(text: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(text.trim());
  const mult = { "": 1, s: 1, m: 60, h: 3600, d: 86400 } as const;
  const secs = m ? Number(m[1]) * mult[(m[2] ?? "") as keyof typeof mult] : Number.NaN;
  if (!(secs >= 1 && secs <= 7 * 86400))
    throw new CiabError("usage", `--ttl '${text}' is invalid: give 1s to 7d`, { hint: "e.g. --ttl 30m, --ttl 1h, --ttl 2d" });
  return secs;
}

/** A fresh token and what to store for it. */
export function newToken(
  net: string,
  ttlSeconds: number,
  opts: { node?: string; credentials?: JoinToken["credentials"]; now?: Date; random?: (n: number) => Buffer } = {},
): { token: JoinToken; text: string; stored: StoredToken } {
  checkNetworkName(net);
  if (opts.node !== undefined) checkNodeName(opts.node);
  const rnd = opts.random ?? randomBytes;
  const token: JoinToken = { net, id: b64url(rnd(12)), secret: b64url(rnd(32)), node: opts.node, credentials: opts.credentials };
  const now = opts.now ?? new Date();
  const stored: StoredToken = {
    version: 1,
    secretSha256: sha256(token.secret),
    node: opts.node,
    expiresAt: new Date(now.getTime() + ttlSeconds * 1000).toISOString(),
  };
  return { token, text: encodeToken(token), stored };
}

export const encodeToken = (t: JoinToken): string => TOKEN_PREFIX + b64url(Buffer.from(JSON.stringify(t)));

const malformed = (why: string) =>
  invalid(`join token is malformed: ${why}`, { hint: "copy the whole token printed by 'ciab token create' (it starts with 'ciab1.')" });

/** Parse a token the user pasted; errors never repeat it (it holds a secret). Exit code 4 (invalid). */
export function decodeToken(text: string): JoinToken {
  const t = text.trim();
  if (!t.startsWith(TOKEN_PREFIX)) throw malformed(`it does not start with '${TOKEN_PREFIX}'`);
  const body = t.slice(TOKEN_PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(body)) throw malformed("characters outside base64url");
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(body, "base64url").toString("utf8"));
  } catch {
    throw malformed("it does not decode (truncated?)");
  }
  const o = v as Record<string, unknown>;
  if (typeof o !== "object" || o === null) throw malformed("not an object");
  if (typeof o.net !== "string") throw malformed("field 'net' is missing");
  if (typeof o.id !== "string" || !ID.test(o.id)) throw malformed("field 'id' is missing or of the wrong shape");
  if (typeof o.secret !== "string" || !/^[A-Za-z0-9_-]{43}$/.test(o.secret)) throw malformed("field 'secret' is missing or of the wrong shape");
  if (o.node !== undefined && typeof o.node !== "string") throw malformed("field 'node' is not a string");
  const c = o.credentials as Record<string, unknown> | undefined;
  if (c !== undefined && (typeof c !== "object" || c === null || typeof c.user !== "string" || typeof c.password !== "string"))
    throw malformed("field 'credentials' needs 'user' and 'password'");
  try {
    checkNetworkName(o.net);
    if (o.node !== undefined) checkNodeName(o.node as string);
  } catch (e) {
    throw malformed(e instanceof Error ? e.message : String(e));
  }
  return { net: o.net, id: o.id, secret: o.secret, node: o.node as string | undefined, credentials: c as JoinToken["credentials"] };
}

/**
 * Check what `takeToken` returned for `token`. `stored` undefined: never issued, expired (the TTL removed it) or
 * already used (taken once). Refusals are CiabError "conflict" (exit 5) naming the reason; never the secret.
 */
export function redeem(token: JoinToken, stored: string | undefined, now = new Date()): { node?: string } {
  const refuse = (why: string, hint: string) => new CiabError("conflict", `join token ${token.id} for network '${token.net}' is refused: ${why}`, { hint });
  if (stored === undefined) throw refuse("it is unknown, expired or already used (a token works once)", "ask the admin for a new one: ciab token create NET");
  let s: StoredToken;
  try {
    s = JSON.parse(stored) as StoredToken;
  } catch {
    throw refuse("the registry holds garbage under its id", "ask the admin for a new one");
  }
  if (s?.version !== 1 || typeof s.secretSha256 !== "string" || typeof s.expiresAt !== "string")
    throw refuse("the registry holds garbage under its id", "ask the admin for a new one");
  const a = Buffer.from(sha256(token.secret), "hex");
  const b = Buffer.from(s.secretSha256, "hex");
  if (a.length !== b.length || !timingSafeEqual(a, b)) throw refuse("its secret does not match", "copy the whole token; ask for a new one if it was altered");
  if (!(Date.parse(s.expiresAt) > now.getTime())) throw refuse(`it expired at ${s.expiresAt}`, "ask the admin for a new one: ciab token create NET --ttl 1h");
  if (token.node !== undefined && s.node !== undefined && token.node !== s.node) throw refuse(`it is for node '${s.node}'`, "use the token made for this node");
  return { node: s.node ?? token.node };
}
