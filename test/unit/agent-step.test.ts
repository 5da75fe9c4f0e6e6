import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { type AgentOptions, type AgentState, agentStep, initialState, readAgentStatus, readCache, runAgent } from "../../src/agent/agent.js";
import type { HostDeps } from "../../src/agent/host.js";
import { genkey, pubkey } from "../../src/keys/x25519.js";
import { meshFromDoc } from "../../src/model/mesh.js";
import { readRecord } from "../../src/model/record.js";
import { parseToml } from "../../src/model/toml.js";
import type { Classification } from "../../src/nat/classify.js";
import type { DesiredHost } from "../../src/plan/types.js";
import { MemoryRegistry } from "../../src/registry/memory.js";
import type { MeshText, NodeRecord, Registry, RegistryEvent } from "../../src/registry/registry.js";
import { meshText as fixtureText, NET } from "../helpers/host.js";

// n1's key stays on "the host" (the fixture mesh is public-key-only): a fresh key, read back through deps.readFile.
const n1Private = genkey();
const meshText = () => fixtureText().replace("47vkhCkJhAUNBaoDZxVWjl1egd2JIQHRfjmh+b6uTEY=", pubkey(n1Private));

// The registry's read side as the agent uses it; `answer` says what readMesh does next.
function registry(mesh: () => MeshText | undefined | Error | "hang", records: () => NodeRecord[]): Registry {
  return {
    kind: "memory",
    location: "memory://test",
    readMesh: async () => {
      const m = mesh();
      if (m === "hang") return new Promise(() => {});
      if (m instanceof Error) throw m;
      return m;
    },
    // as every driver: records that do not parse are reported, not returned
    records: async () => {
      const got = records().map((r) => readRecord(r, r.node));
      return {
        records: got.flatMap((g) => ("record" in g ? [g.record] : [])),
        refused: got.flatMap((g) => ("problem" in g ? [g.problem] : [])),
        revision: "0",
      };
    },
  } as unknown as Registry;
}

const deps: HostDeps = {
  run: async () => ({ code: 0, stdout: "", stderr: "" }),
  readFile: (p) => (p === `/etc/wireguard/${NET}.key` ? n1Private : undefined),
  fileMode: () => undefined,
  exists: () => false,
  now: () => 0,
  env: {},
};
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup(mesh: () => MeshText | undefined | Error | "hang", records: () => NodeRecord[] = () => []) {
  const stateDir = mkdtempSync(join(tmpdir(), "hE-agent-"));
  dirs.push(stateDir);
  const applied: DesiredHost[] = [];
  const o: AgentOptions = { net: NET, node: "n1", registry: registry(mesh, records), stateDir, deps, apply: async (d) => void applied.push(d), timeoutMs: 200 };
  return { o, applied, stateDir };
}

