// The only place that writes to the terminal: results, warnings, errors with hints. Secrets never pass through
// here except when the user asked for them (genkey, show --show-keys).
import { describeCause } from "../adapters/files.js";
import { CiabError, EXIT } from "../model/errors.js";

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

export const warn = (text: string): void => {
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

export const progress = (text: string): void => {
  process.stderr.write(`${text}\n`);
};

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
