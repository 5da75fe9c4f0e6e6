// Issue 18 part 1, "one output contract": every command of the CLI (the commander tree of buildProgram(), so a new
// command without a case here fails) runs with --json on success and on an error path, and its standard output is
// exactly one document valid against schema/cli/<command>.v1.json (errors: error.v1.json) with the exit code the
// document states. Host and lab commands run their error path here; their success path is validated in the e2e tests
// that run them for real (test/e2e/host-up.test.ts). Runs the built CLI (global setup builds it).
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { visibleCommands } from "../../src/cli/completion.js";
import { buildProgram } from "../../src/cli/program.js";
import { ciab, tempDir } from "../helpers/cli.js";
import { ROOT } from "../helpers/env.js";
import { documentProblems, oneDocument, SCHEMA_DIR, schemaValidators } from "../helpers/json-contract.js";

/** The commands a user runs (not the hidden `__complete`): the leaves of the tree, named as their schema ("lab up" -> "lab-up"). */
function leaves(c: Command, path: string[] = []): string[] {
  return visibleCommands(c).flatMap((s) => (s.commands.length ? leaves(s, [...path, s.name()]) : [[...path, s.name()].join("-")]));
}

interface Case {
  /** What it shows; the command line gets --json appended (or has it already). */
  title: string;
  args: (dir: string) => string[];
  input?: string;
  /** Success: the document's ok (default true) and exit code (default 0). */
  ok?: boolean;
  exit?: number;
  /** Checks on the document beyond its schema. */
  check?: (doc: Record<string, unknown>, dir: string) => void;
}

const KEY = "WE4+rOCI30T4/By6uBO1OiqOnWNTR2KJCMRhqpPXeGg=";
/** With a host or a lab only: where the success path is validated instead. */
const ELSEWHERE =
  "validated where they run for real: test/e2e/host-up.test.ts (up, down, status), test/e2e/lab-bgp.test.ts (lab test, status, down), test/integration/fleet-cli.test.ts (join, agent, status); not yet: doctor, lab up/join/etcd/exec";

