// One conformance suite for every Registry driver (unstorage's testDriver pattern): each driver's test file calls
// it with a factory. What it proves is what the CLI, `ciab join` and the agent rely on.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NodeRecord, Registry, RegistryEvent } from "../../src/registry/registry.js";

const KEY = "tGguLQwREhsgcTfMO9Gn2Da6M+3ShN8nZSdoAG0ZgDo=";
const KEY2 = "JUq1BfqfArIQglatHxIpZFv6/nglslzHjY/efSYk62c=";
const rec = (node: string, extra: Partial<NodeRecord> = {}): NodeRecord => ({ version: 1, node, updatedAt: new Date().toISOString(), ...extra });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, f: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

export function registryConformance(name: string, open: () => Promise<Registry>, opts: { leaseTtl?: number } = {}) {
  describe(`Registry conformance: ${name}`, () => {
    let reg: Registry;
    let n = 0;
    const net = () => `c${process.pid % 1000}x${++n}`;
    beforeAll(async () => {
      reg = await open();
    });
    afterAll(async () => reg?.close());

    it("a network that does not exist reads as undefined", async () => {
      expect(await reg.readMesh(net())).toBeUndefined();
    });

    it("stores the text byte for byte, and compare-and-swap decides every write", async () => {
      const t = net();
      const text = '[Network]\nName = "x"  # odd spacing kept\n\u00e9\n';
      const created = await reg.writeMesh(t, text, undefined, { secret: false });
      expect(created.ok).toBe(true);
      const got = await reg.readMesh(t);
      expect(got?.text).toBe(text);
      if (!created.ok || !got) throw new Error("unreachable");
      expect(got.revision).toBe(created.revision);
      // create-only refuses an existing network, and says what is there
      const again = await reg.writeMesh(t, "other", undefined, { secret: false });
      expect(again).toEqual({ ok: false, current: got });
      // a stale revision is refused; the current one wins
      const next = await reg.writeMesh(t, "second\n", got.revision, { secret: false });
      expect(next.ok).toBe(true);
      const stale = await reg.writeMesh(t, "third\n", got.revision, { secret: false });
      expect(stale.ok).toBe(false);
      expect((await reg.readMesh(t))?.text).toBe("second\n");
    });

    it("of racing writers from one revision, exactly one lands", async () => {
      const t = net();
      const w = await reg.writeMesh(t, "0\n", undefined, { secret: false });
      if (!w.ok) throw new Error("create failed");
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => reg.writeMesh(t, `${i + 1}\n`, w.revision, { secret: false })));
      expect(results.filter((r) => r.ok)).toHaveLength(1);
    });

    it("records: published, listed, replaced, validated", async () => {
      const t = net();
      await reg.publish(t, rec("a", { publicKey: KEY, endpoint: "198.18.0.1:51820", subnets: ["10.0.1.0/24"], health: "ok" }));
      await reg.publish(t, rec("b", { publicKey: KEY2 }));
      await reg.publish(t, rec("a", { publicKey: KEY, health: "degraded", lastError: "x" }));
      const { records } = await reg.records(t);
      expect(records.map((r) => [r.node, r.health])).toEqual([
        ["a", "degraded"],
        ["b", undefined],
      ]);
      // garbage never gets in: the field is named
      await expect(reg.publish(t, rec("c", { publicKey: "not a key" }))).rejects.toThrow(/publicKey/);
      await expect(reg.publish(t, rec("c", { endpoint: "127.0.0.1:51820" }))).rejects.toThrow(/endpoint/);
      await expect(reg.publish(t, rec("c", { subnets: ["10.0.0.0/33"] }))).rejects.toThrow(/subnets/);
      await expect(reg.publish(t, { ...rec("c"), extra: 1 } as unknown as NodeRecord)).rejects.toThrow(/extra/);
      expect((await reg.records(t)).records.map((r) => r.node)).toEqual(["a", "b"]);
    });

    it("a record under a lease disappears with the lease", async () => {
      const t = net();
      const lease = await reg.lease(opts.leaseTtl ?? 2);
      await reg.publish(t, rec("a"), lease);
      await reg.publish(t, rec("b"));
      expect((await reg.records(t)).records.map((r) => r.node)).toEqual(["a", "b"]);
      await lease.revoke();
      await until("the revoked lease's record to go", async () => (await reg.records(t)).records.length === 1);
      expect((await reg.records(t)).records.map((r) => r.node)).toEqual(["b"]);
    });

    it("watch: every change after a revision, in order (mesh and records)", async () => {
      const t = net();
      const first = await reg.writeMesh(t, "1\n", undefined, { secret: false });
      if (!first.ok) throw new Error("create failed");
      const seen: RegistryEvent[] = [];
      const errors: Error[] = [];
      const w = await reg.watch(
        t,
        first.revision,
        (ev) => seen.push(ev),
        (e) => errors.push(e),
      );
      try {
        const second = await reg.writeMesh(t, "2\n", first.revision, { secret: false });
        if (!second.ok) throw new Error("write failed");
        await reg.publish(t, rec("a", { health: "ok" }));
        await until("both events", () => seen.length >= 2);
        const third = await reg.writeMesh(t, "3\n", second.revision, { secret: false });
        expect(third.ok).toBe(true);
        await until("the third event", () => seen.some((e) => e.kind === "mesh" && e.mesh?.text === "3\n"));
        const meshTexts = seen.flatMap((e) => (e.kind === "mesh" ? [e.mesh?.text] : []));
        expect(meshTexts).toEqual(["2\n", "3\n"]);
        expect(seen.some((e) => e.kind === "record" && e.node === "a" && e.record?.health === "ok")).toBe(true);
        expect(errors).toEqual([]);
      } finally {
        await w.close();
      }
    });

    it("tokens: taken once, then never again; an expired one is never given", async () => {
      const t = net();
      await reg.putToken(t, "tok1", "value-1", 60);
      expect(await reg.takeToken(t, "tok1")).toBe("value-1");
      expect(await reg.takeToken(t, "tok1")).toBeUndefined();
      expect(await reg.takeToken(t, "never")).toBeUndefined();
      await reg.putToken(t, "tok2", "value-2", 1);
      await sleep(2200);
      expect(await reg.takeToken(t, "tok2")).toBeUndefined();
      // two takers at once: one gets it
      await reg.putToken(t, "tok3", "value-3", 60);
      const both = await Promise.all([reg.takeToken(t, "tok3"), reg.takeToken(t, "tok3")]);
      expect(both.filter((x) => x === "value-3")).toHaveLength(1);
    });
  });
}
