// vwgen's loop (`for n in …; do vwgen showconf NET $n; done`) calls one read command per process, so start-up is
// most of its cost. A plain `showconf NET NODE` or `show NET…` (no option, no registry) runs from here, a bundle of
// its own (dist/ciab-fast.cjs, started by boot.ts) without the command tree and the modules other commands need.
// The same functions as the full CLI do the work (read-commands.ts), so output, warnings, errors and exit codes are
// the same; every other command line returns undefined and goes to the full CLI.
import { guardStreams, reportError } from "./output.js";
import { showCommand, showconfCommand } from "./read-commands.js";

const FAST_COMMANDS = new Set(["show", "showconf"]); // boot.ts loads this bundle for these only

/** Runs `argv` (process.argv) when it is such a command line and returns its exit code; else undefined. */
export function runFast(argv: string[]): number | undefined {
  const [command, ...args] = argv.slice(2);
  if (!command || !FAST_COMMANDS.has(command) || process.env.CIAB_REGISTRY) return undefined;
  if (args.some((a) => a === "" || a.startsWith("-"))) return undefined;
  if (command === "showconf" ? args.length !== 2 : args.length === 0) return undefined;
  guardStreams();
  const dir = process.env.CIAB_DIR ?? process.cwd();
  try {
    if (command === "showconf") showconfCommand(dir, args[0] as string, args[1] as string);
    else showCommand(dir, args, {});
    return 0;
  } catch (e) {
    return reportError(e, { debug: false, json: false });
  }
}
