import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { dumpToml, lineOf, parseToml } from "../../src/model/toml.js";
import { FIXTURES } from "../helpers/env.js";

describe("TOML codec", () => {
  it.each(["basic3/ciabmesh.conf", "blacklist4/lab.conf"])("vwgen file %s round-trips byte for byte", (f) => {
    const text = readFileSync(join(FIXTURES, f), "utf8");
    expect(dumpToml(parseToml(text, f))).toBe(text);
  });
  it("keeps unknown keys and tables, sorted as vwgen sorts", () => {
    const doc = parseToml('[Zeta]\nb = 1\na = "x"\n[Network]\nVxlanID = 5\nCustom = [ 1, 2,]\n[Node."odd name"]\nK = true\n', "t");
    expect(dumpToml(doc)).toBe('[Network]\nCustom = [ 1, 2,]\nVxlanID = 5\n\n[Zeta]\na = "x"\nb = 1\n\n[Node."odd name"]\nK = true\n');
  });
  it("escapes strings", () => expect(dumpToml({ a: 'q"\\\n' })).toBe('a = "q\\"\\\\\\n"\n'));
  it("reports the line of a syntax error", () => expect(() => parseToml("[Network]\nVxlanID = \n", "m.conf")).toThrow(/m\.conf:2:\d+: malformed TOML/));
  it("finds the line of a key in a table", () => {
    const text = "[Network]\nA = 1\n\n[Node.n1]\nB = 2\nA = 3\n";
    expect(lineOf(text, "Node.n1", "A")).toBe(6);
    expect(lineOf(text, "Network", "A")).toBe(2);
    expect(lineOf(text, "Node.n1")).toBe(4);
  });
});
