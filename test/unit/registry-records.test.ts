import { describe, expect, it } from "vitest";
import { seededRandom } from "../../src/keys/random.js";
import { genkey, pubkey } from "../../src/keys/x25519.js";
import { addNodes, ensureNetwork } from "../../src/model/edit.js";
import { meshFromDoc } from "../../src/model/mesh.js";
import { readRecord } from "../../src/model/record.js";
import type { TomlTable } from "../../src/model/toml.js";
import { effectiveDoc, recordProblems } from "../../src/registry/records.js";
import type { NodeRecord } from "../../src/registry/registry.js";

// a and b joined (public key only: the private key stays on their hosts); c is an admin-made node with its key here.
const fresh = (): TomlTable => {
  const doc: TomlTable = {};
  const rnd = seededRandom("rec");
  ensureNetwork(doc, rnd);
  addNodes(doc, "m", ["a", "b", "c"], rnd);
  const nodes = doc.Node as Record<string, TomlTable>;
  for (const n of ["a", "b"]) {
    const t = nodes[n] as TomlTable;
    t.PublicKey = pubkey(t.PrivateKey as string);
    delete t.PrivateKey;
  }
  (nodes.b as TomlTable).Subnets = ["10.20.0.0/24"];
  return doc;
};
const mesh = (doc: TomlTable) => meshFromDoc("m", doc, { file: "m.conf" });
const rec = (node: string, r: Partial<NodeRecord> = {}): NodeRecord => ({ version: 1, node, updatedAt: "2026-12-02T20:00:00Z", ...r });
const fields = (ps: { field: string }[]) => ps.map((p) => p.field);
// What a record goes through before it is laid over the mesh: its own checks (the drivers run them), then the mesh's.
const check = (m: ReturnType<typeof mesh>, r: unknown, others: NodeRecord[] = []) => {
  const got = readRecord(r, (r as NodeRecord)?.node ?? "a");
  return "problem" in got ? [got.problem] : recordProblems(m, got.record, others);
};

