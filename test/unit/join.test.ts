import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { allocateNode, createJoinToken, joinHost } from "../../src/agent/join.js";
import { CiabError } from "../../src/model/errors.js";
import { MemoryRegistry } from "../../src/registry/memory.js";

function miniRegistry(_clock: () => number) {
  const reg = new MemoryRegistry();
  regs.push(reg);
  const records = {
    get: async (n: string) => (await reg.records("m")).records.find((r) => r.node === n),
    has: async (n: string) => (await reg.records("m")).records.some((r) => r.node === n),
    all: async () => (await reg.records("m")).records,
  };
  return { reg, records, mesh: async () => reg.readMesh("m") };
}
const regs: MemoryRegistry[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const r of regs.splice(0)) await r.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "hE-join-"));
  dirs.push(d);
  return d;
};
const exit = async (p: Promise<unknown>) =>
  p.then(
    () => 0,
    (e) => (e instanceof CiabError ? e.exitCode : -1),
  );

describe("token create and join", () => {
  it("allocates at token time, joins once with a key made on the host (0600, not in the registry)", async () => {
    let t = Date.parse("2026-12-02T20:00:00Z");
    const { reg, records, mesh } = miniRegistry(() => t);
    await allocateNode(reg, "m", "a");
    const tok = await createJoinToken(reg, "m", 3600, { node: "b", now: new Date(t) });
    const dir = tmp();
    const r = await joinHost(tok.text, async () => reg, { dir, endpoint: "198.18.0.2:51820", subnets: ["10.9.0.0/24"], now: new Date(t) });
    expect(r.node).toBe("b");
    expect(r.address[0]).toMatch(/^192\.168\./);
    expect(r.vtep).toMatch(/^169\.254\./);
    expect(statSync(r.keyFile).mode & 0o777).toBe(0o600);
    expect(statSync(r.stateFile).mode & 0o777).toBe(0o600);
    const priv = readFileSync(r.keyFile, "utf8").trim();
    expect((await mesh())?.text).not.toContain(priv);
    expect(JSON.stringify(await records.all())).not.toContain(priv);
    expect(await records.get("b")).toMatchObject({ publicKey: r.publicKey, endpoint: "198.18.0.2:51820", subnets: ["10.9.0.0/24"] });
    // reused: refused with exit 5
    expect(await exit(joinHost(tok.text, async () => reg, { dir: tmp(), now: new Date(t) }))).toBe(5);
    // expired
    const tok2 = await createJoinToken(reg, "m", 60, { node: "c", now: new Date(t) });
    t += 61_000;
    expect(await exit(joinHost(tok2.text, async () => reg, { dir: tmp(), now: new Date(t) }))).toBe(5);
    // malformed
    expect(await exit(joinHost("ciab1.???", async () => reg, { dir: tmp() }))).toBe(4);
  });
  it("refuses a join announcing a special-purpose endpoint or a subnet over another node's address (exit 4), publishing nothing", async () => {
    const t = Date.parse("2026-12-02T20:00:00Z");
    const { reg, records } = miniRegistry(() => t);
    const a = await createJoinToken(reg, "m", 3600, { node: "a", now: new Date(t) });
    await joinHost(a.text, async () => reg, { dir: tmp(), subnets: ["10.1.0.0/24"], now: new Date(t) });
    const b = await createJoinToken(reg, "m", 3600, { node: "b", now: new Date(t) });
    // records of others are not in the mesh document: the agent refuses the overlap when it lays records over it
    const c = await createJoinToken(reg, "m", 3600, { node: "c", now: new Date(t) });
    expect(await exit(joinHost(c.text, async () => reg, { dir: tmp(), endpoint: "127.0.0.1:51820", now: new Date(t) }))).toBe(4);
    expect(await exit(joinHost(c.text, async () => reg, { dir: tmp(), subnets: ["192.168.0.0/16"], now: new Date(t) }))).toBe(4);
    expect(await records.has("c")).toBe(false);
    expect(await exit(joinHost(b.text, async () => reg, { dir: tmp(), name: "zz", now: new Date(t) }))).toBe(5);
  });
});
