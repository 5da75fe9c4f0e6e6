// The only place that writes to the terminal: results, warnings, errors with hints. Secrets never pass through
// here except when the user asked for them (genkey, show --show-keys).
import { describeCause } from "../adapters/files.js";
import { CiabError, EXIT, usage } from "../model/errors.js";

/** How much a command says besides its result (README "Global options"): -q errors only, -v more detail. */
export type Verbosity = "quiet" | "normal" | "verbose";
/** `--color=WHEN`: auto colours a terminal unless NO_COLOR is set (non-empty); always and never override it. */
export type ColorMode = "auto" | "always" | "never";

const settings: { verbosity: Verbosity; color: ColorMode; json: boolean } = { verbosity: "normal", color: "auto", json: false };

export const verbosity = (): Verbosity => settings.verbosity;

/**
 * The output options, taken out of the command line before anything parses it (main.ts for commander, fast.ts for
 * the fast path: both then behave the same): `-q`/`--quiet`, `-v`/`--verbose` (the last one given wins),
 * `--color[=WHEN]` (bare `--color`, also `show --color`, is `always`; only the `=` form takes a value, so it never
 * takes a network name). Anything after `--` is left alone (`lab exec NODE -- CMD -v`). `--json` stays in the
 * command line (every command reads it) and is noted here. Returns the command line without those options.
 */
export function takeOutputFlags(argv: string[]): string[] {
  if (argv[0] === "__complete") return argv; // the words being completed, as the shell gave them
  const rest: string[] = [];
  let end = false;
  for (const a of argv) {
    if (end || a === "--") {
      end = true;
      rest.push(a);
    } else if (a === "-q" || a === "--quiet") settings.verbosity = "quiet";
    else if (a === "-v" || a === "--verbose") settings.verbosity = "verbose";
    else if (a === "--color") settings.color = "always";
    else if (a.startsWith("--color=")) {
      const when = a.slice("--color=".length);
      if (when !== "auto" && when !== "always" && when !== "never") throw usage(`--color '${when}' must be auto, always or never`, "e.g. --color=never");
      settings.color = when;
    } else {
      if (a === "--json") settings.json = true;
      rest.push(a);
    }
  }
  return rest;
}

/** Whether to colour what goes to `stream`: the one decision every colouring output asks (README "Global options"). */
export function useColor(stream: { isTTY?: boolean } = process.stdout): boolean {
  if (settings.color !== "auto") return settings.color === "always";
  return stream.isTTY === true && !process.env.NO_COLOR;
}

export const out = (text: string): void => {
  process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
};

/** The command whose document `json()` prints, as its schema names it (`lab up` -> "lab-up"); main.ts sets it. */
let command = "ciab";
/** Whether a document went to standard output: a command prints one, so a later error adds none (README). */
let printed = false;
/** Whether the command prints a stream (one document per line): its error document is then one line too. */
let streamed = false;

export const setJsonCommand = (path: string): void => {
  command = path;
};

/** The schema of a command's documents: `ciab/<command path joined by "-">/v1` (README "Machine-readable output"). */
export const schemaOf = (path: string): string => `ciab/${path}/v1`;

const replacer = (_k: string, v: unknown) => (typeof v === "bigint" ? v.toString() : v instanceof Set ? [...v] : v instanceof Map ? Object.fromEntries(v) : v);

/** A command's document: `schema` and `ok` (true unless the value says) first, then the value's fields. */
function document(value: object): Record<string, unknown> {
  const v = value as Record<string, unknown>;
  return { schema: schemaOf(command), ok: typeof v.ok === "boolean" ? v.ok : true, ...v };
}

/** The command's one JSON document on standard output. */
export const json = (value: object): void => {
  printed = true;
  out(JSON.stringify(document(value), replacer, 2));
};

/** One document of a stream (`agent --json`, `up --watch --json`): one line each, each with its schema. */
export const jsonLine = (value: object): void => {
  streamed = true;
  process.stdout.write(`${JSON.stringify(document(value), replacer)}\n`);
};

/** A warning on standard error (not with -q; a JSON document still lists it). */
export const warn = (text: string): void => {
  if (settings.verbosity === "quiet") return;
  clearActive?.();
  process.stderr.write(`ciab: warning: ${text}\n`);
};

/** A command's warnings: each is said on standard error (warn) and kept for its JSON document's `warnings`. */
export function collectWarnings(): { list: string[]; warn: (text: string) => void } {
  const list: string[] = [];
  return {
    list,
    warn: (text) => {
      list.push(text);
      warn(text);
    },
  };
}

