// The host fixtures (test/fixtures/host): real outputs captured on node n1/n2 of a 3-node lab (BGP, reflector n1),
// the lab's mesh with public keys only, and helpers that build the planner's observed and desired states from them.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseBgpSummary } from "../../src/adapters/frr.js";
import { parseAddresses, parseFdb, parseLinks, parseNeighbours } from "../../src/adapters/iproute2.js";
import { parseWgDump } from "../../src/adapters/wireguard.js";
import { seededRandom } from "../../src/keys/random.js";
import type { Random } from "../../src/model/edit.js";
import { type Mesh, meshFromDoc } from "../../src/model/mesh.js";
import { parseToml, type TomlTable } from "../../src/model/toml.js";
import { topology } from "../../src/model/topology.js";
import { type DesiredOptions, desiredFromBundle } from "../../src/plan/bundle.js";
import { frrFiles, ownerMark, sha256Hex, vxlanSysctls } from "../../src/plan/plan.js";
import type { DesiredHost, ObservedHost } from "../../src/plan/types.js";
import { renderBundle } from "../../src/render/bundle.js";
import { ROOT } from "./env.js";

export const HOST_FIXTURES = join(ROOT, "test", "fixtures", "host");
/** The lab network the fixtures come from (interfaces upc3194 and vupc3194). */
export const NET = "upc3194";
export const fx = (file: string): string => readFileSync(join(HOST_FIXTURES, file), "utf8");

export const meshText = (): string => fx(`${NET}.conf`);
export const meshDoc = (): TomlTable => parseToml(meshText(), `${NET}.conf`);
export const meshOf = (doc: TomlTable): Mesh => meshFromDoc(NET, doc, { file: `${NET}.conf` });
export const random = (): Random => seededRandom("host-fixtures");

/** The desired state of a node, through the same path as `ciab up NET NODE` (render in memory, load as a bundle). */
export function desiredOf(mesh: Mesh, node: string, opts: DesiredOptions = {}): DesiredHost {
  const n = mesh.nodes.find((x) => x.name === node);
  if (!n) throw new Error(`no node ${node}`);
  return desiredFromBundle("(memory)", new Map(renderBundle(topology(mesh).node(n), "digest").map((f) => [f.path, f.content])), opts);
}

/** `ip -j -d link show` of a lab node. The captures predate ciab's ownership mark; a host brought up now has it. */
export function linksJson(node: "n1" | "n2"): string {
  const links = JSON.parse(fx(`${node}.ip-link.json`)) as { ifname: string; ifalias?: string }[];
  return JSON.stringify(links.map((l) => (l.ifname === NET || l.ifname === `v${NET}` ? { ...l, ifalias: ownerMark(NET) } : l)));
}

/**
 * What node `node` (n1 or n2) of the lab looked like, from the captured outputs. Files, sysctls and FRR's state
 * were not captured: they are taken as equal to `installed` (what ciab-up installed there).
 */
export function observedOf(node: "n1" | "n2", installed: DesiredHost, now = 1795408300): ObservedHost {
  const files: ObservedHost["files"] = {};
  for (const f of installed.files) files[f.path] = { sha256: sha256Hex(f.content), mode: f.mode, ...(f.secret ? {} : { text: f.content }) };
  for (const r of installed.routing) {
    if (r.daemon !== "frr") continue;
    for (const f of frrFiles(r.frrConf, r.daemons)) files[f.path] = { sha256: sha256Hex(f.content), mode: f.mode, text: f.content };
  }
  const sysctls: Record<string, string> = {};
  for (const s of [...installed.sysctls, ...installed.vxlan.flatMap((x) => vxlanSysctls(x.ifname))]) sysctls[s.key] = `${s.value}\n`;
  return {
    now,
    links: parseLinks(linksJson(node)),
    addresses: parseAddresses(fx(`${node}.ip-addr.json`)),
    neighbours: parseNeighbours(fx(`${node}.ip-neigh.json`)),
    fdb: parseFdb(fx(`${node}.bridge-fdb.json`)),
    wireguard: [parseWgDump(fx(`${node}.wg-dump.txt`), NET)],
    wgBackend: "userspace",
    sysctls,
    files,
    nftTable: fx(`${node}.nft-table.txt`),
    frr: { installed: true, running: true, reloadScript: true, systemd: false },
  };
}

export { parseBgpSummary };

/** A host with nothing of the mesh yet (FRR installed, not running): what a first `ciab up` observes. */
export const emptyHost = (): ObservedHost => ({
  now: 0,
  links: [],
  addresses: [],
  neighbours: [],
  fdb: [],
  wireguard: [],
  sysctls: {},
  files: {},
  nftTable: undefined,
  frr: { installed: true, running: false, reloadScript: true, systemd: false },
});
