// `ciab agent NET NODE --registry URL` (issue 12 part 5): one reconcile step, I/O around the pure decisions of
// decide.ts. Each step reads the mesh (with a timeout), keeps the last good one when the answer is bad (cached on
// disk, 0600), lays the valid node records over it (registry/records.ts), renders this node's bundle in memory
// and applies it through the same planner and reconciler as `ciab up` — only when the rendered files changed.
// The state it writes beside the cache (status.json, and NET.conf: the effective mesh it applied) is what
// `ciab status NET NODE --state-dir DIR` shows. The watch/heartbeat loop calls
// agentStep on every registry event (debounced, decide.ts debounceDue) and on a backoff timer after failures.
// Between steps it keeps the parsed mesh, the records (read again only after a record event), the records check and
// the rendered bundle, each with the inputs it came from: a step redoes only what its inputs changed (Derived).
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Mesh, type MeshNode, meshFromDoc, type NodeMemo } from "../model/mesh.js";
import { type DumpMemo, dumpToml, parseToml, type TomlTable } from "../model/toml.js";
import { type Classification, mappingText } from "../nat/classify.js";
import type { DesiredHost } from "../plan/types.js";
import { acceptRecords, checkKey, learnedOf, type OverlayMemo, overlayRecords, type RecordProblem } from "../registry/records.js";
import type { MeshText, NodeRecord, Registry, RegistryEvent } from "../registry/registry.js";
import { type AgentStatus, type Answer, backoffMs, type Cached, debounceDue, decide, nextStatus } from "./decide.js";
import { finishDesired, renderInMemory } from "./desired.js";
import type { HostDeps } from "./host.js";
import { initialReach, nextReach, REACH_EVERY_MS, type Watched, watchedPeers } from "./reach.js";

export interface AgentOptions {
  net: string;
  node: string;
  registry: Registry;
  /** Holds mesh-cache.json (0600) and status.json. */
  stateDir: string;
  deps: HostDeps;
  /** Applies the desired state: reconcile(d, deps) in the CLI; a recorder in tests. `revision`: the mesh's. */
  apply: (d: DesiredHost, info: { revision?: string }) => Promise<unknown>;
  timeoutMs?: number;
  now?: () => Date;
  /**
   * Asks the STUN servers what the NAT in front of this host maps the WireGuard port to (issue 13; the CLI's is
   * adapters/stun.ts learnMapping through the bundle's scoped SNAT). Called by the loop for a node with NAT = "auto"
   * and STUN servers, after its bundle was applied and then every `learnEveryMs` (default 60 s).
   */
  learn?: (self: MeshNode, mesh: Mesh) => Promise<Classification>;
  learnEveryMs?: number;
  /**
   * The low-TTL pre-punch (issue 13 part 4; the CLI's is adapters/stun.ts prePunch): called before an apply, for
   * a node behind a NAT, with the endpoints of peers behind a NAT that are new since the last apply. Its failure is
   * never a reason not to apply.
   */
  punch?: (self: MeshNode, targets: string[]) => Promise<void>;
  /**
   * WireGuard's latest handshake per peer (public key -> epoch seconds, 0 never) on interface `ifname`; the CLI's
   * reads `wg show IF dump`. With it, the loop reports in the record the peers it tried for `relayAfterMs` (default
   * 120 s) without one, every `reachEveryMs` (default 30 s; reach.ts), so that the pair goes through a relay.
   */
  handshakes?: (ifname: string) => Promise<ReadonlyMap<string, number> | undefined>;
  reachEveryMs?: number;
  relayAfterMs?: number;
}

export interface AgentState {
  cache?: Cached;
  records: NodeRecord[];
  /** Records the registry holds that do not parse (reported by the driver). */
  unreadable: RecordProblem[];
  status: AgentStatus;
  /** Digest of the files applied last: nothing is applied while it stays the same. */
  applied?: string;
  refused: RecordProblem[];
  /** The cached mesh parsed (by its text): parsed once per revision, not on every step. */
  parsed?: ParsedMesh;
  /** What the last step derived from the mesh text and the records: a step with the same inputs reuses it. */
  derived?: Derived;
  /** The records may be behind the registry (not read yet, or the last read failed): the next step reads them. */
  recordsStale?: boolean;
  /** What the steps read before, for the next one (Memo). */
  memo?: Memo;
  /** The peers' endpoints of the mesh applied last (by node name): a new one is pre-punched once (punchTargets). */
  endpoints?: Map<string, string>;
}

