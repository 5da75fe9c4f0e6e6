// vwgen's loop (`for n in …; do vwgen showconf NET $n; done`) and vwgen's scripts call one command per process, so
// start-up is most of its cost. A plain `showconf NET NODE`, `show NET…`, `add`, `set`, `del` or `blacklist` (no
// option, no registry) runs from here, a bundle of its own (dist/ciab-fast.cjs, started by boot.ts) without the
// command tree and the modules other commands need. The same functions as the full CLI do the work
// (read-commands.ts, edit-commands.ts), so output, warnings, errors and exit codes are the same; every other command
// line returns undefined and goes to the full CLI.
import { addCommand, blacklistCommand, delCommand, type EditGlobals, setCommand } from "./edit-commands.js";
import { guardStreams, reportError, takeOutputFlags } from "./output.js";
import { showCommand, showconfCommand } from "./read-commands.js";

/** Each command (boot.ts lists them too), and how many arguments its plain form has at least (at most, for showconf). */
const FAST_COMMANDS: Readonly<Record<string, { min: number; max?: number }>> = {
  show: { min: 1 },
  showconf: { min: 2, max: 2 },
  add: { min: 1 },
  set: { min: 2 },
  del: { min: 2 },
  blacklist: { min: 4 },
};
/**
 * The command line (process.argv after the program) as a plain fast command and its arguments, or undefined.
 * -q, -v and --color are taken out as the full CLI takes them (the same function, which also sets them), so they
 * need no commander; any other option, or a wrong --color (the full CLI reports it), leaves it to the full CLI.
 */
export function fastLine(words: string[]): { command: string; args: string[] } | undefined {
  let rest: string[];
  try {
    rest = takeOutputFlags(words);
  } catch {
    return undefined;
  }
  const [command = "", ...args] = rest;
  const shape = Object.hasOwn(FAST_COMMANDS, command) ? FAST_COMMANDS[command] : undefined;
  if (!shape || process.env.CIAB_REGISTRY) return undefined;
  if (args.some((a) => a === "" || a.startsWith("-"))) return undefined;
  if (args.length < shape.min || args.length > (shape.max ?? Number.POSITIVE_INFINITY)) return undefined;
  return { command, args };
}

/**
 * Runs `argv` (process.argv) when it is such a command line and returns its exit code; else undefined. `taken` is
 * called once it takes the command line, before any work (boot.ts tunes V8 for a short process there).
 */
export function runFast(argv: string[], taken?: () => void): Promise<number> | undefined {
  const line = fastLine(argv.slice(2));
  if (!line) return undefined;
  taken?.();
  const { command, args } = line;
  guardStreams();
  const dir = process.env.CIAB_DIR ?? process.cwd();
  const g: EditGlobals = { dir, json: false, lockTimeout: 10_000 };
  const [net = "", ...rest] = args;
  const run = async (): Promise<void> => {
    if (command === "showconf") showconfCommand(dir, net, rest[0] as string);
    else if (command === "show") showCommand(dir, args, {});
    else if (command === "add") await addCommand(g, net, rest);
    else if (command === "set") await setCommand(g, net, rest);
    else if (command === "del") await delCommand(g, net, rest);
    else await blacklistCommand(g, net, rest[0] as string, rest[1] as string, rest.slice(2));
  };
  return run().then(
    () => (typeof process.exitCode === "number" ? process.exitCode : 0),
    (e) => reportError(e, { debug: false, json: false }),
  );
}
