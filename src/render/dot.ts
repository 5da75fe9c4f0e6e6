// The mesh as a Graphviz DOT graph: nodes (reflectors bold), WireGuard links, blacklisted pairs dashed red.
// Pure; no I/O.
import { pairKey } from "../model/mesh.js";
import type { Topology } from "../model/topology.js";

const id = (s: string) => `"${s.replace(/["\\]/g, "\\$&")}"`;

export function renderDot(t: Topology): string {
  const { mesh } = t;
  const rr = new Set(mesh.network.routeReflectors);
  const out = [`graph ${id(mesh.name)} {`, '  graph [layout=circo, fontname="Helvetica"];', '  node [shape=box, style=rounded, fontname="Helvetica"];'];
  for (const n of mesh.nodes) {
    const lines = [n.name, n.overlayIPv4 ?? "", n.endpoint?.text ?? "(no endpoint)", ...n.subnets].filter(Boolean);
    const label = `"${lines.map((l) => l.replace(/["\\]/g, "\\$&")).join("\\n")}"`; // \n: DOT's line break
    out.push(`  ${id(n.name)} [label=${label}${rr.has(n.name) ? ", penwidth=3" : ""}];`);
  }
  for (let i = 0; i < mesh.nodes.length; i++) {
    for (let j = i + 1; j < mesh.nodes.length; j++) {
      const a = mesh.nodes[i]?.name as string;
      const b = mesh.nodes[j]?.name as string;
      const blocked = mesh.blacklist.has(pairKey(a, b));
      out.push(`  ${id(a)} -- ${id(b)}${blocked ? ' [style=dashed, color=red, label="blacklisted"]' : ""};`);
    }
  }
  out.push("}");
  return `${out.join("\n")}\n`;
}
