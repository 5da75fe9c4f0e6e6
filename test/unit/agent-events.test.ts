// The agent ignores a record event that brings nothing new (a re-publish after a lease loss), and only that.
import { describe, expect, it } from "vitest";
import { sameRecord } from "../../src/agent/agent.js";
import type { NodeRecord } from "../../src/model/record.js";

const rec = (o: Partial<NodeRecord> = {}): NodeRecord => ({
  version: 1,
  node: "n2",
  publicKey: "uBl2fogJw6bJk1Hx7Ky2Z3Ez0D0jxq0Qy4dJ4y0hYm8=",
  endpoint: "198.18.2.1:51820",
  subnets: ["10.0.2.0/24"],
  updatedAt: "2026-12-03T07:00:00.000Z",
  ...o,
});

describe("agent: record events", () => {
  it("a re-publish that differs only in updatedAt is the same record", () => {
    expect(sameRecord(rec(), rec({ updatedAt: "2026-12-03T07:05:00.000Z" }))).toBe(true);
  });
  it("a new endpoint, subnet, key or health is a change; an unknown record is a change", () => {
    expect(sameRecord(rec(), rec({ endpoint: "198.18.2.1:51821" }))).toBe(false);
    expect(sameRecord(rec(), rec({ subnets: ["10.0.2.0/24", "10.0.3.0/24"] }))).toBe(false);
    expect(sameRecord(rec(), rec({ publicKey: "ZYFS4zhjw6bJk1Hx7Ky2Z3Ez0D0jxq0Qy4dJ4y0hYm8=" }))).toBe(false);
    expect(sameRecord(rec(), rec({ health: "degraded" }))).toBe(false);
    expect(sameRecord(undefined, rec())).toBe(false);
  });
});
