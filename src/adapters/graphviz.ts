// Graphviz adapter: turns DOT text into SVG with the `dot` program, when it is installed.
import { spawnSync } from "node:child_process";
import { CiabError } from "../model/errors.js";

export function dotToSvg(dot: string): string {
  const r = spawnSync("dot", ["-Tsvg"], { input: dot, encoding: "utf8", timeout: 30_000 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === "ENOENT") {
    throw new CiabError("external", "Graphviz 'dot' is not installed, so no SVG can be drawn", {
      hint: "apt-get install graphviz, or write DOT with --out FILE.dot",
    });
  }
  if (r.status !== 0) throw new CiabError("external", `dot -Tsvg failed: ${r.stderr.trim()}`);
  return r.stdout;
}