/**
 * A mesh change (one node's endpoint, say) leaves most node tables as they were: their tables are last step's
 * objects again (`tables`: each node's table by name, with its JSON), so the effective table laid over each
 * (`overlay`), the MeshNode read from it (`nodes`, with its derived keys) and its TOML (`dumped`) are too.
 * Weak maps: a node gone from the mesh is forgotten with its table.
 */
interface Memo {
  tables: Map<string, { json: string; table: TomlTable }>;
  overlay: OverlayMemo;
  nodes: NodeMemo;
  /** The effective tables' TOML, for NET.conf. */
  dumped: DumpMemo;
}

const newMemo = (): Memo => ({ tables: new Map(), overlay: new WeakMap(), nodes: new WeakMap(), dumped: new WeakMap() });

/** `doc` with each node table equal to last step's (same JSON) replaced by that object; `memo.tables` updated. */
function internNodes(doc: TomlTable, memo: Memo): TomlTable {
  const nodes = doc.Node as TomlTable | undefined;
  const tables = new Map<string, { json: string; table: TomlTable }>();
  if (nodes && typeof nodes === "object") {
    for (const [name, t] of Object.entries(nodes)) {
      const json = JSON.stringify(t);
      const known = memo.tables.get(name);
      const table = known?.json === json ? known.table : (t as TomlTable);
      nodes[name] = table;
      tables.set(name, { json, table });
    }
  }
  memo.tables = tables;
  return doc;
}

/**
 * The effective mesh and this node's bundle, with the inputs they were derived from: the mesh text and what the
 * overlay reads of the records (overlayKey). Both are pure functions of these inputs (and of the agent's network and
 * node, fixed for its life), so equal inputs give equal files: the validation and render are skipped. A record
 * event that changes nothing the overlay reads (health, agentVersion, updatedAt) costs a key compare.
 */
interface Derived {
  text: string;
  recordsKey: string;
  /** The records check (acceptRecords) and its inputs: a mesh edit that leaves checkKey alone reuses it. */
  checked: { key: string; accepted: NodeRecord[]; refused: RecordProblem[] };
  doc: TomlTable;
  /** The effective mesh the files were rendered from. */
  mesh: Mesh;
  files: Map<string, string>;
  digest: string;
}

/**
 * What the overlay reads of the records (node, public key, endpoint, subnets, NAT verdict, unreached peers), in name order, as one string. A
 * record of a node of `mesh` with none of the three changes nothing and cannot be refused (only an unknown node
 * can): left out, so that agents publishing bare records (no key file, no joined endpoint) cost the others nothing.
 */
export function overlayKey(records: readonly NodeRecord[], mesh: Mesh): string {
  const names = new Set(mesh.nodes.map((n) => n.name));
  const lays = (r: NodeRecord) =>
    r.publicKey !== undefined || r.endpoint !== undefined || r.subnets !== undefined || r.nat !== undefined || r.unreached !== undefined || !names.has(r.node);
  const rows = records
    .filter(lays)
    .map((r) => [r.node, r.publicKey ?? null, r.endpoint ?? null, r.subnets ?? null, r.nat?.kind ?? null, r.unreached ?? null] as const);
  rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return JSON.stringify(rows);
}

interface ParsedMesh {
  text: string;
  doc: TomlTable;
  mesh: Mesh;
}

const CACHE = "mesh-cache.json";
const STATUS = "status.json";