describe("agent step", () => {
  it("applies the registry's mesh, caches it 0600, and does not apply again when nothing changed", async () => {
    const { o, applied, stateDir } = setup(() => ({ text: meshText(), revision: "5" }));
    let st = await agentStep(o, initialState(o));
    expect(applied).toHaveLength(1);
    expect(applied[0]?.node).toBe("n1");
    expect(statSync(join(stateDir, "mesh-cache.json")).mode & 0o777).toBe(0o600);
    expect(readCache(stateDir)?.revision).toBe("5");
    st = await agentStep(o, st);
    expect(applied).toHaveLength(1);
    expect(readAgentStatus(stateDir)).toMatchObject({ reachable: true, revision: "5", failures: 0 });
  });

  it("re-applies when a peer's record changes its endpoint; a record announcing another node's subnet is refused", async () => {
    let recs: NodeRecord[] = [];
    const { o, applied } = setup(
      () => ({ text: meshText(), revision: "5" }),
      () => recs,
    );
    let st = await agentStep(o, initialState(o));
    recs = [{ version: 1, node: "n2", endpoint: "198.18.7.7:51820", updatedAt: "2026-12-02T20:00:00Z" }];
    st = await agentStep(o, st);
    expect(applied).toHaveLength(2);
    expect(JSON.stringify(applied[1])).toContain("198.18.7.7:51820");
    expect(JSON.stringify(applied[0])).not.toContain("198.18.7.7:51820");
    recs = [{ version: 1, node: "n2", endpoint: "127.0.0.1:51820", updatedAt: "2026-12-02T20:00:00Z" }];
    st = await agentStep(o, st);
    expect(st.refused.map((r) => r.field)).toEqual(["endpoint"]);
  });

  it("keeps the last good mesh (and the data plane) on garbage, an older revision, an error or a timeout; says so in status", async () => {
    let next: MeshText | Error | "hang" = { text: meshText(), revision: "5" };
    const { o, applied, stateDir } = setup(() => next);
    let st = await agentStep(o, initialState(o));
    for (const [bad, expectWhy] of [
      [{ text: "[[[garbage", revision: "6" }, /revision 6 is invalid/],
      [{ text: meshText().replace("n3", "n4"), revision: "4" }, /older than the cached 5/],
      [new Error("connect ECONNREFUSED 127.0.0.1:2379"), /unreachable: connect ECONNREFUSED/],
      ["hang", /did not answer within 200 ms/],
    ] as const) {
      next = bad;
      st = await agentStep(o, st);
      expect(readAgentStatus(stateDir)?.lastError).toMatch(expectWhy);
      expect(readCache(stateDir)?.revision).toBe("5");
    }
    expect(applied).toHaveLength(1);
    expect(readAgentStatus(stateDir)).toMatchObject({ reachable: false, failures: 4 });
    // a restarted agent starts from the cache while the registry is still down, then converges when it is back
    const st2 = initialState(o);
    expect(st2.cache?.revision).toBe("5");
    next = { text: meshText(), revision: "7" };
    st = await agentStep(o, st);
    expect(readAgentStatus(stateDir)).toMatchObject({ reachable: true, revision: "7", failures: 0 });
  });

  it("a peer's published public key replaces the mesh's in the desired state", async () => {
    const k = pubkey(genkey());
    const { o, applied } = setup(
      () => ({ text: meshText(), revision: "1" }),
      () => [{ version: 1, node: "n2", publicKey: k, updatedAt: "2026-12-02T20:00:00Z" }],
    );
    await agentStep(o, initialState(o));
    // n2 is public-key-only: the key it publishes is the one n1 peers with
    expect(JSON.stringify(applied[0])).toContain(k);
    expect(JSON.stringify(applied[0])).not.toContain("u5eMuhW6++73VqBDoCDqeR6cFYC7GXZRkBH1/uyBjkk=");
  });
});

describe("agent loop", () => {
  it("publishes its record under a lease, reconciles within 1 s of a watch event (a burst is one apply), revokes on stop", async () => {
    let mesh: MeshText = { text: meshText(), revision: "1" };
    let recs: NodeRecord[] = [];
    const published: NodeRecord[] = [];
    let fire: ((ev: RegistryEvent) => void) | undefined;
    let revoked = false;
    const reg = {
      ...registry(
        () => mesh,
        () => recs,
      ),
      lease: async () => ({
        ttlSeconds: 10,
        keepAlive: async () => {},
        revoke: async () => {
          revoked = true;
        },
        onLost: () => {},
      }),
      publish: async (_net: string, r: NodeRecord) => {
        published.push(r);
        return "1";
      },
      watch: async (_n: string, _f: unknown, onEvent: (ev: RegistryEvent) => void) => {
        fire = onEvent;
        return { close: async () => {} };
      },
    } as unknown as Registry;
    const { o, applied } = setup(() => mesh);
    const lines: string[] = [];
    const agent = await runAgent({
      ...o,
      registry: reg,
      record: () => ({ version: 1, node: "n1", updatedAt: new Date().toISOString() }),
      log: (l) => lines.push(l),
    });
    try {
      expect(applied).toHaveLength(1);
      expect(published.map((r) => r.node)).toEqual(["n1"]);
      const t0 = Date.now();
      recs = [{ version: 1, node: "n2", endpoint: "198.18.9.9:51820", updatedAt: new Date().toISOString() }];
      mesh = { text: meshText(), revision: "2" };
      for (let i = 0; i < 5; i++) fire?.({ kind: "mesh", mesh, revision: mesh.revision });
      while (applied.length < 2 && Date.now() - t0 < 1000) await new Promise((r) => setTimeout(r, 10));
      expect(Date.now() - t0).toBeLessThan(1000);
      await new Promise((r) => setTimeout(r, 500));
      expect(applied).toHaveLength(2);
      expect(JSON.stringify(applied[1])).toContain("198.18.9.9:51820");
      expect(lines).toContain("applied revision 2");
    } finally {
      await agent.stop();
    }
    expect(revoked).toBe(true);
  });
});

