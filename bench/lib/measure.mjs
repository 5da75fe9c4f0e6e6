// Runs the built CLI in this process and, at exit, writes {ms, maxRssKiB} to the file named by CIAB_BENCH_OUT.
// Usage: node bench/lib/measure.mjs <ciab args...>
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const t0 = performance.now();
process.on("exit", () => {
  const out = process.env.CIAB_BENCH_OUT;
  if (out) writeFileSync(out, JSON.stringify({ ms: performance.now() - t0, maxRssKiB: process.resourceUsage().maxRSS, code: process.exitCode ?? 0 }));
});
process.argv = [process.argv[0], "ciab", ...process.argv.slice(2)];
await import(join(dirname(fileURLToPath(import.meta.url)), "..", "..", "dist", "ciab.mjs"));