/** A line for people on standard error: what happened besides the result ("unchanged"); not with -q. */
export const info = (text: string): void => {
  if (settings.verbosity === "quiet") return;
  clearActive?.();
  process.stderr.write(`${text}\n`);
};

/** Detail only -v asks for (render's line per bundle, lab up's phases), on standard output or error. */
export const detail = (text: string, stream: "stdout" | "stderr" = "stderr"): void => {
  if (settings.verbosity === "verbose") (stream === "stdout" ? out : info)(text);
};

/** Clears the progress line on the terminal, if one is drawn, so a warning or an error starts on a clean line. */
let clearActive: (() => void) | undefined;

/** A progress line: updated in place, then cleared. */
export interface ProgressLine {
  update(text: string): void;
  end(): void;
}

/**
 * A progress line on standard error, for work that may take seconds (render of a large mesh, lab up): only on a
 * terminal, not with -q or --json. It is first drawn once the work has taken `afterMs` (default
 * `CIAB_PROGRESS_AFTER_MS`, else 1000 ms: short work stays quiet), then redrawn at most every 100 ms (the latest
 * text; a timer draws it when the caller is waiting), cut to the terminal's width; `end` clears it, so what
 * follows starts on a clean line. Elsewhere it says nothing: a log or a pipe gets the result and the summary only.
 */
export function progressLine(opts: { afterMs?: number } = {}): ProgressLine {
  const on = process.stderr.isTTY === true && settings.verbosity !== "quiet" && !settings.json;
  if (!on) return { update: () => {}, end: () => {} };
  const after = opts.afterMs ?? Number(process.env.CIAB_PROGRESS_AFTER_MS ?? 1000);
  const start = Date.now();
  let drawn = false;
  let last = 0;
  let pending: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  const clear = (): void => {
    if (drawn) process.stderr.write("\r\x1b[K");
    drawn = false;
  };
  const draw = (): void => {
    timer = undefined;
    if (pending === undefined) return;
    const width = Math.max(20, (process.stderr.columns || 80) - 1);
    process.stderr.write(`\r${pending.slice(0, width)}\x1b[K`);
    drawn = true;
    clearActive = clear;
    last = Date.now();
    pending = undefined;
  };
  return {
    update: (text) => {
      pending = text;
      const due = Math.max(start + after, drawn ? last + 100 : 0);
      const wait = due - Date.now();
      if (wait <= 0) draw();
      else timer ??= setTimeout(draw, wait).unref();
    },
    end: () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      pending = undefined;
      clear();
      if (clearActive === clear) clearActive = undefined;
    },
  };
}

/** The error document: the code, exit code, message, hint and location of the text form. */
export function errorDocument(e: unknown): Record<string, unknown> {
  const err = e instanceof CiabError ? e : undefined;
  const message = err ? err.message : e instanceof Error ? e.message : String(e);
  const error = { code: err?.code ?? "internal", exitCode: err ? err.exitCode : EXIT.internal, message, hint: err?.hint, where: err?.where };
  return { schema: "ciab/error/v1", ok: false, error };
}

/** Print an error (and its hint) and return the exit code. */
export function reportError(e: unknown, opts: { debug: boolean; json: boolean }): number {
  const err = e instanceof CiabError ? e : undefined;
  const message = err ? err.message : e instanceof Error ? e.message : String(e);
  const code = err ? err.exitCode : EXIT.internal;
  // The command already printed its document (a report with ok: false, add's result before a skipped name): the
  // error goes to standard error only, so standard output still holds exactly one document.
  if (opts.json && !printed) out(JSON.stringify(errorDocument(e), null, streamed ? undefined : 2));
  clearActive?.();
  process.stderr.write(`ciab: error: ${message}\n`);
  if (err?.hint) process.stderr.write(`  hint: ${err.hint}\n`);
  if (!err && !opts.debug) process.stderr.write("  (this is a bug in ciab; run again with --debug for the stack trace)\n");
  if (opts.debug && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  return code;
}

/**
 * A reader that stops early (`ciab show big | head -1`) closes the pipe: that is not ciab failing, so stop writing
 * and exit quietly with the command's status (0, or a verdict already set) — README "Exit codes". Any other error
 * on standard output (a full disk under `> file`) is an I/O error, exit 6.
 */
export function guardStreams(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EPIPE") process.exit(typeof process.exitCode === "number" ? process.exitCode : 0);
      if (stream === process.stdout) {
        try {
          process.stderr.write(`ciab: error: cannot write standard output: ${describeCause(e)}\n`);
        } catch {
          /* nowhere left to say it */
        }
      }
      process.exit(EXIT.io);
    });
  }
}