// The step keeps what it derived (effective mesh, bundle) and the records between steps; these check that what it
// keeps never makes it differ from an agent that starts from nothing at the same registry state.
describe("agent step, incremental", () => {
  const K3 = "Kh7ffnKCv6GcDK2E6zkSw9V4KLnO5V5lafQFWpACFQw="; // n3's key in the fixture
  const other = pubkey(genkey());
  type Op =
    | { kind: "endpoint"; node: "n2" | "n3"; value: string }
    | { kind: "subnet"; node: "n2" | "n3"; value: string }
    | { kind: "key"; node: "n2" | "n3"; value: "mesh" | "other" }
    | { kind: "record"; node: "n2" | "n3"; endpoint?: string; subnets?: string[]; publicKey?: string; health: "ok" | "degraded" }
    | { kind: "unpublish"; node: "n2" | "n3" }
    | { kind: "pool6"; value: string }
    | { kind: "step" };
  const node = fc.constantFrom<"n2" | "n3">("n2", "n3");
  const op: fc.Arbitrary<Op> = fc.oneof(
    {
      arbitrary: fc.record({
        kind: fc.constant("endpoint" as const),
        node,
        value: fc.constantFrom("198.18.9.9:51820", "203.0.113.5:51820", "198.18.2.1:51820"),
      }),
      weight: 2,
    },
    {
      arbitrary: fc.record({ kind: fc.constant("subnet" as const), node, value: fc.constantFrom("10.0.22.0/24", "10.5.0.0/24", "10.0.2.0/24", "10.0.3.0/24") }),
      weight: 2,
    },
    // 127.0.0.1 is refused by the record's own check (unreadable); 10.0.3.0/24 and n3's key clash for n2. Absent
    // fields and refused values are rare so that two records of one node often differ in one field only.
    {
      arbitrary: fc.record({
        kind: fc.constant("record" as const),
        node,
        endpoint: fc.option(fc.constantFrom("198.18.7.7:51820", "198.18.8.8:51820", "198.18.8.8:51820", "127.0.0.1:51820"), { nil: undefined, freq: 5 }),
        subnets: fc.option(fc.constantFrom<string[]>(["10.0.22.0/24"], ["10.5.0.0/24"], ["10.5.0.0/24"], ["10.0.3.0/24"]), { nil: undefined, freq: 5 }),
        publicKey: fc.option(fc.constantFrom(other, other, other, K3), { nil: undefined, freq: 5 }),
        health: fc.constantFrom("ok" as const, "degraded" as const),
      }),
      weight: 4,
    },
    { arbitrary: fc.record({ kind: fc.constant("key" as const), node, value: fc.constantFrom("mesh" as const, "other" as const) }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant("unpublish" as const), node }), weight: 1 },
    // every node's derived IPv6 moves with the pool, although no node table changes (the node memo must see it)
    { arbitrary: fc.record({ kind: fc.constant("pool6" as const), value: fc.constantFrom("fd61:3d97:c13b::/80", "fd99::/64") }), weight: 1 },
    { arbitrary: fc.constant({ kind: "step" as const }), weight: 3 },
  );

  /** The fixture with each node's endpoint and subnet as the ops left them. */
  function world() {
    const endpoint = { n2: "198.18.2.1:51820", n3: "198.18.3.1:51820" };
    const subnet = { n2: "10.0.2.0/24", n3: "10.0.3.0/24" };
    const key = { n2: "u5eMuhW6++73VqBDoCDqeR6cFYC7GXZRkBH1/uyBjkk=", n3: K3 };
    const recs = new Map<string, NodeRecord>();
    let revision = 1;
    let pool6 = "fd61:3d97:c13b::/80";
    const text = () =>
      meshText()
        .replace('AddressPoolIPv6 = "fd61:3d97:c13b::/80"', `AddressPoolIPv6 = "${pool6}"`)
        .replace('Endpoint = "198.18.2.1:51820"', `Endpoint = "${endpoint.n2}"`)
        .replace('Endpoint = "198.18.3.1:51820"', `Endpoint = "${endpoint.n3}"`)
        .replace('Subnets = [ "10.0.2.0/24",]', `Subnets = [ "${subnet.n2}",]`)
        .replace('Subnets = [ "10.0.3.0/24",]', `Subnets = [ "${subnet.n3}",]`)
        .replace('PublicKey = "u5eMuhW6++73VqBDoCDqeR6cFYC7GXZRkBH1/uyBjkk="', `PublicKey = "${key.n2}"`)
        .replace(`PublicKey = "${K3}"`, `PublicKey = "${key.n3}"`);
    let mesh: MeshText = { text: text(), revision: "1" };
    /** Applies `o` to the registry; true when it changed a record (the loop gets a record event for it). */
    const apply = (o: Op): boolean => {
      if (o.kind === "key") {
        key[o.node] = o.value === "other" ? other : o.node === "n2" ? "u5eMuhW6++73VqBDoCDqeR6cFYC7GXZRkBH1/uyBjkk=" : K3;
        mesh = { text: text(), revision: String(++revision) };
      } else if (o.kind === "pool6") {
        pool6 = o.value;
        mesh = { text: text(), revision: String(++revision) };
      } else if (o.kind === "endpoint" || o.kind === "subnet") {
        (o.kind === "endpoint" ? endpoint : subnet)[o.node] = o.value;
        mesh = { text: text(), revision: String(++revision) };
      } else if (o.kind === "record") {
        const { kind: _, ...r } = o;
        const defined = Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as typeof r;
        recs.set(o.node, { version: 1, ...defined, updatedAt: `2026-12-04T20:00:0${revision % 10}Z` });
        return true;
      } else if (o.kind === "unpublish") return recs.delete(o.node);
      return false;
    };
    return { apply, mesh: () => mesh, records: () => [...recs.values()] };
  }

  /**
   * What an agent shows: the bundle it applied last (and its digest), the records it refused, the revision, its
   * error. When the fresh agent fails (the ops can make two nodes' Subnets overlap), the other keeps whatever it
   * applied before (history, not the registry's state): then only the error is compared.
   */
  const view = (st: AgentState, applied: DesiredHost[], fresh: AgentState, stateDir: string) =>
    fresh.status.lastError
      ? { lastError: st.status.lastError }
      : {
          desired: applied.at(-1),
          effectiveMesh: readFileSync(join(stateDir, `${NET}.conf`), "utf8"),
          digest: st.applied,
          refused: [...st.refused].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
          revision: st.status.revision,
          lastError: st.status.lastError,
        };

  async function run(ops: Op[], recordsChanged: (changed: boolean) => boolean) {
    const w = world();
    const inc = setup(w.mesh, w.records);
    let st = await agentStep(inc.o, initialState(inc.o));
    let changed = false;
    const diffs: string[] = [];
    for (const o of ops) {
      changed = w.apply(o) || changed;
      // the loop steps after a mesh edit (its event) and after record events
      if (o.kind === "record" || o.kind === "unpublish") continue;
      st = await agentStep(inc.o, st, { recordsChanged: recordsChanged(changed) });
      changed = false;
      const fresh = setup(w.mesh, w.records);
      const st0 = await agentStep(fresh.o, initialState(fresh.o));
      const [a, b] = [view(st, inc.applied, st0, inc.stateDir), view(st0, fresh.applied, st0, fresh.stateDir)];
      if (JSON.stringify(a) !== JSON.stringify(b)) diffs.push(`after ${JSON.stringify(o)}`);
      expect(a).toEqual(b);
    }
    return diffs;
  }

  it("after any sequence of mesh edits and record changes, equals an agent started from nothing", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 10 }), async (ops) => {
        await run(ops, (changed) => changed);
      }),
      { numRuns: 150 },
    );
  });

  it("negative control: a step told no record changed when one did keeps the old records and differs", async () => {
    // A peer's new endpoint in its record, then a mesh edit: the loop would have had a record event.
    const ops: Op[] = [
      { kind: "record", node: "n2", endpoint: "198.18.7.7:51820", health: "ok" },
      { kind: "endpoint", node: "n3", value: "203.0.113.5:51820" },
    ];
    await expect(run(ops, () => false)).rejects.toThrow();
    expect(await run(ops, (changed) => changed)).toEqual([]);
  });

  it("a record that changes only its health or time reuses the bundle; one that changes its endpoint does not", async () => {
    let recs: NodeRecord[] = [{ version: 1, node: "n2", health: "ok", updatedAt: "2026-12-04T20:00:00Z" }];
    let reads = 0;
    const { o, applied } = setup(
      () => ({ text: meshText(), revision: "5" }),
      () => {
        reads++;
        return recs;
      },
    );
    const st1 = await agentStep(o, initialState(o));
    recs = [{ version: 1, node: "n2", health: "degraded", updatedAt: "2026-12-04T20:00:09Z" }];
    const st2 = await agentStep(o, st1, { recordsChanged: true });
    expect(st2.derived).toBe(st1.derived);
    // a mesh-only step (no record event) does not read the records again
    const st3 = await agentStep(o, st2, { recordsChanged: false });
    expect(reads).toBe(2);
    recs = [{ version: 1, node: "n2", endpoint: "198.18.7.7:51820", health: "ok", updatedAt: "2026-12-04T20:00:10Z" }];
    const st4 = await agentStep(o, st3, { recordsChanged: true });
    expect(st4.derived).not.toBe(st3.derived);
    expect(applied).toHaveLength(2);
    expect(JSON.stringify(applied[1])).toContain("198.18.7.7:51820");
    // a bare record (what an agent without a key file publishes) of a node of the mesh changes nothing; of a node
    // the mesh does not have, it is refused
    recs = [...recs, { version: 1, node: "n3", health: "ok", updatedAt: "2026-12-04T20:00:11Z" }];
    const st5 = await agentStep(o, st4, { recordsChanged: true });
    expect(st5.derived).toBe(st4.derived);
    recs = [...recs, { version: 1, node: "n9", health: "ok", updatedAt: "2026-12-04T20:00:12Z" }];
    const st6 = await agentStep(o, st5, { recordsChanged: true });
    expect(st6.refused).toEqual([expect.objectContaining({ node: "n9", field: "node" })]);
  });
});

