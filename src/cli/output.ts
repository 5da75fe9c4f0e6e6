// The only place that writes to the terminal: results, warnings, errors with hints. Secrets never pass through
// here except when the user asked for them (genkey, show --show-keys).
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
