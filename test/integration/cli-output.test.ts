// Issue 18 part 3: -q/-v/--color/NO_COLOR on both paths (the fast path of fast.ts and commander's), render's
// summary, the progress line only on a terminal (script(1) gives the command a pty), help on stdout, usage errors
// on stderr with one hint line. Runs the built CLI (global setup builds it).
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { fastLine } from "../../src/cli/fast.js";
import { ciab, type Run, tempDir } from "../helpers/cli.js";
import { CLI, hasTool, ROOT } from "../helpers/env.js";
import { MESH_DIR } from "../helpers/meshes.js";

const ESC = "\x1b[";
let dir: string;

beforeAll(() => {
  dir = tempDir("ciab-output-");
  copyFileSync(join(MESH_DIR, "rr3.conf"), join(dir, "rr3.conf"));
  chmodSync(join(dir, "rr3.conf"), 0o600);
  // A warning every read and edit repeats: n1's endpoint port is not its listen port.
  expect(ciab(["set", "rr3", "node", "n1", "listen-port", "51999"], { cwd: dir }).code).toBe(0);
});

const run = (args: string[], env: Record<string, string> = {}) => ciab(args, { cwd: dir, env });
/** The same command line on commander's path: `-C DIR` is an option the fast path does not take. */
const viaCommander = (args: string[]) => [...args, "-C", dir];

describe("the fast path takes the output options, and only those", () => {
  it.each([
    [["show", "rr3", "-q"], true],
    [["-v", "showconf", "rr3", "n1"], true],
    [["set", "rr3", "--color=never", "vxlan-port", "4790"], true],
    [["show", "rr3", "--color"], true],
    [["show", "rr3", "-C", "/x"], false],
    [["show", "rr3", "--color=sometimes"], false],
    [["show", "rr3", "--json"], false],
  ])("%j -> fast: %s", (words, fast) => {
    expect(fastLine(words as string[]) !== undefined).toBe(fast);
  });
});

// Each row: a command line, the flags, and what must hold; run on both paths, which must agree byte for byte.
interface Row {
  title: string;
  args: string[];
  env?: Record<string, string>;
  check: (r: Run) => void;
}
const WARNING = "ciab: warning: ";
const ROWS: Row[] = [
  {
    title: "show: warnings on stderr by default",
    args: ["show", "rr3"],
    check: (r) => {
      expect(r.stderr).toContain(WARNING);
      expect(r.stdout).toContain("network: rr3");
    },
  },
  {
    title: "show -q: the result, no warning",
    args: ["show", "rr3", "-q"],
    check: (r) => {
      expect(r.stderr).toBe("");
      expect(r.stdout).toContain("network: rr3");
    },
  },
  { title: "show --quiet before the command", args: ["--quiet", "show", "rr3"], check: (r) => expect(r.stderr).toBe("") },
  { title: "show -v: warnings too", args: ["show", "rr3", "-v"], check: (r) => expect(r.stderr).toContain(WARNING) },
  { title: "NO_COLOR: no colour (not a terminal anyway)", args: ["show", "rr3"], check: (r) => expect(r.stdout).not.toContain(ESC) },
  { title: "--color=always colours a pipe", args: ["show", "rr3", "--color=always"], check: (r) => expect(r.stdout).toContain(`${ESC}1mnetwork:`) },
  { title: "show --color (the old flag) is --color=always", args: ["show", "--color", "rr3"], check: (r) => expect(r.stdout).toContain(ESC) },
  {
    title: "--color=always wins over NO_COLOR (no-color.org)",
    args: ["show", "rr3", "--color=always"],
    env: { NO_COLOR: "1" },
    check: (r) => expect(r.stdout).toContain(ESC),
  },
  { title: "--color=never", args: ["show", "rr3", "--color=never"], env: { NO_COLOR: "" }, check: (r) => expect(r.stdout).not.toContain(ESC) },
  {
    title: "set -q: no 'unchanged' note, no warning, exit 0",
    args: ["set", "rr3", "-q", "vxlan-port", "4789"],
    check: (r) => {
      expect(r.code).toBe(0);
      expect(r.stderr).toBe("");
    },
  },
  {
    title: "set: the 'unchanged' note and the warning without -q",
    args: ["set", "rr3", "vxlan-port", "4789"],
    check: (r) => expect(r.stderr).toMatch(/unchanged[\s\S]*warning|warning[\s\S]*unchanged/),
  },
  {
    title: "-q keeps errors and exit codes: not found",
    args: ["show", "nosuch", "-q"],
    check: (r) => {
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/^ciab: error: unable to find mesh file/);
    },
  },
  {
    title: "-q keeps errors and exit codes: invalid value",
    args: ["set", "rr3", "-q", "node", "n1", "listen-port", "99999"],
    check: (r) => {
      expect(r.code).toBe(4);
      expect(r.stderr).toContain("ciab: error:");
    },
  },
];

