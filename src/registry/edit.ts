// The mesh through any registry: load it (parsed and validated, with its revision) and edit it by compare-and-swap.
// An edit reads, changes, validates and writes only if nobody wrote meanwhile; else it starts again from what is
// there now. So 20 `ciab add` racing from different machines each land once, and never hand out one address,
// VTEP, port or name twice: the allocation is computed from the text the write compares against.
import { CiabError, notFound } from "../model/errors.js";
import { checkNetworkName, type Mesh, meshFromDoc } from "../model/mesh.js";
import { parseToml, type TomlTable } from "../model/toml.js";
import { editedText, holdsSecrets, type Mutate } from "./file.js";
import type { Registry, Revision } from "./registry.js";

export interface LoadedFrom {
  text: string;
  doc: TomlTable;
  mesh: Mesh;
  revision: Revision;
}

/** How messages name the network's document: `etcd://host:port/prefix/NET`, or the mesh file's path. */
export const where = (reg: Registry, net: string): string => (reg.kind === "file" ? `${reg.location}/${net}.conf` : `${reg.location}/${net}`);

export async function loadMeshFrom(reg: Registry, net: string): Promise<LoadedFrom> {
  checkNetworkName(net);
  const got = await reg.readMesh(net);
  const file = where(reg, net);
  if (!got)
    throw notFound(`network '${net}' does not exist in ${reg.location}`, {
      where: { file },
      hint: `create it with 'ciab add ${net}' or 'ciab registry import ${net} FILE'`,
    });
  const doc = parseToml(got.text, file);
  return { text: got.text, doc, revision: got.revision, mesh: meshFromDoc(net, doc, { file, text: got.text }) };
}

const ATTEMPTS = 60;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Read-modify-write by compare-and-swap. `mutate` changes the document (it may run more than once: it must depend
 * only on the document it is given); the result must validate, or nothing is written.
 */
export async function editMesh(reg: Registry, net: string, opts: { create?: boolean }, mutate: Mutate): Promise<{ mesh: Mesh; changed: boolean }> {
  checkNetworkName(net);
  const file = where(reg, net);
  for (let attempt = 1; ; attempt++) {
    const got = await reg.readMesh(net);
    if (!got && !opts.create) await loadMeshFrom(reg, net); // throws the not-found error
    const { doc, out, mesh } = editedText(net, got?.text, file, mutate);
    if (got && out === got.text) return { mesh, changed: false };
    const w = await reg.writeMesh(net, out, got?.revision, { secret: holdsSecrets(doc) });
    if (w.ok) return { mesh, changed: true };
    if (attempt >= ATTEMPTS)
      throw new CiabError("locked", `network '${net}' in ${reg.location} kept changing under ${ATTEMPTS} attempts to edit it`, {
        hint: "many writers at once: run the command again",
      });
    await sleep(Math.min(200, 2 ** Math.min(attempt, 7)) * (0.5 + Math.random()));
  }
}
