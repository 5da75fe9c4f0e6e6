// Issue 18 part 4: `ciab completion bash` sourced into a real bash, its function called as bash calls it on <Tab>
// (COMP_WORDS, COMP_CWORD), COMPREPLY checked: commands (from buildProgram(), so none can be missing), options,
// set's directives, networks (the *.conf files of the directory, or of -C DIR) and the network's node names.
// zsh and fish scripts are syntax-checked where those shells are installed. Runs the built CLI.
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { visibleCommands } from "../../src/cli/completion.js";
import { buildProgram } from "../../src/cli/program.js";
import { SET_DIRECTIVES } from "../../src/model/edit.js";
import { ciab, tempDir } from "../helpers/cli.js";
import { CLI, hasTool, ROOT } from "../helpers/env.js";
import { MESH_DIR } from "../helpers/meshes.js";

let dir: string;
let bin: string;
let elsewhere: string;

beforeAll(() => {
  dir = tempDir("ciab-complete-");
  for (const net of ["rr3", "other"]) {
    copyFileSync(join(MESH_DIR, "rr3.conf"), join(dir, `${net}.conf`));
    chmodSync(join(dir, `${net}.conf`), 0o600);
  }
  writeFileSync(join(dir, "notes.txt"), "not a mesh\n");
  elsewhere = tempDir("ciab-complete-other-");
  copyFileSync(join(MESH_DIR, "rr5-blacklist.conf"), join(elsewhere, "far.conf"));
  chmodSync(join(elsewhere, "far.conf"), 0o600);
  // `ciab` on PATH, as the script calls it
  bin = join(tempDir("ciab-complete-bin-"), "bin");
  mkdirSync(bin);
  writeFileSync(join(bin, "ciab"), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"\n`, { mode: 0o755 });
});

/** What bash offers for the command line `line` (completing its last word; a trailing space starts a new one). */
function complete(line: string, cwd = dir): string[] {
  const words = line.split(" ");
  const script = [
    "source <(ciab completion bash) || exit 9",
    `COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")})`,
    `COMP_CWORD=${words.length - 1}`,
    "_ciab_complete",
    `printf "%s\\n" "\${COMPREPLY[@]}"`,
  ].join("\n");
  const r = spawnSync("bash", ["--norc", "--noprofile", "-c", script], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    timeout: 30_000,
  });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split("\n").filter((l) => l !== "");
}

describe("bash completion", () => {
  it("commands: every command of the tree (and no hidden one)", () => {
    const all = visibleCommands(buildProgram()).map((c) => c.name());
    expect(complete("ciab ").sort()).toEqual([...all].sort());
    expect(all).toContain("completion");
    expect(complete("ciab ")).not.toContain("__complete");
    expect(complete("ciab s")).toEqual(["set", "show", "showconf", "status"]);
    expect(complete("ciab lab ")).toEqual(["up", "join", "etcd", "test", "exec", "status", "down"]);
  });

  it("options of the command, the common ones included", () => {
    expect(complete("ciab render rr3 --o")).toEqual(["--out"]);
    expect(complete("ciab show rr3 --")).toEqual(expect.arrayContaining(["--show-keys", "--json", "--quiet", "--verbose", "--color", "--help"]));
  });

  it("networks: the *.conf files here, or in -C DIR", () => {
    expect(complete("ciab show ")).toEqual(["other", "rr3"]);
    expect(complete("ciab render r")).toEqual(["rr3"]);
    expect(complete(`ciab -C ${elsewhere} show `)).toEqual(["far"]);
    expect(complete(`ciab showconf -C ${elsewhere} `)).toEqual(["far"]);
  });

  it("node names of the given network", () => {
    expect(complete("ciab showconf rr3 ")).toEqual(["n1", "n2", "n3"]);
    expect(complete("ciab del rr3 n")).toEqual(["n1", "n2", "n3"]);
    expect(complete("ciab blacklist rr3 add n1 ")).toEqual(["n1", "n2", "n3"]);
    expect(complete(`ciab -C ${elsewhere} showconf far `)).toHaveLength(5);
  });

  it("set: directives, node names after 'node', nothing for a value", () => {
    expect(complete("ciab set rr3 ").sort()).toEqual(["node", ...SET_DIRECTIVES].sort());
    expect(complete("ciab set rr3 pool")).toEqual(["pool-ipv4", "pool-ipv6"]);
    expect(complete("ciab set rr3 node ")).toEqual(["n1", "n2", "n3"]);
    expect(complete("ciab set rr3 node n2 list")).toEqual(["listen-port"]);
    expect(complete("ciab set rr3 node n2 listen-port ")).toEqual([]);
    expect(complete("ciab set rr3 node n2 upnp end")).toEqual(["endpoint"]);
    expect(complete("ciab completion ")).toEqual(["bash", "zsh", "fish"]);
  });

  it("negative controls: no network files, an unknown network, a broken file complete nothing", () => {
    const empty = tempDir("ciab-complete-empty-");
    expect(complete("ciab show ", empty)).toEqual([]);
    expect(complete("ciab showconf nosuch ")).toEqual([]);
    writeFileSync(join(empty, "bad.conf"), "[Node.x\n");
    expect(complete("ciab showconf bad ", empty)).toEqual([]);
    expect(complete("ciab zzz")).toEqual([]);
  });
});

