// `ciab render`: every file one host needs, as data, from the node's view of the mesh's topology. The topology's
// problems are checked first (all of them, at once), so a bad mesh renders nothing. Pure: returns files; writing
// them is adapters/bundle-fs.ts.
import { createHash } from "node:crypto";
import { checkTopology, type NodeTopology, type Topology } from "../model/topology.js";
import { DESIRED_FILE, secretsFile } from "../state/desired.js";
import { renderBird } from "./bird.js";
import { type DesiredRender, desiredRenderer } from "./desired.js";
import { type FrrFiles, renderFrr } from "./frr.js";
import { type NftFile, nftRenderer } from "./nft.js";
import { renderCiabDown, renderCiabStatus, renderCiabUp, type ScriptOptions } from "./scripts.js";
import { type WireguardRenderer, wireguardRenderer } from "./wireguard.js";

export interface BundleFile {
  /** Relative to the bundle directory. */
  path: string;
  content: string;
  mode: number;
  /** SHA-256 (hex) of `content`, when its renderer found it anyway (the nft file): not hashed again. */
  sha256?: string;
}

export const sha256 = (s: string | Uint8Array): string => createHash("sha256").update(s).digest("hex");

/** The file's digest, hashing its text as it is. */
const digestOf = (f: BundleFile): string => f.sha256 ?? sha256(f.content);

/**
 * One node's bundle before its manifest: every other file, and the manifest from those files' SHA-256s (in the same
 * order). A writer that hashes the bytes it writes anyway (adapters/bundle-fs.ts) hashes each file once, there.
 */
export interface BundleParts {
  files: BundleFile[];
  manifest(sha256s: readonly string[]): BundleFile;
}

/**
 * What must hold before any bundle of the mesh is written: no deploy problem at all (the file's own, MTU, routing,
 * endpoints, relays). Throws one error that lists every problem with its location; returns what `render` and
 * `up` only warn about.
 */
export const checkRenderable = (t: Topology): string[] => {
  checkTopology(t);
  return t.warnings;
};

/** Every file of one node's bundle. Refuses a topology with problems (the renderers assume none). */
export const renderBundle = (nt: NodeTopology, meshDigest: string): BundleFile[] => bundleRenderer(nt.topology, meshDigest)(nt);

/**
 * The bundle renderer of a mesh: checks the topology once, builds what every node's files share once, then renders
 * one node's bundle per call (O(that node's output)). `ciab render` calls it node by node and writes each bundle
 * before rendering the next, so memory holds one bundle, not the mesh's.
 */
export function bundleRenderer(t: Topology, meshDigest: string): (nt: NodeTopology) => BundleFile[] {
  const parts = bundleParts(t, meshDigest);
  return (nt) => {
    const { files, manifest } = parts(nt);
    return [...files, manifest(files.map(digestOf))];
  };
}

/** bundleRenderer's parts: the files, and the manifest made from their digests by the caller (see BundleParts). */
export function bundleParts(t: Topology, meshDigest: string): (nt: NodeTopology) => BundleParts {
  checkTopology(t);
  const nft = nftRenderer(t);
  const wg = wireguardRenderer(t);
  const desired = desiredRenderer(t);
  return (nt) => bundleFiles(nt, meshDigest, nft, wg, desired);
}

