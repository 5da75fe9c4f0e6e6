// Renders every bundle of a mesh file in memory (no disk): prints {ms, bytes} as JSON.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { bundleRenderer, meshFromDoc, parseToml, topology } from "../../dist/index.mjs";

const file = process.argv[2];
const text = readFileSync(file, "utf8");
const t0 = performance.now();
const mesh = meshFromDoc(basename(file, ".conf"), parseToml(text, file), { file, text });
const topo = topology(mesh);
const render = bundleRenderer(topo, "bench");
let bytes = 0;
for (const n of mesh.nodes) for (const f of render(topo.node(n))) bytes += f.content.length;
process.stdout.write(JSON.stringify({ ms: performance.now() - t0, bytes }));
