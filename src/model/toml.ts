// TOML codec for the mesh file. Pure; no I/O.
// Parsing uses smol-toml. Writing reproduces the layout of Python's `toml` 0.10.2 `dumps()` with sorted keys,
// which is what vwgen writes, so a vwgen file that ciab loads and saves untouched stays byte-identical.
import { parse, TomlError } from "smol-toml";
import { CiabError } from "./errors.js";

export type TomlValue = string | number | boolean | bigint | Date | TomlValue[] | TomlTable;
export interface TomlTable {
  [key: string]: TomlValue;
}

// Integers are parsed as bigints so that a float written where an integer belongs (`VxlanID = 1e3`) can be told
// apart from `VxlanID = 1000`; the document then holds plain numbers again (bigints only beyond 2^53) and the keys
// that held floats are remembered here, per table, for the schema check (schema.ts).
const floatKeys = new WeakMap<object, Set<string>>();

/** Whether `table[key]` was written as a TOML float (and not changed since by an edit). */
export const isTomlFloat = (table: object, key: string): boolean => floatKeys.get(table)?.has(key) === true;

/** An edit stored a value of its own under `key`: it is no longer the float the file held. */
export const forgetFloat = (table: object, key: string): void => void floatKeys.get(table)?.delete(key);

function normalise(v: unknown, parent: object, key: string): unknown {
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v;
  if (typeof v === "number") {
    const s = floatKeys.get(parent) ?? new Set<string>();
    floatKeys.set(parent, s);
    s.add(key);
    return v;
  }
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = normalise(v[i], v, String(i));
    return v;
  }
  if (typeof v === "object" && v !== null && !(v instanceof Date)) {
    const t = v as Record<string, unknown>;
    for (const k of Object.keys(t)) t[k] = normalise(t[k], t, k);
  }
  return v;
}

/** 1-based line and column of offset `i` in `text`. */
export function lineColumn(text: string, i: number): { line: number; column: number } {
  const before = text.slice(0, i);
  const line = before.split("\n").length;
  return { line, column: i - before.lastIndexOf("\n") };
}

export function parseToml(text: string, file: string): TomlTable {
  return parseTomlText(text, file).doc;
}

/**
 * parseToml, and whether `text` is exactly what dumpToml writes for the document (then the document, unchanged,
 * dumps back to `text`: an edit knows its starting text without dumping it once more).
 */
export function parseTomlText(text: string, file: string): { doc: TomlTable; canonical: boolean } {
  // The registry decodes the file as UTF-8 with replacement: every invalid byte sequence arrives as U+FFFD. Refuse
  // it instead of writing the replacement back (a literal U+FFFD in a mesh file is refused too: nothing needs one).
  const bad = text.indexOf("\uFFFD");
  if (bad >= 0) {
    const { line, column } = lineColumn(text, bad);
    throw new CiabError("invalid", `${file}:${line}:${column}: invalid UTF-8 (or U+FFFD) in the mesh file`, {
      where: { file, line, column },
      hint: "the file is damaged or not UTF-8; fix or restore it (ciab did not change it)",
    });
  }
  // The file as ciab and vwgen write it parses in a fraction of smol-toml's time (issue 10: one call must be as
  // fast as vwgen's): it reads only what writing it back gives byte for byte (parseCanonical says how it knows).
  const fast = parseCanonical(text);
  if (fast) return { doc: fast, canonical: true };
  try {
    return { doc: normalise(parse(text, { integersAsBigInt: true }), {}, "") as TomlTable, canonical: false };
  } catch (e) {
    if (e instanceof TomlError) {
      // Only the first line: the rest of smol-toml's message quotes the source, which may hold a private key.
      const first = e.message.split("\n")[0] ?? e.message;
      throw new CiabError("invalid", `${file}:${e.line}:${e.column}: malformed TOML: ${first}`, {
        where: { file, line: e.line, column: e.column },
        hint: "fix the syntax at that line (a truncated or hand-edited file?); ciab did not change it",
      });
    }
    throw e;
  }
}

// --- the fast reading of dumpToml's own layout ----------------------------------------------------------------

