// Loading the desired state of this host: from a rendered bundle directory (`ciab up --bundle DIR`) or from the mesh
// file and a node name (`ciab up NET NODE`, rendered in memory: the same files, the same loader). Adds what only
// the host knows: the public key of a key file that stays on the host, and with DiscoverLXD the LXD/Incus bridges
// to announce. Owns: reading the bundle, checking the host's key against the mesh's. Must not: change the host,
// keep a private key read from a key file (only its public key), or go on when discovery fails (a wrong
// announcement is worse than none: the error stops `ciab up` before anything changes).

import { join, resolve } from "node:path";
import { discoverSubnets, type LxdSubnet } from "../adapters/lxd.js";
import { pubkey } from "../keys/x25519.js";
import { CiabError, notFound } from "../model/errors.js";
import type { Mesh } from "../model/mesh.js";
import { topology } from "../model/topology.js";
import { type BundleManifest, checkManifest, chooseAnnouncements, desiredFromBundle } from "../plan/bundle.js";
import type { DesiredHost, DesiredWireguard } from "../plan/types.js";
import { loadMesh, meshRef } from "../registry/file.js";
import { checkRenderable, renderBundle, sha256 } from "../render/bundle.js";
import type { HostDeps } from "./host.js";

export interface DesiredSource {
  /** A bundle directory … */
  bundle?: string;
  /** … or a network (mesh file in meshDir) and a node. */
  network?: string;
  node?: string;
  meshDir?: string;
}

export interface LoadedDesired {
  desired: DesiredHost;
  /** For messages: the bundle directory or the mesh file. */
  source: string;
  /** Bridges LXD reported (DiscoverLXD), before the ownership filter. */
  bridges?: LxdSubnet[];
  warnings: string[];
}

/** The bundle's files (manifest.json and every file it lists), read through deps. */
export function readBundle(dir: string, deps: Pick<HostDeps, "readFile">): Map<string, string> {
  const files = new Map<string, string>();
  const manifest = deps.readFile(join(dir, "manifest.json"));
  if (manifest === undefined) {
    throw notFound(`bundle ${dir}: no manifest.json (is this a bundle directory?)`, {
      hint: "give the directory 'ciab render' wrote for this node, e.g. --bundle ./bundles/node1",
      where: { file: dir },
    });
  }
  files.set("manifest.json", manifest);
  // checkManifest validates the shape; read what it lists (a missing file is reported by it, by name).
  let listed: BundleManifest["files"] = [];
  try {
    const m = JSON.parse(manifest) as Partial<BundleManifest>;
    if (Array.isArray(m.files)) listed = m.files.filter((f) => typeof f?.path === "string" && !f.path.includes(".."));
  } catch {
    /* reported by checkManifest */
  }
  for (const f of listed) {
    const t = deps.readFile(join(dir, f.path));
    if (t !== undefined) files.set(f.path, t);
  }
  return files;
}

export async function loadDesired(src: DesiredSource, deps: HostDeps): Promise<LoadedDesired> {
  let files: Map<string, string>;
  let source: string;
  if (src.bundle !== undefined) {
    source = resolve(src.bundle);
    files = readBundle(source, deps);
  } else {
    if (!src.network || !src.node) throw new CiabError("usage", "say which host this is: --bundle DIR, or NET NODE");
    const ref = meshRef(src.network, src.meshDir);
    const { mesh, text } = loadMesh(ref);
    source = ref.path;
    files = renderInMemory(mesh, text, src.node);
  }
  return finishDesired(source, files, deps);
}

/** The bundle of `node` rendered in memory from a mesh (the file's, or the agent's effective mesh) and its text. */
export function renderInMemory(mesh: Mesh, text: string, nodeName: string): Map<string, string> {
  const topo = topology(mesh);
  checkRenderable(topo);
  const node = mesh.nodes.find((n) => n.name === nodeName);
  if (!node)
    throw notFound(`network '${mesh.name}' has no node '${nodeName}'`, {
      hint: `nodes: ${mesh.nodes.map((n) => n.name).join(", ")}`,
      where: { node: nodeName },
    });
  return new Map(renderBundle(topo.node(node), sha256(text)).map((f) => [f.path, f.content]));
}

/** Bundle files to the desired state, with what only the host knows (LXD bridges, its key file). */
export async function finishDesired(source: string, files: Map<string, string>, deps: HostDeps): Promise<LoadedDesired> {
  const manifest = checkManifest(source, files);
  const host = manifest.host as NonNullable<BundleManifest["host"]>;
  const warnings: string[] = [];
  let announce: string[] | undefined;
  let bridges: LxdSubnet[] | undefined;
  if (host.discoverLXD) {
    bridges = await discoverSubnets(deps.lxd ?? {});
    const choice = chooseAnnouncements(host.subnets, bridges);
    for (const r of choice.refused)
      warnings.push(`LXD bridge ${r.bridge} ${r.prefix} is not announced: ${r.why} (peers only accept prefixes inside a node's Subnets)`);
    announce = choice.announce;
  }
  const desired = desiredFromBundle(source, files, announce ? { announce } : {});
  checkHostKey(desired, deps);
  return { desired, source, ...(bridges ? { bridges } : {}), warnings: [...warnings, ...desired.warnings] };
}

/** A key that stays on the host must exist and match the public key the mesh registered for this node. */
function checkHostKey(d: DesiredHost, deps: Pick<HostDeps, "readFile">): void {
  for (const w of d.wireguard) checkInterfaceKey(d, w, deps);
}

function checkInterfaceKey(d: DesiredHost, w: DesiredWireguard, deps: Pick<HostDeps, "readFile">): void {
  const src = w.privateKey;
  if (!("file" in src)) return;
  const text = deps.readFile(src.file);
  if (text === undefined || text.trim() === "") {
    throw notFound(`no private key at ${src.file}`, {
      hint: `create it on this host with 'ciab key init ${d.network} ${d.node}', then register the public key it prints`,
    });
  }
  let pub: string;
  try {
    pub = pubkey(text, `key file ${src.file}`);
  } catch (e) {
    throw new CiabError("invalid", `${src.file} does not hold a WireGuard private key`, {
      cause: e,
      hint: `recreate it with 'ciab key init ${d.network} ${d.node}'`,
    });
  }
  if (w.publicKey !== undefined && pub !== w.publicKey) {
    throw new CiabError(
      "conflict",
      `the key in ${src.file} (public ${pub}) is not the one the mesh has for node ${d.node} (${w.publicKey}); peers would refuse this host`,
      {
        hint: `register this host's key: ciab set ${d.network} node ${d.node} public-key ${pub}, then render again`,
      },
    );
  }
}
