// The etcd registry (fleets): etcd's v3 API through the `etcd3` package (pure JavaScript over gRPC, maintained,
// with transactions, watches and leases: what flannel and Calico use etcd for). Layout (DESIGN.md §9):
//   <prefix>/<net>/mesh           the vwgen-compatible mesh text, byte for byte (admin-writable)
//   <prefix>/<net>/nodes/<node>/record   what the node publishes (JSON; with RBAC, writable by that node only)
//   <prefix>/<net>/tokens/<id>    join tokens, under a lease of their TTL
// Revisions are etcd's mod revisions; writes are transactions comparing them (compare-and-swap). Errors name the
// registry and the operation, never a credential. `etcd3` (and gRPC) load only when this driver is used.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { Etcd3, Lease as EtcdLease, IOptions } from "etcd3";
import { CiabError } from "../model/errors.js";
import { parseRecord, readRecord } from "../model/record.js";
import { etcdKeys, grantNode, recordNode, revokeNode } from "./etcd-access.js";
import type { Lease, MeshText, NodeRecord, RecordSet, Registry, RegistryEvent, Revision, Watch, WriteResult } from "./registry.js";

export interface EtcdOptions {
  /** host:port of each member. */
  hosts: string[];
  prefix: string;
  tls?: boolean;
  /** PEM files. */
  ca?: string;
  cert?: string;
  key?: string;
  username?: string;
  password?: string;
  /** Per request, ms (default 5000). */
  timeoutMs?: number;
}

// Loaded on first use: the CLI bundle runs as CommonJS (require is there; etcd3 stays outside the bundle), tests
// and the library as ES modules (import.meta.url is there). A vm-compiled bundle cannot import() dynamically.
const load = (id: "etcd3" | "cockatiel"): unknown => (typeof require === "function" ? require(id) : createRequire(import.meta.url)(id));

const REGISTRY_HINT = "check that etcd is running and reachable (etcdctl --endpoints=… endpoint health) and the --registry URL";

/** An etcd failure as a CiabError: unreachable and timeouts are external (8), refusals say so (5 / 4). */
export function etcdError(where: string, op: string, e: unknown): CiabError {
  const name = (e as { constructor?: { name?: string } })?.constructor?.name ?? "";
  const msg = (e instanceof Error ? e.message.split("\n")[0] : String(e)) ?? "";
  if (/PermissionDenied/.test(name) || /permission denied/i.test(msg))
    return new CiabError("conflict", `etcd ${where} refused ${op}: permission denied`, {
      hint: "this credential may not write there (RBAC): a node writes only its own record; the mesh needs the admin",
    });
  if (/Authentication|Unauthenticated|InvalidAuth/.test(name) || /authentication failed/i.test(msg))
    return new CiabError("invalid", `etcd ${where} refused the credentials for ${op}`, { hint: "check --registry-user and CIAB_REGISTRY_PASSWORD" });
  return new CiabError("external", `etcd ${where} could not ${op}: ${msg}`, { hint: REGISTRY_HINT, cause: e });
}

class EtcdLeaseHandle implements Lease {
  private lost: ((err: Error) => void)[] = [];
  private done = false;
  constructor(
    readonly ttlSeconds: number,
    readonly lease: EtcdLease,
  ) {
    lease.on("lost", (err: Error) => {
      if (this.done) return;
      this.done = true;
      for (const cb of this.lost) cb(err);
    });
  }
  async keepAlive(): Promise<void> {
    await this.lease.keepaliveOnce();
  }
  async revoke(): Promise<void> {
    this.done = true;
    await this.lease.revoke();
  }
  onLost(cb: (err: Error) => void): void {
    this.lost.push(cb);
  }
}

export class EtcdRegistry implements Registry {
  readonly kind = "etcd" as const;
  readonly location: string;
  private constructor(
    readonly client: Etcd3,
    private readonly opts: EtcdOptions,
  ) {
    this.location = `etcd${opts.tls ? "s" : ""}://${opts.hosts.join(",")}/${opts.prefix}`;
  }

