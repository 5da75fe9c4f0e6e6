// The lab's mesh document: built from scratch for `--nodes N`, or a user's mesh adapted for the lab, always with
// lab endpoints. Pure (randomness is a parameter); uses the same model edit functions as `ciab add/set`, so the lab
// runs exactly what a user's commands would produce. Must not: keep any endpoint of the user's file (the lab's
// WireGuard must never send to a real address), or write files.
import { genkey } from "../keys/x25519.js";
import { addNodes, applySet, ensureNetwork, type Random } from "../model/edit.js";
import { usage } from "../model/errors.js";
import type { Routing } from "../model/mesh.js";
import type { TomlTable } from "../model/toml.js";
import { endpointText, MAX_NODES, nodeUnderlay, type Underlay, WG_PORT } from "./plan.js";

export interface LabMeshOptions {
  routing?: Routing;
  /** Route reflectors: the first K nodes (by name). */
  reflectors?: number;
  underlay: Underlay;
}

const nodeTables = (doc: TomlTable): Record<string, TomlTable> => (doc.Node ?? {}) as Record<string, TomlTable>;

/** Routing settings from the command line, as `ciab set` directives. */
function routingDirectives(names: string[], opts: LabMeshOptions): string[] {
  const args: string[] = [];
  if (opts.routing) args.push("routing", opts.routing);
  if (opts.reflectors !== undefined) {
    if (!Number.isInteger(opts.reflectors) || opts.reflectors < 0 || opts.reflectors > names.length) {
      throw usage(`--reflectors ${opts.reflectors}: must be 0-${names.length} (the number of nodes)`);
    }
    args.push("route-reflectors", opts.reflectors === 0 ? "none" : names.slice(0, opts.reflectors).join(","));
  }
  return args;
}

/**
 * Point every node's endpoint at its lab underlay address (node i = i-th name in sorted order, as the mesh sorts
 * them) and give every node a listen port: in the lab every node is reachable, whatever the file said.
 */
function labEndpoints(doc: TomlTable, net: string, underlay: Underlay, random: Random): void {
  const names = Object.keys(nodeTables(doc)).sort();
  const args = names.flatMap((name, i) => {
    const t = nodeTables(doc)[name] as TomlTable;
    const port = typeof t.ListenPort === "number" && t.ListenPort > 0 ? t.ListenPort : WG_PORT;
    return ["node", name, "listen-port", String(port), "endpoint", endpointText(nodeUnderlay(i + 1, underlay), port)];
  });
  if (args.length) applySet(doc, net, args, { random });
}

/** A new mesh of `count` nodes n1…nN, subnets 10.0.<i>.0/24, one reflector by default for BGP. */
export function newLabMesh(net: string, count: number, opts: LabMeshOptions, random: Random): TomlTable {
  if (!Number.isInteger(count) || count < 1 || count > MAX_NODES) throw usage(`--nodes ${count}: must be 1-${MAX_NODES}`);
  const doc: TomlTable = {};
  ensureNetwork(doc, random);
  const names = Array.from({ length: count }, (_, i) => `n${i + 1}`);
  addNodes(doc, net, names, random);
  const routing = opts.routing ?? "bgp";
  const reflectors = opts.reflectors ?? (routing === "bgp" && count > 2 ? 1 : undefined);
  const subnets = names.flatMap((n, i) => ["node", n, "listen-port", String(WG_PORT), "subnets", `10.0.${i + 1}.0/24`]);
  applySet(doc, net, [...routingDirectives(names, { ...opts, routing, reflectors }), ...subnets], { random });
  labEndpoints(doc, net, opts.underlay, random);
  return doc;
}

/**
 * Adapt a user's mesh document for the lab (in place): lab endpoints, routing overrides, and a private key for nodes
 * whose key stays on their host (the lab plays that host). Returns warnings for the user.
 */
export function labifyMesh(doc: TomlTable, net: string, opts: LabMeshOptions, random: Random): string[] {
  const warnings: string[] = [];
  const names = Object.keys(nodeTables(doc)).sort();
  if (names.length === 0) throw usage(`mesh '${net}' has no nodes`, `add some with 'ciab add ${net} node1 node2 node3'`);
  if (names.length > MAX_NODES) throw usage(`mesh '${net}' has ${names.length} nodes; the lab has room for ${MAX_NODES}`);
  const args = routingDirectives(names, opts);
  for (const name of names) {
    const t = nodeTables(doc)[name] as TomlTable;
    if (t.PrivateKey === undefined) {
      warnings.push(`node ${name} has no private key in the mesh file: the lab uses a new key pair for it`);
      args.push("node", name, "private-key", genkey(random.bytes));
    }
    if (!Array.isArray(t.Subnets) || t.Subnets.length === 0) warnings.push(`node ${name} has no Subnets: it gets no container in the lab`);
  }
  if (args.length) applySet(doc, net, args, { random });
  labEndpoints(doc, net, opts.underlay, random);
  return warnings;
}
