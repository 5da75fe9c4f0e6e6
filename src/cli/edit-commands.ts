// The edit commands of vwgen (add, set, del, blacklist): one locked read-modify-write each, validated as `render`
// would validate it. Free of the command tree: mesh-commands.ts registers them (any registry), and fast.ts runs a
// plain command line on the mesh files straight away (vwgen's scripts call them once per process).
import { existsSync } from "node:fs";
import { isNotRegular, readRegularText } from "../adapters/files.js";
import { type DocChanges, docChanges, noChanges } from "../model/doc-changes.js";
import { addNodes, applySet, blacklist, delNodes, ensureNetwork, repairEndpoints } from "../model/edit.js";
import { CiabError, problemsError } from "../model/errors.js";
import { checkNetworkName, type Mesh, meshFromDoc } from "../model/mesh.js";
import { schemaProblems } from "../model/schema.js";
import { dumpToml, parseToml, type TomlTable } from "../model/toml.js";
import { deployProblems, editProblems, readWarnings, vwgenBlindSpots } from "../model/validate.js";
import { loadMesh, type MeshRef, type Mutate, meshRef, updateMesh } from "../registry/file.js";
import { collectWarnings, info, json, warn } from "./output.js";
import { randomSource } from "./random.js";

/** What the edit commands need of the common options. */
export interface EditGlobals {
  dir: string;
  json: boolean;
  lockTimeout: number;
  registry?: string;
}

/** Runs one edit: under the mesh file's lock (fileUpdater), or by compare-and-swap in a registry (mesh-commands.ts). */
export type Updater = (g: EditGlobals, net: string, create: boolean, mutate: Mutate) => Promise<{ mesh: Mesh; changed: boolean }>;

export const fileUpdater: Updater = async (g, net, create, mutate) => updateMesh(meshRef(net, g.dir), { create, lockTimeoutMs: g.lockTimeout }, mutate);

/** Why an edit vwgen would take is refused (README, vwgen section): what it introduces, `render` would refuse. */
export const EDIT_REFUSAL = "refused: this edit introduces it and 'ciab render' would refuse it; the file is unchanged";

/** `private-key FILE`: a regular file only (a FIFO or /dev/zero would hang the edit while it holds the lock). */
export function readKeyFile(path: string): string {
  // The "path" is often a mistyped key, i.e. a secret: edit.ts keeps only the errno code of what is thrown here.
  let text: string | undefined;
  try {
    text = readRegularText(path, { what: "key file", maxBytes: 4096 });
  } catch (e) {
    const code = isNotRegular(e) ? "not a regular file" : ((e as { cause?: { code?: string } }).cause?.code ?? "unreadable");
    throw new CiabError("io", "unreadable key file", { cause: { code } });
  }
  if (text === undefined) throw new CiabError("notFound", "no such key file", { cause: { code: "ENOENT" } });
  return text;
}

/** Thrown out of the locked read-modify-write when an edit changes nothing: the file is left byte-identical. */
export class Unchanged {
  constructor(readonly mesh: Mesh) {}
}

/** The schema first: an edit never works on a value of the wrong type (those crashed before). */
export function schemaFirst(ref: MeshRef, doc: TomlTable): void {
  const load = schemaProblems(doc, { file: ref.path }).filter((p) => p.phase === "load");
  if (load.length === 0) return;
  if (existsSync(ref.path)) loadMesh(ref); // throws the problems with their lines and columns
  throw problemsError(load);
}

/** The network's name and how messages name its document: the mesh file, or the network in etcd. */
export function target(g: EditGlobals, net: string): MeshRef {
  if (g.registry === undefined) return meshRef(net, g.dir);
  checkNetworkName(net);
  return { name: net, title: net, path: `${g.registry.replace(/\/+$/, "")}/${net}` };
}