const CASES: Record<string, { success: Case[] | string; errors: Case[] }> = {
  add: {
    success: [
      {
        title: "new nodes with address, VTEP, listen port, public key",
        args: () => ["add", "t", "d", "e"],
        check: (doc) => {
          const added = doc.added as { name: string; vtep: string; listenPort: number; publicKey: string }[];
          expect(added.map((n) => n.name)).toEqual(["d", "e"]);
          for (const n of added) expect(n.vtep).toMatch(/^169\.254\./);
          expect(JSON.stringify(doc)).not.toMatch(/PrivateKey|privateKey/);
        },
      },
    ],
    errors: [
      { title: "bad network name", args: () => ["add", "x\u0007y", "a"] },
      { title: "unknown option (commander)", args: () => ["add", "t", "z", "--bogus"] },
    ],
  },
  set: {
    success: [
      {
        title: "before/after per node, secrets redacted",
        args: () => ["set", "t", "vxlan-port", "4790", "node", "b", "listen-port", "50001", "private-key", KEY],
        check: (doc) => {
          const set = doc.set as { network: { key: string; before: unknown; after: unknown }[]; nodes: Record<string, { key: string; after: unknown }[]> };
          expect(set.network).toContainEqual({ key: "VxlanPort", before: 4789, after: 4790 });
          expect(set.nodes.b).toContainEqual(expect.objectContaining({ key: "ListenPort", after: 50001 }));
          expect(set.nodes.b).toContainEqual(expect.objectContaining({ key: "PrivateKey", after: "(redacted)" }));
          expect(JSON.stringify(doc)).not.toContain(KEY);
        },
      },
    ],
    errors: [{ title: "no such node", args: () => ["set", "t", "node", "zz", "listen-port", "1"] }],
  },
  del: {
    success: [
      { title: "the removed node", args: () => ["del", "t", "c"], check: (doc) => expect(doc.removed).toEqual(["c"]) },
      {
        title: "a skipped name: ok false, exit 3, still one document",
        args: () => ["del", "t", "c", "zz"],
        ok: false,
        exit: 3,
        check: (doc) => expect(doc.skipped).toEqual([expect.objectContaining({ code: "notFound" })]),
      },
    ],
    errors: [{ title: "every name skipped", args: () => ["del", "t", "zz"] }],
  },
  blacklist: {
    success: [
      {
        title: "pairs added",
        args: () => ["blacklist", "t", "add", "b", "c"],
        check: (doc) => expect((doc.blacklist as { added: unknown[] }).added).toContainEqual(["b", "c"]),
      },
    ],
    errors: [{ title: "bad operation", args: () => ["blacklist", "t", "bogus", "a", "b"] }],
  },
  show: {
    success: [
      { title: "one network: a list", args: () => ["show", "t"], check: (doc) => expect((doc.networks as unknown[]).length).toBe(1) },
      { title: "two networks: the same shape", args: () => ["show", "t", "u"], check: (doc) => expect((doc.networks as unknown[]).length).toBe(2) },
      { title: "warnings in the document", args: () => ["show", "w"], check: (doc) => expect((doc.warnings as string[]).join("\n")).toMatch(/ghost/) },
    ],
    errors: [
      { title: "no such network", args: () => ["show", "nosuch"] },
      { title: "unknown option (commander)", args: () => ["show", "t", "--bogus"] },
    ],
  },
  showconf: {
    success: [{ title: "the wg-quick file", args: () => ["showconf", "t", "a"], check: (doc) => expect(doc.config).toMatch(/^\[Interface\]$/m) }],
    errors: [
      { title: "no such node", args: () => ["showconf", "t", "zz"] },
      { title: "missing argument (commander)", args: () => ["showconf", "t"] },
    ],
  },
  zone: {
    success: [
      { title: "zone text", args: () => ["zone", "t", "example.org", "--serial", "1"] },
      {
        title: "files with --out",
        args: () => ["zone", "t", "example.org", "--serial", "1", "--out", "zones"],
        check: (_doc, dir) => expect(existsSync(join(dir, "zones", "db.example.org"))).toBe(true),
      },
    ],
    errors: [{ title: "bad --reverse", args: () => ["zone", "t", "example.org", "--reverse", "ipv5"] }],
  },
  migrate: {
    success: [{ title: "dry run", args: () => ["migrate", "t", "--dry-run"] }],
    errors: [{ title: "no such network", args: () => ["migrate", "nosuch"] }],
  },
  completion: {
    success: [
      {
        title: "the bash script",
        args: () => ["completion", "bash"],
        check: (doc) => expect(doc.script).toContain("complete -o default -F _ciab_complete ciab"),
      },
    ],
    errors: [{ title: "unknown shell", args: () => ["completion", "tcsh"] }],
  },
  genkey: { success: [{ title: "a key", args: () => ["genkey"] }], errors: [{ title: "excess argument (commander)", args: () => ["genkey", "extra"] }] },
  genpsk: { success: [{ title: "a key", args: () => ["genpsk"] }], errors: [{ title: "excess argument (commander)", args: () => ["genpsk", "extra"] }] },
  pubkey: {
    success: [{ title: "from stdin", args: () => ["pubkey"], input: `${KEY}\n` }],
    errors: [{ title: "not a key", args: () => ["pubkey"], input: "garbage\n" }],
  },
  render: {
    success: [{ title: "bundles", args: () => ["render", "t", "--out", "b"], check: (doc) => expect((doc.bundles as unknown[]).length).toBe(3) }],
    errors: [{ title: "no such network", args: () => ["render", "nosuch"] }],
  },
  graph: {
    success: [
      { title: "DOT", args: () => ["graph", "t"], check: (doc) => expect(doc.dot).toMatch(/^graph /) },
      { title: "a file", args: () => ["graph", "t", "--out", "g.dot"], check: (_doc, dir) => expect(existsSync(join(dir, "g.dot"))).toBe(true) },
    ],
    errors: [{ title: "no such network", args: () => ["graph", "nosuch"] }],
  },
  "key-init": {
    success: [{ title: "key file", args: (dir) => ["key", "init", "t", "a", "--key-dir", join(dir, "keys")] }],
    errors: [{ title: "bad network name", args: (dir) => ["key", "init", "a/b", "a", "--key-dir", join(dir, "keys")] }],
  },
  "registry-import": {
    success: [{ title: "into the directory", args: () => ["registry", "import", "t2", "t.conf"] }],
    errors: [{ title: "no such file", args: () => ["registry", "import", "t2", "nosuch.conf"] }],
  },
  "registry-export": {
    success: [
      { title: "the text", args: () => ["registry", "export", "t"], check: (doc, dir) => expect(doc.text).toBe(readFileSync(join(dir, "t.conf"), "utf8")) },
    ],
    errors: [{ title: "no such network", args: () => ["registry", "export", "nosuch"] }],
  },
  "token-create": {
    success: [{ title: "a token for a new node", args: () => ["token", "create", "t", "--node", "n9"] }],
    errors: [{ title: "bad --ttl", args: () => ["token", "create", "t", "--ttl", "99y"] }],
  },
  join: { success: ELSEWHERE, errors: [{ title: "malformed token", args: () => ["join", "etcd://127.0.0.1:1/x", "not-a-token"] }] },
  agent: { success: ELSEWHERE, errors: [{ title: "bad --lease-ttl", args: () => ["agent", "t", "a", "--lease-ttl", "1"] }] },
  up: { success: ELSEWHERE, errors: [{ title: "missing bundle", args: () => ["up", "--bundle", "/nonexistent-bundle"] }] },
  down: { success: ELSEWHERE, errors: [{ title: "missing bundle", args: () => ["down", "--bundle", "/nonexistent-bundle"] }] },
  status: { success: ELSEWHERE, errors: [{ title: "missing bundle", args: () => ["status", "--bundle", "/nonexistent-bundle"] }] },
  doctor: { success: ELSEWHERE, errors: [{ title: "missing bundle", args: () => ["doctor", "--bundle", "/nonexistent-bundle"] }] },
  "lab-up": { success: ELSEWHERE, errors: [{ title: "bad --routing", args: () => ["lab", "up", "--routing", "bogus"] }] },
  "lab-join": { success: ELSEWHERE, errors: [{ title: "no such lab", args: () => ["lab", "join", "n1", "--name", "nolab"] }] },
  "lab-etcd": { success: ELSEWHERE, errors: [{ title: "bad action", args: () => ["lab", "etcd", "bogus", "--name", "nolab"] }] },
  "lab-test": { success: ELSEWHERE, errors: [{ title: "no such lab", args: () => ["lab", "test", "--name", "nolab"] }] },
  "lab-exec": { success: ELSEWHERE, errors: [{ title: "no such lab", args: () => ["lab", "exec", "--json", "--name", "nolab", "n1", "--", "true"] }] },
  "lab-status": { success: ELSEWHERE, errors: [{ title: "no such lab", args: () => ["lab", "status", "--name", "nolab"] }] },
  "lab-down": { success: ELSEWHERE, errors: [{ title: "no such lab", args: () => ["lab", "down", "--name", "nolab"] }] },
};

