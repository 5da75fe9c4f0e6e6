// Layers (docs/ARCHITECTURE.md, "Layers"): every module of src/ has a rank from the declared order below, and may
// import only modules of a lower rank or of its own folder. Sideways imports between folders of one rank, upward
// imports and import cycles between modules (type-only imports count: they couple the modules just the same) fail.
// The purity test (purity.test.ts) is separate: it forbids I/O modules in the pure folders.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/env.js";

/**
 * Lowest first; each entry is one rank, its units (a folder or one file) are peers that must not import each other.
 * A module belongs to the unit with the longest matching path.
 */
const LAYERS: string[][] = [
  ["src/model/errors.ts"], // the one error type, used by everything
  ["src/keys"], // X25519, random sources, first contact: no mesh knowledge
  ["src/ipam"], // address arithmetic and allocation
  ["src/model"], // the mesh: parse, validate, edit, topology, MTU plan
  ["src/state", "src/nat"], // desired host state as data (desired.json v1): what render writes and plan reads; STUN bytes and the NAT verdict
  ["src/render", "src/plan"], // pure functions of the mesh: bundles; host reconciliation as data
  ["src/adapters"], // one interface per external system (runs commands, reads files)
  ["src/registry"], // mesh files on disk
  ["src/agent", "src/lab"], // the host agent (ciab up/down/status/doctor); the lab
  ["src/cli"], // the thin command line
  ["src/index.ts"],
];

type Graph = Map<string, string[]>;

/** Specifiers of static imports and re-exports (`import … from`, `import "…"`, `export … from`) and `import("…")`. */
const SPECIFIER = /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^"'`;]*?\s+from\s+)?["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/g;

/** The module graph of src/: file -> the src/ files it imports (relative specifiers; `.js` resolves to `.ts`). */
function moduleGraph(sources: Map<string, string>): Graph {
  const g: Graph = new Map();
  for (const [file, text] of sources) {
    const deps: string[] = [];
    for (const m of text.matchAll(SPECIFIER)) {
      const spec = m[1] ?? m[2] ?? "";
      if (!spec.startsWith(".")) continue;
      const target = join(dirname(file), spec).replace(/\.js$/, ".ts");
      // Data outside src/ (the JSON schema of desired.json) is not a module and has no rank.
      if (!target.startsWith("src/") && target.endsWith(".json")) continue;
      deps.push(sources.has(target) ? target : `${target} (missing)`);
    }
    g.set(file, [...new Set(deps)]);
  }
  return g;
}

/** The unit (folder or file) and rank of a module, from LAYERS; undefined when it is not declared. */
function unitOf(file: string): { unit: string; rank: number } | undefined {
  let best: { unit: string; rank: number } | undefined;
  LAYERS.forEach((units, rank) => {
    for (const u of units) if ((file === u || file.startsWith(`${u}/`)) && (!best || u.length > best.unit.length)) best = { unit: u, rank };
  });
  return best;
}

/** Every import that goes up or sideways, and every module not in LAYERS. */
function layerViolations(g: Graph): string[] {
  const out: string[] = [];
  for (const [from, deps] of g) {
    const a = unitOf(from);
    if (!a) {
      out.push(`${from}: not in any layer (declare its folder in LAYERS and docs/ARCHITECTURE.md)`);
      continue;
    }
    for (const to of deps) {
      const b = unitOf(to);
      if (!b) out.push(`${from} -> ${to}: target not in any layer`);
      else if (b.unit === a.unit) continue;
      else if (b.rank > a.rank) out.push(`${from} (${a.unit}, rank ${a.rank}) imports ${to} (${b.unit}, rank ${b.rank}): upward`);
      else if (b.rank === a.rank) out.push(`${from} (${a.unit}) imports ${to} (${b.unit}): sideways, both rank ${a.rank}`);
    }
  }
  return out;
}

/** Import cycles between modules: the strongly connected components of more than one module (Tarjan), or self-imports. */
function cycles(g: Graph): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!g.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (g.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of [...g.keys()].sort()) if (!idx.has(v)) visit(v);
  return out;
}

const files = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : f.endsWith(".ts") ? [join(dir, f)] : []));
const srcSources = (): Map<string, string> => new Map(files(join(ROOT, "src")).map((f) => [relative(ROOT, f), readFileSync(f, "utf8")]));

describe("layers", () => {
  const sources = srcSources();
  const graph = moduleGraph(sources);

  it("the scan sees the modules and their imports", () => {
    expect(sources.size).toBeGreaterThan(50);
    expect(graph.get("src/cli/program.ts")?.length).toBeGreaterThan(3);
    // import type, multi-line import lists and re-exports are all imports
    expect(moduleGraph(new Map([["src/a/x.ts", 'import type {\n  A,\n  B,\n} from "../b/y.js";\nexport { C } from "./z.js";']]))).toEqual(
      new Map([["src/a/x.ts", ["src/b/y.ts (missing)", "src/a/z.ts (missing)"]]]),
    );
  });

  it("no module imports upward or sideways, every module is in a layer", () => {
    expect(layerViolations(graph)).toEqual([]);
  });

  it("no import cycles between modules", () => {
    expect(cycles(graph)).toEqual([]);
  });

  it("negative controls: a seeded upward import, a sideways one and a cycle are found", () => {
    const seeded = new Map(sources);
    seeded.set("src/ipam/ip.ts", `${sources.get("src/ipam/ip.ts")}\nimport { main } from "../cli/main.js";\n`);
    seeded.set("src/render/nft.ts", `${sources.get("src/render/nft.ts")}\nimport type { DesiredHost } from "../plan/types.js";\n`);
    const v = layerViolations(moduleGraph(seeded));
    expect(v).toContain("src/ipam/ip.ts (src/ipam, rank 2) imports src/cli/main.ts (src/cli, rank 9): upward");
    expect(v).toContain("src/render/nft.ts (src/render) imports src/plan/types.ts (src/plan): sideways, both rank 5");
    const loop = new Map(sources);
    loop.set("src/model/toml.ts", `${sources.get("src/model/toml.ts")}\nimport type { Mesh } from "./mesh.js";\n`);
    expect(cycles(moduleGraph(loop)).some((c) => c.includes("src/model/toml.ts") && c.includes("src/model/mesh.ts"))).toBe(true);
    expect(layerViolations(moduleGraph(new Map([["src/newfolder/x.ts", ""]])))[0]).toContain("not in any layer");
  });
});
