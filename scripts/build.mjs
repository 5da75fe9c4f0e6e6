// Bundles the CLI into dist/ciab.cjs (one file: no TypeScript and no module resolution at run time), its starter
// dist/ciab-boot.cjs (src/cli/boot.ts: loads the bundle with V8's code cache; bin/ciab and dist/ciab.mjs start it), and the library API into dist/index.mjs
// (benchmarks and scripts). Then trains the code cache: a few calls on a throw-away mesh, each compiling what it
// runs into dist/ciab.cjs.cache (the next call starts from the previous one's cache, so the last holds them all).
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { build } from "esbuild";

const common = {
  bundle: true,
  platform: "node",
  target: "node20",
  sourcemap: "linked",
  logLevel: "warning",
  // etcd's client (gRPC) loads only for an etcd registry, from node_modules: every other call stays small.
  external: ["etcd3", "cockatiel"],
};
const esm = {
  ...common,
  format: "esm",
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
};

for (const f of ["dist/ciab.cjs.cache", "dist/ciab-fast.cjs.cache"]) rmSync(f, { force: true });
mkdirSync("dist", { recursive: true });
// `node dist/ciab.mjs ...` (tests, benchmarks) starts the same CommonJS starter as bin/ciab: a CommonJS entry point
// spares each call Node's ES module loader.
writeFileSync("dist/ciab.mjs", 'import { createRequire } from "node:module";\ncreateRequire(import.meta.url)("./ciab-boot.cjs");\n');
await Promise.all([
  // import.meta is empty in CommonJS: render-bundles.ts uses __filename there.
  build({ ...common, format: "cjs", entryPoints: ["src/cli/main.ts"], outfile: "dist/ciab.cjs", logOverride: { "empty-import-meta": "silent" } }),
  // vwgen's loop and scripts: plain show/showconf/add/set/del/blacklist without the command tree (src/cli/fast.ts; boot.ts picks it).
  build({ ...common, format: "cjs", entryPoints: ["src/cli/fast.ts"], outfile: "dist/ciab-fast.cjs" }),
  build({ ...common, format: "cjs", entryPoints: ["src/cli/boot.ts"], outfile: "dist/ciab-boot.cjs", sourcemap: false }),
  build({ ...esm, entryPoints: ["src/index.ts"], outfile: "dist/index.mjs" }),
  // `ciab render`'s second thread (src/cli/render-bundles.ts looks for it beside the CLI bundle).
  build({ ...esm, entryPoints: ["src/cli/render-worker.ts"], outfile: "dist/render-worker.mjs" }),
]);

// The commands a user runs one at a time (vwgen's loop over showconf, show, edits). Their output is thrown away.
const cli = resolve("dist/ciab.mjs");
const dir = mkdtempSync(join(tmpdir(), "ciab-build-"));
try {
  const env = { ...process.env, CIAB_CODE_CACHE_WRITE: "1", CIAB_INSECURE_TEST_SEED: "build-training", NO_COLOR: "1" };
  delete env.CIAB_DIR;
  for (const args of [
    ["add", "t", "a", "b", "c"],
    ["set", "t", "route-reflectors", "b", "node", "a", "endpoint", "198.18.0.1:51820", "node", "b", "endpoint", "[2001:db8::2]:51820"],
    ["blacklist", "t", "add", "a", "c"],
    ["del", "t", "c"],
    ["show", "t"],
    ["showconf", "t", "a"],
    // the same through the whole CLI (an option sends them there), so its cache holds them too
    ["add", "t", "d", "--json"],
    ["set", "t", "node", "d", "listen-port", "51821", "--json"],
    ["show", "t", "--extra"],
    ["showconf", "t", "a", "--json"],
    ["zone", "t", "example.org", "--serial", "1"],
  ]) {
    const r = spawnSync(process.execPath, [cli, ...args], { cwd: dir, env, encoding: "utf8" });
    // A failed call still trains what it ran; say so, the bundle itself is fine.
    if (r.status !== 0) process.stderr.write(`build: warning: code-cache training call 'ciab ${args.join(" ")}' failed: ${r.stderr}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
