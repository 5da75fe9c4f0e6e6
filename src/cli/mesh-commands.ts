// The vwgen-compatible commands: add, set, del, show, showconf, blacklist, zone, genkey, genpsk, pubkey.
// Thin: parse arguments, call model/registry/render, print.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { prepareOutDir } from "../adapters/bundle-fs.js";
import { readRegularText, replaceFiles } from "../adapters/files.js";
import { genkey, genpsk, pubkey } from "../keys/x25519.js";
import { SET_HELP } from "../model/edit.js";
import { CiabError, EXIT, invalid, usage } from "../model/errors.js";
import { checkNetworkName, type Mesh, meshFromDoc } from "../model/mesh.js";
import { type Change, migrateDoc } from "../model/migrate.js";
import { parseToml } from "../model/toml.js";
import { topology } from "../model/topology.js";
import { readWarnings } from "../model/validate.js";
import { editMesh, loadMeshFrom } from "../registry/edit.js";
import { EtcdRegistry } from "../registry/etcd.js";
import { holdsSecrets, loadMesh, meshRef, updateMesh } from "../registry/file.js";
import { renderZones } from "../render/zone.js";
import { type GlobalOptions, globals, splitFlags, withRegistry } from "./context.js";
import { addCommand, blacklistCommand, delCommand, fileUpdater, readKeyFile, schemaFirst, setCommand, Unchanged, type Updater } from "./edit-commands.js";
import { collectWarnings, info, json, out, warn } from "./output.js";
import { randomSource } from "./random.js";
import { showconfMesh, showMeshes } from "./read-commands.js";

/** The networks' meshes from the command's registry (the mesh files by default). */
export async function loadMeshes(g: GlobalOptions, nets: string[]): Promise<Mesh[]> {
  if (g.registry === undefined) return nets.map((n) => loadMesh(meshRef(n, g.dir)).mesh);
  return withRegistry(g, async (reg) => {
    const out: Mesh[] = [];
    for (const n of nets) out.push((await loadMeshFrom(reg, n)).mesh);
    return out;
  });
}

/**
 * `ciab migrate`: every repair in one read-modify-write under the lock (nothing is written with --dry-run or when
 * there is nothing to do). Exit 0 when the result is deployable, 4 when problems remain that need a decision (each
 * printed with its fix); the changes are written either way.
 */
function migrate(g: GlobalOptions, net: string, dryRun: boolean): void {
  const ref = meshRef(net, g.dir);
  const ctx = { file: ref.path, title: ref.title };
  const env = { random: randomSource(), readKeyFile };
  let changes: Change[] = [];
  let mesh: Mesh;
  let written = false;
  try {
    const res = updateMesh(ref, { create: false, lockTimeoutMs: g.lockTimeout }, (doc) => {
      schemaFirst(ref, doc);
      changes = migrateDoc(doc, env);
      if (dryRun || changes.length === 0) throw new Unchanged(meshFromDoc(ref.name, doc, ctx));
    });
    mesh = res.mesh;
    written = res.changed;
  } catch (e) {
    if (!(e instanceof Unchanged)) throw e;
    mesh = e.mesh;
  }
  // Everything `render` refuses (the file's own problems, MTU, routing, endpoints, relays), located.
  const remaining = topology(mesh).problems.map((p) => ({ message: p.message, hint: p.hint }));
  if (g.json) json({ ok: remaining.length === 0, network: ref.title, file: ref.path, dryRun, written, changes, remaining });
  else {
    if (changes.length === 0) out(`${ref.path}: nothing to migrate`);
    else {
      out(`${ref.path}: ${changes.length} change${changes.length === 1 ? "" : "s"}${dryRun ? " (dry run: nothing written)" : ""}`);
      for (const c of changes) out(`  ${c.key}: ${c.before} -> ${c.after}  (${c.why})`);
    }
    for (const r of remaining) warn(`still refused by 'ciab render': ${r.message}${r.hint ? `; fix: ${r.hint}` : ""}`);
  }
  if (remaining.length) process.exitCode = EXIT.invalid;
}

/** The edits' read-modify-write: the mesh file under its lock, or a registry by compare-and-swap (each run of the
 * mutation then starts from nothing, as it may run again on a newer text). */
const updater = (g: GlobalOptions): Updater =>
  g.registry === undefined ? fileUpdater : (_g, net, create, mutate) => withRegistry(g, (reg) => editMesh(reg, net, { create }, mutate));