let seed: string;
const dirs: string[] = [];
// The lab commands look for labs here, never in /var/lib: an empty directory of the test's own.
const env = () => ({ CIAB_LAB_ROOT: join(seed, "..", `${seed.split("/").pop()}-labs`) });

function fresh(): string {
  const dir = tempDir("ciab-json-");
  dirs.push(dir);
  cpSync(seed, dir, { recursive: true });
  return dir;
}

function run(c: Case): { code: number; stdout: string; stderr: string; dir: string } {
  const dir = fresh();
  const args = c.args(dir);
  const r = ciab(args.includes("--json") ? args : [...args, "--json"], { cwd: dir, input: c.input, env: env() });
  return { ...r, dir };
}

beforeAll(() => {
  seed = tempDir("ciab-json-seed-");
  const must = (args: string[]) => {
    const r = ciab(args, { cwd: seed });
    if (r.code !== 0) throw new Error(`${args.join(" ")}: ${r.stderr}`);
  };
  must(["add", "t", "a", "b", "c"]);
  must(["set", "t", "route-reflectors", "a", ...["a", "b", "c"].flatMap((n, i) => ["node", n, "endpoint", `198.18.0.${i + 1}:51820`])]);
  must(["add", "u", "x"]);
  must(["add", "w", "y"]);
  // A blacklist pair naming a node that does not exist: a warning (never refused), so show's document has one.
  const w = readFileSync(join(seed, "w.conf"), "utf8");
  writeFileSync(join(seed, "w.conf"), w.replace("Blacklist = []", 'Blacklist = [ [ "y", "ghost",],]'));
  if (!readFileSync(join(seed, "w.conf"), "utf8").includes("ghost")) throw new Error("w.conf: no [PeerBlacklist] to seed");
});