describe("quiet, verbose and colour: the same on the fast path and commander's", () => {
  it.each(ROWS.map((r) => [r.title, r] as const))("%s", (_t, row) => {
    const fast = run(row.args, row.env);
    const slow = run(viaCommander(row.args), row.env);
    row.check(fast);
    row.check(slow);
    expect({ code: slow.code, stdout: slow.stdout, stderr: slow.stderr }).toEqual({ code: fast.code, stdout: fast.stdout, stderr: fast.stderr });
  });

  it("negative control: the rows tell the modes apart (default and -q differ, colour and none differ)", () => {
    expect(run(["show", "rr3"]).stderr).not.toBe(run(["show", "rr3", "-q"]).stderr);
    expect(run(["show", "rr3", "--color=always"]).stdout).not.toBe(run(["show", "rr3", "--color=never"]).stdout);
  });

  it("a bad --color is a usage error (exit 2) with a hint, also as a JSON document", () => {
    const r = run(["show", "rr3", "--color=sometimes"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--color 'sometimes' must be auto, always or never\n {2}hint: /);
    const j = run(["show", "rr3", "--color=sometimes", "--json"]);
    expect(j.code).toBe(2);
    expect(JSON.parse(j.stdout).error.code).toBe("usage");
  });
});

describe("render: a summary line, a line per bundle with -v", () => {
  it("default: one summary line with bundles, size, time and changes", () => {
    const out = tempDir("ciab-render-out-");
    const first = run(["render", "rr3", "--out", out]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^rendered 3 bundles \(\d+\.\d KiB\) in \d+\.\d s; 3 changed\n$/);
    const again = run(["render", "rr3", "--out", out]);
    expect(again.stdout).toMatch(/; 0 changed\n$/);
    expect(run(["set", "rr3", "-q", "node", "n2", "listen-port", "51998"]).code).toBe(0);
    expect(run(["render", "rr3", "--out", out]).stdout).toMatch(/; \d changed\n$/);
    expect(run(["render", "rr3", "--out", out]).stdout).toMatch(/; 0 changed\n$/);
  });

  it("-v lists every bundle, -q prints nothing, --json keeps its shape", () => {
    const out = tempDir("ciab-render-out-");
    const v = run(["render", "rr3", "--out", out, "-v"]);
    expect(v.stdout.split("\n").filter((l) => l.startsWith(join(out, "n")))).toHaveLength(3);
    expect(v.stdout).toMatch(/rendered 3 bundles/);
    const q = run(["render", "rr3", "--out", out, "-q"]);
    expect(q.code).toBe(0);
    expect(q.stdout + q.stderr).toBe("");
    const j = JSON.parse(run(["render", "rr3", "--out", out, "--json", "-v"]).stdout);
    expect(Object.keys(j)).toEqual(["schema", "ok", "network", "meshDigest", "bundles", "removed", "kept", "warnings"]);
  });
});

const sh = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
/** The command on a pseudo-terminal (stdout and stderr both the pty): what a person at a terminal sees. */
function onTty(args: string[], env: Record<string, string> = {}): string {
  const r = spawnSync("script", ["-qec", [process.execPath, CLI, ...args].map(sh).join(" "), "/dev/null"], {
    cwd: dir,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "", CIAB_PROGRESS_AFTER_MS: "0", ...env },
    timeout: 60_000,
  });
  return r.stdout;
}