  static async open(opts: EtcdOptions): Promise<EtcdRegistry> {
    const { Etcd3 } = load("etcd3") as typeof import("etcd3");
    const { noop } = load("cockatiel") as typeof import("cockatiel");
    const scheme = opts.tls ? "https" : "http";
    const options: IOptions = {
      hosts: opts.hosts.map((h) => `${scheme}://${h}`),
      dialTimeout: opts.timeoutMs ?? 5000,
      defaultCallOptions: () => ({ deadline: Date.now() + (opts.timeoutMs ?? 5000) }),
      // One attempt per call: the caller (an edit's retry, the agent's backoff) decides what happens next.
      faultHandling: { global: noop, host: () => noop },
      // gRPC's default reconnect backoff grows to 120 s: an agent would stay cut off that long after etcd restarts.
      // Keepalives notice a dead connection (a host that vanished without closing it) within seconds.
      grpcOptions: {
        "grpc.initial_reconnect_backoff_ms": 250,
        "grpc.max_reconnect_backoff_ms": 2000,
        "grpc.keepalive_time_ms": 5000,
        "grpc.keepalive_timeout_ms": 3000,
      },
    };
    if (opts.tls) {
      // bin/ciab leaves NODE_EXTRA_CA_CERTS to registry calls; an explicit --registry-ca wins.
      const caFile = opts.ca ?? process.env.NODE_EXTRA_CA_CERTS;
      options.credentials = {
        rootCertificate: caFile ? readFileSync(caFile) : (undefined as unknown as Buffer),
        ...(opts.key ? { privateKey: readFileSync(opts.key) } : {}),
        ...(opts.cert ? { certChain: readFileSync(opts.cert) } : {}),
      };
    }
    if (opts.username) options.auth = { username: opts.username, password: opts.password ?? "" };
    return new EtcdRegistry(new Etcd3(options), opts);
  }

  /** Connected as a user (etcd auth on): tokens then carry per-node credentials (etcd-access.ts). */
  get authenticated(): boolean {
    return this.opts.username !== undefined;
  }

  /** A node's own etcd user and role (needs admin credentials); `tokenId`: the join token it may take. */
  grantNode(net: string, node: string, tokenId?: string): Promise<{ user: string; password: string }> {
    return this.call(`create the etcd user of node '${node}'`, () => grantNode(this.client, this.opts.prefix, net, node, tokenId));
  }

  revokeNode(net: string, node: string): Promise<void> {
    return this.call(`remove the etcd user of node '${node}'`, () => revokeNode(this.client, net, node));
  }

