// What every command shares: global options and the random source.
import type { Command } from "commander";
import { cryptoRandom, seededRandom } from "../keys/random.js";
import type { Random } from "../model/edit.js";
import { usage } from "../model/errors.js";
import { warn } from "./output.js";

export interface GlobalOptions {
  dir: string;
  json: boolean;
  debug: boolean;
  lockTimeout: number;
}

export function globals(cmd: Command): GlobalOptions {
  const o = cmd.optsWithGlobals() as { dir?: string; json?: boolean; debug?: boolean; lockTimeout?: string };
  return {
    dir: o.dir ?? process.env.CIAB_DIR ?? process.cwd(),
    json: Boolean(o.json),
    debug: Boolean(o.debug),
    lockTimeout: o.lockTimeout === undefined ? 10_000 : lockTimeout(o.lockTimeout),
  };
}

function lockTimeout(v: string): number {
  if (!/^\d+$/.test(v)) throw usage(`--lock-timeout '${v}' must be a number of milliseconds`);
  return Number(v);
}

/** `set` passes options through as directives; take the common flags back out. */
export function splitFlags(args: string[]): { args: string[]; flags: string[] } {
  const flags = args.filter((a) => ["--json", "--debug"].includes(a));
  return { args: args.filter((a) => !flags.includes(a)), flags };
}

/** The OS CSPRNG; CIAB_INSECURE_TEST_SEED makes keys and addresses reproducible for tests (never for real meshes). */
export function randomSource(): Random {
  const seed = process.env.CIAB_INSECURE_TEST_SEED;
  if (seed) {
    warn("CIAB_INSECURE_TEST_SEED is set: keys and addresses are predictable; never use them for a real mesh");
    return seededRandom(seed);
  }
  return cryptoRandom();
}
