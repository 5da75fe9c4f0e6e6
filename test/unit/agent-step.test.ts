import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type AgentOptions, agentStep, initialState, readAgentStatus, readCache, runAgent } from "../../src/agent/agent.js";
import type { HostDeps } from "../../src/agent/host.js";
import { genkey, pubkey } from "../../src/keys/x25519.js";
import { readRecord } from "../../src/model/record.js";
import type { DesiredHost } from "../../src/plan/types.js";
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
