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

export interface RawGlobals {
  dir?: string;
  json?: boolean;
  debug?: boolean;
  lockTimeout?: string;
}

/** The common options, from the command line wherever they were given; `extra` are those `set` took back out. */
export function globals(cmd: Command, extra: RawGlobals = {}): GlobalOptions {
  const o = { ...(cmd.optsWithGlobals() as RawGlobals), ...extra };
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

/**
 * `set` passes its words through as directives (a directive value may look like an option); take the common
 * options back out wherever they stand: `--json`, `--debug`, `-C DIR`, `--dir DIR|=DIR`, `--lock-timeout MS|=MS`.
 */
export function splitFlags(words: string[]): { args: string[]; flags: RawGlobals } {
  const args: string[] = [];
  const flags: RawGlobals = {};
  for (let i = 0; i < words.length; i++) {
    const w = words[i] as string;
    const value = (name: string): string => {
      const v = words[++i];
      if (v === undefined) throw usage(`option '${name}' needs a value`);
      return v;
    };
    if (w === "--json") flags.json = true;
    else if (w === "--debug") flags.debug = true;
    else if (w === "-C" || w === "--dir") flags.dir = value(w);
    else if (w.startsWith("--dir=")) flags.dir = w.slice(6);
    else if (w === "--lock-timeout") flags.lockTimeout = value(w);
    else if (w.startsWith("--lock-timeout=")) flags.lockTimeout = w.slice(15);
    else args.push(w);
  }
  return { args, flags };
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
