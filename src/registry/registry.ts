// The registry: where a mesh lives and what its nodes publish about themselves (DESIGN.md §9). One async
// interface, three drivers: `file` (the default: today's NET.conf beside its lock), `memory` (tests) and `etcd`
// (fleets). Every driver passes the one conformance suite (test/registry/conformance.ts).
//
// The mesh is stored as its text, byte for byte (the vwgen-compatible TOML), so `registry export` returns what
// `registry import` was given. Parsing, editing and validation stay in model/: a driver moves text and records, it
// never interprets them, and every edit goes through compare-and-swap on the revision (see editMesh in edit.ts).

import type { NodeRecord, RecordProblem } from "../model/record.js";

/** Opaque and driver-specific (etcd: the key's mod revision; file: a digest of the text). Compare with `===` only. */
export type Revision = string;

export interface MeshText {
  text: string;
  revision: Revision;
}

/** What a node publishes about itself: model/record.ts (validated there, like a mesh file). */
export type { NodeRecord } from "../model/record.js";

export interface RecordSet {
  records: NodeRecord[];
  refused: RecordProblem[];
  revision: Revision;
}

export type WriteResult = { ok: true; revision: Revision } | { ok: false; current: MeshText | undefined };

export type RegistryEvent =
  | { kind: "mesh"; mesh: MeshText | undefined; revision: Revision }
  /** `record` undefined: deleted, or unreadable (records() then says why). */
  | { kind: "record"; node: string; record: NodeRecord | undefined; revision: Revision };

export interface Watch {
  close(): Promise<void>;
}

export interface Lease {
  readonly ttlSeconds: number;
  /** Keeps the lease alive (the driver may do this on its own; calling it early is harmless). */
  keepAlive(): Promise<void>;
  /** Ends the lease: every record published under it disappears. */
  revoke(): Promise<void>;
  /** Called once when the lease is lost (expired, registry unreachable for longer than the TTL). */
  onLost(cb: (err: Error) => void): void;
}

export interface Registry {
  readonly kind: "file" | "memory" | "etcd";
  /** Where it is, for messages: a path or `etcd://host:port/prefix`; never a credential. */
  readonly location: string;

  /** The mesh text with its revision; undefined when the network does not exist. */
  readMesh(net: string): Promise<MeshText | undefined>;
  /**
   * Compare-and-swap: store `text` only if the current revision is `ifRevision` (undefined: only if the network
   * does not exist). `secret`: the text holds private keys (file: mode 0600).
   */
  writeMesh(net: string, text: string, ifRevision: Revision | undefined, opts: { secret: boolean }): Promise<WriteResult>;

  /** Every node's valid record, why the others were refused (parseRecord), and the revision they were read at. */
  records(net: string): Promise<RecordSet>;
  /** Publish this node's record, under `lease` when given (it disappears with the lease). */
  publish(net: string, record: NodeRecord, lease?: Lease): Promise<Revision>;
  lease(ttlSeconds: number): Promise<Lease>;

  /**
   * Every change of the mesh or of a record after `fromRevision` (undefined: from now), in order. A driver that
   * cannot replay from an old revision (compacted) reports it through `onError` and the caller reloads.
   */
  watch(net: string, fromRevision: Revision | undefined, onEvent: (ev: RegistryEvent) => void, onError: (err: Error) => void): Promise<Watch>;

  /** Join tokens: stored under their id with a TTL; `takeToken` returns the value once (atomic), then never again. */
  putToken(net: string, id: string, value: string, ttlSeconds: number): Promise<void>;
  takeToken(net: string, id: string): Promise<string | undefined>;

  close(): Promise<void>;
}
