// The vwgen-compatible commands: add, set, del, show, showconf, blacklist, zone, genkey, genpsk, pubkey.
// Thin: parse arguments, call model/registry/render, print.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { prepareOutDir } from "../adapters/bundle-fs.js";
import { isNotRegular, readRegularText, replaceFiles } from "../adapters/files.js";
import { genkey, genpsk, pubkey } from "../keys/x25519.js";
import { addNodes, applySet, blacklist, delNodes, ensureNetwork, repairEndpoints } from "../model/edit.js";
import { CiabError, invalid, notFound, problemsError } from "../model/errors.js";
import { type Mesh, meshFromDoc } from "../model/mesh.js";
import { schemaProblems } from "../model/schema.js";
import { dumpToml } from "../model/toml.js";
import { deployProblems, editProblems, readWarnings } from "../model/validate.js";
import { loadMesh, meshRef, updateMesh } from "../registry/file.js";
import { showJson, showText } from "../render/show.js";
import { renderShowconf } from "../render/showconf.js";
import { renderZones } from "../render/zone.js";
import { type GlobalOptions, globals, randomSource, splitFlags } from "./context.js";
import { json, out, progress, warn } from "./output.js";

export function findNode(mesh: Mesh, name: string) {
  const node = mesh.nodes.find((n) => n.name === name);
  if (!node) {
    throw notFound(`network '${mesh.name}' has no node '${name}'`, {
      where: { node: name },
      hint: `nodes: ${mesh.nodes.map((n) => n.name).join(", ") || "(none)"}`,
    });
  }
  return node;
}

