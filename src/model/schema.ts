// The one schema of the mesh file: every key ciab knows, in which table, of which TOML type. Pure; no I/O.
// Applied on load (with file:line:column) and before every edit, so no command ever works on a value of the wrong
// type, and no value that reaches a rendered file (wg-quick, `ip -batch`, FRR, BIRD) can carry a newline or another
// control character that would start a directive of its own there. Unknown keys are kept (vwgen's rule), but a near
// miss of a known one ("Endpiont") gets a "did you mean" warning. Semantic checks live in mesh.ts and validate.ts.
import type { Phase, Problem } from "./errors.js";
import { closest } from "./suggest.js";
import { isTomlFloat, locate, type TomlTable, type TomlValue } from "./toml.js";

export type Kind = "int" | "bool" | "string" | "strings" | "pairs";

export const NETWORK_KEYS: Readonly<Record<string, Kind>> = {
  AddressPoolIPv4: "string",
  AddressPoolIPv6: "string",
  VxlanID: "int",
  VxlanMTU: "int",
  VxlanPort: "int",
  Routing: "string",
  RoutingDaemon: "string",
  ASN: "int",
  RouteReflectors: "strings",
  BFD: "bool",
  BFDInterval: "int",
  BFDMultiplier: "int",
  BGPKeepalive: "int",
  BGPHold: "int",
  OSPFHello: "int",
  OSPFDead: "int",
  OSPFCost: "int",
  UnderlayMTU: "int",
  MTUMode: "string",
  PresharedKeys: "bool",
  MSSClamp: "bool",
  BGPPassword: "string",
  STUNServers: "strings",
};

export const NODE_KEYS: Readonly<Record<string, Kind>> = {
  Address: "strings",
  AllowedIPs: "strings",
  Endpoint: "string",
  FwMark: "int",
  LinkLayerAddress: "strings",
  ListenPort: "int",
  PersistentKeepalive: "int",
  PreUp: "strings",
  PostUp: "strings",
  PreDown: "strings",
  PostDown: "strings",
  PrivateKey: "string",
  PublicKey: "string",
  SaveConfig: "bool",
  UPnP: "bool",
  Subnets: "strings",
  DiscoverLXD: "bool",
  NAT: "string",
  Relay: "string",
};

const TOP_TABLES = ["Network", "Node", "PeerBlacklist", "PresharedKeys"];

export interface SchemaCtx {
  file: string;
  /** The file's text, for line and column; edits validate a document without one. */
  text?: string;
}

/** A problem located at [table] key: "file:line:column: [table] key: message". */
export function located(ctx: SchemaCtx, phase: Phase, table: string, key: string | undefined, message: string, hint?: string, node?: string): Problem {
  const pos = ctx.text === undefined ? undefined : locate(ctx.text, table, key);
  const at = pos === undefined ? ctx.file : `${ctx.file}:${pos.line}:${pos.column}`;
  const field = key === undefined ? `[${table}]` : table === "" ? key : `[${table}] ${key}`;
  return {
    phase,
    message: `${at}: ${field}: ${message}`,
    hint,
    where: { file: ctx.file, line: pos?.line, column: pos?.column, table: table || undefined, key, node },
  };
}

/** What a value is, for messages; strings are never quoted here (they may be keys). */
export const describeType = (v: unknown): string =>
  typeof v === "string"
    ? "a string"
    : Array.isArray(v)
      ? "an array"
      : typeof v === "number"
        ? Number.isInteger(v)
          ? "an integer"
          : "a float"
        : typeof v === "bigint"
          ? "an integer"
          : typeof v === "boolean"
            ? "a boolean"
            : v instanceof Date
              ? "a date"
              : "a table";

export const isTable = (v: unknown): v is TomlTable => typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);

// C0 and C1 controls, DEL and the Unicode line separators: each can end a line or a directive in some consumer.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Position (1-based) of the first control character in `s`, or 0. */
export const controlAt = (s: string): number => {
  const m = CONTROL.exec(s);
  return m ? m.index + 1 : 0;
};

const CONTROL_HINT = "remove it: values are copied into rendered files (wg-quick, ip -batch, FRR), where a newline starts a directive of its own";

/**
 * The known key `key` probably meant: same letters ignoring case, or within 2 edits (1 for short keys). Tighter than
 * the `set` directives' limit: a vwgen file's own keys (`LinkLayerAddr`, 3 edits from LinkLayerAddress) get no
 * "did you mean" of their own.
 */
export const nearMiss = (key: string, known: readonly string[]): string | undefined =>
  closest(key, known, { ignoreCase: true, max: 1, prefixes: false, limit: (a, b) => (Math.min(a.length, b.length) <= 4 ? 1 : 2) })[0];

