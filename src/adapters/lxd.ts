// LXD/Incus adapter: reads the daemon's REST API over its unix socket and turns managed bridge networks into subnets.
// Owns: socket discovery (explicit, $LXD_DIR, $INCUS_DIR, snap, deb, Incus paths), one GET with a deadline, strict
// validation of replies, and a minimal websocket reader for GET /1.0/events (so --watch reacts to new bridges). Must not: change anything in LXD (read-only), print, fall back silently when a reply is
// wrong (every bad reply throws a CiabError "external" naming the socket), or depend on the lxc/incus CLI.
// The HTTP transport is injectable so tests replay replies captured from a real daemon (test/fixtures/lxd/).
import { createHash, randomBytes } from "node:crypto";
import { statSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { canonicalNetwork, parsePrefix } from "../ipam/ip.js";
import { CiabError } from "../model/errors.js";

/** One HTTP exchange over the unix socket. Resolves with any status; rejects only on transport errors. */
export interface LxdRequest {
  socketPath: string;
  method: "GET";
  path: string;
  timeoutMs: number;
}
export interface LxdReply {
  status: number;
  body: string;
}
export type LxdTransport = (req: LxdRequest) => Promise<LxdReply>;

export interface LxdOptions {
  /** Socket path; when given, no other path is tried. */
  socket?: string;
  /** Environment to read LXD_DIR / INCUS_DIR from (default process.env). */
  env?: Record<string, string | undefined>;
  /** LXD project (default: the daemon's default project). */
  project?: string;
  /** Deadline for the whole request (connect + reply), default 5000 ms. */
  timeoutMs?: number;
  transport?: LxdTransport;
  /** For tests: whether a path is a unix socket. */
  isSocket?: (path: string) => boolean;
}

/** A managed bridge and the network prefixes of its addresses (host bits cleared). */
export interface LxdSubnet {
  network: string;
  ipv4?: string;
  ipv6?: string;
}

const DEFAULT_TIMEOUT_MS = 5000;
// A networks listing is a few KB; anything this large is not a sane reply and must not exhaust memory.
const MAX_BODY = 8 * 1024 * 1024;

/** Default socket paths in the order they are tried: snap LXD, deb LXD, Incus. */
export const DEFAULT_SOCKETS = ["/var/snap/lxd/common/lxd/unix.socket", "/var/lib/lxd/unix.socket", "/var/lib/incus/unix.socket"] as const;

/**
 * Candidate socket paths, best first. $LXD_DIR and $INCUS_DIR come before the packaged defaults because setting them
 * is an explicit choice (the lxc and incus clients honour them the same way).
 */
export function socketCandidates(env: Record<string, string | undefined> = process.env): string[] {
  const out: string[] = [];
  if (env.LXD_DIR) out.push(join(env.LXD_DIR, "unix.socket"));
  if (env.INCUS_DIR) out.push(join(env.INCUS_DIR, "unix.socket"));
  out.push(...DEFAULT_SOCKETS);
  return out;
}

function defaultIsSocket(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}

/** The socket to talk to: the explicit one (must exist), else the first candidate that is a socket. */
export function findSocket(opts: LxdOptions = {}): string {
  const isSocket = opts.isSocket ?? defaultIsSocket;
  if (opts.socket !== undefined) {
    if (!isSocket(opts.socket)) {
      throw new CiabError("notFound", `LXD socket ${opts.socket} does not exist or is not a unix socket`, {
        hint: "check the path, or start the LXD/Incus daemon",
        where: { value: opts.socket },
      });
    }
    return opts.socket;
  }
  const candidates = socketCandidates(opts.env);
  const found = candidates.find(isSocket);
  if (found === undefined) {
    throw new CiabError("notFound", `no LXD or Incus socket found (tried ${candidates.join(", ")})`, {
      hint: "install and start LXD or Incus, set LXD_DIR/INCUS_DIR, or turn DiscoverLXD off for this node",
    });
  }
  return found;
}

/** node:http over the unix socket with one overall deadline (an idle timeout alone would let a slow drip hang). */
export const httpTransport: LxdTransport = (req) =>
  new Promise((resolve, reject) => {
    let done = false;
    const finish = (err: Error | null, reply?: LxdReply) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        r.destroy();
        reject(err);
      } else if (reply) resolve(reply);
    };
    // Host "lxd" is what the lxc client sends too; the daemon ignores it on the unix socket.
    const r = request({ socketPath: req.socketPath, path: req.path, method: req.method, headers: { host: "lxd" } }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) finish(new Error(`reply larger than ${MAX_BODY} bytes`));
        else chunks.push(c);
      });
      res.on("end", () => finish(null, { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", (e) => finish(e));
    });
    const timer = setTimeout(() => finish(new TimeoutError(req.timeoutMs)), req.timeoutMs);
    r.on("error", (e) => finish(e));
    r.end();
  });