describe("record validation", () => {
  const doc = fresh();
  const m = mesh(doc);
  const newKey = pubkey(genkey());

  it("accepts a node's own key, a public endpoint and a free subnet", () => {
    expect(check(m, rec("a", { publicKey: newKey, endpoint: "198.18.0.7:51820", subnets: ["10.30.0.0/24"] }))).toEqual([]);
  });
  it("refuses another node's subnet (in the mesh, or announced in another record), naming it", () => {
    const p = check(m, rec("a", { subnets: ["10.20.0.128/25"] }));
    expect(fields(p)).toEqual(["subnets"]);
    expect(p[0]?.message).toContain("node 'b'");
    const q = check(m, rec("a", { subnets: ["10.40.0.0/16"] }), [rec("c", { subnets: ["10.40.1.0/24"] })]);
    expect(q[0]?.message).toContain("node 'c'");
    // negative control: the same subnet from its owner is fine
    expect(check(m, rec("b", { subnets: ["10.20.0.0/24"] }))).toEqual([]);
  });
  it("refuses an endpoint or a subnet in a special-purpose range", () => {
    for (const ep of ["127.0.0.1:51820", "169.254.3.4:51820", "[fe80::1]:51820", "224.0.0.1:1"])
      expect(fields(check(m, rec("a", { endpoint: ep })))).toEqual(["endpoint"]);
    expect(fields(check(m, rec("a", { subnets: ["127.0.0.0/8"] })))).toEqual(["subnets"]);
    expect(fields(check(m, rec("a", { endpoint: "nohost" })))).toEqual(["endpoint"]);
  });
  it("refuses a key of the wrong shape (without repeating it), another node's key, or a key against the mesh's private key", () => {
    const bad = check(m, rec("a", { publicKey: "c2VjcmV0LXN0dWZm" }));
    expect(fields(bad)).toEqual(["publicKey"]);
    expect(bad[0]?.message).not.toContain("c2VjcmV0LXN0dWZm");
    const bKey = m.nodes.find((n) => n.name === "b")?.publicKey;
    expect(check(m, rec("a", { publicKey: bKey }))[0]?.message).toContain("node 'b'");
    expect(fields(check(m, rec("c", { publicKey: newKey })))).toEqual(["publicKey"]);
  });
  it("refuses unknown nodes and garbage", () => {
    expect(fields(check(m, rec("zz")))).toEqual(["node"]);
    expect(fields(check(m, "x"))).toEqual(["(the whole record)"]);
    expect(fields(check(m, { version: 2, node: "a", updatedAt: "2026-12-02T20:00:00Z" }))).toEqual(["version"]);
    expect(fields(check(m, { version: 1, node: "a", subnets: "10.0.0.0/8", updatedAt: "2026-12-02T20:00:00Z" }))).toEqual(["subnets"]);
    expect(fields(check(m, { version: 1, node: "a", updatedAt: "never" }))).toEqual(["updatedAt"]);
    expect(fields(check(m, { version: 1, node: "a", updatedAt: "2026-12-02T20:00:00Z", extra: 1 }))).toEqual(["extra"]);
  });
  it("carries what STUN said about the NAT (issue 13), checked field by field", () => {
    const nat = { kind: "endpoint-independent", method: "scoped-snat", reason: "2 servers saw the same mapping 198.18.1.1:51820" };
    const ok = readRecord(rec("a", { endpoint: "198.18.1.1:51820", nat } as Partial<NodeRecord>), "a");
    expect(ok).toEqual({ record: expect.objectContaining({ nat }) });
    for (const [bad, field] of [
      [{ ...nat, kind: "full-cone" }, "nat.kind"],
      [{ ...nat, method: "upnp" }, "nat.method"],
      [{ ...nat, reason: "two\nlines" }, "nat.reason"],
      [{ ...nat, reason: "x".repeat(501) }, "nat.reason"],
      [{ ...nat, extra: 1 }, "nat"],
      ["symmetric", "nat"],
    ] as const)
      expect(fields(check(m, { ...rec("a"), nat: bad }))).toEqual([field]);
  });

  it("carries the peers its agent could not reach (issue 13 part 5), sorted once each; refuses anything else", () => {
    const ok = readRecord(rec("a", { unreached: ["c", "b", "c"] }), "a");
    expect(ok).toEqual({ record: expect.objectContaining({ unreached: ["b", "c"] }) });
    for (const bad of ["b", [1], ["a"], ["no such/name"], ["x\u0000"], Array.from({ length: 4097 }, (_, i) => `n${i}`)])
      expect(fields(check(m, { ...rec("a"), unreached: bad }))).toEqual(["unreached"]);
    const bin = readRecord({ ...rec("a"), unreached: ["\u001b[31mred"] }, "a");
    expect("problem" in bin && bin.problem.message).not.toMatch(/\u001b/);
  });
});

describe("effective mesh", () => {
  it("lays valid records over their nodes and reports the refused ones; the input document is untouched", () => {
    const doc = fresh();
    const before = JSON.stringify(doc);
    const m = mesh(doc);
    const k = pubkey(genkey());
    const { doc: eff, refused } = effectiveDoc(doc, m, [
      rec("a", { publicKey: k, endpoint: "198.18.0.7:51820", subnets: ["10.30.0.0/24"] }),
      rec("c", { subnets: ["10.30.0.0/25"] }),
    ]);
    expect(JSON.stringify(doc)).toBe(before);
    expect(refused.map((r) => `${r.node}:${r.field}`)).toEqual(["c:subnets"]);
    const em = mesh(eff);
    const a = em.nodes.find((n) => n.name === "a");
    expect(a?.publicKey).toBe(k);
    expect(a?.endpoint?.text).toBe("198.18.0.7:51820");
    expect(a?.subnets).toEqual(["10.30.0.0/24"]);
    expect(em.nodes.find((n) => n.name === "c")?.subnets).toEqual([]);
    // the derived values follow the published key (vwgen derives MAC and IPv6 from it)
    expect(a?.mac).not.toBe(m.nodes.find((n) => n.name === "a")?.mac);
  });
});
