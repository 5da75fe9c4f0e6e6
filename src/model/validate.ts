// When a mesh may be written, rendered or deployed: the "deploy" problems of the whole mesh (the file's own, the
// MTU plan, the routing design) and what each kind of command does with them. Pure; no I/O.
// - read commands (show, showconf, zone, graph) print them as warnings: a vwgen file with vwgen's defects stays
//   readable (issue 10);
// - edits refuse a problem they introduce (one the mesh did not have before), so nothing `render` would refuse is
//   written; problems already in the file are warned about, so the file can still be repaired step by step;
// - `render` and `up` refuse every one.

import { type Problem, problemsError } from "./errors.js";
import type { Mesh } from "./mesh.js";
import { mtuPlan } from "./mtu.js";
import { routingProblems } from "./routing-problems.js";
import type { TomlTable } from "./toml.js";

/** IPv6 needs links of at least 1280 bytes (RFC 8200 §5): the overlay carries IPv6 when there is an IPv6 pool. */
function mtuProblems(mesh: Mesh): Problem[] {
  const first = mesh.nodes[0];
  if (!first || !mesh.network.poolIPv6) return [];
  const plan = mtuPlan(mesh, first);
  if (plan.vxlan >= 1280) return [];
  const n = mesh.network;
  return [
    {
      phase: "deploy",
      message: `[Network] UnderlayMTU ${n.underlayMTU} / VxlanMTU ${n.vxlanMTU} give the overlay an MTU of ${plan.vxlan}, below IPv6's minimum of 1280 (RFC 8200 §5), but AddressPoolIPv6 is set`,
      hint: `raise underlay-mtu (the overlay needs ${n.underlayMTU + 1280 - plan.vxlan}), or remove pool-ipv6`,
      where: { table: "Network", key: "UnderlayMTU" },
    },
  ];
}

/** Every problem that `render` and `up` refuse. */
export const deployProblems = (mesh: Mesh): Problem[] => [...mesh.problems.filter((p) => p.phase === "deploy"), ...mtuProblems(mesh), ...routingProblems(mesh)];

/** Throws one CiabError listing every deploy problem. */
export function assertDeployable(mesh: Mesh): void {
  const problems = deployProblems(mesh);
  if (problems.length) throw problemsError(problems);
}

/** What a read command prints: the warnings, then each deploy problem with the commands that will refuse it. */
export const readWarnings = (mesh: Mesh): string[] => [
  ...mesh.warnings,
  ...deployProblems(mesh).map((p) => `${p.message} ('ciab render' and 'ciab up' refuse this${p.hint ? `; fix: ${p.hint}` : ""})`),
];

/**
 * The result of an edit: the deploy problems it introduced (refused), and those the mesh had already (warned).
 * `before` is undefined for a new file. Problems are compared by message, which names node, key and value.
 */
export function editProblems(before: Mesh | undefined, after: Mesh): { introduced: Problem[]; kept: Problem[] } {
  const had = new Set(before ? deployProblems(before).map((p) => p.message) : []);
  const now = deployProblems(after);
  return { introduced: now.filter((p) => !had.has(p.message)), kept: now.filter((p) => had.has(p.message)) };
}

/**
 * What vwgen cannot render of a mesh ciab edited (issue 10, "both ways"): vwgen derives a peer's PublicKey from its
 * PrivateKey, so a node that holds only `PublicKey` gets no PublicKey line in vwgen's showconf of its peers; vwgen
 * writes no PresharedKey, so a host configured by vwgen cannot handshake with one ciab rendered with `psk on`.
 * Read from the document (no key derivation: edits stay cheap).
 */
export function vwgenBlindSpots(doc: TomlTable): string[] {
  const nodes = (doc.Node ?? {}) as Record<string, TomlTable>;
  const out = Object.keys(nodes)
    .sort()
    .filter((n) => nodes[n]?.PrivateKey === undefined && nodes[n]?.PublicKey !== undefined)
    .map((n) => `node ${n} holds only its public key: vwgen's showconf of its peers has no PublicKey line for it (use 'ciab showconf' or 'ciab render')`);
  if ((doc.Network as TomlTable | undefined)?.PresharedKeys === true)
    out.push("psk is on: vwgen's showconf has no PresharedKey lines, so a host configured by vwgen cannot handshake with one configured by ciab");
  return out;
}