afterAll(() => {
  for (const d of [...dirs, seed]) rmSync(d, { recursive: true, force: true });
});

describe("the --json contract", () => {
  it("has a case for every command of the CLI, and a schema for each", () => {
    const commands = leaves(buildProgram()).sort();
    expect(commands.length).toBeGreaterThan(25);
    expect(Object.keys(CASES).sort()).toEqual(commands);
    const files = readdirSync(SCHEMA_DIR)
      .filter((f) => f.endsWith(".v1.json"))
      .map((f) => f.replace(/\.v1\.json$/, ""))
      .sort();
    expect(files).toEqual([...commands, "error"].sort());
  });

  it("the schema files are what scripts/json-schemas.mjs writes", () => {
    const r = spawnSync(process.execPath, [join(ROOT, "scripts", "json-schemas.mjs"), "--check"], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("negative control: the validator rejects a document without schema, with a wrong type, or an unknown field", () => {
    expect(documentProblems({ ok: true, privateKey: KEY })).not.toEqual([]);
    expect(documentProblems({ schema: "ciab/genkey/v1", ok: "yes", privateKey: KEY })).not.toEqual([]);
    expect(documentProblems({ schema: "ciab/genkey/v1", ok: true, privateKey: KEY, extra: 1 })).not.toEqual([]);
    expect(documentProblems({ schema: "ciab/show/v1", ok: true, networks: {}, warnings: [] })).not.toEqual([]);
    expect(documentProblems({ schema: "ciab/error/v1", ok: false, error: { code: "usage", exitCode: "2", message: "m" } })).not.toEqual([]);
    expect(documentProblems({ schema: "ciab/nosuch/v1", ok: true })).toEqual(["no schema file for 'ciab/nosuch/v1'"]);
    // and accepts the valid form of the same
    expect(documentProblems({ schema: "ciab/genkey/v1", ok: true, privateKey: KEY })).toEqual([]);
    expect(schemaValidators().size).toBe(Object.keys(CASES).length + 1);
  });

  const successes = Object.entries(CASES).flatMap(([name, c]) => (typeof c.success === "string" ? [] : c.success.map((s) => [name, s] as const)));
  it.each(successes.map(([name, c]) => [`${name}: ${c.title}`, name, c] as const))("success %s", (_t, name, c) => {
    const r = run(c);
    expect(r.code, r.stderr).toBe(c.exit ?? 0);
    const doc = oneDocument(r.stdout, `ciab/${name}/v1`);
    expect(doc.ok).toBe(c.ok ?? true);
    c.check?.(doc, r.dir);
  });

  const errors = Object.entries(CASES).flatMap(([name, c]) => c.errors.map((e) => [name, e] as const));
  it.each(errors.map(([name, c]) => [`${name}: ${c.title}`, name, c] as const))("error %s", (_t, _name, c) => {
    const r = run(c);
    const doc = oneDocument(r.stdout, "ciab/error/v1");
    const error = doc.error as { code: string; exitCode: number; message: string; hint?: string };
    expect(r.code).toBe(error.exitCode);
    expect(r.code).toBeGreaterThan(1);
    // The same message (and hint) as the text form on standard error.
    expect(r.stderr).toContain(error.message.split("\n")[0]);
    if (r.stderr.startsWith("ciab: error:") && error.hint) expect(r.stderr).toContain(`hint: ${error.hint.split("\n")[0]}`);
  });

  it("an unknown command prints the error document too", () => {
    const r = run({ title: "", args: () => ["nosuch", "--json"] });
    expect(r.code).toBe(2);
    expect((oneDocument(r.stdout, "ciab/error/v1").error as { message: string }).message).toBe("unknown command 'nosuch'");
  });

  it("counts: every command has an error case; those without a success case say where it is validated", () => {
    const without = Object.entries(CASES).filter(([, c]) => typeof c.success === "string");
    expect(without.every(([, c]) => c.success === ELSEWHERE)).toBe(true);
    expect(successes.length + errors.length).toBeGreaterThan(50);
  });
});