describe("the scripts", () => {
  it("an unknown shell is a usage error", () => {
    const r = ciab(["completion", "tcsh"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown shell 'tcsh'");
  });
  it("bash: the script parses (bash -n)", () => {
    const r = spawnSync("bash", ["-n"], { input: ciab(["completion", "bash"], { cwd: dir }).stdout, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
  });
  it.runIf(hasTool("zsh"))("zsh: the script parses (zsh -n)", () => {
    const r = spawnSync("zsh", ["-n"], { input: ciab(["completion", "zsh"], { cwd: dir }).stdout, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
  });
  it.runIf(hasTool("fish"))("fish: the script parses (fish -n)", () => {
    // a file: fish -n does not read a script from a pipe here ("Unable to read input file")
    const file = join(dir, "syntax.fish");
    writeFileSync(file, ciab(["completion", "fish"], { cwd: dir }).stdout);
    const r = spawnSync("fish", ["-n", file], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
  });
  it.runIf(hasTool("fish"))("fish: completes commands, networks, node names and directives (complete -C)", () => {
    const script = join(dir, "ciab.fish");
    writeFileSync(script, ciab(["completion", "fish"], { cwd: dir }).stdout);
    const fish = (line: string): string[] => {
      const r = spawnSync("fish", ["--no-config", "-c", `source ${script}; complete -C ${JSON.stringify(line)}`], {
        cwd: dir,
        encoding: "utf8",
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
        timeout: 30_000,
      });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => l.split("\t")[0] as string);
    };
    expect(fish("ciab sh")).toEqual(["show", "showconf"]);
    expect(fish("ciab showconf ")).toEqual(["other", "rr3"]);
    expect(fish("ciab showconf rr3 ")).toEqual(["n1", "n2", "n3"]);
    expect(fish("ciab set rr3 node n1 listen")).toEqual(["listen-port"]);
    expect(fish("ciab showconf nosuch ")).toEqual([]);
  });
  it("each program's script completes that program: ciab's ciab, vwgen's vwgen", () => {
    expect(ciab(["completion", "bash"], { cwd: dir }).stdout).toContain("complete -o default -F _ciab_complete ciab\n");
    const v = spawnSync(join(ROOT, "bin", "vwgen"), ["completion", "bash"], { cwd: dir, encoding: "utf8" });
    expect(v.stdout).toContain("complete -o default -F _vwgen_complete vwgen\n");
    expect(v.stdout).toContain("vwgen __complete");
  });
});
