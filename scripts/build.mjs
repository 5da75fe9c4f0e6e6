// Bundles the CLI into dist/ciab.mjs (one file: fast start-up, no TypeScript at run time), and the library API
// into dist/index.mjs (benchmarks and scripts).
import { build } from "esbuild";

const common = {
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: "linked",
  logLevel: "warning",
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
};

await Promise.all([
  build({ ...common, entryPoints: ["src/cli/main.ts"], outfile: "dist/ciab.mjs" }),
  build({ ...common, entryPoints: ["src/index.ts"], outfile: "dist/index.mjs" }),
  // `ciab render`'s second thread (src/cli/render-bundles.ts looks for it beside dist/ciab.mjs).
  build({ ...common, entryPoints: ["src/cli/render-worker.ts"], outfile: "dist/render-worker.mjs" }),
]);
