// `ciab render`, `ciab graph`, `ciab key init`: from the mesh file to what hosts need.
import { closeSync, constants, fchmodSync, fstatSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { removeBundle, staleBundles, writeBundle } from "../adapters/bundle-fs.js";
import { dotToSvg } from "../adapters/graphviz.js";
import { genkey, pubkey } from "../keys/x25519.js";
import { CiabError } from "../model/errors.js";
import { checkNetworkName } from "../model/mesh.js";
import { loadMesh, meshRef } from "../registry/file.js";
import { checkRenderable, renderBundle, sha256 } from "../render/bundle.js";
import { renderDot } from "../render/dot.js";
import { keyFilePath } from "../render/showconf.js";
import { globals, randomSource } from "./context.js";
import { findNode } from "./mesh-commands.js";
import { json, out, warn } from "./output.js";

const ioError = (message: string, e: unknown) => new CiabError("io", `${message}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });

/**
 * Create the host's key file (0600) unless it exists. O_EXCL|O_NOFOLLOW: never through a symlink, never over a
 * file another process created meanwhile. Returns whether it was created.
 */
function createKeyFile(dir: string, path: string): boolean {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw ioError(`--key-dir ${dir} is not a usable directory`, e);
  }
  let fd: number;
  try {
    fd = openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW, 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw ioError(`cannot create ${path}`, e);
  }
  try {
    writeSync(fd, `${genkey(randomSource().bytes)}\n`);
    fchmodSync(fd, 0o600); // the umask may have narrowed it, never widened; this states the intent
  } catch (e) {
    closeSync(fd);
    rmSync(path, { force: true });
    throw ioError(`cannot write ${path}`, e);
  }
  closeSync(fd);
  return true;
}

/** An existing key file: a regular file only (a FIFO would block, a directory cannot be read). */
function readKeyFile(path: string): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const st = fstatSync(fd);
    if (!st.isFile()) throw new CiabError("io", `key file ${path} is not a regular file`, { hint: "remove it; ciab key init then creates the key file" });
    if (st.mode & 0o077) warn(`key file ${path} is readable by other users (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
    return readFileSync(fd, "utf8");
  } catch (e) {
    if (e instanceof CiabError) throw e;
    throw ioError(`cannot read key file ${path}`, e);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export function registerRenderCommands(program: Command): void {
  program
    .command("render")
    .description("render one self-contained bundle per node (WireGuard+VXLAN, FRR or BIRD, scripts, manifest)")
    .argument("<network>")
    .option("--out <dir>", "where the bundles go (one directory per node)", "bundles")
    .option("--node <name>", "only this node")
    .action((net: string, o: { out: string; node?: string }, cmd: Command) => {
      const g = globals(cmd);
      const { mesh, text } = loadMesh(meshRef(net, g.dir));
      for (const w of mesh.warnings) warn(w);
      checkRenderable(mesh);
      const nodes = o.node ? [findNode(mesh, o.node)] : mesh.nodes;
      const digest = sha256(text);
      // Render everything before writing anything: a renderer that throws leaves no half-written output.
      const bundles = nodes.map((n) => ({ node: n.name, files: renderBundle(mesh, n, digest) }));
      const outDir = resolve(g.dir, o.out);
      for (const b of bundles) writeBundle(join(outDir, b.node), b.files);
      // A node deleted from the mesh must not leave a bundle that looks current.
      const stale = o.node ? [] : staleBundles(outDir, mesh.name, new Set(mesh.nodes.map((n) => n.name)));
      for (const s of stale) removeBundle(join(outDir, s));
      if (g.json) {
        json({
          ok: true,
          network: mesh.name,
          meshDigest: digest,
          bundles: bundles.map((b) => ({ node: b.node, dir: join(outDir, b.node), files: b.files.map((f) => f.path) })),
          removed: stale,
        });
      } else {
        out(bundles.map((b) => `${join(outDir, b.node)}  (${b.files.length} files)`).join("\n"));
        for (const s of stale) out(`${join(outDir, s)}  removed (node '${s}' is no longer in the mesh)`);
      }
    });

  program
    .command("graph")
    .description("draw the mesh: DOT on stdout, or an SVG/DOT file with --out (SVG needs Graphviz)")
    .argument("<network>")
    .option("--out <file>", "write to FILE.svg or FILE.dot")
    .action((net: string, o: { out?: string }, cmd: Command) => {
      const g = globals(cmd);
      const { mesh } = loadMesh(meshRef(net, g.dir));
      const dot = renderDot(mesh);
      if (!o.out) return void process.stdout.write(dot);
      const content = o.out.endsWith(".svg") ? dotToSvg(dot) : dot;
      try {
        writeFileSync(o.out, content);
      } catch (e) {
        throw new CiabError("io", `cannot write ${o.out}`, { cause: e });
      }
      if (g.json) json({ ok: true, file: o.out });
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
      // The key file is named after the network: a name with a slash or ".." would put it outside --key-dir.
      checkNetworkName(net);
      const path = o.keyDir === "/etc/wireguard" ? keyFilePath(net) : join(o.keyDir, `${net}.key`);
      const created = createKeyFile(o.keyDir, path);
      const pub = pubkey(readKeyFile(path), `key file ${path}`);
      if (g.json) json({ ok: true, network: net, node, keyFile: path, created, publicKey: pub });
      else {
        out(pub);
        process.stderr.write(
          `${created ? "created" : "kept"} ${path}. Register it on the machine that holds the mesh file:\n  ciab set ${net} node ${node} public-key ${pub}\n`,
        );
      }
    });
}