function writeAtomic(path: string, text: string, mode: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

/** The cached last good mesh, or undefined when there is none or it is unreadable (then the registry decides). */
export function readCache(stateDir: string): Cached | undefined {
  try {
    const v = JSON.parse(readFileSync(join(stateDir, CACHE), "utf8")) as Cached;
    return typeof v.text === "string" && typeof v.revision === "string" ? { text: v.text, revision: v.revision } : undefined;
  } catch {
    return undefined;
  }
}

export function readAgentStatus(stateDir: string): AgentStatus | undefined {
  try {
    return JSON.parse(readFileSync(join(stateDir, STATUS), "utf8")) as AgentStatus;
  } catch {
    return undefined;
  }
}

export function initialState(o: AgentOptions): AgentState {
  const cache = readCache(o.stateDir);
  return {
    cache,
    records: [],
    unreadable: [],
    refused: [],
    status: {
      version: 1,
      net: o.net,
      node: o.node,
      registry: o.registry.location,
      reachable: false,
      failures: 0,
      ...(cache ? { revision: cache.revision } : {}),
    },
  };
}

async function within<T>(p: Promise<T>, ms: number): Promise<{ ok: true; value: T } | { ok: false; answer: Answer }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((res) => {
    timer = setTimeout(() => res("timeout"), ms);
  });
  try {
    const v = await Promise.race([p, timeout]);
    return v === "timeout" ? { ok: false, answer: { kind: "timeout", afterMs: ms } } : { ok: true, value: v as T };
  } catch (e) {
    return { ok: false, answer: { kind: "error", error: e instanceof Error ? e : new Error(String(e)) } };
  } finally {
    clearTimeout(timer);
  }
}

const parseMesh = (net: string, text: string, file: string, memo: Memo): ParsedMesh => {
  const doc = internNodes(parseToml(text, file), memo);
  return { text, doc, mesh: meshFromDoc(net, doc, { file, text, nodes: memo.nodes }) };
};

/**
 * The effective mesh and this node's bundle for these inputs: `last` when they are the ones it was derived from.
 * `refused` gets the refused records first, so that status shows them also when the effective mesh does not render.
 */
function derive(
  o: AgentOptions,
  parsed: ParsedMesh,
  records: readonly NodeRecord[],
  last: Derived | undefined,
  memo: Memo,
  where: string,
  refused: (r: RecordProblem[]) => void,
): Derived {
  const recordsKey = overlayKey(records, parsed.mesh);
  if (last && last.text === parsed.text && last.recordsKey === recordsKey) {
    refused(last.checked.refused);
    return last;
  }
  const key = `${checkKey(parsed.mesh)}\n${recordsKey}`;
  const checked = last?.checked.key === key ? last.checked : { key, ...acceptRecords(parsed.mesh, records) };
  refused(checked.refused);
  const doc = overlayRecords(parsed.doc, checked.accepted, memo.overlay);
  const effMesh = meshFromDoc(o.net, doc, { file: where, text: parsed.text, nodes: memo.nodes });
  const learned = learnedOf(checked.accepted);
  if (learned) effMesh.learned = learned;
  const files = renderInMemory(effMesh, parsed.text, o.node);
  const digest = createHash("sha256")
    .update(JSON.stringify([...files].sort(([a], [b]) => (a < b ? -1 : 1))))
    .digest("hex");
  return { text: parsed.text, recordsKey, checked, doc, mesh: effMesh, files, digest };
}

/**
 * One reconcile: registry answer -> last good mesh -> effective mesh -> in-memory bundle -> apply if changed.
 * `recordsChanged: false` (the loop: no record event since the last step) skips reading every record again, unless
 * the last read failed; a mesh change alone then costs no read of the records.
 */
