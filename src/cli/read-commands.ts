// The read commands of vwgen's loop (`show`, `showconf`), free of the command tree: mesh-commands.ts registers them,
// and fast.ts runs them straight from a plain command line without loading the rest of the CLI.
import type { Mesh } from "../model/mesh.js";
import { noSuchNode } from "../model/suggest.js";
import { readWarnings } from "../model/validate.js";
import { loadMesh, meshRef } from "../registry/file.js";
import { showJson, showText } from "../render/show.js";
import { renderShowconf } from "../render/showconf.js";
import { collectWarnings, json, useColor } from "./output.js";

export function findNode(mesh: Mesh, name: string) {
  const node = mesh.nodes.find((n) => n.name === name);
  if (!node)
    throw noSuchNode(
      mesh.title,
      name,
      mesh.nodes.map((n) => n.name),
    );
  return node;
}

export interface ShowOptions {
  showKeys?: boolean;
  node?: string;
  extra?: boolean;
  json?: boolean;
}

export function showCommand(dir: string, nets: string[], o: ShowOptions): void {
  showMeshes(
    nets.map((n) => loadMesh(meshRef(n, dir)).mesh),
    o,
  );
}

export function showMeshes(meshes: Mesh[], o: ShowOptions): void {
  if (o.node) for (const m of meshes) findNode(m, o.node);
  const w = collectWarnings();
  for (const m of meshes) for (const text of readWarnings(m)) w.warn(text);
  if (o.json) {
    // One shape for one network or many (README "Machine-readable output").
    json({ networks: meshes.map((m) => showJson(m, { showKeys: Boolean(o.showKeys), only: o.node })), warnings: w.list });
    return;
  }
  const color = useColor(process.stdout);
  for (const m of meshes) process.stdout.write(showText(m, { color, showKeys: Boolean(o.showKeys), only: o.node, extra: Boolean(o.extra) }));
}

export function showconfCommand(dir: string, net: string, name: string): void {
  showconfMesh(loadMesh(meshRef(net, dir)).mesh, name);
}

/** The node's wg-quick file (it holds the node's private key when the mesh file does, as vwgen's). */
export function showconfMesh(mesh: Mesh, name: string, asJson = false): void {
  const w = collectWarnings();
  for (const text of readWarnings(mesh)) w.warn(text);
  const config = renderShowconf(mesh, findNode(mesh, name));
  if (asJson) json({ network: mesh.title, node: name, config, warnings: w.list });
  else process.stdout.write(config);
}
