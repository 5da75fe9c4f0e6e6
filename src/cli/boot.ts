// dist/ciab-boot.cjs (CommonJS: no ES module loader per call; bin/ciab and dist/ciab.mjs start it): starts the CLI bundle (dist/ciab.cjs) with V8's code cache (dist/ciab.cjs.cache), so a call does
// not parse and compile the 0.5 MB bundle again (issue 10: one `ciab showconf` must be as fast as one vwgen call;
// Node 20 has no module.enableCompileCache). The cache holds the bytecode of the functions the build's training
// calls ran (scripts/build.mjs); V8 refuses a cache that does not match the source or the V8 version and flags, and
// the bundle is then compiled as usual — the cache only ever changes the speed, never the behaviour.
// Only the build writes the cache (CIAB_CODE_CACHE_WRITE=1): a call never writes next to the installed program.
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import Module, { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Script } from "node:vm";

// bin/ciab (a sh starter) says how it was called (`vwgen` selects vwgen's wording) and may have moved
// NODE_EXTRA_CA_CERTS aside for a command that opens no TLS connection: the programs ciab starts get it back.
const prog = process.env.CIAB_PROG;
if (prog !== undefined) {
  process.argv[1] = prog;
  delete process.env.CIAB_PROG;
}
const extraCa = process.env.CIAB_EXTRA_CA_CERTS;
if (extraCa !== undefined) {
  process.env.NODE_EXTRA_CA_CERTS = extraCa;
  delete process.env.CIAB_EXTRA_CA_CERTS;
}

// Node's child_process (with net, dgram, streams) and http are needed only by the lab, host and LXD commands:
// worker_threads only by a large render, node:crypto by commands that derive keys or hash (an edit draws its random
// values from /dev/urandom, keys/random.ts): they are loaded when first used, not by every call (the bundle reads
// their members at call time).
const LAZY = new Set(["node:child_process", "child_process", "node:http", "http", "node:worker_threads", "worker_threads", "node:crypto", "crypto"]);
function lazyModule(realRequire: NodeJS.Require, id: string): object {
  let m: Record<string | symbol, unknown> | undefined;
  const load = () => {
    m ??= realRequire(id) as Record<string | symbol, unknown>;
    return m;
  };
  return new Proxy(
    {},
    {
      get: (_t, k) => load()[k],
      has: (_t, k) => k in load(),
      ownKeys: () => Reflect.ownKeys(load()),
      getOwnPropertyDescriptor: (_t, k) => {
        const d = Reflect.getOwnPropertyDescriptor(load(), k);
        return d && { ...d, configurable: true };
      },
    },
  );
}

/** Run the CommonJS bundle `dist/<name>.cjs` from its code cache (`<name>.cjs.cache`); returns its exports. */
function runBundle(name: string): Record<string, unknown> {
  const file = join(__dirname, `${name}.cjs`);
  const cacheFile = `${file}.cache`;
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    /* no cache (not built yet, or removed): compile as usual */
  }
  const script = new Script(Module.wrap(readFileSync(file, "utf8")), { filename: file, cachedData });
  if (process.env.CIAB_CODE_CACHE_WRITE === "1") {
    process.on("exit", () => {
      const tmp = `${cacheFile}.tmp-${process.pid}`;
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, cacheFile);
    });
  }
  const realRequire = createRequire(file);
  const bundleRequire = Object.assign((id: string) => (LAZY.has(id) ? lazyModule(realRequire, id) : realRequire(id)), realRequire);
  const module = { exports: {} as Record<string, unknown> };
  (script.runInThisContext() as (...a: unknown[]) => void).call(module.exports, module.exports, bundleRequire, module, file, dirname(file));
  return module.exports;
}

// vwgen's commands (fast.ts FAST_COMMANDS) with plain arguments: the small bundle (src/cli/fast.ts, which decides
// what it takes); anything else, or a command line it does not take, the whole CLI (src/cli/main.ts runs itself when
// loaded).
const FAST = new Set(["show", "showconf", "add", "set", "del", "blacklist"]);
// Such a call lives for tens of milliseconds: V8's optimizing compiler (TurboFan) only gets to start a job on a hot
// loop, and the process then waits for that job at exit (about 10 ms of an `add`). It is switched off once the small
// bundle has taken the command line and its code cache has been read (V8 refuses a cache made under other flags; the
// build's training calls keep the defaults, so the cache they write stays valid). The full CLI keeps it.
const quick = () => {
  if (process.env.CIAB_CODE_CACHE_WRITE !== "1") (require("node:v8") as typeof import("node:v8")).setFlagsFromString("--no-turbofan");
};
type RunFast = (argv: string[], taken?: () => void) => Promise<number> | undefined;
const fast = FAST.has(process.argv[2] ?? "") ? (runBundle("ciab-fast").runFast as RunFast)(process.argv, quick) : undefined;
if (fast === undefined) runBundle("ciab");
else
  fast.then((code) => {
    process.exitCode = code;
  });