export async function agentStep(o: AgentOptions, st: AgentState, opts: { recordsChanged?: boolean } = {}): Promise<AgentState> {
  const now = o.now ?? (() => new Date());
  const ms = o.timeoutMs ?? 2000;
  const where = `${o.registry.location} (network ${o.net})`;
  mkdirSync(o.stateDir, { recursive: true, mode: 0o700 });
  const got = await within<MeshText | undefined>(o.registry.readMesh(o.net), ms);
  const answer: Answer = got.ok ? { kind: "mesh", mesh: got.value } : got.answer;
  // decide() validates a new text by parsing it: that parse is kept for the step below.
  let parsed = st.parsed;
  const memo = st.memo ?? newMemo();
  const d = decide(st.cache, answer, (t) => {
    parsed = parseMesh(o.net, t, where, memo);
  });
  let next: AgentState = { ...st, memo, status: nextStatus(st.status, d, now()) };
  if (d.action === "apply") {
    next.cache = { text: d.mesh.text, revision: d.mesh.revision };
    writeAtomic(join(o.stateDir, CACHE), JSON.stringify(next.cache), 0o600);
  }
  if (opts.recordsChanged !== false || st.recordsStale !== false) {
    const recs = d.action === "keep" ? undefined : await within(o.registry.records(o.net), ms);
    next = recs?.ok ? { ...next, records: recs.value.records, unreadable: recs.value.refused, recordsStale: false } : { ...next, recordsStale: true };
  }
  if (next.cache) {
    try {
      if (parsed?.text !== next.cache.text) parsed = parseMesh(o.net, next.cache.text, where, memo);
      next.parsed = parsed;
      const out = derive(o, parsed, next.records, next.derived, memo, where, (r) => {
        next.refused = [...next.unreadable, ...r];
      });
      next.derived = out;
      const { files, digest } = out;
      if (digest !== next.applied) {
        const desired = await finishDesired(`registry ${where}`, files, o.deps);
        const punch = punchTargets(out.mesh, o.node, next.endpoints);
        next.endpoints = punch.endpoints;
        // Best effort: the CLI's punch logs its own failure; the apply goes on without it.
        if (o.punch && punch.self && punch.targets.length) await o.punch(punch.self, punch.targets).catch(() => undefined);
        // The effective mesh, for `ciab status NET NODE --state-dir DIR` (0600: an admin's mesh holds private keys).
        writeAtomic(join(o.stateDir, `${o.net}.conf`), dumpToml(out.doc, memo.dumped), 0o600);
        await o.apply(desired.desired, { revision: next.status.revision });
        next.applied = digest;
      }
      // The registry answered and this node is in step with it: an error of an earlier step (an apply that failed
      // on a record since fixed, at the same revision) is no longer true, and `ciab status` lists it as a problem.
      if (d.action === "same" && next.status.lastError !== undefined) next.status = { ...next.status, lastError: undefined, lastErrorAt: undefined };
    } catch (e) {
      next = {
        ...next,
        status: { ...next.status, lastError: `apply failed: ${e instanceof Error ? e.message : String(e)}`, lastErrorAt: now().toISOString() },
      };
    }
  }
  writeAtomic(join(o.stateDir, STATUS), `${JSON.stringify(next.status, null, 2)}\n`, 0o644);
  return next;
}

/**
 * What a pre-punch before this apply goes to: when this node is behind a NAT, the endpoints of peers behind a NAT
 * that differ from the last applied mesh's (`before`); two NATs that accept unsolicited packets would otherwise keep
 * each other's first handshakes as stale entries (NAT-FINDINGS §5). A public peer needs none: it roams to whatever
 * port our handshake arrives from. Returns every peer's endpoint, the next `before`.
 */
export function punchTargets(
  mesh: Mesh,
  node: string,
  before: ReadonlyMap<string, string> | undefined,
): { self?: MeshNode; targets: string[]; endpoints: Map<string, string> } {
  const endpoints = new Map<string, string>();
  const targets: string[] = [];
  const self = mesh.nodes.find((n) => n.name === node);
  for (const p of mesh.nodes) {
    if (p === self || !p.endpoint || p.endpoint.broken) continue;
    endpoints.set(p.name, p.endpoint.text);
    if (self && self.nat !== "none" && p.nat !== "none" && before?.get(p.name) !== p.endpoint.text) targets.push(p.endpoint.text);
  }
  return { ...(self && self.nat !== "none" ? { self } : {}), targets, endpoints };
}

/**
 * The record with what STUN learned laid over it: the advertised mapping becomes the endpoint (none behind a
 * symmetric NAT: peers could not use it; an unknown verdict, no answers, keeps the configured one) and the verdict
 * goes into `nat` (its reason one line, at most 500 characters, as the record's check wants).
 */
export function withLearned(r: NodeRecord, c: Classification | undefined): NodeRecord {
  if (!c) return r;
  const { endpoint, ...rest } = r;
  const a = c.advertise;
  const learned = a ? mappingText(a) : c.kind === "unknown" ? endpoint : undefined;
  const reason = c.reason.replace(/[\u0000-\u001f\u007f]+/g, " ").slice(0, 500);
  return { ...rest, ...(learned !== undefined ? { endpoint: learned } : {}), nat: { kind: c.kind, method: c.method, reason } };
}

