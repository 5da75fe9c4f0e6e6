// What every command shares: global options and the random source.
import type { Command } from "commander";
import { usage } from "../model/errors.js";
import { openRegistry, type RegistryOptions } from "../registry/open.js";
import type { Registry } from "../registry/registry.js";

/** ciab's version: `ciab --version` and the agentVersion of the records agents publish. */
export const VERSION = "0.1.0";

export interface GlobalOptions {
  dir: string;
  json: boolean;
  debug: boolean;
  lockTimeout: number;
  /** An etcd URL from --registry or CIAB_REGISTRY (a directory there becomes `dir`), with its connection options. */
  registry?: string;
  registryOptions: RegistryOptions;
}

export interface RawGlobals {
  dir?: string;
  json?: boolean;
  debug?: boolean;
  lockTimeout?: string;
  registry?: string;
  registryUser?: string;
  registryPasswordFile?: string;
  registryCa?: string;
  registryCert?: string;
  registryKey?: string;
}

/** The common options, from the command line wherever they were given; `extra` are those `set` took back out. */
export function globals(cmd: Command, extra: RawGlobals = {}): GlobalOptions {
  const o = { ...(cmd.optsWithGlobals() as RawGlobals), ...extra };
  // A directory as the registry is the mesh files there: the same locked path as -C DIR (not the driver's CAS).
  const reg = o.registry ?? (process.env.CIAB_REGISTRY || undefined);
  const etcd = reg !== undefined && /^[a-z][a-z0-9+.-]*:\/\//i.test(reg);
  const lockTimeoutMs = o.lockTimeout === undefined ? 10_000 : lockTimeout(o.lockTimeout);
  return {
    dir: (etcd ? undefined : reg) ?? o.dir ?? process.env.CIAB_DIR ?? process.cwd(),
    json: Boolean(o.json),
    debug: Boolean(o.debug),
    lockTimeout: lockTimeoutMs,
    registry: etcd ? reg : undefined,
    registryOptions: {
      user: o.registryUser ?? (process.env.CIAB_REGISTRY_USER || undefined),
      passwordFile: o.registryPasswordFile,
      ca: o.registryCa,
      cert: o.registryCert,
      key: o.registryKey,
      lockTimeoutMs,
    },
  };
}

/** The registry of the command: `--registry`/CIAB_REGISTRY, else the mesh files in the directory; closed after `f`. */
export async function withRegistry<T>(g: GlobalOptions, f: (reg: Registry) => Promise<T>): Promise<T> {
  const reg = await openRegistry(g.registry, g.dir, g.registryOptions);
  try {
    return await f(reg);
  } finally {
    await reg.close();
  }
}

/** Options that take a value, as `set` finds them among its directives. */
const VALUE_FLAGS: Record<string, keyof RawGlobals> = {
  "-C": "dir",
  "--dir": "dir",
  "--lock-timeout": "lockTimeout",
  "--registry": "registry",
  "--registry-user": "registryUser",
  "--registry-password-file": "registryPasswordFile",
  "--registry-ca": "registryCa",
  "--registry-cert": "registryCert",
  "--registry-key": "registryKey",
};

function lockTimeout(v: string): number {
  if (!/^\d+$/.test(v)) throw usage(`--lock-timeout '${v}' must be a number of milliseconds`);
  return Number(v);
}

/**
 * `set` passes its words through as directives (a directive value may look like an option); take the common
 * options back out wherever they stand: `--json`, `--debug`, `-C DIR`, and every option with a value (`--dir`,
 * `--lock-timeout`, `--registry…`) as `--name VALUE` or `--name=VALUE`.
 */
export function splitFlags(words: string[]): { args: string[]; flags: RawGlobals } {
  const args: string[] = [];
  const flags: Record<string, string | boolean> = {};
  for (let i = 0; i < words.length; i++) {
    const w = words[i] as string;
    const eq = w.startsWith("--") ? w.indexOf("=") : -1;
    const name = eq > 0 ? w.slice(0, eq) : w;
    const key = Object.hasOwn(VALUE_FLAGS, name) ? VALUE_FLAGS[name] : undefined; // not "constructor" from the prototype
    if (w === "--json") flags.json = true;
    else if (w === "--debug") flags.debug = true;
    else if (key && eq > 0) flags[key] = w.slice(eq + 1);
    else if (key) {
      const v = words[++i];
      if (v === undefined) throw usage(`option '${w}' needs a value`);
      flags[key] = v;
    } else args.push(w);
  }
  return { args, flags: flags as RawGlobals };
}
