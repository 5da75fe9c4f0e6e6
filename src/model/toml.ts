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
  // fast as vwgen's); the fast reading counts only when writing it back gives the same bytes, which proves it.
  const fast = parseCanonical(text);
  if (fast && dumpToml(fast) === text) return { doc: fast, canonical: true };
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

const KEY = /\s*(?:([A-Za-z0-9_-]+)|("(?:[^"\\\n]|\\.)*"))\s*/y;
const STRING = /"(?:[^"\\\n]|\\.)*"/y;
const INTEGER = /-?\d+(?=[\s,\]}]|$)/y;

/**
 * A document in exactly the layout `dumpToml` writes (headers, `key = value` lines, strings, safe integers,
 * booleans, arrays, inline tables), or undefined for anything else (floats, dates, comments, other spacing …),
 * which then goes to smol-toml. The caller accepts the result only when `dumpToml` gives the text back.
 */
export function parseCanonical(text: string): TomlTable | undefined {
  const root: TomlTable = {};
  let table = root;
  let pos = 0;
  const fail = (): never => {
    throw parseCanonical;
  };
  const key = (): string => {
    KEY.lastIndex = pos;
    const m = KEY.exec(text) ?? fail();
    pos = KEY.lastIndex;
    const k = m[1] ?? (JSON.parse(m[2] as string) as string);
    return k === "__proto__" ? fail() : k;
  };
  const value = (): TomlValue => {
    const c = text[pos];
    if (c === '"') {
      STRING.lastIndex = pos;
      const m = STRING.exec(text) ?? fail();
      pos = STRING.lastIndex;
      return JSON.parse(m[0]) as string;
    }
    if (c === "[") {
      const a: TomlValue[] = [];
      pos++;
      while (text[pos] === " ") pos++;
      while (text[pos] !== "]") {
        a.push(value());
        if (text[pos] !== ",") fail();
        pos++;
        while (text[pos] === " ") pos++;
      }
      pos++;
      return a;
    }
    if (c === "{") {
      const t: TomlTable = {};
      pos++;
      while (text[pos] === " ") pos++;
      while (text[pos] !== "}") {
        const k = key();
        if (text[pos] !== "=" || text[pos + 1] !== " ") fail();
        pos += 2;
        t[k] = value();
        if (text[pos] === ",") pos++;
        while (text[pos] === " ") pos++;
      }
      pos++;
      return t;
    }
    for (const b of [true, false]) {
      if (text.startsWith(String(b), pos)) {
        pos += b ? 4 : 5;
        return b;
      }
    }
    INTEGER.lastIndex = pos;
    const m = INTEGER.exec(text) ?? fail();
    const n = Number(m[0]);
    if (!Number.isSafeInteger(n)) fail();
    pos = INTEGER.lastIndex;
    return n;
  };
  try {
    while (pos < text.length) {
      if (text[pos] === "\n") {
        pos++;
        continue;
      }
      if (text[pos] === "[") {
        pos++;
        table = root;
        for (;;) {
          const k = key();
          if (!Object.hasOwn(table, k)) table[k] = {};
          const next = table[k];
          if (!isTable(next)) fail();
          table = next as TomlTable;
          if (text[pos] === ".") pos++;
          else break;
        }
        if (text[pos] !== "]" || text[pos + 1] !== "\n") fail();
        pos += 2;
        continue;
      }
      const k = key();
      if (text[pos] !== "=" || text[pos + 1] !== " " || k in table) fail();
      pos += 2;
      table[k] = value();
      if (text[pos] !== "\n") fail();
      pos++;
    }
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
  const entries = Object.keys(v)
    .sort(byCodePoint)
    .map((k) => `${quoteKey(k)} = ${dumpValue(v[k] as TomlValue)}`);
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

/** Values of one table (sorted keys), and its sub-tables (keys as written) for the next round; dumpToml orders those. */
function dumpSection(t: TomlTable): { text: string; subs: [string, TomlTable][] } {
  let text = "";
  const subs: [string, TomlTable][] = [];
  for (const k of Object.keys(t).sort(byCodePoint)) {
    const v = t[k] as TomlValue;
    if (isTable(v)) subs.push([quoteKey(k), v]);
    else text += `${quoteKey(k)} = ${dumpValue(v)}\n`;
  }
  return { text, subs };
}

export function dumpToml(doc: TomlTable): string {
  const top = dumpSection(doc);
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
  let sections = top.subs.sort(byName);
  while (sections.length > 0) {
    const next: [string, TomlTable][] = [];
    for (const [name, table] of sections) {
      const { text, subs } = dumpSection(table);
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

/** Line and column of `key`'s value in `[table]` (of the table header without a key), best effort. */
export function locate(text: string, table: string, key?: string): { line: number; column: number } | undefined {
  const lines = text.split("\n");
  const want = table.split(".").map((p) => p.replace(/^"|"$/g, ""));
  let inTable = table === "";
  let found: { line: number; column: number } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? "";
    const line = raw.trim();
    const header = /^\[([^[\]]+)\]/.exec(line);
    if (header) {
      const parts = (header[1] ?? "").split(".").map((p) => p.trim().replace(/^"|"$/g, ""));
      inTable = parts.length === want.length && parts.every((p, j) => p === want[j]);
      if (inTable && !found) found = { line: i + 1, column: raw.indexOf("[") + 1 };
      continue;
    }
    if (inTable && key !== undefined) {
      const m = /^\s*("?)([^"=]+)\1\s*=\s*/.exec(raw);
      if (m && (m[2] ?? "").trim() === key) return { line: i + 1, column: m[0].length + 1 };
    }
  }
  return found;
}