// Issue 13 part 3: a node with NAT = "auto" publishes the mapping STUN learned as its endpoint; its peers' agents
// lay it over the mesh. The STUN client itself is tested against coturn (test/integration/stun*.test.ts).
describe("agent pre-punch (issue 13 part 4)", () => {
  const text = (n1Nat: string) =>
    meshText()
      .replace("[Network]\n", '[Network]\nSTUNServers = [ "198.18.0.10:3478", "198.18.0.11:3478",]\n')
      .replace("[Node.n1]\n", `[Node.n1]\nNAT = "${n1Nat}"\n`)
      .replace("[Node.n2]\n", '[Node.n2]\nNAT = "auto"\n');

  async function run(n1Nat: string, steps: NodeRecord[][]) {
    let recs: NodeRecord[] = [];
    const { o, applied } = setup(
      () => ({ text: text(n1Nat), revision: "5" }),
      () => recs,
    );
    const events: string[] = [];
    o.apply = async (d) => void events.push(`apply ${d.node}`);
    o.punch = async (self, targets) => void events.push(`punch from ${self.name}: ${targets.join(",")}`);
    let st = initialState(o);
    for (const r of steps) {
      recs = r;
      st = await agentStep(o, st);
    }
    return { events, applied };
  }
  const n2At = (ep: string): NodeRecord[] => [{ version: 1, node: "n2", endpoint: ep, updatedAt: "2026-12-05T01:00:00Z" }];

  it("behind a NAT: a NATed peer's new endpoint is punched before the apply that sets it, once; public peers never", async () => {
    const { events } = await run("auto", [[], n2At("198.18.9.2:40000"), n2At("198.18.9.2:40000"), n2At("198.18.9.3:40001")]);
    expect(events).toEqual([
      // the first apply: n2's configured endpoint is new; n3 is public (NAT none) and roams to us by itself
      "punch from n1: 198.18.2.1:51820",
      "apply n1",
      "punch from n1: 198.18.9.2:40000",
      "apply n1",
      "punch from n1: 198.18.9.3:40001",
      "apply n1",
    ]);
  });

  it("a public node never punches (negative control: the same records, NAT none)", async () => {
    const { events } = await run("none", [[], n2At("198.18.9.2:40000")]);
    expect(events).toEqual(["apply n1", "apply n1"]);
  });

  it("a failing punch does not stop the apply", async () => {
    const { o } = setup(() => ({ text: text("auto"), revision: "5" }));
    const events: string[] = [];
    o.apply = async () => void events.push("apply");
    o.punch = async () => {
      throw new Error("conntrack missing");
    };
    await agentStep(o, initialState(o));
    expect(events).toEqual(["apply"]);
  });
});

