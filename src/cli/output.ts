// The only place that writes to the terminal: results, warnings, errors with hints. Secrets never pass through
// here except when the user asked for them (genkey, show --show-keys).
import { describeCause } from "../adapters/files.js";
import { CiabError, EXIT } from "../model/errors.js";

export const out = (text: string): void => {
  process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
};

export const json = (value: unknown): void =>
  out(JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v instanceof Set ? [...v] : v instanceof Map ? Object.fromEntries(v) : v), 2));

export const warn = (text: string): void => {
  process.stderr.write(`ciab: warning: ${text}\n`);
};

export const progress = (text: string): void => {
  process.stderr.write(`${text}\n`);
};

/** Print an error (and its hint) and return the exit code. */
export function reportError(e: unknown, opts: { debug: boolean; json: boolean }): number {
  const err = e instanceof CiabError ? e : undefined;
  const message = err ? err.message : e instanceof Error ? e.message : String(e);
  const code = err ? err.exitCode : EXIT.internal;
  if (opts.json) {
    out(JSON.stringify({ ok: false, error: { code: err?.code ?? "internal", exitCode: code, message, hint: err?.hint, where: err?.where } }, null, 2));
  }
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
