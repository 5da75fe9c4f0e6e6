// `ciab render`, `ciab graph`, `ciab key init`: from the mesh file to what hosts need.

import { dirname, join, resolve } from "node:path";
import type { Command } from "commander";
import { bundleWriteError, commitBundles, planBundles, prepareOutDir, removeBundle, staleBundles } from "../adapters/bundle-fs.js";
import { createExclusive, lstatOrUndefined, makeDirs, readRegularText, replaceFile, replacementTarget } from "../adapters/files.js";
import { dotToSvg } from "../adapters/graphviz.js";
import { genkey, pubkey } from "../keys/x25519.js";
import { CiabError, invalid } from "../model/errors.js";
import { checkNetworkName, type Mesh } from "../model/mesh.js";
import { topology } from "../model/topology.js";
import { readWarnings } from "../model/validate.js";
import { loadMeshFrom } from "../registry/edit.js";
import { loadMesh, meshRef } from "../registry/file.js";
import { checkRenderable, sha256 } from "../render/bundle.js";
import { renderDot } from "../render/dot.js";
import { globals, withRegistry } from "./context.js";
import { loadMeshes } from "./mesh-commands.js";
import { collectWarnings, detail, info, json, out, progressLine, verbosity } from "./output.js";
import { randomSource } from "./random.js";
import { findNode } from "./read-commands.js";
import { type BundleResult, renderBundlesTo } from "./render-bundles.js";