class TimeoutError extends Error {
  constructor(ms: number) {
    super(`no complete reply within ${ms} ms`);
    this.name = "TimeoutError";
  }
}

const external = (socket: string, what: string, hint: string, cause?: unknown) =>
  new CiabError("external", `LXD at ${socket}: ${what}`, { hint, cause, where: { value: socket } });

const snippet = (s: string) => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * GET a path and return the metadata of a "sync" reply. Throws CiabError "external" for transport errors, timeouts,
 * non-JSON, an error status or a reply that is not a sync response.
 */
export async function lxdGet(path: string, opts: LxdOptions = {}): Promise<{ socket: string; metadata: unknown }> {
  const socket = findSocket(opts);
  const transport = opts.transport ?? httpTransport;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const what = `GET ${path}`;
  let reply: LxdReply;
  try {
    reply = await transport({ socketPath: socket, method: "GET", path, timeoutMs });
  } catch (e) {
    throw transportError(socket, what, e);
  }
  let body: unknown;
  try {
    body = JSON.parse(reply.body);
  } catch (e) {
    throw external(
      socket,
      `${what} answered HTTP ${reply.status} with a body that is not JSON (${snippet(reply.body)})`,
      "is this socket really an LXD/Incus daemon? check the socket path and the daemon log",
      e,
    );
  }
  if (!isObject(body)) {
    throw external(socket, `${what} answered with JSON that is not an object (${snippet(reply.body)})`, "check the daemon log");
  }
  if (body.type === "error" || reply.status < 200 || reply.status > 299) {
    const msg = typeof body.error === "string" && body.error !== "" ? body.error : "no error message";
    const code = typeof body.error_code === "number" && body.error_code !== 0 ? body.error_code : reply.status;
    throw external(socket, `${what} failed with ${code}: ${msg}`, "check the project name and the daemon log (lxc info)");
  }
  if (body.type !== "sync" || !("metadata" in body)) {
    throw external(
      socket,
      `${what} answered with an unexpected reply type ${JSON.stringify(body.type)} (want "sync" with metadata)`,
      "this LXD/Incus version may be unsupported; report it with the daemon version",
    );
  }
  return { socket, metadata: body.metadata };
}

function transportError(socket: string, what: string, e: unknown): CiabError {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (e instanceof TimeoutError) {
    return external(socket, `${what}: ${e.message}`, "the daemon may be hung or starting; try `lxd waitready` or restart it", e);
  }
  if (code === "ECONNREFUSED" || code === "ENOENT") {
    return external(socket, `${what}: nothing listens on the socket (${code})`, "start the LXD/Incus daemon", e);
  }
  if (code === "EACCES") {
    return external(socket, `${what}: permission denied`, "run as root or as a member of the lxd/incus-admin group", e);
  }
  const msg = e instanceof Error ? e.message : String(e);
  return external(socket, `${what}: ${msg}`, "check that the daemon is running and answers `lxc info`", e);
}

/**
 * Pure: the subnets of managed bridges in a GET /1.0/networks?recursion=1 metadata array. Unmanaged interfaces and
 * other managed types (macvlan, ovn, physical, sriov) are skipped: their addresses are not LXD's to announce.
 * "none", "" and an unresolved "auto" mean no subnet for that family; LXD writes the real address into the config
 * when it resolves "auto" at create time (verified with LXD 5.0.2), so "auto" only shows up mid-creation.
 * Sorted by network name so callers can compare snapshots.
 */