const BARE = /[A-Za-z0-9_-]+/y;
// One value line in its most common forms, read by the regular expression engine in one go; anything else (quoted
// keys, escapes, inline tables, nested arrays …) is read piece by piece. Strings here hold no quote, backslash or
// control character, which dumpString writes as they are.
const LINE = /([A-Za-z0-9_-]+) = (?:"([^"\\\u0000-\u001f\u007f]*)"|(true|false)|(-?(?:0|[1-9]\d{0,15}))|\[((?: "[^"\\\u0000-\u001f\u007f]*",)*)\])\n/y;
const INTEGER = /-?(?:0|[1-9]\d*)/y;
// What a string holds that dumpString would escape: a string without it is written as it is.
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * The document when `text` is exactly what `dumpToml` writes for it (so it dumps back to the same bytes), else
 * undefined: then smol-toml reads it. The layout is checked while reading, not by dumping the result again: keys
 * strictly in dumpToml's order and quoted only when dumpToml quotes them, strings escaped as dumpString escapes them,
 * integers in their shortest form, `[ a, b,]` arrays, `{ k = v, … }` inline tables, tables in dumpToml's rounds (by
 * depth, then by the name as written) with one blank line before each, and a table whose header holds no value only
 * where dumpToml writes one (a table without sub-tables). Floats, dates, comments, big integers and `__proto__` are
 * not dumpToml's layout either (floats and big integers smol-toml reads exactly). Pure; never throws.
 */
export function parseCanonical(text: string): TomlTable | undefined {
  let pos = 0;
  const fail = (): never => {
    throw parseCanonical;
  };
  const expect = (s: string) => {
    if (!text.startsWith(s, pos)) fail();
    pos += s.length;
  };
  const str = (): string => {
    const end = text.indexOf('"', pos + 1);
    if (end < 0) fail();
    const raw = text.slice(pos + 1, end);
    if (raw.includes("\\")) {
      // dumpString's escapes are JSON's too; it writes each character one way, so its output is the proof.
      let q = end;
      for (;;) {
        // a quote preceded by an odd run of backslashes is escaped: look further
        let b = q - 1;
        while (text[b] === "\\") b--;
        if ((q - 1 - b) % 2 === 0) break;
        q = text.indexOf('"', q + 1);
        if (q < 0) fail();
      }
      const written = text.slice(pos, q + 1);
      const s = JSON.parse(written) as string;
      if (dumpString(s) !== written) fail();
      pos = q + 1;
      return s;
    }
    if (CONTROL.test(raw)) fail();
    pos = end + 1;
    return raw;
  };
  const key = (): string => {
    if (text[pos] === '"') {
      const k = str();
      return BARE_KEY.test(k) ? fail() : k; // dumpToml writes a bare key bare
    }
    BARE.lastIndex = pos;
    if (!BARE.test(text)) fail();
    const k = text.slice(pos, BARE.lastIndex);
    pos = BARE.lastIndex;
    return k;
  };
  /** `k` may follow `prev` among a table's keys: dumpToml writes them sorted, each once. */
  const after = (prev: string | undefined, k: string) => {
    if (k === "__proto__" || (prev !== undefined && byCodePoint(prev, k) >= 0)) fail();
  };
  const value = (): TomlValue => {
    const c = text[pos];
    if (c === '"') return str();
    if (c === "[") {
      const a: TomlValue[] = [];
      pos++;
      while (text[pos] === " ") {
        pos++;
        a.push(value());
        expect(",");
      }
      expect("]");
      return a;
    }
    if (c === "{") {
      const t: TomlTable = {};
      expect("{ ");
      let prev: string | undefined;
      while (text[pos] !== " ") {
        if (prev !== undefined) expect(", ");
        const k = key();
        after(prev, k);
        expect(" = ");
        t[k] = value();
        prev = k;
      }
      expect(" }");
      return t;
    }
    if (text.startsWith("true", pos)) {
      pos += 4;
      return true;
    }
    if (text.startsWith("false", pos)) {
      pos += 5;
      return false;
    }
    INTEGER.lastIndex = pos;
    if (!INTEGER.test(text)) fail();
    const written = text.slice(pos, INTEGER.lastIndex);
    const n = Number(written);
    if (!Number.isSafeInteger(n) || written === "-0") fail();
    pos = INTEGER.lastIndex;
    return n;
  };
  /** `key = value` lines up to the next header or the end; a table's value is never written as one. */
  const values = (t: TomlTable): number => {
    let prev: string | undefined;
    let count = 0;
    while (pos < text.length && text[pos] !== "[" && text[pos] !== "\n") {
      let k: string;
      let v: TomlValue;
      LINE.lastIndex = pos;
      const m = LINE.exec(text);
      if (m) {
        // most lines of a mesh file: a bare key and a plain string, boolean, integer or array of plain strings
        k = m[1] as string;
        pos = LINE.lastIndex;
        if (m[2] !== undefined) v = m[2];
        else if (m[3] !== undefined) v = m[3] === "true";
        else if (m[4] !== undefined) {
          v = Number(m[4]);
          if (!Number.isSafeInteger(v) || m[4] === "-0") fail();
        } else v = m[5] ? (m[5].split('",') as string[]).slice(0, -1).map((e) => e.slice(2)) : [];
      } else {
        k = key();
        expect(" = ");
        v = value();
        if (isTable(v)) fail();
        expect("\n");
      }
      after(prev, k);
      t[k] = v;
      prev = k;
      count++;
    }
    return count;
  };
  const root: TomlTable = {};
  const bare: TomlTable[] = []; // tables written with a header but no value: dumpToml writes those only without sub-tables
  try {
    const top = values(root);
    let last: { depth: number; name: string } | undefined;
    while (pos < text.length) {
      if (top > 0 || last) expect("\n");
      const from = pos + 1;
      expect("[");
      let table = root;
      let depth = 0;
      for (;;) {
        const k = key();
        if (k === "__proto__") fail();
        depth++;
        if (!Object.hasOwn(table, k)) table[k] = {};
        const next = table[k];
        if (!isTable(next)) fail();
        table = next as TomlTable;
        if (text[pos] !== ".") break;
        pos++;
      }
      const name = text.slice(from, pos);
      expect("]\n");
      if (last && (depth < last.depth || (depth === last.depth && byCodePoint(last.name, name) >= 0))) fail();
      last = { depth, name };
      if (values(table) === 0) bare.push(table);
    }
    for (const t of bare) if (Object.values(t).some(isTable)) fail();
  } catch (e) {
    if (e === parseCanonical || e instanceof SyntaxError) return undefined;
    throw e;
  }
  return root;
}

