// The pure phases of one agent step, in this process (no etcd, no host): parse and validate the mesh text, lay
// the node records over it (registry/records.ts effectiveDoc: each record checked against the mesh and the records
// before it), validate the effective mesh, build the topology and render one node's bundle. Prints the median ms
// of each over `runs` as JSON. Usage: node bench/lib/agent-phases.mjs MESH.conf RECORDS.json NODE [runs]
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { effectiveDoc, meshFromDoc, parseToml, renderBundle, topology } from "../../dist/index.mjs";

const [file, recordsFile, node, runsArg] = process.argv.slice(2);
const text = readFileSync(file, "utf8");
const records = JSON.parse(readFileSync(recordsFile, "utf8"));
const net = basename(file, ".conf");
const runs = Number(runsArg ?? 3);
const times = { parseMs: [], overlayMs: [], validateEffectiveMs: [], renderNodeMs: [] };
let refused = 0;
for (let i = 0; i < runs; i++) {
  let t = performance.now();
  const lap = (k) => {
    const now = performance.now();
    times[k].push(now - t);
    t = now;
  };
  const doc = parseToml(text, file);
  const mesh = meshFromDoc(net, doc, { file, text });
  lap("parseMs");
  const eff = effectiveDoc(doc, mesh, records);
  refused = eff.refused.length;
  lap("overlayMs");
  const em = meshFromDoc(net, eff.doc, { file, text });
  lap("validateEffectiveMs");
  const topo = topology(em);
  renderBundle(topo.node(em.nodes.find((n) => n.name === node)), "bench");
  lap("renderNodeMs");
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
process.stdout.write(JSON.stringify({ ...Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)])), records: records.length, refused }));