export function subnetsFromNetworks(metadata: unknown, socket = "(fixture)"): LxdSubnet[] {
  const bad = (what: string) => external(socket, `GET /1.0/networks: ${what}`, "this LXD/Incus version may be unsupported; report it with the daemon version");
  if (!Array.isArray(metadata)) throw bad("metadata is not a list of networks (was recursion=1 honoured?)");
  const out: LxdSubnet[] = [];
  metadata.forEach((n: unknown, i) => {
    if (!isObject(n)) throw bad(`network #${i} is not an object`);
    const { name, type, managed, config } = n;
    if (typeof name !== "string" || name === "") throw bad(`network #${i} has no name`);
    if (typeof type !== "string") throw bad(`network ${name} has no type`);
    if (typeof managed !== "boolean") throw bad(`network ${name}: "managed" is not a boolean`);
    if (!managed || type !== "bridge") return;
    if (!isObject(config)) throw bad(`network ${name}: config is not an object`);
    const entry: LxdSubnet = { network: name };
    for (const family of [4, 6] as const) {
      const key = `ipv${family}.address`;
      const value = config[key];
      if (value === undefined || value === "" || value === "none" || value === "auto") continue;
      if (typeof value !== "string") throw bad(`network ${name}: ${key} is not a string`);
      let prefix: string;
      try {
        if (parsePrefix(value, key).family !== family) throw new Error(`not an IPv${family} address`);
        prefix = canonicalNetwork(value, key);
      } catch (e) {
        throw external(
          socket,
          `network ${name}: ${key} ${JSON.stringify(value)} is not an IPv${family} address/length`,
          "fix the bridge address with `lxc network set`",
          e,
        );
      }
      if (family === 4) entry.ipv4 = prefix;
      else entry.ipv6 = prefix;
    }
    if (entry.ipv4 !== undefined || entry.ipv6 !== undefined) out.push(entry);
  });
  return out.sort((a, b) => (a.network < b.network ? -1 : a.network > b.network ? 1 : 0));
}

/** The subnets of the daemon's managed bridges (GET /1.0/networks?recursion=1). */
export async function discoverSubnets(opts: LxdOptions = {}): Promise<LxdSubnet[]> {
  const query = opts.project === undefined ? "" : `&project=${encodeURIComponent(opts.project)}`;
  const { socket, metadata } = await lxdGet(`/1.0/networks?recursion=1${query}`, opts);
  return subnetsFromNetworks(metadata, socket);
}

// ---------------------------------------------------------------------------------------------------------------
// Events: GET /1.0/events is a websocket (RFC 6455). A minimal client is enough: the daemon only sends text frames
// (one JSON event each), pings and a close; we only answer pings and close. Used by `ciab up --watch` to reconcile
// when a network is created, updated or deleted, instead of polling.

const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"; // RFC 6455 §1.3

export interface LxdEvent {
  type: string;
  timestamp?: string;
  /** For lifecycle events: { action: "network-created" | "network-updated" | "network-deleted" | …, source: "/1.0/networks/x" }. */
  metadata: Record<string, unknown>;
}

export interface WsFrame {
  fin: boolean;
  opcode: number;
  payload: Buffer;
}

/** Pure: split complete frames off the front of buf; `rest` is an incomplete tail to prepend to the next chunk. */
export function parseFrames(buf: Buffer): { frames: WsFrame[]; rest: Buffer } {
  const frames: WsFrame[] = [];
  let off = 0;
  for (;;) {
    if (buf.length - off < 2) break;
    const b0 = buf[off] as number;
    const b1 = buf[off + 1] as number;
    let len = b1 & 0x7f;
    let head = 2;
    if (len === 126) {
      if (buf.length - off < 4) break;
      len = buf.readUInt16BE(off + 2);
      head = 4;
    } else if (len === 127) {
      if (buf.length - off < 10) break;
      const big = buf.readBigUInt64BE(off + 2);
      if (big > BigInt(MAX_BODY)) throw new Error(`websocket frame of ${big} bytes is too large`);
      len = Number(big);
      head = 10;
    }
    const masked = (b1 & 0x80) !== 0;
    const start = off + head + (masked ? 4 : 0);
    if (buf.length < start + len) break;
    const payload = Buffer.from(buf.subarray(start, start + len));
    if (masked) for (let i = 0; i < len; i++) payload[i] = (payload[i] as number) ^ (buf[off + head + (i % 4)] as number);
    frames.push({ fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, payload });
    off = start + len;
  }
  return { frames, rest: buf.subarray(off) };
}

/** A client frame (clients must mask, RFC 6455 §5.3); only used for small control frames. */
function clientFrame(opcode: number, payload: Buffer): Buffer {
  const key = randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] = (body[i] as number) ^ (key[i % 4] as number);
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | body.length]), key, body]);
}

export interface LxdEventStream {
  /** Resolves when the stream ends (daemon closed it, the socket broke, or close() was called); never rejects. */
  closed: Promise<void>;
  close(): void;
}

