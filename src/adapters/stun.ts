// STUN over node:dgram: one UDP socket on a chosen local port, Binding transactions with RFC 8489 §6.2.1
// retransmission cut by the caller's deadline, and the NAT verdict of several servers asked from that one port.
// The bytes and the checks are nat/stun.ts (pure); the verdict is nat/classify.ts. Must not: decide policy (what to
// advertise is the caller's), print, or touch the firewall (the scoped-SNAT rule is rendered into the bundle's nft
// table, render/nft.ts; this file only forgets the STUN port's conntrack entries, through the injected Runner).
import { randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { RandomBytes } from "../keys/x25519.js";
import { parseEndpoint } from "../model/mesh.js";
import { type Classification, classify, type ServerAnswer, type StunMethod } from "../nat/classify.js";
import {
  type BindingReply,
  checkSource,
  decodeBindingResponse,
  encodeBindingRequest,
  HEADER_BYTES,
  type Retransmit,
  RFC8489_RETRANSMIT,
  retransmitSchedule,
  StunError,
  TRANSACTION_ID_BYTES,
} from "../nat/stun.js";
import type { Runner } from "./exec.js";

export interface BindingResult extends BindingReply {
  /** The server's address the request went to (a name resolved once) and port. */
  server: { address: string; port: number };
  rttMs: number;
  /** Requests sent (1 = answered at the first try). */
  tries: number;
}

export interface BindingOptions {
  /** Give up at this many ms after the first send, whatever the schedule says (the caller's overall deadline). */
  deadlineMs: number;
  retransmit?: Retransmit;
  /** The CSPRNG for transaction ids (96 bits, RFC 8489 §6); node:crypto by default. */
  random?: RandomBytes;
}

/** "host:port" or "[v6]:port" (the mesh file's STUNServers syntax, one parser with Endpoint) as host and port. */
export function splitHostPort(s: string): { host: string; port: number } {
  const { host, port } = parseEndpoint(s, "STUN server");
  return { host, port };
}

/** A UDP socket for STUN. One per local port: its transactions run in parallel, told apart by transaction id. */
export class StunSocket {
  private constructor(
    private readonly sock: Socket,
    readonly family: 4 | 6,
  ) {}

  /** Bind `port` (0: any) on `address` (default: every address of the family). */
  static async open(opts: { port: number; address?: string; family?: 4 | 6 }): Promise<StunSocket> {
    const family = opts.family ?? (opts.address && isIP(opts.address) === 6 ? 6 : 4);
    const sock = createSocket({ type: family === 6 ? "udp6" : "udp4" });
    await new Promise<void>((resolve, reject) => {
      sock.once("error", reject);
      sock.bind(opts.port, opts.address, () => {
        sock.off("error", reject);
        resolve();
      });
    });
    return new StunSocket(sock, family);
  }

  get local(): { address: string; port: number } {
    const a = this.sock.address();
    return { address: a.address, port: a.port };
  }

  close(): void {
    this.sock.close();
  }

  /**
   * One Binding transaction to `server`. Replies for another transaction id or from another source are ignored
   * (they are not this server's answer) and the schedule goes on; a reply that is ours but bad ends it at once with
   * its reason. At the give-up time: a StunError "source" if only replies from elsewhere came, else "timeout".
   */
  async binding(server: { host: string; port: number }, opts: BindingOptions): Promise<BindingResult> {
    const address = await this.resolve(server.host);
    const target = { address, port: server.port };
    const tid = (opts.random ?? randomBytes)(TRANSACTION_ID_BYTES);
    const request = encodeBindingRequest(tid);
    const { sends, giveUp } = retransmitSchedule(opts.retransmit ?? RFC8489_RETRANSMIT, opts.deadlineMs);
    const t0 = performance.now();
    return await new Promise<BindingResult>((resolve, reject) => {
      const timers: NodeJS.Timeout[] = [];
      let tries = 0;
      let strayFrom: string | undefined;
      const done = (f: () => void) => {
        for (const t of timers) clearTimeout(t);
        this.sock.off("message", onMessage);
        f();
      };
      const onMessage = (msg: Buffer, rinfo: { address: string; port: number }) => {
        let reply: BindingReply;
        try {
          reply = decodeBindingResponse(msg, tid, { family: this.family });
        } catch (e) {
          if (!(e instanceof StunError)) throw e;
          // Not ours (another transaction, or not STUN at all), or ours but refused: only the latter ends it, and
          // only when it came from the server.
          if (e.reason === "transaction" || e.reason === "cookie" || e.reason === "not-stun" || msg.length < HEADER_BYTES) return;
          if (!sameSource(target, rinfo)) return;
          done(() => reject(e));
          return;
        }
        if (!sameSource(target, rinfo)) {
          strayFrom = `${rinfo.address}:${rinfo.port}`;
          return;
        }
        const rttMs = Math.round((performance.now() - t0) * 1000) / 1000;
        done(() => resolve({ ...reply, server: target, rttMs, tries }));
      };
      this.sock.on("message", onMessage);
      const send = () => {
        tries++;
        this.sock.send(request, target.port, target.address, (err) => {
          if (err) done(() => reject(new StunError("timeout", `sending to ${hostPort(target)} failed: ${err.message}`)));
        });
      };
      for (const at of sends) timers.push(setTimeout(send, at));
      timers.push(
        setTimeout(() => {
          const after = `after ${tries} request${tries === 1 ? "" : "s"} in ${Math.round(giveUp)} ms`;
          if (strayFrom !== undefined)
            done(() => reject(new StunError("source", `only replies from ${strayFrom}, not from the server ${hostPort(target)}, ${after}`)));
          else done(() => reject(new StunError("timeout", `no reply from ${hostPort(target)} ${after}`)));
        }, giveUp),
      );
    });
  }

  private async resolve(host: string): Promise<string> {
    if (isIP(host)) {
      if ((isIP(host) === 6 ? 6 : 4) !== this.family) throw new StunError("family", `server ${host} is IPv${isIP(host)}, the socket is IPv${this.family}`);
      return host;
    }
    try {
      return (await lookup(host, { family: this.family })).address;
    } catch (e) {
      throw new StunError("timeout", `cannot resolve STUN server '${host}': ${(e as Error).message}`);
    }
  }
}

const hostPort = (a: { address: string; port: number }) => (a.address.includes(":") ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`);

function sameSource(expected: { address: string; port: number }, from: { address: string; port: number }): boolean {
  try {
    checkSource(expected, from);
    return true;
  } catch {
    return false;
  }
}

export interface LearnOptions extends Omit<BindingOptions, "deadlineMs"> {
  /** The servers, "host:port" (at least two to tell a cone from a symmetric NAT). */
  servers: readonly string[];
  /** The local STUN port (scoped-snat: the fixed port the nft rule matches). */
  port: number;
  address?: string;
  family?: 4 | 6;
  method: StunMethod;
  /** The port the mapping is of: the WireGuard listen port (scoped-snat), the STUN port itself (direct). */
  mappedPort: number;
  /** The host's own addresses: a mapping onto one of them (and mappedPort) means no NAT. */
  localAddresses: readonly string[];
  /** Overall deadline for all servers (asked in parallel), ms. */
  deadlineMs: number;
}

/** Ask every server from one local port, in parallel, and classify what they saw. */
export async function learnMapping(opts: LearnOptions): Promise<Classification> {
  const sock = await StunSocket.open({ port: opts.port, address: opts.address, family: opts.family });
  try {
    const answers: ServerAnswer[] = await Promise.all(
      opts.servers.map(async (server): Promise<ServerAnswer> => {
        try {
          const r = await sock.binding(splitHostPort(server), { deadlineMs: opts.deadlineMs, retransmit: opts.retransmit, random: opts.random });
          return { server, result: { ok: true, mapped: r.mapped, rttMs: r.rttMs, tries: r.tries } };
        } catch (e) {
          if (e instanceof StunError) return { server, result: { ok: false, error: e } };
          throw e;
        }
      }),
    );
    return classify(answers, { addresses: opts.localAddresses, port: opts.mappedPort }, opts.method);
  } finally {
    sock.close();
  }
}

/**
 * Forget the conntrack entries of the STUN port (NAT-FINDINGS §3a): a live entry keeps the SNAT target it was
 * created with, so after the rule or the WireGuard listen port changed, STUN would report the old port's mapping.
 * conntrack exits 1 when there was nothing to delete: that is fine.
 */
export async function forgetStunFlows(run: Runner, stunPort: number): Promise<void> {
  const r = await run(["conntrack", "-D", "-p", "udp", "--orig-port-src", String(stunPort)], { timeoutMs: 5000 });
  if (r.code !== 0 && r.code !== 1) throw new StunError("timeout", `conntrack -D for STUN port ${stunPort} failed (exit ${r.code}): ${r.stderr.trim()}`);
}

/**
 * The low-TTL pre-punch (NAT-FINDINGS §5, issue 13 part 4): one datagram from the pre-punch port (which the
 * bundle's nft rule rewrites to the WireGuard port) to each peer endpoint, with a hop limit that lets it open this
 * host's NAT and die before the peer's. Then the host's own conntrack entries of the port are forgotten: their reply
 * tuples would steer the peer's packets to WireGuard's port back to this socket. The NAT keeps its mapping.
 */
export async function prePunch(run: Runner, opts: { port: number; ttl: number; targets: string[] }): Promise<void> {
  const byFamily = new Map<4 | 6, { address: string; port: number }[]>();
  for (const t of opts.targets) {
    const { host, port } = splitHostPort(t);
    const family = isIP(host) === 6 ? 6 : 4;
    if (isIP(host) === 0) continue; // a host name: WireGuard resolves it; a pre-punch needs the address
    byFamily.set(family, [...(byFamily.get(family) ?? []), { address: host, port }]);
  }
  try {
    for (const [family, targets] of byFamily) {
      const sock = createSocket({ type: family === 6 ? "udp6" : "udp4" });
      try {
        await new Promise<void>((resolve, reject) => {
          sock.once("error", reject);
          sock.bind(opts.port, () => {
            sock.off("error", reject);
            resolve();
          });
        });
        sock.setTTL(opts.ttl);
        for (const t of targets) await new Promise<void>((resolve, reject) => sock.send(PUNCH, t.port, t.address, (e) => (e ? reject(e) : resolve())));
      } finally {
        sock.close();
      }
    }
  } finally {
    await forgetStunFlows(run, opts.port);
  }
}

/** What a pre-punch carries: one zero byte, no WireGuard message type (a receiving WireGuard drops it). */
const PUNCH = Buffer.alloc(1);
