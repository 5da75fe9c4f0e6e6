// Test meshes under test/fixtures/meshes (fake keys; see the README there), loaded through the real parser.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Mesh, MeshNode } from "../../src/model/mesh.js";
import { meshFromDoc } from "../../src/model/mesh.js";
import { parseToml } from "../../src/model/toml.js";
import { ROOT } from "./env.js";

export const MESH_DIR = join(ROOT, "test", "fixtures", "meshes");
export const FIXTURE_MESHES = ["dualstack", "ospf3-frr", "ospf4-bird", "rr3", "rr5-blacklist"] as const;

/** Build a Mesh from TOML text, as `ciab` does for a file. */
export function meshFromText(name: string, text: string): Mesh {
  const file = `${name}.conf`;
  return meshFromDoc(name, parseToml(text, file), { file, text });
}

export const fixtureText = (name: string): string => readFileSync(join(MESH_DIR, `${name}.conf`), "utf8");
export const loadFixture = (name: string): Mesh => meshFromText(name, fixtureText(name));

export function node(mesh: Mesh, name: string): MeshNode {
  const n = mesh.nodes.find((x) => x.name === name);
  if (!n) throw new Error(`no node ${name} in ${mesh.name}`);
  return n;
}
