import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "smol-toml";
import { describe, expect, it } from "vitest";
import { dumpToml, isTomlFloat, lineOf, parseCanonical, parseToml } from "../../src/model/toml.js";
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
  it("orders tables as vwgen's sorted dict does: by the key as written, quoted ones first; values by key", () => {
    // vwgen's own file after `add o b zz a` and `add o 'nöde' 'Node One' y` (the oracle, by hand)
    const doc = { Node: { zz: { x: 1 }, a: { x: 1 }, nöde: { x: 1 }, b: { x: 1 }, "Node One": { x: 1 }, y: { x: 1 } }, Z: 1, é: 2, B: 3 };
    const text = dumpToml(doc);
    expect(
      text
        .split("\n")
        .filter((l) => l.startsWith("["))
        .join(" "),
    ).toBe('[Node."Node One"] [Node."nöde"] [Node.a] [Node.b] [Node.y] [Node.zz]');
    expect(text.startsWith('B = 3\nZ = 1\n"é" = 2\n')).toBe(true);
    // code points, not UTF-16 units: U+1F600 (a surrogate pair in JavaScript) sorts after U+FFFD, as Python sorts it
    expect(dumpToml({ "\u{1F600}": 1, "\uFFFD": 2 })).toBe('"\uFFFD" = 2\n"\u{1F600}" = 1\n');
  });
  it("escapes strings", () => expect(dumpToml({ a: 'q"\\\n' })).toBe('a = "q\\"\\\\\\n"\n'));
  it("reports the line of a syntax error", () => expect(() => parseToml("[Network]\nVxlanID = \n", "m.conf")).toThrow(/m\.conf:2:\d+: malformed TOML/));
  it("finds the line of a key in a table", () => {
    const text = "[Network]\nA = 1\n\n[Node.n1]\nB = 2\nA = 3\n";
    expect(lineOf(text, "Node.n1", "A")).toBe(6);
    expect(lineOf(text, "Network", "A")).toBe(2);
    expect(lineOf(text, "Node.n1")).toBe(4);
  });

  // The fast reading of ciab's/vwgen's own layout (issue 10): it must give what smol-toml gives, and leave anything
  // else to smol-toml.
  const plain = (v: unknown) => JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? Number(x) : x)));
  it.each(["basic3/ciabmesh.conf", "blacklist4/lab.conf"])("the fast reading of %s equals smol-toml's", (f) => {
    const text = readFileSync(join(FIXTURES, f), "utf8");
    const fast = parseCanonical(text);
    expect(fast).toBeDefined();
    expect(plain(fast)).toEqual(plain(parse(text)));
  });
  it("reads every value type dumpToml writes, and escapes", () => {
    const doc = { A: { s: 'q"\\\n\t\u0001é', n: -5, b: false, e: [], l: [["a", "b"], ["c"]], t: { x: 1, "y z": "w" } }, 'Node."a b"': { k: true } };
    const text = dumpToml(doc);
    expect(plain(parseCanonical(text))).toEqual(plain(parse(text)));
    expect(parseToml(text, "t")).toEqual(parse(text));
  });
  it.each([
    ["a float", "[Network]\nVxlanMTU = 1500.0\n"],
    ["a comment", "# hi\n[Network]\nVxlanID = 5\n"],
    ["other spacing", "[Network]\nVxlanID=5\n"],
    ["a literal string", "[Network]\nA = 'x'\n"],
    ["a big integer", "[Network]\nA = 12345678901234567890\n"],
    ["__proto__", "[Node.__proto__]\nA = 1\n"],
    ["a key twice", "[Network]\nA = 1\nA = 2\n"],
  ])("leaves %s to smol-toml", (_what, text) => expect(parseCanonical(text)).toBeUndefined());
  it("a fast reading that would not write the same bytes back goes to smol-toml", () => {
    // unsorted keys are read by the fast path, but dumpToml sorts them: smol-toml decides, the result is the same
    const text = "[Network]\nVxlanID = 5\nA = 1\n";
    expect(parseCanonical(text)).toBeDefined();
    expect(dumpToml(parseCanonical(text)!)).not.toBe(text);
    expect(plain(parseToml(text, "t"))).toEqual({ Network: { VxlanID: 5, A: 1 } });
  });
  it("floats still reach the schema as floats", () => {
    const doc = parseToml("[Network]\nVxlanID = 1e3\n", "t");
    expect(isTomlFloat(doc.Network as object, "VxlanID")).toBe(true);
  });
});
