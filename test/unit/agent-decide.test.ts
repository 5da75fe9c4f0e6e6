import { describe, expect, it } from "vitest";
import { type AgentStatus, backoffMs, debounceDue, decide, nextStatus, olderThan } from "../../src/agent/decide.js";

const parse = (t: string) => {
  if (!t.startsWith("[Network]")) throw new Error("not a mesh");
};
const cache = { text: "[Network]\nA=1\n", revision: "10" };

describe("agent decisions", () => {
  it("applies a newer valid mesh, does nothing for the same revision", () => {
    expect(decide(cache, { kind: "mesh", mesh: { text: "[Network]\nA=2\n", revision: "11" } }, parse).action).toBe("apply");
    expect(decide(undefined, { kind: "mesh", mesh: { text: "[Network]\n", revision: "1" } }, parse).action).toBe("apply");
    expect(decide(cache, { kind: "mesh", mesh: { text: "[Network]\nA=1\n", revision: "10" } }, parse)).toEqual({ action: "same" });
  });
  it("keeps the last good mesh on garbage, an older revision, a timeout, an error or a missing mesh, saying why", () => {
    const keep = (d: ReturnType<typeof decide>) => (d.action === "keep" ? `${d.reachable}:${d.reason}` : d.action);
    expect(keep(decide(cache, { kind: "mesh", mesh: { text: "garbage", revision: "12" } }, parse))).toMatch(/^true:.*revision 12 is invalid: not a mesh/);
    expect(keep(decide(cache, { kind: "mesh", mesh: { text: "[Network]\n", revision: "9" } }, parse))).toMatch(/^true:.*9 is older than the cached 10/);
    expect(keep(decide(cache, { kind: "timeout", afterMs: 2000 }, parse))).toMatch(/^false:.*2000 ms/);
    expect(keep(decide(cache, { kind: "error", error: new Error("ECONNREFUSED") }, parse))).toMatch(/^false:.*ECONNREFUSED/);
    expect(keep(decide(cache, { kind: "mesh", mesh: undefined }, parse))).toMatch(/^true:.*no mesh/);
    expect(keep(decide(cache, { kind: "mesh", mesh: { revision: 5 } as never }, parse))).toMatch(/garbage/);
  });
  it("orders numeric revisions only", () => {
    expect(olderThan("9", "10")).toBe(true);
    expect(olderThan("10", "9")).toBe(false);
    expect(olderThan("sha:ab", "10")).toBeUndefined();
  });
  it("backs off 250 ms doubling to 10 s with bounded jitter; debounce coalesces bursts within 400 ms", () => {
    expect(backoffMs(1, 0.5)).toBe(250);
    expect(backoffMs(3, 0.5)).toBe(1000);
    expect(backoffMs(20, 0.5)).toBe(10000);
    expect(backoffMs(20, 0.999)).toBeLessThanOrEqual(12000);
    expect(backoffMs(1, 0)).toBe(200);
    expect(debounceDue(0, 50)).toBe(150);
    expect(debounceDue(0, 390)).toBe(400);
  });
  it("status follows the decisions: error kept until the next apply, failures counted", () => {
    const s0: AgentStatus = { version: 1, net: "m", node: "a", registry: "etcd://127.0.0.1:2379/ciab", reachable: true, failures: 0 };
    const now = new Date("2026-12-02T20:00:00Z");
    const s1 = nextStatus(s0, { action: "keep", reachable: false, reason: "registry unreachable: x" }, now);
    const s2 = nextStatus(s1, { action: "keep", reachable: false, reason: "registry unreachable: y" }, now);
    expect(s2).toMatchObject({ reachable: false, failures: 2, lastError: "registry unreachable: y" });
    const s3 = nextStatus(s2, { action: "apply", mesh: { text: "", revision: "12" } }, now);
    expect(s3).toMatchObject({ reachable: true, failures: 0, revision: "12", lastError: undefined });
  });
});
