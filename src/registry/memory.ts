// The memory registry: the whole Registry in one process, for tests (and the conformance suite's reference).
// Revisions are one counter over every key, as etcd's are; leases expire on real timers.
import { parseRecord } from "../model/record.js";
import type { Lease, MeshText, NodeRecord, RecordSet, Registry, RegistryEvent, Revision, Watch, WriteResult } from "./registry.js";

interface Entry<T> {
  value: T;
  mod: number;
  lease?: MemoryLease;
}

class MemoryLease implements Lease {
  private timer: NodeJS.Timeout | undefined;
  private lost: ((err: Error) => void)[] = [];
  ended = false;
  constructor(
    readonly ttlSeconds: number,
    private readonly expire: (lease: MemoryLease) => void,
  ) {
    this.arm();
  }
  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.end(new Error(`lease expired after ${this.ttlSeconds} s without keep-alive`)), this.ttlSeconds * 1000);
    this.timer.unref();
  }
  async keepAlive(): Promise<void> {
    if (this.ended) throw new Error("lease has ended");
    this.arm();
  }
  async revoke(): Promise<void> {
    this.end(undefined);
  }
  onLost(cb: (err: Error) => void): void {
    this.lost.push(cb);
  }
  end(err: Error | undefined): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    this.expire(this);
    if (err) for (const cb of this.lost) cb(err);
  }
}

export class MemoryRegistry implements Registry {
  readonly kind = "memory" as const;
  readonly location = "memory:";
  private rev = 0;
  private meshes = new Map<string, Entry<string>>();
  private recs = new Map<string, Map<string, Entry<NodeRecord>>>();
  private tokens = new Map<string, { value: string; expires: number }>();
  private history: { net: string; ev: RegistryEvent }[] = [];
  private watchers = new Set<{ net: string; cb: (ev: RegistryEvent) => void }>();
  private closed = false;

  private emit(net: string, ev: RegistryEvent): void {
    this.history.push({ net, ev });
    for (const w of this.watchers) if (w.net === net) w.cb(ev);
  }
  private live(): void {
    if (this.closed) throw new Error("registry is closed");
  }

  async readMesh(net: string): Promise<MeshText | undefined> {
    this.live();
    const e = this.meshes.get(net);
    return e ? { text: e.value, revision: String(e.mod) } : undefined;
  }

  async writeMesh(net: string, text: string, ifRevision: Revision | undefined): Promise<WriteResult> {
    this.live();
    const e = this.meshes.get(net);
    if ((e ? String(e.mod) : undefined) !== ifRevision) return { ok: false, current: e ? { text: e.value, revision: String(e.mod) } : undefined };
    const mod = ++this.rev;
    this.meshes.set(net, { value: text, mod });
    this.emit(net, { kind: "mesh", mesh: { text, revision: String(mod) }, revision: String(mod) });
    return { ok: true, revision: String(mod) };
  }

  async records(net: string): Promise<RecordSet> {
    this.live();
    const m = this.recs.get(net) ?? new Map();
    return { records: [...m.values()].map((e) => e.value).sort((a, b) => a.node.localeCompare(b.node)), refused: [], revision: String(this.rev) };
  }

  async publish(net: string, record: NodeRecord, lease?: Lease): Promise<Revision> {
    this.live();
    const valid = parseRecord(record, record.node);
    if (lease && !(lease instanceof MemoryLease && !lease.ended)) throw new Error("lease is not a live lease of this registry");
    const m = this.recs.get(net) ?? new Map<string, Entry<NodeRecord>>();
    this.recs.set(net, m);
    const mod = ++this.rev;
    m.set(valid.node, { value: valid, mod, lease: lease as MemoryLease | undefined });
    this.emit(net, { kind: "record", node: valid.node, record: valid, revision: String(mod) });
    return String(mod);
  }

  async lease(ttlSeconds: number): Promise<Lease> {
    this.live();
    return new MemoryLease(ttlSeconds, (l) => {
      for (const [net, m] of this.recs)
        for (const [node, e] of m)
          if (e.lease === l) {
            m.delete(node);
            this.emit(net, { kind: "record", node, record: undefined, revision: String(++this.rev) });
          }
    });
  }

  async watch(net: string, fromRevision: Revision | undefined, onEvent: (ev: RegistryEvent) => void): Promise<Watch> {
    this.live();
    if (fromRevision !== undefined) for (const h of this.history) if (h.net === net && Number(h.ev.revision) > Number(fromRevision)) onEvent(h.ev);
    const w = { net, cb: onEvent };
    this.watchers.add(w);
    return { close: async () => void this.watchers.delete(w) };
  }

  async putToken(net: string, id: string, value: string, ttlSeconds: number): Promise<void> {
    this.live();
    this.tokens.set(`${net}/${id}`, { value, expires: Date.now() + ttlSeconds * 1000 });
  }

  async takeToken(net: string, id: string): Promise<string | undefined> {
    this.live();
    const k = `${net}/${id}`;
    const t = this.tokens.get(k);
    this.tokens.delete(k);
    return t && t.expires > Date.now() ? t.value : undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watchers.clear();
  }
}
