// The one error type of ciab. Pure: carries a stable code, the exit code the CLI uses, a hint and a cause.
// Only cli/ turns it into text and an exit status.

/** Documented exit codes (README "Exit codes"). */
export const EXIT = {
  ok: 0,
  internal: 1,
  usage: 2,
  notFound: 3,
  invalid: 4,
  conflict: 5,
  io: 6,
  locked: 7,
  external: 8,
  degraded: 9,
} as const;

export type ErrorCode = keyof typeof EXIT;

export interface ErrorDetails {
  hint?: string;
  cause?: unknown;
  /** Where the problem is: file, line, table, key, node, value. */
  where?: { file?: string; line?: number; column?: number; table?: string; key?: string; node?: string; value?: string };
}

export class CiabError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  readonly where?: ErrorDetails["where"];

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "CiabError";
    this.code = code;
    this.hint = details.hint;
    this.where = details.where;
  }

  get exitCode(): number {
    return EXIT[this.code];
  }
}

export const usage = (message: string, hint?: string) => new CiabError("usage", message, { hint });
export const invalid = (message: string, details?: ErrorDetails) => new CiabError("invalid", message, details);
export const notFound = (message: string, details?: ErrorDetails) => new CiabError("notFound", message, details);
export const conflict = (message: string, details?: ErrorDetails) => new CiabError("conflict", message, details);

/**
 * When a problem matters (the cdk8s way: collect every problem with its location, then decide):
 * - "load": the file cannot be read faithfully (wrong TOML type, control characters, invalid UTF-8): every command
 *   refuses it;
 * - "deploy": a value the kernel, WireGuard, DNS or the routing daemons would refuse or mis-route, but that vwgen
 *   accepts: read commands warn, edits refuse to introduce it, `render` and `up` refuse it;
 * - "warning": worth saying (a misspelt key), never refused.
 */
export type Phase = "load" | "deploy" | "warning";

export interface Problem {
  phase: Phase;
  /** Located: "file:line:column: [table] key: what is wrong". Never holds a secret. */
  message: string;
  hint?: string;
  where?: ErrorDetails["where"];
}

/** One CiabError for a list of problems: the first one's message and hint, the others listed after it. */
export function problemsError(problems: readonly Problem[]): CiabError {
  const [first, ...rest] = problems;
  if (!first) return new CiabError("internal", "problemsError called without problems");
  const more = rest.length ? `\n${rest.map((p) => `  also: ${p.message}`).join("\n")}` : "";
  return new CiabError("invalid", `${first.message}${more}`, { hint: first.hint, where: first.where });
}