const isTable = (v: unknown): v is TomlTable => typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);

const BARE_KEY = /^[A-Za-z0-9_-]+$/;
const quoteKey = (k: string) => (BARE_KEY.test(k) ? k : dumpString(k));

// What dumpString escapes; most strings (keys, addresses, base64) hold none of it and are written as they are.
const NEEDS_ESCAPE = /[\\"\u0000-\u001f\u007f]/;

export function dumpString(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return `"${s}"`;
  let out = "";
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (ch === "\\") out += "\\\\";
    else if (ch === '"') out += '\\"';
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\b") out += "\\b";
    else if (ch === "\f") out += "\\f";
    else if (c < 0x20 || c === 0x7f) out += `\\u${c.toString(16).padStart(4, "0")}`;
    else out += ch;
  }
  return `"${out}"`;
}

function dumpValue(v: TomlValue): string {
  if (typeof v === "string") return dumpString(v);
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number") {
    if (Number.isInteger(v)) return String(v);
    if (Number.isNaN(v)) return "nan";
    if (!Number.isFinite(v)) return v > 0 ? "inf" : "-inf";
    const s = String(v);
    return /[.e]/.test(s) ? s : `${s}.0`;
  }
  if (v instanceof Date) return (v as Date & { toISOString(): string }).toISOString();
  if (Array.isArray(v)) return `[${v.map((x) => ` ${dumpValue(x)},`).join("")}]`;
  const entries = sortedKeys(v).map((k) => `${quoteKey(k)} = ${dumpValue(v[k] as TomlValue)}`);
  return `{ ${entries.join(", ")} }`;
}

/** Python's order of str (code points); JavaScript's `<` compares UTF-16 units, which differs only past U+FFFF. */
const SURROGATE = /[\uD800-\uDFFF]/;
function byCodePoint(a: string, b: string): number {
  if (!SURROGATE.test(a) && !SURROGATE.test(b)) return a < b ? -1 : a > b ? 1 : 0;
  const [x, y] = [[...a], [...b]];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = (x[i]?.codePointAt(0) ?? 0) - (y[i]?.codePointAt(0) ?? 0);
    if (d !== 0) return d;
  }
  return x.length - y.length;
}
const byName = (a: [string, TomlTable], b: [string, TomlTable]): number => byCodePoint(a[0], b[0]);