/** `private-key FILE`: a regular file only (a FIFO or /dev/zero would hang the edit while it holds the lock). */
function readKeyFile(path: string): string {
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
class Unchanged {
  constructor(readonly mesh: Mesh) {}
}

function edit(g: GlobalOptions, net: string, create: boolean, fn: Parameters<typeof updateMesh>[2]) {
  const ref = meshRef(net, g.dir);
  const ctx = { file: ref.path };
  let res: { mesh: Mesh; changed: boolean };
  let kept: string[] = [];
  try {
    res = updateMesh(ref, { create, lockTimeoutMs: g.lockTimeout }, (doc, existed) => {
      // The schema first: an edit never works on a value of the wrong type (those crashed before).
      if (existed && schemaProblems(doc, ctx).some((p) => p.phase === "load")) {
        loadMesh(ref); // throws the problems with their lines and columns
        throw problemsError(schemaProblems(doc, ctx).filter((p) => p.phase === "load"));
      }
      const original = existed ? dumpToml(doc) : undefined;
      const beforeDoc = existed ? structuredClone(doc) : undefined;
      fn(doc, existed);
      repairEndpoints(doc);
      const after = meshFromDoc(ref.name, doc, ctx);
      if (original !== undefined && dumpToml(doc) === original) throw new Unchanged(after);
      // Validate the whole result as `render` would: refuse what this edit introduces, warn about what was there.
      let before: Mesh | undefined;
      if (beforeDoc && deployProblems(after).length) {
        try {
          before = meshFromDoc(ref.name, beforeDoc, ctx);
        } catch {
          /* the file was broken before: every problem of the result counts as new */
        }
      }
      const p = editProblems(before, after);
      if (p.introduced.length) throw problemsError(p.introduced);
      kept = p.kept.map((k) => `${k.message} (already in the file; 'ciab render' and 'ciab up' refuse it)`);
    });
  } catch (e) {
    if (!(e instanceof Unchanged)) throw e;
    res = { mesh: e.mesh, changed: false };
    kept = readWarnings(e.mesh).filter((w) => !e.mesh.warnings.includes(w));
  }
  for (const w of [...res.mesh.warnings, ...kept]) warn(w);
  if (g.json) json({ ok: true, network: ref.name, file: ref.path, changed: res.changed });
  else if (!res.changed) progress(`${ref.path}: unchanged (it already holds these values)`);
  return res;
}

export function registerMeshCommands(program: Command): void {
  program
    .command("add")
    .description("create a network, and add nodes to it (vwgen add)")
    .argument("<network>", "network name; the mesh file is <network>.conf")
    .argument("[nodes...]", "node names")
    .action((net: string, nodes: string[], _o, cmd: Command) => {
      const g = globals(cmd);
      const rnd = randomSource();
      edit(g, net, true, (doc) => {
        ensureNetwork(doc, rnd);
        if (nodes.length) addNodes(doc, meshRef(net, g.dir).name, nodes, rnd);
      });
    });

  program
    .command("set")
    .description("change network and node settings (vwgen set directives, plus ciab's)")
    .argument("<network>")
    .argument("<directives...>", "e.g. pool-ipv4 172.20.10.0/24 node node1 endpoint 198.51.100.7:51820 listen-port 51820")
    .passThroughOptions()
    .allowUnknownOption()
    .action((net: string, words: string[], _o, cmd: Command) => {
      const { args, flags } = splitFlags(words);
      const g = globals(cmd, flags);
      const env = { random: randomSource(), readKeyFile };
      edit(g, net, false, (doc) => applySet(doc, meshRef(net, g.dir).name, args, env));
    });

  program
    .command("del")
    .description("delete nodes (and their blacklist entries, pre-shared keys, reflector roles)")
    .argument("<network>")
    .argument("<nodes...>")
    .action((net: string, nodes: string[], _o, cmd: Command) => {
      const g = globals(cmd);
      edit(g, net, false, (doc) => delNodes(doc, meshRef(net, g.dir).name, nodes));
    });

  program
    .command("blacklist")
    .description("forbid (add) or allow again (del) direct peering between nodes")
    .argument("<network>")
    .argument("<operation>", "add | del")
    .argument("<left>")
    .argument("<right...>")
    .action((net: string, op: string, left: string, rights: string[], _o, cmd: Command) => {
      const g = globals(cmd);
      edit(g, net, false, (doc) => blacklist(doc, meshRef(net, g.dir).name, op, left, rights));
    });

  program
    .command("show")
    .description("show the networks' settings and nodes")
    .argument("<networks...>")
    .option("--show-keys", "also print private keys")
    .option("--color", "colour even when not a terminal")
    .option("--node <name>", "only this node")
    .action((nets: string[], o: { showKeys?: boolean; color?: boolean; node?: string }, cmd: Command) => {
      const g = globals(cmd);
      const meshes = nets.map((n) => loadMesh(meshRef(n, g.dir)).mesh);
      if (o.node) for (const m of meshes) findNode(m, o.node);
      for (const m of meshes) for (const w of readWarnings(m)) warn(w);
      if (g.json) {
        const docs = meshes.map((m) => showJson(m, { showKeys: Boolean(o.showKeys), only: o.node }));
        json(docs.length === 1 ? docs[0] : docs);
        return;
      }
      const color = Boolean(o.color) || (process.stdout.isTTY === true && !process.env.NO_COLOR);
      for (const m of meshes) process.stdout.write(showText(m, { color, showKeys: Boolean(o.showKeys), only: o.node }));
    });

  program
    .command("showconf")
    .description("print one node's WireGuard (wg-quick) file, vwgen layout")
    .argument("<network>")
    .argument("<node>")
    .action((net: string, name: string, _o, cmd: Command) => {
      const g = globals(cmd);
      const { mesh } = loadMesh(meshRef(net, g.dir));
      for (const w of readWarnings(mesh)) warn(w);
      process.stdout.write(renderShowconf(mesh, findNode(mesh, name)));
    });

  program
    .command("zone")
    .description("BIND zones for the overlay addresses: forward (default), or --reverse ipv4|ipv6, or all with --out")
    .argument("<network>")
    .argument("<domain>")
    .option("--serial <n>", "SOA serial (default: the current unix time)")
    .option("--ns <fqdn>", "name server for the NS records (default: the first node)")
    .option("--reverse <family>", "print the reverse zone of pool-ipv4 (ipv4) or pool-ipv6 (ipv6)")
    .option("--out <dir>", "write db.<zone> files for all zones into this directory")
    .action((net: string, domain: string, o: { serial?: string; ns?: string; reverse?: string; out?: string }, cmd: Command) => {
      const g = globals(cmd);
      const { mesh } = loadMesh(meshRef(net, g.dir));
      if (o.serial !== undefined && !/^\d+$/.test(o.serial)) throw invalid(`--serial '${o.serial}' must be a whole number`);
      const serial = o.serial === undefined ? Math.floor(Date.now() / 1000) : Number(o.serial);
      const z = renderZones(mesh, { domain, serial, ns: o.ns });
      for (const w of z.warnings) warn(w);
      if (o.reverse !== undefined && !["ipv4", "ipv6"].includes(o.reverse)) throw invalid(`--reverse '${o.reverse}' must be ipv4 or ipv6`);
      if (o.out !== undefined) {
        // All zones or none: each is staged (written, fsynced) before any replaces its old copy.
        const dir = prepareOutDir(o.out);
        const files = [z.forward, z.reverse4, z.reverse6].flatMap((zone) =>
          zone ? [{ path: join(dir, `db.${zone.origin.replace(/\.$/, "")}`), content: zone.text, opts: { what: "zone file" } }] : [],
        );
        replaceFiles(files);
        const written = files.map((f) => f.path);
        if (g.json) json({ ok: true, files: written });
        else out(written.join("\n"));
        return;
      }
      const zone = o.reverse === "ipv4" ? z.reverse4 : o.reverse === "ipv6" ? z.reverse6 : z.forward;
      if (!zone) throw invalid(`network '${mesh.name}' has no pool-${o.reverse}, so no reverse zone`);
      process.stdout.write(zone.text);
    });

  program
    .command("genkey")
    .description("print a new private key (like wg genkey)")
    .action(() => out(genkey(randomSource().bytes)));

  program
    .command("genpsk")
    .description("print a new pre-shared key (like wg genpsk)")
    .action(() => out(genpsk(randomSource().bytes)));

  program
    .command("pubkey")
    .description("read a private key on stdin, print its public key (like wg pubkey)")
    .action(() => {
      let input = "";
      try {
        input = readFileSync(0, "utf8");
      } catch (e) {
        throw invalid("pubkey: cannot read the private key from standard input", { cause: e });
      }
      out(pubkey(input, "private key on standard input"));
    });
}
