// The command runner: the one way ciab starts external programs (ip, nft, wg, vtysh, a bundle's ciab-up …).
// Owns: spawning argv without a shell, collecting output, deadlines, cancellation. Must not: interpret results
// (callers decide what a non-zero exit means), print, or build shell strings; when a shell is needed the caller
// passes `sh -c SCRIPT` explicitly. Injectable: orchestration code takes a `Runner`, tests pass a fake.
import { spawn } from "node:child_process";
import { CiabError } from "../model/errors.js";

export interface RunOptions {
  /** Written to the program's standard input, which is then closed. */
  input?: string;
  /** Kill the program (SIGKILL) after this long; the result then has `timedOut`. */
  timeoutMs?: number;
  /** Kill the program when this signal aborts (Ctrl-C of the caller). */
  signal?: AbortSignal;
  /** Added to the inherited environment. */
  env?: Record<string, string>;
  /** Hand the terminal to the program (interactive `ciab lab exec`); stdout and stderr come back empty. */
  inherit?: boolean;
}

export interface RunResult {
  /** Exit status; 128+N when killed by signal N (as a shell reports it). */
  code: number;
  stdout: string;
  stderr: string;
  timedOut?: boolean;
}

export type Runner = (argv: string[], opts?: RunOptions) => Promise<RunResult>;

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };
// A program may leave a daemon behind that inherited its stdout (a `-d` daemon that does not close its fds): do not
// wait for EOF forever once the program itself has exited, only long enough to drain what it wrote.
const DRAIN_MS = 200;
const MAX_OUTPUT = 16 * 1024 * 1024;

/** The real runner: child_process.spawn, no shell. A program that cannot start gives code 127, like a shell. */
export const spawnRunner: Runner = (argv, opts = {}) =>
  new Promise((resolve) => {
    const [cmd, ...args] = argv;
    if (!cmd) {
      resolve({ code: 127, stdout: "", stderr: "empty command" });
      return;
    }
    const child = spawn(cmd, args, {
      stdio: opts.inherit ? "inherit" : ["pipe", "pipe", "pipe"],
      // Own process group unless interactive: a terminal's Ctrl-C then reaches only ciab, which decides (abort,
      // then clean up with commands that a second Ctrl-C must not kill). An interactive program needs the terminal.
      detached: !opts.inherit,
      ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    const collect = (into: Buffer[]) => (b: Buffer) => {
      size += b.length;
      if (size <= MAX_OUTPUT) into.push(b);
    };
    child.stdout?.on("data", collect(out));
    child.stderr?.on("data", collect(err));
    let timedOut = false;
    let done = false;
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill("SIGKILL");
          }, opts.timeoutMs);
    const onAbort = () => child.kill("SIGKILL");
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const finish = (code: number, spawnError?: string) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      child.stdout?.destroy();
      child.stderr?.destroy();
      const stderr = Buffer.concat(err).toString("utf8") + (spawnError ?? "");
      resolve({ code, stdout: Buffer.concat(out).toString("utf8"), stderr, ...(timedOut ? { timedOut } : {}) });
    };
    child.on("error", (e) => finish(127, `${cmd}: ${e.message}\n`));
    child.on("exit", (code, sig) => {
      const status = code ?? 128 + (SIGNALS[sig ?? ""] ?? 1);
      const t = setTimeout(() => finish(status), DRAIN_MS);
      child.on("close", () => {
        clearTimeout(t);
        finish(status);
      });
    });
    if (child.stdin) {
      child.stdin.on("error", () => {}); // the program may exit without reading its input
      child.stdin.end(opts.input ?? "");
    }
  });

/** The last lines of a program's output, for error messages. */
export function tail(text: string, lines = 12): string {
  const all = text.trimEnd().split("\n");
  return all.slice(-lines).join("\n");
}

/** Run, and throw CiabError "external" (naming the command and its output) unless it exits 0. */
export async function runOk(run: Runner, argv: string[], opts?: RunOptions): Promise<RunResult> {
  const r = await run(argv, opts);
  if (r.code !== 0) {
    const why = r.timedOut ? `timed out after ${opts?.timeoutMs} ms` : `exited with ${r.code}`;
    const output = tail(`${r.stderr}${r.stdout}`);
    throw new CiabError("external", `'${argv.join(" ")}' ${why}${output ? `:\n${output}` : ""}`);
  }
  return r;
}
