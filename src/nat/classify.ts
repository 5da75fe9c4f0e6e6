// What two (or more) STUN answers from one local port say about the NAT in front of a host (NAT-FINDINGS.md §4,
// RFC 4787 §4.1): equal mappings from different servers = endpoint-independent mapping, so the mapping can be
// advertised and hole punching works; different = address(-and-port)-dependent ("symmetric"), so it must not be
// advertised and the node needs a relay. Pure; no I/O.

// The verdict's words are the node record's (model/record.ts): an agent publishes them.
import type { NatKind, StunMethod } from "../model/record.js";
import type { MappedAddress, StunError } from "./stun.js";

export type { NatKind, StunMethod } from "../model/record.js";

export interface ServerAnswer {
  /** The server as configured ("host:port"). */
  server: string;
  result: { ok: true; mapped: MappedAddress; rttMs: number; tries: number } | { ok: false; error: StunError };
}

export interface Classification {
  kind: NatKind;
  /** The mapping to advertise: set only when every answering server agreed and there were at least two. */
  advertise?: { address: string; port: number };
  method: StunMethod;
  /** One line a person can read: what was seen and why that verdict. */
  reason: string;
  answers: ServerAnswer[];
}

/** A mapping as an endpoint: `address:port`, `[v6]:port` (what a node record's endpoint holds). */
export const mappingText = (m: { address: string; port: number; family?: 4 | 6 }): string =>
  m.family === 6 || m.address.includes(":") ? `[${m.address}]:${m.port}` : `${m.address}:${m.port}`;

/**
 * The verdict from the answers of one local port. `local` is the host's own address(es) and the port the mapping
 * should be of (the WireGuard port for scoped-snat, the socket's port for direct): a mapping equal to one of them
 * means no NAT at all. One answer cannot tell a cone from a symmetric NAT: "unknown", not advertised.
 */
export function classify(answers: ServerAnswer[], local: { addresses: readonly string[]; port: number }, method: StunMethod): Classification {
  const ok = answers.flatMap((a) => (a.result.ok ? [{ server: a.server, m: a.result.mapped }] : []));
  const failed = answers.filter((a) => !a.result.ok).map((a) => `${a.server}: ${a.result.ok ? "" : a.result.error.message}`);
  const base = { method, answers };
  const failedText = failed.length ? `; no answer from ${failed.join(", ")}` : "";
  if (ok.length === 0) return { ...base, kind: "unknown", reason: `no STUN server answered${failedText}` };
  const distinct = [...new Set(ok.map((o) => mappingText(o.m)))];
  if (distinct.length > 1)
    return {
      ...base,
      kind: "symmetric",
      reason: `servers saw different mappings (${ok.map((o) => `${o.server} -> ${mappingText(o.m)}`).join(", ")}): the NAT maps per destination, a relay is needed${failedText}`,
    };
  const m = (ok[0] as { m: MappedAddress }).m;
  if (ok.length < 2)
    return {
      ...base,
      kind: "unknown",
      reason: `only ${ok[0]?.server} answered (${mappingText(m)}): one server cannot tell a cone NAT from a symmetric one${failedText}`,
    };
  const mine = local.addresses.includes(m.address) && m.port === local.port;
  return {
    ...base,
    kind: mine ? "none" : "endpoint-independent",
    advertise: { address: m.address, port: m.port },
    reason: mine
      ? `${ok.length} servers saw the host's own address ${mappingText(m)}: no NAT${failedText}`
      : `${ok.length} servers saw the same mapping ${mappingText(m)}: endpoint-independent mapping, advertised${failedText}`,
  };
}
