// Issue 18 part 5: the README and the CLI say the same. `readmeProblems` walks every command's --help text (the
// commander tree of buildProgram(), hidden commands aside), and names each option the README never mentions, each
// command the README's command table lacks, and each command of that table the CLI does not have.
import type { Command } from "commander";
import { visibleCommands } from "../../src/cli/completion.js";

/** Every command a user can call, with its words below the program: ["lab", "up"]. Groups included. */
export function commandPaths(c: Command, path: string[] = []): { path: string[]; cmd: Command }[] {
  return visibleCommands(c).flatMap((s) => [{ path: [...path, s.name()], cmd: s }, ...commandPaths(s, [...path, s.name()])]);
}

/** The option flags a command's --help lists (its "Options:" section): `-C`, `--dir`, `--json`, … */
export function helpFlags(cmd: Command): string[] {
  const text = cmd.helpInformation();
  const section = text.split(/\n(?=\S)/).find((s) => s.startsWith("Options:")) ?? "";
  const flags: string[] = [];
  for (const line of section.split("\n").slice(1)) {
    const m = /^ {2}(\S.*?)(?: {2,}|$)/.exec(line);
    if (!m) continue; // a wrapped description line
    for (const f of (m[1] as string).split(/,\s*/)) {
      const flag = /^(--?[A-Za-z][\w-]*)/.exec(f.trim())?.[1];
      if (flag) flags.push(flag);
    }
  }
  return flags;
}

/**
 * The command words of each entry of the README's "## Commands" table: its leading lowercase words, alternatives
 * expanded (`ciab lab up\|test NODE` gives [lab, up] and [lab, test]); readmeProblems reads them against the tree.
 */
export function tableCommands(readme: string): string[][] {
  const section = readme.split(/\n(?=## )/).find((s) => s.startsWith("## Commands")) ?? "";
  const out: string[][] = [];
  for (const row of section.split("\n").filter((l) => l.startsWith("| `"))) {
    const cell = row.slice(1, row.indexOf(" |", 2));
    for (const [, code] of cell.matchAll(/`([^`]+)`/g)) {
      const words: string[][] = [[]];
      for (const token of (code as string).replace(/^ciab /, "").split(" ")) {
        if (!/^[a-z][a-z0-9-]*(\\\|[a-z][a-z0-9-]*)*$/.test(token)) break;
        const alternatives = token.split("\\|");
        const next: string[][] = [];
        for (const w of words) for (const a of alternatives) next.push([...w, a]);
        words.splice(0, words.length, ...next);
      }
      out.push(...words.filter((w) => w.length));
    }
  }
  return out;
}

const mentions = (readme: string, flag: string): boolean => new RegExp(`(^|[^\\w-])${flag.replace(/[-]/g, "\\-")}(?![\\w-])`).test(readme);

/** Everything the README and the CLI disagree on, one sentence each; empty when they agree. */
export function readmeProblems(program: Command, readme: string): string[] {
  const problems: string[] = [];
  const paths = commandPaths(program);
  const missing = new Map<string, string[]>();
  for (const { path, cmd } of [{ path: [] as string[], cmd: program }, ...paths]) {
    for (const flag of helpFlags(cmd)) {
      if (flag === "--help" || flag === "-h" || mentions(readme, flag)) continue;
      missing.set(flag, [...(missing.get(flag) ?? []), ["ciab", ...path].join(" ")]);
    }
  }
  for (const [flag, where] of missing) {
    const shown = where.slice(0, 3).join("', '") + (where.length > 3 ? `' and ${where.length - 3} more` : "'");
    problems.push(`${flag} is not in the README ('--help' of '${shown} lists it)`);
  }
  // An entry's words name subcommands while the command has any (`lab up`); below a leaf they are its arguments.
  const listed = new Set<string>();
  for (const words of tableCommands(readme)) {
    let cmd = program;
    const path: string[] = [];
    for (const w of words) {
      if (visibleCommands(cmd).length === 0) break;
      const sub = visibleCommands(cmd).find((c) => c.name() === w);
      path.push(w);
      if (!sub) {
        problems.push(`the README's command table has 'ciab ${path.join(" ")}', which the CLI does not have`);
        break;
      }
      cmd = sub;
      listed.add(path.join(" "));
    }
  }
  for (const { path } of paths) {
    if (path.length === 1 && !listed.has(path[0] as string)) problems.push(`'ciab ${path[0]}' is not in the README's command table`);
  }
  return problems;
}