/**
 * Subscribe to daemon events (default type "lifecycle"). Resolves once the websocket is open; rejects with a
 * CiabError "external" when the socket does not upgrade within the timeout. A frame that is not a JSON event is
 * passed to onError and the stream stays open.
 */
export function watchEvents(
  opts: LxdOptions & { types?: string[] },
  onEvent: (e: LxdEvent) => void,
  onError: (e: CiabError) => void = () => {},
): Promise<LxdEventStream> {
  const socket = findSocket(opts);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const query = [`type=${encodeURIComponent((opts.types ?? ["lifecycle"]).join(","))}`];
  if (opts.project !== undefined) query.push(`project=${encodeURIComponent(opts.project)}`);
  const path = `/1.0/events?${query.join("&")}`;
  const what = `GET ${path}`;
  const key = randomBytes(16).toString("base64");
  return new Promise((resolve, reject) => {
    const req = request({
      socketPath: socket,
      path,
      headers: { host: "lxd", connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": key },
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(transportError(socket, what, new TimeoutError(timeoutMs)));
    }, timeoutMs);
    req.on("error", (e) => {
      clearTimeout(timer);
      reject(transportError(socket, what, e));
    });
    req.on("response", (res) => {
      // An HTTP reply instead of an upgrade: LXD's JSON error (e.g. unknown project) or not an LXD at all.
      clearTimeout(timer);
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        let msg = snippet(body);
        try {
          const j = JSON.parse(body) as { error?: unknown };
          if (typeof j.error === "string" && j.error !== "") msg = j.error;
        } catch {}
        reject(external(socket, `${what} answered HTTP ${res.statusCode} instead of a websocket: ${msg}`, "check the project name and the daemon version"));
      });
    });
    req.on("upgrade", (res, conn, head) => {
      clearTimeout(timer);
      const accept = createHash("sha1")
        .update(key + WS_GUID)
        .digest("base64");
      if (res.headers["sec-websocket-accept"] !== accept) {
        conn.destroy();
        reject(external(socket, `${what}: websocket handshake answered with a wrong Sec-WebSocket-Accept`, "is this socket really an LXD/Incus daemon?"));
        return;
      }
      let done!: () => void;
      const closed = new Promise<void>((r) => {
        done = r;
      });
      conn.on("close", () => done());
      conn.on("error", () => conn.destroy());
      let pending: Buffer = Buffer.from(head);
      let text: Buffer[] = [];
      const emit = (payload: Buffer) => {
        let e: unknown;
        try {
          e = JSON.parse(payload.toString("utf8"));
        } catch {
          onError(external(socket, `event that is not JSON: ${snippet(payload.toString("utf8"))}`, "check the daemon log"));
          return;
        }
        if (!isObject(e) || typeof e.type !== "string" || !isObject(e.metadata)) {
          onError(external(socket, `event with an unexpected shape: ${snippet(payload.toString("utf8"))}`, "this LXD/Incus version may be unsupported"));
          return;
        }
        onEvent({ type: e.type, timestamp: typeof e.timestamp === "string" ? e.timestamp : undefined, metadata: e.metadata });
      };
      const onData = (chunk: Buffer) => {
        let parsed: ReturnType<typeof parseFrames>;
        try {
          parsed = parseFrames(Buffer.concat([pending, chunk]));
        } catch (e) {
          onError(external(socket, `broken websocket stream: ${(e as Error).message}`, "check the daemon log", e));
          conn.destroy();
          return;
        }
        pending = parsed.rest;
        for (const f of parsed.frames) {
          if (f.opcode === 0x9)
            conn.write(clientFrame(0xa, f.payload)); // ping → pong
          else if (f.opcode === 0x8) conn.end(clientFrame(0x8, f.payload.subarray(0, 2)));
          else if (f.opcode === 0x1 || f.opcode === 0x0) {
            text.push(f.payload);
            if (f.fin) {
              emit(Buffer.concat(text));
              text = [];
            }
          }
        }
      };
      conn.on("data", onData);
      if (pending.length > 0) onData(Buffer.alloc(0));
      resolve({
        closed,
        close: () => {
          if (!conn.destroyed) conn.end(clientFrame(0x8, Buffer.from([0x03, 0xe8]))); // 1000 normal closure
          setTimeout(() => conn.destroy(), 1000).unref();
        },
      });
    });
    req.end();
  });
}
