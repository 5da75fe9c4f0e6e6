// Test meshes under test/fixtures/meshes (fake keys; see the README there), loaded through the real parser.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { seededRandom } from "../../src/keys/random.js";
import { clamp } from "../../src/keys/x25519.js";
import { addNodes, applySet, blacklist, ensureNetwork } from "../../src/model/edit.js";
import { CiabError } from "../../src/model/errors.js";
import type { Mesh, MeshNode } from "../../src/model/mesh.js";
import { meshFromDoc } from "../../src/model/mesh.js";
import { parseToml, type TomlTable } from "../../src/model/toml.js";
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

/** A fake private key for tests: clamp(sha256("ciab-fixture:<label>")), as the fixture README describes. */
export const fakeKey = (label: string): string => clamp(createHash("sha256").update(`ciab-fixture:${label}`).digest()).toString("base64");

export interface MeshSpec {
  nodes: string[];
  network?: Record<string, string | number | boolean | string[]>;
  blacklist?: [string, string][];
  /** Subnets by node name (default: none). */
  subnets?: Record<string, string[]>;
  /** Nodes without an overlay Address. */
  noAddress?: string[];
}

/** A small mesh from a spec: node i gets 172.20.0.(i+1)/24, VTEP 169.254.1.(i+1), a fake key. */
export function buildMesh(name: string, spec: MeshSpec): Mesh {
  const val = (v: string | number | boolean | string[]): string => (Array.isArray(v) ? `[${v.map((x) => JSON.stringify(x)).join(", ")}]` : JSON.stringify(v));
  const net = { AddressPoolIPv4: "172.20.0.0/24", VxlanID: 42, ...spec.network };
  const lines = ["[Network]", ...Object.entries(net).map(([k, v]) => `${k} = ${val(v)}`), "", "[PeerBlacklist]"];
  lines.push(`Blacklist = [${(spec.blacklist ?? []).map((p) => val(p)).join(", ")}]`);
  spec.nodes.forEach((n, i) => {
    lines.push("", `[Node.${n}]`);
    if (!spec.noAddress?.includes(n)) lines.push(`Address = ["172.20.0.${i + 1}/24"]`);
    lines.push(`AllowedIPs = ["169.254.1.${i + 1}/32"]`, `LinkLayerAddress = ["169.254.1.${i + 1}/16"]`, `Endpoint = "198.51.100.${i + 1}:51820"`);
    lines.push("ListenPort = 51820", `PrivateKey = "${fakeKey(`${name}/${n}`)}"`, `Subnets = ${val(spec.subnets?.[n] ?? [])}`);
  });
  return meshFromText(name, `${lines.join("\n")}\n`);
}

/**
 * A 3-node mesh a, b, c with IPv4 endpoints, built through the real edit path, plus extra `set` directives and
 * blacklisted pairs. Deterministic (seeded).
 */
export function threeNodeMesh(seed: string, set: string[] = [], pairs: [string, string][] = []): Mesh {
  const doc: TomlTable = {};
  const random = seededRandom(seed);
  ensureNetwork(doc, random);
  addNodes(doc, "m", ["a", "b", "c"], random);
  const endpoints = ["a", "b", "c"].flatMap((n, i) => ["node", n, "endpoint", `198.51.100.${i + 1}:1`]);
  applySet(doc, "m", [...endpoints, ...set], { random });
  for (const [l, r] of pairs) blacklist(doc, "m", "add", l, [r]);
  return meshFromDoc("m", doc, { file: "m.conf" });
}

/** Async failure helper: the promise must reject with a CiabError. */
export async function ciabFailure(p: Promise<unknown>): Promise<CiabError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(CiabError);
  return e as CiabError;
}