  private keys(net: string) {
    return etcdKeys(this.opts.prefix, net);
  }
  private async call<T>(op: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      throw etcdError(this.location, op, e);
    }
  }

  async readMesh(net: string): Promise<MeshText | undefined> {
    const r = await this.call(`read network '${net}'`, () => this.client.get(this.keys(net).mesh).exec());
    const kv = r.kvs[0];
    return kv ? { text: kv.value.toString("utf8"), revision: kv.mod_revision } : undefined;
  }

  async writeMesh(net: string, text: string, ifRevision: Revision | undefined): Promise<WriteResult> {
    const key = this.keys(net).mesh;
    const r = await this.call(`write network '${net}'`, () =>
      this.client
        .if(key, ifRevision === undefined ? "Create" : "Mod", "==", ifRevision === undefined ? 0 : ifRevision)
        .then(this.client.put(key).value(text))
        .else(this.client.get(key))
        .commit(),
    );
    if (r.succeeded) return { ok: true, revision: r.header.revision };
    const kv = r.responses[0]?.response_range?.kvs?.[0];
    return { ok: false, current: kv ? { text: kv.value.toString("utf8"), revision: kv.mod_revision } : undefined };
  }

  async records(net: string): Promise<RecordSet> {
    const k = this.keys(net);
    const r = await this.call(`read the node records of '${net}'`, () => this.client.getAll().prefix(k.nodes).exec());
    const set: RecordSet = { records: [], refused: [], revision: r.header.revision };
    for (const kv of r.kvs) {
      const node = recordNode(kv.key.toString("utf8").slice(k.base.length));
      if (node === undefined) continue; // another key under the node's prefix: not a record
      const got = readRecord(kv.value.toString("utf8"), node);
      if ("record" in got) set.records.push(got.record);
      else set.refused.push(got.problem);
    }
    set.records.sort((a, b) => a.node.localeCompare(b.node));
    return set;
  }

  async publish(net: string, record: NodeRecord, lease?: Lease): Promise<Revision> {
    const valid = parseRecord(record, record.node);
    const key = this.keys(net).record(valid.node);
    const text = JSON.stringify(valid);
    const r = await this.call(`publish the record of node '${valid.node}'`, async () =>
      lease instanceof EtcdLeaseHandle ? lease.lease.put(key).value(text).exec() : this.client.put(key).value(text).exec(),
    );
    return r.header.revision;
  }

  async lease(ttlSeconds: number): Promise<Lease> {
    const l = this.client.lease(ttlSeconds, { autoKeepAlive: true });
    await this.call("grant a lease", () => l.grant());
    return new EtcdLeaseHandle(ttlSeconds, l);
  }

  async watch(net: string, fromRevision: Revision | undefined, onEvent: (ev: RegistryEvent) => void, onError: (err: Error) => void): Promise<Watch> {
    const base = this.keys(net).base;
    let b = this.client.watch().prefix(base);
    if (fromRevision !== undefined) b = b.startRevision(String(BigInt(fromRevision) + 1n));
    const w = await this.call(`watch network '${net}'`, () => b.create());
    const event = (kv: { key: Buffer; value: Buffer; mod_revision: string }, deleted: boolean) => {
      const rel = kv.key.toString("utf8").slice(base.length);
      try {
        if (rel === "mesh")
          onEvent({ kind: "mesh", mesh: deleted ? undefined : { text: kv.value.toString("utf8"), revision: kv.mod_revision }, revision: kv.mod_revision });
        else {
          const node = recordNode(rel);
          if (node === undefined) return;
          const got = deleted ? undefined : readRecord(kv.value.toString("utf8"), node);
          onEvent({ kind: "record", node, record: got && "record" in got ? got.record : undefined, revision: kv.mod_revision });
        }
      } catch (e) {
        onError(e as Error);
      }
    };
    w.on("put", (kv) => event(kv, false));
    w.on("delete", (kv) => event(kv, true));
    w.on("error", (e) => onError(etcdError(this.location, `watch network '${net}'`, e)));
    return { close: () => w.cancel() };
  }

  async putToken(net: string, id: string, value: string, ttlSeconds: number): Promise<void> {
    const l = this.client.lease(ttlSeconds, { autoKeepAlive: false });
    await this.call("store a join token", async () => {
      await l.grant();
      // The expiry travels with the value: etcd may keep a lease a little past its TTL (a minimum TTL, 500 ms checks).
      const stored = JSON.stringify({ value, expiresAt: Date.now() + ttlSeconds * 1000 });
      await l.put(this.keys(net).token(id)).value(stored).exec();
    });
    l.release();
  }

  async takeToken(net: string, id: string): Promise<string | undefined> {
    const key = this.keys(net).token(id);
    const r = await this.call("take a join token", () =>
      this.client.if(key, "Create", ">", 0).then(this.client.get(key), this.client.delete().key(key)).commit(),
    );
    if (!r.succeeded) return undefined;
    const raw = r.responses[0]?.response_range?.kvs?.[0]?.value.toString("utf8");
    try {
      const t = JSON.parse(raw ?? "") as { value?: unknown; expiresAt?: unknown };
      return typeof t.value === "string" && typeof t.expiresAt === "number" && t.expiresAt > Date.now() ? t.value : undefined;
    } catch {
      return undefined; // not a token ciab stored: nothing to give
    }
  }

  async close(): Promise<void> {
    this.client.close();
  }
}