/** Keys in Python's order: without a surrogate among them (the usual case), JavaScript's own sort is that order. */
const sortedKeys = (t: object): string[] => {
  const keys = Object.keys(t);
  return keys.some((k) => SURROGATE.test(k)) ? keys.sort(byCodePoint) : keys.sort();
};

/** Values of one table (sorted keys), and its sub-tables (keys as written) for the next round; dumpToml orders those. */
function dumpSection(t: TomlTable): { text: string; subs: [string, TomlTable][] } {
  let text = "";
  const subs: [string, TomlTable][] = [];
  for (const k of sortedKeys(t)) {
    const v = t[k] as TomlValue;
    if (isTable(v)) subs.push([quoteKey(k), v]);
    else text += `${quoteKey(k)} = ${dumpValue(v)}\n`;
  }
  return { text, subs };
}

/** Sections dumped before, by their table (see dumpToml); only for tables that never change once dumped. */
export type DumpMemo = WeakMap<TomlTable, { text: string; subs: [string, TomlTable][] }>;

/** `memo`: tables dumped before give their text again (the agent dumps its effective mesh on every change). */
export function dumpToml(doc: TomlTable, memo?: DumpMemo): string {
  const section = (t: TomlTable) => {
    let d = memo?.get(t);
    if (d === undefined) {
      d = dumpSection(t);
      memo?.set(t, d);
    }
    return d;
  };
  const top = section(doc);
  // Parts joined once at the end, and the last two characters tracked: reading the end of a growing string
  // flattens it each time, which made a 200-node file take tens of milliseconds.
  const out = [top.text];
  let tail = top.text.slice(-2);
  const append = (p: string) => {
    out.push(p);
    tail = (tail + p).slice(-2);
  };
  // vwgen's sorted dict orders the values by key, but each round's tables by their whole name as written: a quoted
  // one (`"Node One"`, `"nöde"`) comes before every bare one.
  let sections = [...top.subs].sort(byName);
  while (sections.length > 0) {
    const next: [string, TomlTable][] = [];
    for (const [name, table] of sections) {
      const { text, subs } = section(table);
      if (text || subs.length === 0) {
        if (tail !== "" && tail !== "\n\n") append("\n");
        append(`[${name}]\n${text}`);
      }
      for (const [sub, t] of subs) next.push([`${name}.${sub}`, t]);
    }
    sections = next.sort(byName);
  }
  return out.join("");
}

/**
 * 1-based line of `key` inside table `[table]` (dotted, as written in the header), for error messages.
 * Best effort: returns undefined when the key is not written on its own line.
 */
export function lineOf(text: string, table: string, key?: string): number | undefined {
  return locate(text, table, key)?.line;
}

type Place = { line: number; column: number };

// Each problem of a mesh is located in its text, and a file may have one per node: the text is indexed once (the
// first header of each table, the first line of each key in it), not scanned again per problem.
let indexed: { text: string; tables: Map<string, { header?: Place; keys: Map<string, Place> }> } | undefined;

function tablesOf(text: string) {
  if (indexed?.text === text) return indexed.tables;
  const tables = new Map<string, { header?: Place; keys: Map<string, Place> }>();
  const entry = (name: string) => {
    let e = tables.get(name);
    if (!e) {
      e = { keys: new Map() };
      tables.set(name, e);
    }
    return e;
  };
  let current = entry("");
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? "";
    const header = /^\[([^[\]]+)\]/.exec(raw.trim());
    if (header) {
      current = entry(
        (header[1] ?? "")
          .split(".")
          .map((p) => p.trim().replace(/^"|"$/g, ""))
          .join("\u0000"),
      );
      current.header ??= { line: i + 1, column: raw.indexOf("[") + 1 };
      continue;
    }
    const m = /^\s*("?)([^"=]+)\1\s*=\s*/.exec(raw);
    const k = m && (m[2] ?? "").trim();
    if (m && k && !current.keys.has(k)) current.keys.set(k, { line: i + 1, column: m[0].length + 1 });
  }
  indexed = { text, tables };
  return tables;
}

/** Line and column of `key`'s value in `[table]` (of the table header without a key), best effort. */
export function locate(text: string, table: string, key?: string): Place | undefined {
  const t = tablesOf(text).get(
    table
      .split(".")
      .map((p) => p.replace(/^"|"$/g, ""))
      .join("\u0000"),
  );
  return (key === undefined ? undefined : t?.keys.get(key)) ?? t?.header;
}