/** `rendered 500 bundles (482 MiB) in 1.7 s; 12 changed` (README "The bundle"): what every render ends with. */
export function renderSummary(bundles: { bytes: number; changed: boolean }[], seconds: number, removed = 0): string {
  const bytes = bundles.reduce((a, b) => a + b.bytes, 0);
  const size = bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(bytes >= 10 * 1024 * 1024 ? 0 : 1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
  const changed = bundles.filter((b) => b.changed).length;
  const n = bundles.length;
  return `rendered ${n} bundle${n === 1 ? "" : "s"} (${size}) in ${seconds.toFixed(1)} s; ${changed} changed${removed ? `, ${removed} removed` : ""}`;
}

export function registerRenderCommands(program: Command): void {
  program
    .command("render")
    .description("render one self-contained bundle per node (WireGuard+VXLAN, FRR or BIRD, scripts, manifest)")
    .argument("<network>")
    .option("--out <dir>", "where the bundles go (one directory per node)", "bundles")
    .option("--node <name>", "only this node")
    .action(async (net: string, o: { out: string; node?: string }, cmd: Command) => {
      const g = globals(cmd);
      const started = Date.now();
      const ref = meshRef(net, g.dir);
      const { mesh, text } = g.registry === undefined ? loadMesh(ref) : await withRegistry(g, (reg) => loadMeshFrom(reg, net));
      const warned = collectWarnings();
      for (const w of mesh.warnings) warned.warn(w);
      // validate() then synth(): every problem of the mesh, at once, before anything is written.
      const topo = topology(mesh);
      for (const w of checkRenderable(topo)) warned.warn(w);
      const nodes = o.node ? [findNode(mesh, o.node)] : mesh.nodes;
      const digest = sha256(text);
      const outDir = prepareOutDir(o.out.trim() === "" ? "" : resolve(g.dir, o.out));
      // The mesh file (a link's target too) and its lock are never replaced, whatever a node is called.
      const meshFile = replacementTarget(ref.path, "mesh file");
      // Every target is checked before the first bundle is written; each bundle is then rendered straight into its
      // temp directory, and all are renamed into place only when every one is complete.
      const targets = planBundles(
        outDir,
        nodes.map((n) => ({ node: n.name })),
        { network: mesh.name, protect: [ref.path, meshFile, `${meshFile}.lock`] },
      );
      let results: BundleResult[];
      const line = progressLine();
      try {
        results = await renderBundlesTo(topo, digest, targets, (n, of) => line.update(`rendering: ${n}/${of} bundles written`));
      } catch (e) {
        throw bundleWriteError(outDir, targets, e);
      } finally {
        line.end();
      }
      commitBundles(outDir, targets);
      const bundles = nodes.map((n, i) => ({ node: n.name, ...(results[i] as BundleResult) }));
      // A node deleted from the mesh must not leave a bundle that looks current.
      const stale = o.node ? { remove: [], kept: [] } : staleBundles(outDir, mesh.name, new Set(mesh.nodes.map((n) => n.name)));
      for (const s of stale.remove) removeBundle(join(outDir, s));
      for (const k of stale.kept) warned.warn(`kept ${join(outDir, k.name)} (node '${k.name}' is no longer in the mesh, but ${k.why}); remove it yourself`);
      if (g.json) {
        json({
          ok: true,
          network: mesh.name,
          meshDigest: digest,
          bundles: bundles.map((b) => ({ node: b.node, dir: join(outDir, b.node), files: b.files })),
          removed: stale.remove,
          kept: stale.kept.map((k) => k.name),
          warnings: warned.list,
        });
      } else if (verbosity() !== "quiet") {
        for (const b of bundles) detail(`${join(outDir, b.node)}  (${b.files.length} files${b.changed ? "" : ", unchanged"})`, "stdout");
        for (const s of stale.remove) info(`${join(outDir, s)}  removed (node '${s}' is no longer in the mesh)`);
        out(renderSummary(bundles, (Date.now() - started) / 1000, stale.remove.length));
      }
    });

  program
    .command("graph")
    .description("draw the mesh: DOT on stdout, or an SVG/DOT file with --out (SVG needs Graphviz)")
    .argument("<network>")
    .option("--out <file>", "write to FILE.svg or FILE.dot")
    .action(async (net: string, o: { out?: string }, cmd: Command) => {
      const g = globals(cmd);
      const [mesh] = (await loadMeshes(g, [net])) as [Mesh];
      const warned = collectWarnings();
      for (const w of readWarnings(mesh)) warned.warn(w);
      const dot = renderDot(topology(mesh));
      if (!o.out) return void (g.json ? json({ network: mesh.title, dot, warnings: warned.list }) : process.stdout.write(dot));
      const content = o.out.endsWith(".svg") ? dotToSvg(dot) : dot;
      if (o.out.trim() === "") throw invalid("--out: the file name must not be empty");
      replaceFile(o.out, content, { what: "graph file" });
      if (g.json) json({ ok: true, network: mesh.title, file: o.out, warnings: warned.list });
      else out(o.out);
    });

  const key = program.command("key").description("keys that stay on the host");
  key
    .command("init")
    .description("on the host: create its private key file (0600) if missing and print the public key to register")
    .argument("<network>")
    .argument("<node>")
    .option("--key-dir <dir>", "where the key file lives", "/etc/wireguard")
    .action((net: string, node: string, o: { keyDir: string }, cmd: Command) => {
      const g = globals(cmd);
      // The key file is <key-dir>/<network>.key and nowhere else: a network name is one path component.
      checkNetworkName(net);
      if (net === "." || net === ".." || net.includes("/")) throw invalid(`network name '${net}' cannot name a key file`);
      if (o.keyDir.trim() === "") throw invalid("--key-dir: the directory must not be empty");
      const keyDir = resolve(o.keyDir);
      const path = join(keyDir, `${net}.key`);
      if (dirname(path) !== keyDir) throw invalid(`network name '${net}' would put the key file outside ${keyDir}`);
      makeDirs(keyDir, 0o700);
      // O_CREAT|O_EXCL|O_NOFOLLOW: never through a link, never over anything; 0600 from the first byte.
      const created = lstatOrUndefined(path) === undefined && createExclusive(path, `${genkey(randomSource().bytes)}\n`, 0o600);
      // An existing file is read (regular files only, no link) and never chmodded: we did not create it.
      const text = readRegularText(path, { follow: false, maxBytes: 4096, what: "key file" });
      if (text === undefined) throw new CiabError("io", `${path} disappeared while it was being read; run the command again`);
      const mode = (lstatOrUndefined(path)?.mode ?? 0) & 0o777;
      const warned = collectWarnings();
      if (!created && (mode & 0o077) !== 0) {
        warned.warn(
          `${path} is mode ${mode.toString(8).padStart(4, "0")}: other users can read this private key; 'chmod 600 ${path}' (ciab does not change a file it did not create)`,
        );
      }
      const pub = pubkey(text, `key file ${path}`);
      if (g.json) json({ ok: true, network: net, node, keyFile: path, created, publicKey: pub, warnings: warned.list });
      else {
        out(pub);
        process.stderr.write(
          `${created ? "created" : "kept"} ${path} (${created ? "0600" : mode.toString(8).padStart(4, "0")}). Register it on the machine that holds the mesh file:\n  ciab set ${net} node ${node} public-key ${pub}\n`,
        );
      }
    });
}