async function edit(
  g: EditGlobals,
  net: string,
  create: boolean,
  fn: (doc: TomlTable, existed: boolean) => void,
  skipped: CiabError[] = [],
  update: Updater = fileUpdater,
) {
  const ref = target(g, net);
  const ctx = { file: ref.path, title: ref.title, edit: true };
  let res: { mesh: Mesh; changed: boolean };
  let kept: string[] = [];
  let changes = noChanges();
  const notes: string[] = [];
  try {
    res = await update(g, net, create, (doc, existed, original) => {
      skipped.length = 0;
      notes.length = 0;
      if (existed) schemaFirst(ref, doc);
      // The document before the edit: a copy only for the JSON document's changes; the problems before the edit (rare:
      // only when the result has some) read it again from the text the edit started from.
      const beforeDoc = existed && g.json ? structuredClone(doc) : undefined;
      const blind = new Set(existed ? vwgenBlindSpots(doc) : []);
      fn(doc, existed);
      // Every argument skipped: a refusal, and a refusal never writes (not even the endpoint repair below).
      if (skipped.length && original !== undefined && dumpToml(doc) === original) throw skipped[0];
      // README: vwgen's mangled IPv6 endpoints are stored repaired by the next write, and each one is said.
      for (const r of repairEndpoints(doc))
        notes.push(`node ${r.node}: Endpoint ${JSON.stringify(r.before)} stored as ${JSON.stringify(r.after)} (vwgen's mangled IPv6 form, repaired)`);
      const after = meshFromDoc(ref.name, doc, ctx);
      const out = dumpToml(doc);
      if (out === original) throw new Unchanged(after);
      // What the JSON document reports: from the document before and after, not threaded through each directive.
      if (g.json) changes = docChanges(beforeDoc, doc, after); // only the JSON document reports them
      // Validate the whole result as `render` would: refuse what this edit introduces, warn about what was there.
      let before: Mesh | undefined;
      if (existed && original !== undefined && deployProblems(after).length) {
        try {
          before = meshFromDoc(ref.name, beforeDoc ?? parseToml(original, ref.path), ctx);
        } catch {
          /* the file was broken before: every problem of the result counts as new */
        }
      }
      const p = editProblems(before, after);
      const [first, ...rest] = p.introduced;
      if (first) throw problemsError([{ ...first, message: `${first.message} (${EDIT_REFUSAL})` }, ...rest]);
      for (const w of vwgenBlindSpots(doc)) if (!blind.has(w)) notes.push(`vwgen can no longer render all of this mesh: ${w}`);
      kept = p.kept.map((k) => `${k.message} (already in the file; 'ciab render' and 'ciab up' refuse it)`);
      return { out, mesh: after };
    });
  } catch (e) {
    if (!(e instanceof Unchanged)) throw e;
    res = { mesh: e.mesh, changed: false };
    changes = noChanges();
    kept = readWarnings(e.mesh).filter((w) => !e.mesh.warnings.includes(w));
  }
  const w = collectWarnings();
  for (const text of [...res.mesh.warnings, ...kept, ...(res.changed ? notes : [])]) w.warn(text);
  if (!g.json && !res.changed) info(`${ref.path}: unchanged (it already holds these values)`);
  return { ...res, network: ref.name, file: ref.path, changes: changes as DocChanges, warnings: w.list };
}

type Edited = Awaited<ReturnType<typeof edit>>;

/**
 * The edit's document, then the arguments it skipped: add, del and blacklist apply the valid part, as vwgen does (a
 * script adding n1..n9 to a mesh that has n3 keeps working); the skipped ones are reported after the write, and the
 * command exits with the first one's code (its document says ok: false and lists them).
 */
function finish(g: EditGlobals, r: Edited, skipped: CiabError[] = []): void {
  if (g.json) {
    const c = r.changes;
    json({
      ok: skipped.length === 0,
      network: r.network,
      file: r.file,
      changed: r.changed,
      added: c.added,
      removed: c.removed,
      set: { network: c.network, nodes: c.nodes },
      blacklist: c.blacklist,
      skipped: skipped.map((e) => ({ code: e.code, message: e.message })),
      warnings: r.warnings,
    });
  }
  if (skipped.length === 0) return;
  for (const e of skipped.slice(1)) warn(`skipped: ${e.message}`);
  throw skipped[0];
}

export async function addCommand(g: EditGlobals, net: string, nodes: string[], update?: Updater): Promise<void> {
  const rnd = randomSource();
  const skipped: CiabError[] = [];
  const r = await edit(
    g,
    net,
    true,
    (doc) => {
      ensureNetwork(doc, rnd);
      if (nodes.length) addNodes(doc, target(g, net).name, nodes, rnd, skipped);
    },
    skipped,
    update,
  );
  finish(g, r, skipped);
}

export async function setCommand(g: EditGlobals, net: string, args: string[], update?: Updater): Promise<void> {
  const env = { random: randomSource(), readKeyFile };
  finish(g, await edit(g, net, false, (doc) => applySet(doc, target(g, net).name, args, env), [], update));
}

/** `deleted` runs on the nodes it deleted (if any) before the ones it skipped (not in the mesh) are reported. */
export async function delCommand(g: EditGlobals, net: string, nodes: string[], update?: Updater, deleted?: (nodes: string[]) => Promise<void>): Promise<void> {
  const skipped: CiabError[] = [];
  const res = await edit(g, net, false, (doc) => delNodes(doc, target(g, net).name, nodes, skipped), skipped, update);
  const gone = nodes.filter((n) => !skipped.some((e) => e.message.includes(`'${n}'`)));
  if (res.changed && gone.length && deleted) await deleted(gone);
  finish(g, res, skipped);
}

export async function blacklistCommand(g: EditGlobals, net: string, op: string, left: string, rights: string[], update?: Updater): Promise<void> {
  const skipped: CiabError[] = [];
  finish(g, await edit(g, net, false, (doc) => blacklist(doc, target(g, net).name, op, left, rights, skipped), skipped, update), skipped);
}