export function registerMeshCommands(program: Command): void {
  program
    .command("add")
    .description("create a network, and add nodes to it (vwgen add)")
    .argument("<network>", "network name; the mesh file is <network>.conf")
    .argument("[nodes...]", "node names")
    .action(async (net: string, nodes: string[], _o, cmd: Command) => addCommand(globals(cmd), net, nodes, updater(globals(cmd))));

  program
    .command("set")
    .description("change network and node settings (vwgen set directives, plus ciab's)")
    .argument("<network>")
    .argument("<directives...>", "e.g. pool-ipv4 172.20.10.0/24 node node1 endpoint 198.51.100.7:51820 listen-port 51820")
    .passThroughOptions()
    .allowUnknownOption()
    .addHelpText(
      "after",
      `\nDirectives (several 'node NAME' blocks per call):\n  node NAME            the node the following node directives change\n${Object.entries(SET_HELP)
        .map(([d, h]) => `  ${d} ${h}`)
        .join("\n")}`,
    )
    .action(async (net: string, words: string[], _o, cmd: Command) => {
      const { args, flags } = splitFlags(words);
      const g = globals(cmd, flags);
      await setCommand(g, net, args, updater(g));
    });

  program
    .command("del")
    .description("delete nodes (and their blacklist entries, pre-shared keys, reflector roles)")
    .argument("<network>")
    .argument("<nodes...>")
    .action(async (net: string, nodes: string[], _o, cmd: Command) => {
      const g = globals(cmd);
      // docs/FLEET.md "Removing a host": with etcd auth its credentials stop working now; its record then expires.
      await delCommand(g, net, nodes, updater(g), async (gone) => {
        if (g.registry === undefined) return;
        await withRegistry(g, async (reg) => {
          if (!(reg instanceof EtcdRegistry && reg.authenticated)) return;
          for (const n of gone) await reg.revokeNode(net, n);
          if (!g.json) info(`etcd users of ${gone.join(", ")} removed: their agents can no longer read or publish`);
        });
      });
    });

  program
    .command("blacklist")
    .description("forbid (add) or allow again (del) direct peering between nodes")
    .argument("<network>")
    .argument("<operation>", "add | del")
    .argument("<left>")
    .argument("<right...>")
    .action(async (net: string, op: string, left: string, rights: string[], _o, cmd: Command) => {
      const g = globals(cmd);
      await blacklistCommand(g, net, op, left, rights, updater(g));
    });

  const registry = program.command("registry").description("move a mesh between a file and the registry (--registry URL or $CIAB_REGISTRY)");
  registry
    .command("import")
    .description("store a mesh file (vwgen's or ciab's) in the registry as network NET, byte for byte")
    .argument("<network>")
    .argument("<file>")
    .option("--replace", "replace the network if the registry already holds it")
    .action(async (net: string, file: string, o: { replace?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      checkNetworkName(net);
      const text = readRegularText(file, { what: "mesh file" });
      if (text === undefined) throw new CiabError("notFound", `no mesh file ${file}`, { where: { file } });
      // It must read as a mesh (as every read command would); deploy problems are only warnings here, as for show.
      const mesh = meshFromDoc(net, parseToml(text, file), { file, text });
      const warned = collectWarnings();
      for (const w of readWarnings(mesh)) warned.warn(w);
      const res = await withRegistry(g, async (reg) => {
        const now = await reg.readMesh(net);
        if (now && !o.replace)
          throw new CiabError("conflict", `network '${net}' already exists in ${reg.location}`, {
            hint: `'ciab registry export ${net}' keeps a copy; --replace overwrites it`,
          });
        if (now?.text === text) return { location: reg.location, changed: false };
        const w = await reg.writeMesh(net, text, now?.revision, { secret: holdsSecrets(parseToml(text, file)) });
        if (!w.ok) throw new CiabError("conflict", `network '${net}' changed in ${reg.location} while it was imported`, { hint: "run the command again" });
        return { location: reg.location, changed: true };
      });
      if (g.json) json({ ok: true, network: net, registry: res.location, changed: res.changed, nodes: mesh.nodes.length, warnings: warned.list });
      else info(`${net}: ${res.changed ? "imported into" : "already identical in"} ${res.location} (${mesh.nodes.length} nodes)`);
    });
  registry
    .command("export")
    .description("print network NET from the registry, byte for byte as it was imported or edited (a vwgen-compatible file)")
    .argument("<network>")
    .action(async (net: string, _o, cmd: Command) => {
      const g = globals(cmd);
      checkNetworkName(net);
      const got = await withRegistry(g, (reg) => reg.readMesh(net).then((m) => ({ m, location: reg.location })));
      if (!got.m)
        throw new CiabError("notFound", `network '${net}' does not exist in ${got.location}`, { hint: `'ciab registry import ${net} FILE' stores one` });
      if (g.json) json({ network: net, registry: got.location, revision: got.m.revision, text: got.m.text });
      else process.stdout.write(got.m.text);
    });

  program
    .command("show")
    .description("show the networks' settings and nodes")
    .argument("<networks...>")
    .option("--show-keys", "also print private keys")
    .option("--node <name>", "only this node")
    .option("--extra", "also ciab's settings (routing, subnets); without it the layout is vwgen's, line for line")
    .action(async (nets: string[], o: { showKeys?: boolean; node?: string; extra?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      showMeshes(await loadMeshes(g, nets), { ...o, json: g.json });
    });

  program
    .command("showconf")
    .description("print one node's WireGuard (wg-quick) file, vwgen layout")
    .argument("<network>")
    .argument("<node>")
    .action(async (net: string, name: string, _o, cmd: Command) => {
      const g = globals(cmd);
      showconfMesh((await loadMeshes(g, [net]))[0] as Mesh, name, g.json);
    });

  program
    .command("zone")
    .description("BIND zones for the overlay addresses: forward (default), or --reverse ipv4|ipv6, or all with --out; several NETWORK DOMAIN pairs as vwgen")
    .argument("<network>")
    .argument("<domain>")
    .argument("[more...]", "more NETWORK DOMAIN pairs (vwgen's form)")
    .option("--serial <n>", "SOA serial (default: the current unix time)")
    .option("--ns <fqdn>", "name server for the NS records (default: the first node)")
    .option("--reverse <family>", "print the reverse zone of pool-ipv4 (ipv4) or pool-ipv6 (ipv6)")
    .option("--out <dir>", "write db.<zone> files for all zones into this directory")
    .action(async (net: string, domain: string, more: string[], o: { serial?: string; ns?: string; reverse?: string; out?: string }, cmd: Command) => {
      const g = globals(cmd);
      if (more.length % 2 !== 0)
        throw usage(`zone takes NETWORK DOMAIN pairs; '${more[more.length - 1]}' has no domain`, "e.g. ciab zone one one.example two two.example");
      const pairs: [string, string][] = [[net, domain]];
      for (let i = 0; i < more.length; i += 2) pairs.push([more[i] as string, more[i + 1] as string]);
      if (o.serial !== undefined && !/^\d+$/.test(o.serial)) throw invalid(`--serial '${o.serial}' must be a whole number`);
      if (o.reverse !== undefined && !["ipv4", "ipv6"].includes(o.reverse)) throw invalid(`--reverse '${o.reverse}' must be ipv4 or ipv6`);
      const serial = o.serial === undefined ? Math.floor(Date.now() / 1000) : Number(o.serial);
      const meshes = await loadMeshes(
        g,
        pairs.map(([n]) => n),
      );
      const warned = collectWarnings();
      const all = pairs.map(([, d], i) => {
        const mesh = meshes[i] as Mesh;
        for (const w of readWarnings(mesh)) warned.warn(w);
        const z = renderZones(mesh, { domain: d, serial, ns: o.ns });
        for (const w of z.warnings) warned.warn(w);
        return { mesh, domain: d, z };
      });
      if (o.out !== undefined) {
        // All zones or none: each is staged (written, fsynced) before any replaces its old copy.
        const dir = prepareOutDir(o.out);
        const files = all.flatMap(({ z }) =>
          [z.forward, z.reverse4, z.reverse6].flatMap((zone) =>
            zone ? [{ path: join(dir, `db.${zone.origin.replace(/\.$/, "")}`), content: zone.text, opts: { what: "zone file" } }] : [],
          ),
        );
        replaceFiles(files);
        const written = files.map((f) => f.path);
        if (g.json) json({ ok: true, files: written, warnings: warned.list });
        else out(written.join("\n"));
        return;
      }
      const zones = all.map(({ mesh, domain: d, z }) => {
        const zone = o.reverse === "ipv4" ? z.reverse4 : o.reverse === "ipv6" ? z.reverse6 : z.forward;
        if (!zone) throw invalid(`network '${mesh.title}' has no pool-${o.reverse}, so no reverse zone`);
        return { network: mesh.title, domain: d, origin: zone.origin, text: zone.text };
      });
      if (g.json) json({ zones, warnings: warned.list });
      else process.stdout.write(zones.map((z) => z.text).join("\n"));
    });

  program
    .command("migrate")
    .description(
      "repair what vwgen wrote that render refuses (metadata-range VTEPs, mangled endpoints, stale references, missing prefix lengths, node names, key paths), in one locked write",
    )
    .argument("<network>")
    .option("--dry-run", "print the changes, write nothing")
    .action((net: string, o: { dryRun?: boolean }, cmd: Command) => migrate(globals(cmd), net, Boolean(o.dryRun)));

  program
    .command("genkey")
    .description("print a new private key (like wg genkey)")
    .action((_o, cmd: Command) => {
      // The user asked for the key: it is the output (as `wg genkey`'s), in the document too.
      const key = genkey(randomSource().bytes);
      if (globals(cmd).json) json({ privateKey: key });
      else out(key);
    });

  program
    .command("genpsk")
    .description("print a new pre-shared key (like wg genpsk)")
    .action((_o, cmd: Command) => {
      const key = genpsk(randomSource().bytes);
      if (globals(cmd).json) json({ presharedKey: key });
      else out(key);
    });

  program
    .command("pubkey")
    .description("read a private key on stdin, print its public key (like wg pubkey)")
    .action((_o, cmd: Command) => {
      let input = "";
      try {
        input = readFileSync(0, "utf8");
      } catch (e) {
        throw invalid("pubkey: cannot read the private key from standard input", { cause: e });
      }
      const pub = pubkey(input, "private key on standard input");
      if (globals(cmd).json) json({ publicKey: pub });
      else out(pub);
    });
}