function bundleFiles(
  nt: NodeTopology,
  meshDigest: string,
  nft: (nt: NodeTopology) => NftFile,
  wg: WireguardRenderer,
  renderDesired: (nt: NodeTopology, frr?: FrrFiles) => DesiredRender,
): BundleParts {
  const { node } = nt;
  const mesh = nt.topology.mesh;
  const net = mesh.network;
  const routing: ScriptOptions["routing"] = net.routing === "none" ? "none" : net.routingDaemon;
  const opts: ScriptOptions = { routing };
  // No VXLAN batch files: they are desired.json's VXLAN peers again (a third of the bundle of a 1000-node mesh),
  // so both reconcilers write them from it on the host (state/desired.ts vxlanBatchFiles).
  const files: BundleFile[] = [{ path: `wireguard/${mesh.name}.conf`, content: wg.conf(nt), mode: 0o600 }];
  const frr = routing === "frr" ? renderFrr(nt) : undefined;
  if (frr) files.push({ path: "frr/frr.conf", content: frr.frrConf, mode: 0o640 }, { path: "frr/daemons", content: frr.daemons, mode: 0o644 });
  if (routing === "bird") files.push({ path: "bird/bird.conf", content: renderBird(nt), mode: 0o640 });
  const guard = nft(nt);
  files.push({ path: "nft/ciab.nft", content: guard.text, mode: 0o644, sha256: guard.sha256 });
  files.push(
    { path: "bin/ciab-up", content: renderCiabUp(nt, opts), mode: 0o755 },
    { path: "bin/ciab-down", content: renderCiabDown(nt, opts), mode: 0o755 },
    { path: "bin/ciab-status", content: renderCiabStatus(nt, opts), mode: 0o755 },
    { path: `systemd/ciab-mesh@.service`, content: renderUnit(), mode: 0o644 },
    { path: `systemd/ciab-agent-${mesh.name}.service`, content: renderAgentUnit(mesh.name, node.name), mode: 0o644 },
  );
  // The desired state as data (what `ciab up` plans from), and the keys the mesh holds inline, apart and private.
  const desired = renderDesired(nt, frr);
  files.push({ path: DESIRED_FILE, content: desired.text, mode: 0o644 });
  if (desired.secrets !== undefined) files.push({ path: secretsFile(mesh.name), content: desired.secrets, mode: 0o600 });
  const manifest = (sha256s: readonly string[]): BundleFile => ({
    path: "manifest.json",
    content: `${JSON.stringify(manifestOf(nt, meshDigest, files, sha256s), null, 2)}\n`,
    mode: 0o644,
  });
  return { files, manifest };
}

function manifestOf(nt: NodeTopology, meshDigest: string, files: BundleFile[], sha256s: readonly string[]) {
  const { node } = nt;
  const mesh = nt.topology.mesh;
  const net = mesh.network;
  return {
    ciab: 1,
    network: mesh.name,
    node: node.name,
    meshDigest,
    routing: net.routing === "none" ? "none" : `${net.routing}/${net.routingDaemon}`,
    mtu: nt.mtu,
    privateKey: node.privateKey ? "in wireguard file" : "on the host (/etc/wireguard/<net>.key)",
    // What `ciab up --bundle` needs beyond the files: the key the host must have, the prefixes it owns (LXD bridges
    // inside them are announced with DiscoverLXD), and whether it forwards IPv6.
    host: { publicKey: node.publicKey, subnets: node.subnets, discoverLXD: node.discoverLXD, ipv6Forwarding: nt.topology.ipv6Forwarding },
    files: files.map((f, i) => ({ path: f.path, mode: `0${f.mode.toString(8)}`, sha256: sha256s[i] })),
  };
}

/**
 * The agent's unit (docs/FLEET.md): `ciab join` installs it with its own ciab; the bundle carries it for a host run
 * from the registry instead of from the bundle (`ciab` on the PATH; the registry from $CIAB_REGISTRY in
 * /etc/default/ciab-agent-<net>, or the join state).
 */
export function renderAgentUnit(net: string, node: string, o: { ciab?: string; args?: string[] } = {}): string {
  return `# ciab-mesh: keeps node ${node} of ${net} in step with the registry. Rendered by ciab-mesh.
[Unit]
Description=ciab agent for mesh ${net} (node ${node})
After=network-online.target
Wants=network-online.target

[Service]
EnvironmentFile=-/etc/default/ciab-agent-${net}
ExecStart=${o.ciab ?? "/usr/bin/env ciab"} agent ${net} ${node} ${[...(o.args ?? []), "--json"].join(" ")}
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
`;
}

/** systemd template unit: copy the bundle to /etc/ciab/<network>, then `systemctl enable --now ciab-mesh@<network>`. */
function renderUnit(): string {
  return `# ciab-mesh: brings the mesh up at boot from the bundle in /etc/ciab/%i. Rendered by ciab-mesh.
[Unit]
Description=ciab-mesh overlay %i (WireGuard + VXLAN + routing)
After=network-online.target frr.service bird.service
Wants=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh /etc/ciab/%i/bin/ciab-up
ExecStop=/bin/sh /etc/ciab/%i/bin/ciab-down
ExecReload=/bin/sh /etc/ciab/%i/bin/ciab-up

[Install]
WantedBy=multi-user.target
`;
}