class Checker {
  readonly problems: Problem[] = [];
  constructor(readonly ctx: SchemaCtx) {}

  add(phase: Phase, table: string, key: string | undefined, message: string, hint?: string, node?: string): void {
    this.problems.push(located(this.ctx, phase, table, key, message, hint, node));
  }

  text(table: string, key: string, s: string, node?: string, what = "contains"): boolean {
    const at = controlAt(s);
    if (at === 0) return true;
    this.add("load", table, key, `${what} a control character (newline, NUL, …) at character ${at}`, CONTROL_HINT, node);
    return false;
  }

  value(table: string, t: TomlTable, key: string, kind: Kind, node?: string): void {
    const v = t[key];
    if (v === undefined) return;
    const wrong = (want: string) => this.add("load", table, key, `must be ${want}, got ${describeType(v)}`, undefined, node);
    switch (kind) {
      case "int":
        // TOML keeps integers and floats apart (`1e3` and `1000.0` are floats): so does ciab.
        if (isTomlFloat(t, key))
          this.add("load", table, key, "must be a TOML integer, got a float (TOML reads 1e3 and 1000.0 as floats)", "write the digits only, e.g. 1000", node);
        else if (typeof v !== "number" && typeof v !== "bigint") wrong("a TOML integer");
        return;
      case "bool":
        if (typeof v !== "boolean") wrong("true or false");
        return;
      case "string":
        if (typeof v !== "string") wrong("a string");
        else this.text(table, key, v, node);
        return;
      case "strings":
        if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) wrong("an array of strings");
        else (v as string[]).every((x, i) => this.text(table, key, x, node, `element ${i + 1} contains`));
        return;
      case "pairs":
        if (!Array.isArray(v)) {
          wrong("an array of [node, node] pairs");
          return;
        }
        v.forEach((pair, i) => {
          if (!Array.isArray(pair) || pair.length !== 2 || pair.some((x) => typeof x !== "string"))
            this.add(
              "load",
              table,
              key,
              `entry ${i + 1} must be a pair of node names, got ${describeType(pair)}${Array.isArray(pair) ? ` of ${pair.length}` : ""}`,
            );
          else (pair as string[]).every((x) => this.text(table, key, x, undefined, `entry ${i + 1} contains`));
        });
        return;
    }
  }

  table(table: string, t: TomlTable, keys: Readonly<Record<string, Kind>>, node?: string): void {
    const known = Object.keys(keys);
    for (const key of Object.keys(t)) {
      const kind = keys[key];
      if (kind) this.value(table, t, key, kind, node);
      else this.unknown(table, key, known, node);
    }
  }

  unknown(table: string, key: string, known: readonly string[], node?: string): void {
    const guess = nearMiss(key, known);
    if (guess) this.add("warning", table, key, `unknown key (did you mean '${guess}'?); it is kept but not used`, `rename it to ${guess}`, node);
  }

  /** `parent.key` must be a table when present. */
  sub(parent: string, owner: TomlTable, key: string): TomlTable | undefined {
    const v = owner[key];
    if (v === undefined) return undefined;
    if (!isTable(v)) {
      this.add("load", parent, key, `must be a table [${parent ? `${parent}.` : ""}${key}], got ${describeType(v)}`);
      return undefined;
    }
    return v;
  }
}

/** Type and syntax problems of a mesh document ("load"), plus "did you mean" warnings. Never throws. */
export function schemaProblems(doc: TomlTable, ctx: SchemaCtx): Problem[] {
  const c = new Checker(ctx);
  for (const key of Object.keys(doc)) if (!TOP_TABLES.includes(key)) c.unknown("", key, TOP_TABLES);
  const net = c.sub("", doc, "Network");
  if (net) c.table("Network", net, NETWORK_KEYS);
  const nodes = c.sub("", doc, "Node");
  for (const name of Object.keys(nodes ?? {})) {
    if (!c.text("Node", name, name, name, "node name contains")) continue;
    const t = c.sub("Node", nodes as TomlTable, name);
    if (t) c.table(`Node.${name}`, t, NODE_KEYS, name);
  }
  const bl = c.sub("", doc, "PeerBlacklist");
  if (bl) c.table("PeerBlacklist", bl, { Blacklist: "pairs" });
  const psk = c.sub("", doc, "PresharedKeys");
  for (const [pair, v] of Object.entries(psk ?? {})) {
    if (typeof v !== "string") c.add("load", "PresharedKeys", pair, `must be a string (a pre-shared key), got ${describeType(v as TomlValue)}`);
    else c.text("PresharedKeys", pair, pair, undefined, "pair name contains") && c.text("PresharedKeys", pair, v);
  }
  return c.problems;
}
