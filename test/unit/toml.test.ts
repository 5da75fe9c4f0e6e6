import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { parse } from "smol-toml";
import { describe, expect, it } from "vitest";
import { dumpToml, isTomlFloat, lineOf, locate, parseCanonical, parseToml, type TomlTable } from "../../src/model/toml.js";
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
  it("locates keys of quoted, repeated and top-level tables, and falls back to the header", () => {
    const text = 'T = 0\n[Node."a b"]\n  C = 1\n[Other]\nC = 2\n[ Node . "a b" ]\nD = 3\n[[Arr]]\nE = 4\n';
    expect(locate(text, "", "T")).toEqual({ line: 1, column: 5 });
    expect(locate(text, 'Node."a b"', "C")).toEqual({ line: 3, column: 7 });
    expect(locate(text, 'Node."a b"', "D")).toEqual({ line: 7, column: 5 }); // the table's second section
    expect(locate(text, 'Node."a b"', "Z")).toEqual({ line: 2, column: 1 }); // no such key: its first header
    expect(locate(text, 'Node."a b"', "E")).toEqual({ line: 9, column: 5 }); // [[Arr]] is no table header here
    expect(locate(text, "Other", "E")).toEqual({ line: 4, column: 1 });
    expect(locate(text, "Missing", "C")).toBeUndefined();
    // the index follows the text: another text is indexed anew
    expect(locate("[Other]\n\nC = 9\n", "Other", "C")).toEqual({ line: 3, column: 5 });
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
  it.each([
    ["unsorted keys", "[Network]\nVxlanID = 5\nA = 1\n"],
    ["unsorted tables", "[Node.b]\nA = 1\n\n[Node.a]\nA = 1\n"],
    ["a deeper table first", "[A.b]\nx = 1\n\n[C]\nx = 1\n"],
    ["a header dumpToml leaves out", "[Node]\n\n[Node.a]\nA = 1\n"],
    ["no blank line before a header", "[Network]\nA = 1\n[Node.a]\nA = 1\n"],
    ["a leading blank line", "\n[Network]\nA = 1\n"],
    ["a quoted bare key", '[Network]\n"A" = 1\n'],
    ["an escape dumpString does not write", '[Network]\nA = "\\u0041\\/"\n'],
    ["a raw control character", '[Network]\nA = "a\tb"\n'],
    ["-0", "[Network]\nA = -0\n"],
    ["a leading zero", "[Network]\nA = 05\n"],
    ["an array without the trailing comma", '[Network]\nA = [ "a"]\n'],
    ["an inline table as a value", "[Network]\nA = { x = 1 }\n"],
    ["a missing final newline", "[Network]\nA = 1"],
  ])("a text that does not dump back byte for byte (%s) goes to smol-toml", (_what, text) => {
    expect(parseCanonical(text)).toBeUndefined();
    let smol: unknown;
    try {
      smol = plain(parse(text));
    } catch {
      smol = "malformed";
    }
    let ours: unknown;
    try {
      ours = plain(parseToml(text, "t"));
    } catch {
      ours = "malformed";
    }
    expect(ours).toEqual(smol);
  });

  // The fast reading must accept every text dumpToml writes (else a call pays smol-toml's time) and nothing else
  // (else an edit would take a text for its own dump when it is not, or read what smol-toml reads otherwise).
  const key = fc.oneof(fc.constantFrom("A", "n1", "Node", "b-c_d", "", "a b", "é", "x.y", '"q"', "\\", "\u0001", "😀", "Z"), fc.string({ maxLength: 4 }));
  const scalar = fc.oneof(fc.string({ maxLength: 6, unit: "binary" }), fc.maxSafeInteger(), fc.integer({ min: -3, max: 3 }), fc.boolean());
  const inline = fc.dictionary(key, scalar, { maxKeys: 3 });
  const value = fc.oneof(scalar, fc.array(fc.oneof(scalar, inline, fc.array(scalar, { maxLength: 2 })), { maxLength: 3 }));
  const table = (depth: number): fc.Arbitrary<TomlTable> =>
    fc.dictionary(key, depth > 0 ? fc.oneof({ weight: 3, arbitrary: value }, { weight: 2, arbitrary: fc.constant(0).chain(() => table(depth - 1)) }) : value, {
      maxKeys: 4,
    }) as fc.Arbitrary<TomlTable>;
  const noProto = (t: unknown): boolean => !JSON.stringify(t).includes('"__proto__"');
  const docs = table(3).filter(noProto);
  const seed = process.env.CIAB_PROP_SEED ? Number(process.env.CIAB_PROP_SEED) : 20_251_204;
  it("reads back every document dumpToml writes", () => {
    fc.assert(
      fc.property(docs, (doc) => {
        expect(parseCanonical(dumpToml(doc))).toEqual(doc);
      }),
      { seed, numRuns: 400 },
    );
  });
  it("reads a changed text only when it is the dump of what it reads, and then as smol-toml does", () => {
    const edit = fc.record({
      at: fc.nat(),
      op: fc.constantFrom("delete", "insert", "swap lines", "repeat line"),
      ch: fc.constantFrom(" ", "\n", "[", "]", '"', "=", ",", ".", "{", "}", "a", "0", "\\", "-"),
    });
    const mutate = (text: string, e: { at: number; op: string; ch: string }) => {
      const i = text.length ? e.at % text.length : 0;
      if (e.op === "delete") return text.slice(0, i) + text.slice(i + 1);
      if (e.op === "insert") return text.slice(0, i) + e.ch + text.slice(i);
      const lines = text.split("\n");
      const j = e.at % lines.length;
      if (e.op === "repeat line") lines.splice(j, 0, lines[j] as string);
      else [lines[j], lines[(j + 1) % lines.length]] = [lines[(j + 1) % lines.length] as string, lines[j] as string];
      return lines.join("\n");
    };
    let accepted = 0;
    fc.assert(
      fc.property(docs, fc.array(edit, { minLength: 1, maxLength: 3 }), (doc, edits) => {
        const text = edits.reduce(mutate, dumpToml(doc));
        const fast = parseCanonical(text);
        if (fast === undefined) return;
        accepted++;
        expect(dumpToml(fast)).toBe(text);
        expect(plain(fast)).toEqual(plain(parse(text)));
      }),
      { seed, numRuns: 1500 },
    );
    // the negative control: some edits keep a canonical text (a value changed, a line repeated …), so the
    // comparisons above have run
    expect(accepted).toBeGreaterThan(20);
  });
  it("floats still reach the schema as floats", () => {
    const doc = parseToml("[Network]\nVxlanID = 1e3\n", "t");
    expect(isTomlFloat(doc.Network as object, "VxlanID")).toBe(true);
  });
});