/** The record with the peers reported unreached (reach.ts); none: the record as it is. */
export const withUnreached = (r: NodeRecord, unreached: readonly string[]): NodeRecord => (unreached.length ? { ...r, unreached: [...unreached] } : r);

/** Two records that differ at most in when they were published. */
export const sameRecord = (a: NodeRecord | undefined, b: NodeRecord): boolean =>
  a !== undefined && JSON.stringify({ ...a, updatedAt: "" }) === JSON.stringify({ ...b, updatedAt: "" });

export interface RunningAgent {
  /** Resolves after the loop stopped (stop() called): watch closed, lease revoked. */
  stop(): Promise<void>;
  /** The state after the last step (for tests and `--once`). */
  state(): AgentState;
}

/**
 * The agent's loop: a step now, then one after every burst of registry events (debounced), and on a backoff timer
 * while the registry fails. Publishes `record()` under a lease (heartbeat: the driver keeps it alive) and again after
 * the lease is lost. `log` gets one line per event worth telling (never a key or credential).
 */
export async function runAgent(o: AgentOptions & { record: () => NodeRecord; leaseSeconds?: number; log?: (line: string) => void }): Promise<RunningAgent> {
  const log = o.log ?? (() => {});
  let st = initialState(o);
  // What STUN said last (NAT = "auto"), laid over every record published, and its timer.
  let learned: Classification | undefined;
  let learnTimer: NodeJS.Timeout | undefined;
  // The peers reported unreached (reach.ts), laid over every record published, and the handshake timer.
  let reach = initialReach();
  let reachTimer: NodeJS.Timeout | undefined;
  const record = () => withUnreached(withLearned(o.record(), learned), reach.unreached);
  let lease: Awaited<ReturnType<Registry["lease"]>> | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let firstAt = 0;
  let lastAt = 0;
  let running: Promise<void> = Promise.resolve();
  // A record event since the last step began (or a watch reopened: events may be missing): read the records again.
  let recordsChanged = true;
  const step = () => {
    running = running.then(async () => {
      if (stopped) return;
      const before = st.status;
      const changed = recordsChanged;
      recordsChanged = false;
      st = await agentStep(o, st, { recordsChanged: changed });
      afterStep();
      if (st.status.revision !== before.revision) log(`applied revision ${st.status.revision}`);
      if (st.status.lastError && st.status.lastError !== before.lastError) log(`kept last good mesh: ${st.status.lastError}`);
      if (!st.status.reachable && !stopped) {
        schedule(backoffMs(st.status.failures, Math.random()));
      }
    });
  };
  const stunSelf = (): { self: MeshNode; mesh: Mesh } | undefined => {
    const mesh = st.derived?.mesh;
    const self = mesh?.nodes.find((n) => n.name === o.node);
    return o.learn && mesh && self && self.nat === "auto" && mesh.network.stunServers.length > 0 && st.applied !== undefined ? { self, mesh } : undefined;
  };
  const republish = async () => {
    if (lease) await o.registry.publish(o.net, record(), lease).catch((e) => log(`cannot publish the record: ${e instanceof Error ? e.message : String(e)}`));
  };
  // STUN once the bundle (with its scoped SNAT rule) is applied, then every learnEveryMs; a new verdict or mapping
  // is published at once. A node no longer NAT = "auto" publishes its record without what STUN said.
  const learnNow = async () => {
    const want = stunSelf();
    if (stopped || !want || !o.learn) {
      learnTimer = undefined;
      return;
    }
    try {
      const c = await o.learn(want.self, want.mesh);
      const key = (x: Classification | undefined) => JSON.stringify([x?.kind, x?.advertise ?? null]);
      if (key(c) !== key(learned)) {
        learned = c;
        log(`STUN: ${c.reason}`);
        await republish();
      }
    } catch (e) {
      log(`STUN failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (!stopped) learnTimer = setTimeout(() => void learnNow(), o.learnEveryMs ?? 60_000);
  };
  // Every reachEveryMs once a bundle is applied: a peer tried too long without a handshake is reported, one that
  // handshakes again is taken off; a change is published at once. A read that fails changes nothing.
  let watched: { derived: unknown; ifname: string; peers: Watched[] } | undefined;
  const reachNow = async () => {
    const handshakes = o.handshakes;
    const mesh = st.derived?.mesh;
    if (stopped || !handshakes) return;
    try {
      if (mesh && st.applied !== undefined) {
        const w = watched && watched.derived === st.derived ? watched : { derived: st.derived, ...watchedPeers(mesh, o.node) };
        watched = w;
        const seen = w.peers.length ? await handshakes(w.ifname) : new Map<string, number>();
        if (seen) {
          const next = nextReach(reach, w.peers, seen, (o.now?.() ?? new Date()).getTime(), o.relayAfterMs);
          const changed = next.unreached.join() !== reach.unreached.join();
          reach = next;
          if (changed) {
            log(
              next.unreached.length
                ? `no WireGuard handshake from ${next.unreached.join(", ")}: reported unreached (relayed)`
                : "every watched peer handshakes: none reported unreached",
            );
            await republish();
          }
        }
      }
    } catch (e) {
      log(`cannot read the WireGuard handshakes: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (!stopped) reachTimer = setTimeout(() => void reachNow(), o.reachEveryMs ?? REACH_EVERY_MS);
  };
  const afterStep = () => {
    if (o.handshakes && !reachTimer && st.applied !== undefined) reachTimer = setTimeout(() => void reachNow(), o.reachEveryMs ?? REACH_EVERY_MS);
    if (stunSelf()) {
      if (!learnTimer) learnTimer = setTimeout(() => void learnNow(), 0);
    } else if (learned) {
      learned = undefined;
      clearTimeout(learnTimer);
      learnTimer = undefined;
      void republish();
    }
  };
  const schedule = (ms: number) => {
    clearTimeout(timer);
    timer = setTimeout(step, ms);
  };
  const onEvent = (ev: RegistryEvent) => {
    // A record published again with nothing new (an agent's lease renewed after a loss) changes no one's mesh:
    // without this, one starved agent's re-publish made every agent redo its whole step (bench control).
    if (
      ev.kind === "record" &&
      ev.record &&
      sameRecord(
        st.records.find((r) => r.node === ev.node),
        ev.record,
      )
    )
      return;
    if (ev.kind === "record") recordsChanged = true;
    const t = Date.now();
    if (!timer) firstAt = t;
    lastAt = t;
    clearTimeout(timer);
    timer = setTimeout(
      () => {
        timer = undefined;
        step();
      },
      Math.max(0, debounceDue(firstAt, lastAt) - t),
    );
  };
  step();
  await running;
  let watch: { close(): Promise<void> } | undefined;
  let publishFailures = 0;
  const publish = async () => {
    try {
      lease = await o.registry.lease(o.leaseSeconds ?? 10);
      lease.onLost((e) => {
        log(`record lease lost (${e.message}); publishing again`);
        step();
        if (!stopped) setTimeout(() => void publish(), 1000);
      });
      await o.registry.publish(o.net, record(), lease);
      if (publishFailures) log(`record published again after ${publishFailures} failed attempt(s)`);
      publishFailures = 0;
    } catch (e) {
      // Said once per outage; the step shows the registry as unreachable in status.json.
      if (++publishFailures === 1) log(`cannot publish the record: ${e instanceof Error ? e.message : String(e)}; retrying with backoff`);
      step();
      if (!stopped) setTimeout(() => void publish(), backoffMs(publishFailures, Math.random()));
    }
  };
  await publish();
  const openWatch = async (): Promise<void> => {
    recordsChanged = true;
    try {
      watch = await o.registry.watch(o.net, undefined, onEvent, (e) => {
        log(`watch failed (${e.message}); reloading`);
        void watch?.close();
        if (!stopped) setTimeout(() => void openWatch().then(step), 1000);
      });
    } catch (e) {
      log(`cannot watch the registry: ${e instanceof Error ? e.message : String(e)}`);
      if (!stopped) setTimeout(() => void openWatch().then(step), 2000);
    }
  };
  await openWatch();
  return {
    state: () => st,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      clearTimeout(learnTimer);
      clearTimeout(reachTimer);
      await running;
      await watch?.close();
      await lease?.revoke().catch(() => undefined);
    },
  };
}
