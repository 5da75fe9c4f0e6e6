// bin/ciab and bin/vwgen, the sh starters a user runs (through npm's symlinks): the name selects the wording, and
// NODE_EXTRA_CA_CERTS is moved aside only for the commands that open no TLS connection, then handed back to every
// program ciab starts. Node warns at start-up when that file cannot be read: the warning shows whether Node got it.
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ciab, tempDir } from "../helpers/cli.js";
import { ROOT } from "../helpers/env.js";

const dir = tempDir("ciab-starter-");
const binDir = join(dir, "node_modules", ".bin");
mkdirSync(binDir, { recursive: true });
symlinkSync(join(ROOT, "bin", "ciab"), join(binDir, "ciab"));
symlinkSync(join(ROOT, "bin", "vwgen"), join(binDir, "vwgen"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MISSING_CA = join(dir, "no-such-ca.pem");
const NODE_WARNS = /extra certs/i;

function run(prog: string, args: string[], env: Record<string, string | undefined> = {}) {
  const r = spawnSync(join(binDir, prog), args, { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1", ...env }, timeout: 30_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe("the starters", () => {
  it("run through a symlink, as npm installs them, and the name selects the wording", () => {
    expect(ciab(["add", "t", "a", "b"], { cwd: dir, env: { CIAB_INSECURE_TEST_SEED: "starter" } }).code).toBe(0);
    const v = run("vwgen", []);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^Usage: vwgen /);
    const c = run("ciab", []);
    expect(c.stdout).toMatch(/^Usage: ciab /);
    expect(run("ciab", ["showconf", "t", "a"]).stdout).toMatch(/^# Network t/);
  });

  it("a mesh-file command does not make Node load NODE_EXTRA_CA_CERTS; other commands and registry calls do", () => {
    const env = { NODE_EXTRA_CA_CERTS: MISSING_CA, CIAB_REGISTRY: undefined };
    const show = run("ciab", ["show", "t"], env);
    expect(show.code).toBe(0);
    expect(show.stderr).not.toMatch(NODE_WARNS);
    // negative controls: Node does warn when it gets the variable
    expect(run("ciab", ["status", "--help"], env).stderr).toMatch(NODE_WARNS);
    expect(run("ciab", ["show", "t", "--registry", dir], env).stderr).toMatch(NODE_WARNS);
    expect(run("ciab", ["show", "t"], { ...env, CIAB_REGISTRY: dir }).stderr).toMatch(NODE_WARNS);
  });

  it("the programs ciab starts get NODE_EXTRA_CA_CERTS back, and no starter variable", () => {
    // a `dot` of our own on PATH records its environment (graph --out FILE.svg runs dot)
    const tools = join(dir, "tools");
    mkdirSync(tools, { recursive: true });
    const envFile = join(dir, "dot-env.txt");
    writeFileSync(join(tools, "dot"), `#!/bin/sh\nenv > '${envFile}'\ncat >/dev/null\necho '<svg/>'\n`);
    chmodSync(join(tools, "dot"), 0o755);
    const r = run("ciab", ["graph", "t", "--out", join(dir, "t.svg")], { NODE_EXTRA_CA_CERTS: MISSING_CA, PATH: `${tools}:${process.env.PATH}` });
    expect(r.stderr).not.toMatch(NODE_WARNS);
    expect(r.code).toBe(0);
    const seen = readFileSync(envFile, "utf8");
    expect(seen).toContain(`NODE_EXTRA_CA_CERTS=${MISSING_CA}\n`);
    expect(seen).not.toMatch(/^CIAB_(EXTRA_CA_CERTS|PROG)=/m);
  });
});

describe("the small bundle for vwgen's plain commands (src/cli/fast.ts)", () => {
  // `--lock-timeout` changes nothing in these outputs and sends the command line to the whole CLI: the paths must agree
  // byte for byte, warnings, errors and exit codes included.
  const both = (args: string[]) => [ciab(args, { cwd: dir }), ciab([...args, "--lock-timeout=10000"], { cwd: dir })];
  it.each([
    [["showconf", "t", "a"]],
    [["show", "t"]],
    [["show", "t", "t"]],
    [["showconf", "t", "nope"]],
    [["showconf", "missing", "a"]],
    [["show", "bad/../name"]],
  ])("%j", (args) => {
    const [fast, full] = both(args);
    expect(fast).toEqual(full);
  });
  it("a mesh with warnings warns the same on both paths", () => {
    expect(ciab(["set", "t", "node", "b", "endpoint", "[2001:db8::1]:51820", "node", "a", "endpoint", "198.18.0.1:51820"], { cwd: dir }).code).toBe(0);
    const conf = join(dir, "t.conf");
    writeFileSync(conf, readFileSync(conf, "utf8").replace(/^(\[Node\.a\]\n)/m, '$1LinkLayerAddr = "169.254.1.1/16"\n'));
    const [fast, full] = both(["showconf", "t", "a"]);
    expect(fast?.stderr).toMatch(/warning: .*LinkLayerAddr/);
    expect(fast).toEqual(full);
  });

  it("runs them alone: without the whole CLI's bundle they work, and the same command with an option fails", () => {
    // a copy of the starter and the small bundle only: the negative control shows that the copy really lacks the rest
    const only = join(dir, "only-fast");
    mkdirSync(only);
    for (const f of ["ciab-boot.cjs", "ciab-fast.cjs"]) copyFileSync(join(ROOT, "dist", f), join(only, f));
    const boot = (args: string[]) =>
      spawnSync(process.execPath, [join(only, "ciab-boot.cjs"), ...args], {
        cwd: dir,
        encoding: "utf8",
        env: { ...process.env, CIAB_INSECURE_TEST_SEED: "starter" },
      });
    for (const args of [
      ["add", "f", "a", "b", "c"],
      ["set", "f", "route-reflectors", "c", "node", "a", "listen-port", "51899"],
      ["blacklist", "f", "add", "a", "b"],
      ["showconf", "f", "a"],
      ["show", "f"],
      ["del", "f", "b"],
    ]) {
      const r = boot(args);
      expect(r.status, `${args.join(" ")}: ${r.stderr}`).toBe(0);
    }
    const full = boot(["showconf", "f", "a", "--lock-timeout=10000"]);
    expect(full.status).not.toBe(0);
    expect(full.stderr).toMatch(/ciab\.cjs/);
  });

  it.each([
    [["add", "e", "a", "b", "c"]],
    [["add", "e", "b", "d"]], // b is there: skipped, d added, exit code of the skip
    [["add", "e", "d"]], // unchanged
    [["set", "e", "node", "a", "endpoint", "198.18.0.1:51820", "listen-port", "51820"]],
    [["set", "e", "node", "a", "endpiont", "198.18.0.1:51820"]], // refused: nothing written
    [["set", "e", "node", "a", "addr", "169.254.169.5/24"]], // refused: introduces a hazard
    [["blacklist", "e", "add", "a", "b", "nope"]],
    [["blacklist", "e", "del", "a", "b"]],
    [["del", "e", "c", "nope"]],
    [["del", "missing", "a"]],
  ])("an edit: %j gives the same output, exit code and file on both paths", (args) => {
    // one directory (messages name it), each path's mesh file kept aside between the steps
    const work = join(dir, "edit");
    mkdirSync(work, { recursive: true });
    const conf = join(work, `${args[1]}.conf`);
    const env = { CIAB_INSECURE_TEST_SEED: `edit-${args.join(" ")}` };
    const step = (path: "fast" | "full") => {
      const kept = join(dir, `edit-${path}.conf`);
      rmSync(conf, { force: true });
      if (existsSync(kept)) copyFileSync(kept, conf);
      const r = ciab(path === "fast" ? args : [...args, "--lock-timeout=10000"], { cwd: work, env });
      if (existsSync(conf)) copyFileSync(conf, kept);
      return { ...r, file: existsSync(conf) ? readFileSync(conf, "utf8") : undefined };
    };
    const fast = step("fast");
    expect(fast).toEqual(step("full"));
  });
});