describe("agent and STUN", () => {
  const natMesh = (nat: string) =>
    meshText()
      .replace("[Network]\n", '[Network]\nSTUNServers = [ "198.18.0.10:3478", "198.18.0.11:3478",]\n')
      .replace("[Node.n1]\n", `[Node.n1]\nNAT = "${nat}"\n`);
  const verdict = (kind: Classification["kind"], advertise?: { address: string; port: number }): Classification => ({
    kind,
    method: "scoped-snat",
    ...(advertise ? { advertise } : {}),
    reason: `test verdict ${kind}`,
    answers: [],
  });
  const until = async (what: () => boolean) => {
    for (const t0 = Date.now(); !what(); ) {
      if (Date.now() - t0 > 3000) throw new Error("timed out");
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  async function agentWith(nat: string, answers: Classification[]) {
    const reg = new MemoryRegistry();
    await reg.writeMesh(NET, natMesh(nat), undefined);
    const { o } = setup(() => undefined);
    const asked: string[] = [];
    let i = 0;
    const agent = await runAgent({
      ...o,
      registry: reg,
      record: () => ({ version: 1, node: "n1", updatedAt: new Date().toISOString() }),
      learn: async (self, mesh) => {
        asked.push(`${self.name} ${self.listenPort} ${mesh.network.stunServers.join(",")}`);
        return answers[Math.min(i++, answers.length - 1)] as Classification;
      },
      learnEveryMs: 30,
    });
    const n1 = async () => (await reg.records(NET)).records.find((r) => r.node === "n1");
    return { reg, agent, asked, n1 };
  }

  it("publishes an endpoint-independent mapping as its endpoint; a peer's agent uses it; symmetric publishes none", async () => {
    const { reg, agent, asked, n1 } = await agentWith("auto", [
      verdict("endpoint-independent", { address: "198.18.77.1", port: 40000 }),
      verdict("endpoint-independent", { address: "198.18.77.1", port: 40000 }),
      verdict("symmetric"),
    ]);
    try {
      let rec: NodeRecord | undefined;
      await until(() => {
        void n1().then((r) => {
          rec = r;
        });
        return rec?.nat?.kind === "endpoint-independent";
      });
      expect(rec).toMatchObject({ endpoint: "198.18.77.1:40000", nat: { kind: "endpoint-independent", method: "scoped-snat" } });
      expect(asked[0]).toBe("n1 51820 198.18.0.10:3478,198.18.0.11:3478");
      // n2's agent lays n1's record over the mesh: its WireGuard peer n1 is at the learned mapping
      const peer = { ...setup(() => undefined).o, node: "n2", registry: reg };
      const st2 = await agentStep(peer, initialState(peer));
      expect(st2.derived?.mesh.nodes.find((n) => n.name === "n1")?.endpoint?.text).toBe("198.18.77.1:40000");
      // the next verdict is symmetric: the mapping is withdrawn (peers fall back to the mesh's Endpoint)
      await until(() => {
        void n1().then((r) => {
          rec = r;
        });
        return rec?.nat?.kind === "symmetric";
      });
      expect(rec?.endpoint).toBeUndefined();
    } finally {
      await agent.stop();
    }
  });

  it("negative control: a node with NAT none never asks STUN and publishes no verdict", async () => {
    const { agent, asked, n1 } = await agentWith("none", [verdict("endpoint-independent", { address: "198.18.77.1", port: 40000 })]);
    try {
      await new Promise((r) => setTimeout(r, 200));
      expect(asked).toEqual([]);
      expect((await n1())?.nat).toBeUndefined();
    } finally {
      await agent.stop();
    }
  });
});

describe("agent reach (issue 13 part 5): peers without a handshake are reported unreached, and taken off again", () => {
  const natMesh = (nat: string) =>
    meshText()
      .replace("[Network]\n", '[Network]\nSTUNServers = [ "198.18.0.10:3478", "198.18.0.11:3478",]\n')
      .replace("[Node.n1]\n", `[Node.n1]\nNAT = "${nat}"\n`);
  const until = async (what: () => Promise<boolean>) => {
    for (const t0 = Date.now(); !(await what()); ) {
      if (Date.now() - t0 > 3000) throw new Error("timed out");
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  async function agentWith(nat: string, fresh: Set<string>) {
    const reg = new MemoryRegistry();
    await reg.writeMesh(NET, natMesh(nat), undefined);
    const { o } = setup(() => undefined);
    const keys = new Map(meshFromDoc(NET, parseToml(natMesh(nat), "m.conf"), { file: "m.conf" }).nodes.map((n) => [n.name, n.publicKey as string]));
    const read: string[] = [];
    const agent = await runAgent({
      ...o,
      registry: reg,
      record: () => ({ version: 1, node: "n1", updatedAt: new Date().toISOString() }),
      handshakes: async (ifname) => {
        read.push(ifname);
        return new Map([...keys].map(([name, key]) => [key, fresh.has(name) ? Math.floor(Date.now() / 1000) : 0]));
      },
      reachEveryMs: 20,
      relayAfterMs: 100,
    });
    const n1 = async () => (await reg.records(NET)).records.find((r) => r.node === "n1");
    return { agent, n1, read };
  }

  it("behind a NAT: the peer that never handshakes is reported after relayAfterMs; its first handshake ends it", async () => {
    const fresh = new Set(["n2"]);
    const t0 = Date.now();
    const { agent, n1 } = await agentWith("auto", fresh);
    try {
      await until(async () => (await n1())?.unreached !== undefined);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
      const others = agent
        .state()
        .derived?.mesh.nodes.filter((n) => n.name !== "n1" && n.name !== "n2")
        .map((n) => n.name);
      expect((await n1())?.unreached).toEqual(others);
      for (const n of others ?? []) fresh.add(n);
      await until(async () => (await n1())?.unreached === undefined);
    } finally {
      await agent.stop();
    }
  });

  it("negative control: a mesh without NAT watches no peer and never reports one", async () => {
    const { agent, n1, read } = await agentWith("none", new Set());
    try {
      await new Promise((r) => setTimeout(r, 300));
      expect(read).toEqual([]);
      expect((await n1())?.unreached).toBeUndefined();
    } finally {
      await agent.stop();
    }
  });
});
