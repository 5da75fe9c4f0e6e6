// Issue 18 part 5: every option any command's --help lists is in the README, every command is in the README's
// command table, and every command of that table exists (test/helpers/readme-check.ts walks buildProgram()).
// Negative controls: a README without an option, with a command the CLI lacks, or without a command's row fails.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildProgram } from "../../src/cli/program.js";
import { ROOT } from "../helpers/env.js";
import { commandPaths, helpFlags, readmeProblems, tableCommands } from "../helpers/readme-check.js";

const README = readFileSync(join(ROOT, "README.md"), "utf8");

describe("README and --help agree", () => {
  it("no option, command or table entry is missing on either side", () => {
    expect(readmeProblems(buildProgram(), README)).toEqual([]);
  });

  it("the walk sees what --help shows: every command, their own options and the common ones", () => {
    const paths = commandPaths(buildProgram()).map((p) => p.path.join(" "));
    expect(paths).toEqual(expect.arrayContaining(["show", "lab up", "registry import", "completion"]));
    expect(paths).not.toContain("__complete");
    const render = commandPaths(buildProgram()).find((p) => p.path.join(" ") === "render")?.cmd;
    expect(render && helpFlags(render)).toEqual(expect.arrayContaining(["--out", "--node", "-C", "--dir", "--json", "-q", "--quiet", "--color", "--help"]));
    expect(tableCommands(README)).toEqual(expect.arrayContaining([["lab", "up"], ["lab", "down"], ["registry", "export"], ["genpsk"]]));
  });

  // The controls change one thing each in the real README and expect exactly that to be reported.
  const withoutWord = (word: string) => README.replace(new RegExp(`(^|[^\\w-])${word}(?![\\w-])`, "g"), "$1");
  it.each([
    ["a command's own option (render --out)", withoutWord("--out"), /^--out is not in the README \('--help' of .*'ciab render'/],
    [
      "a common option (--quiet)",
      withoutWord("--quiet"),
      /^--quiet is not in the README \('--help' of 'ciab', 'ciab add', 'ciab set' and \d+ more lists it\)$/,
    ],
    ["a short flag (-C)", withoutWord("-C"), /^-C is not in the README/],
  ])("negative control: a README without %s fails", (_t, readme, says) => {
    const problems = readmeProblems(buildProgram(), readme);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.some((p) => says.test(p))).toBe(true);
  });

  it("negative control: a table entry the CLI does not have fails (a command, a subcommand)", () => {
    const row = "| `ciab genkey`, `genpsk`, `pubkey` |";
    expect(README).toContain(row);
    const extra = README.replace(row, `| \`ciab frobnicate NET\` | x |\n| \`ciab lab fly NODE\` | y |\n${row}`);
    expect(readmeProblems(buildProgram(), extra)).toEqual([
      "the README's command table has 'ciab frobnicate', which the CLI does not have",
      "the README's command table has 'ciab lab fly', which the CLI does not have",
    ]);
  });

  it("negative control: a command without its table row fails", () => {
    const row = README.split("\n").find((l) => l.startsWith("| `ciab completion"));
    expect(row).toBeDefined();
    const problems = readmeProblems(buildProgram(), README.replace(`${row}\n`, ""));
    expect(problems).toContain("'ciab completion' is not in the README's command table");
  });
});