describe.runIf(hasTool("script"))("on a terminal", () => {
  let big: string;
  beforeAll(() => {
    big = tempDir("ciab-big-");
    const names = Array.from({ length: 40 }, (_, i) => `n${i + 1}`);
    expect(ciab(["add", "big", ...names], { cwd: big }).code).toBe(0);
    const eps = names.flatMap((n, i) => ["node", n, "endpoint", `198.18.${i >> 8}.${(i & 255) + 1}`]);
    const r = ciab(["set", "big", "-q", ...eps], { cwd: big });
    expect(r.code, r.stderr).toBe(0);
  });
  const render = (extra: string[]) => ["-C", big, "render", "big", "--out", join(big, "out"), ...extra];

  it("render draws a progress line, then clears it and prints the summary", () => {
    const t = onTty(render([]));
    expect(t).toMatch(/\rrendering: \d+\/40 bundles written\x1b\[K/);
    expect(t).toMatch(/\r\x1b\[Krendered 40 bundles/);
  });

  it("negative controls: no progress line without a terminal, with -q, or with --json", () => {
    const piped = ciab(render([]), { cwd: big, env: { CIAB_PROGRESS_AFTER_MS: "0" } });
    expect(piped.code).toBe(0);
    expect(piped.stderr).toBe("");
    expect(piped.stdout).toMatch(/^rendered 40 bundles/);
    expect(onTty(render(["-q"]))).not.toContain("rendering:");
    expect(onTty(render(["--json"]))).not.toContain("rendering:");
  });

  it("two threads (the worker's bundles counted too): sizes and changes add up", () => {
    const out = join(big, "out2");
    const env = { CIAB_RENDER_THREADS: "2" };
    const first = ciab(["render", "big", "--out", out], { cwd: big, env });
    expect(first.stdout).toMatch(/^rendered 40 bundles \(\d+\.\d MiB\) in \d+\.\d s; 40 changed\n$/);
    const again = ciab(["render", "big", "--out", out], { cwd: big, env });
    expect(again.stdout).toMatch(/; 0 changed\n$/);
    expect(again.stdout.replace(/ in .*/, "")).toBe(first.stdout.replace(/ in .*/, ""));
  });

  it("show colours a terminal by default; NO_COLOR and --color=never turn it off", () => {
    expect(onTty(["show", "rr3"])).toContain(`${ESC}1mnetwork:`);
    expect(onTty(["show", "rr3"], { NO_COLOR: "1" })).not.toContain(ESC);
    expect(onTty(["show", "rr3", "--color=never"])).not.toContain(ESC);
    expect(onTty(["show", "rr3", "-C", dir], { NO_COLOR: "1" })).not.toContain(ESC);
  });
});

describe("help and usage errors", () => {
  it.each([[[]], [["--help"]], [["lab"]], [["registry"]], [["set", "--help"]], [["lab", "up", "--help"]]])("ciab %j: help on stdout, exit 0", (args) => {
    const r = run(args as string[]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: ciab/);
    expect(r.stderr).toBe("");
  });

  it("a usage error: stderr, exit 2, the message and one hint line (not the whole help)", () => {
    const r = run(["show", "--bogus", "rr3"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe("error: unknown option '--bogus'\n  hint: 'ciab show --help' shows the usage\n");
    const sub = run(["lab", "nosuch"]);
    expect(sub.code).toBe(2);
    expect(sub.stderr).toContain("hint: 'ciab lab --help' shows the usage");
  });
});

describe.runIf(hasTool("jq"))("the README's `--json | jq` examples", () => {
  it("run as written on a mesh called net (those that need no host)", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const lines = readme
      .split("\n")
      .filter((l) => /^ {4}ciab .*--json \| jq /.test(l) && !/ --bundle /.test(l))
      .map((l) => l.trim());
    expect(lines.length).toBeGreaterThanOrEqual(4);
    const cwd = tempDir("ciab-jq-");
    copyFileSync(join(MESH_DIR, "rr3.conf"), join(cwd, "net.conf"));
    chmodSync(join(cwd, "net.conf"), 0o600);
    const bin = join(cwd, "bin");
    mkdirSync(bin);
    writeFileSync(join(bin, "ciab"), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"\n`, { mode: 0o755 });
    for (const line of lines) {
      const r = spawnSync("bash", ["-o", "pipefail", "-c", line], { cwd, encoding: "utf8", env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
      const expectedExit = line.includes("nosuch") ? 3 : 0; // the error example: the document, then ciab's exit 3
      expect(r.status, `${line}\n${r.stderr}`).toBe(expectedExit);
      expect(r.stdout.trim(), line).not.toBe("");
      expect(r.stdout, line).not.toContain("null");
    }
  });
});
