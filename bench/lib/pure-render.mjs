// Renders every bundle of a mesh file in memory (no disk): prints {ms, bytes} as JSON.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { checkRenderable, meshFromDoc, parseToml, renderBundle, topology } from "../../dist/index.mjs";

const file = process.argv[2];
const text = readFileSync(file, "utf8");
const t0 = performance.now();
const mesh = meshFromDoc(basename(file, ".conf"), parseToml(text, file), { file, text });
const topo = topology(mesh);
checkRenderable(topo);
let bytes = 0;
for (const n of mesh.nodes) for (const f of renderBundle(topo.node(n), "bench")) bytes += f.content.length;
process.stdout.write(JSON.stringify({ ms: performance.now() - t0, bytes }));
