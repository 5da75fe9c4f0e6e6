// `ciab render`: every file one host needs, as data. Validates the whole mesh first, so a bad mesh renders
// nothing. Pure: returns files; writing them is adapters/bundle-fs.ts.
import { createHash } from "node:crypto";
import type { Mesh, MeshNode } from "../model/mesh.js";
import { assertDeployable } from "../model/validate.js";
import { renderBird } from "./bird.js";
import { checkDeployable, dataplane } from "./dataplane.js";
import { renderFrr } from "./frr.js";
import { renderNft } from "./nft.js";
import { renderCiabDown, renderCiabStatus, renderCiabUp, routesIPv6, type ScriptOptions } from "./scripts.js";
import { renderVxlanFdb, renderVxlanIp, renderWireguard } from "./wireguard.js";

export interface BundleFile {
  /** Relative to the bundle directory. */
  path: string;
  content: string;
  mode: number;
}

export const sha256 = (s: string): string => createHash("sha256").update(s).digest("hex");

/** Checks that must pass before any bundle of the mesh is written. */
/** Throws what `render` and `up` refuse; returns what they only warn about. */
export function checkRenderable(mesh: Mesh): string[] {
  assertDeployable(mesh); // every "deploy" problem of the mesh, routing included (model/validate.ts)
  return checkDeployable(mesh);
}

export function renderBundle(mesh: Mesh, node: MeshNode, meshDigest: string): BundleFile[] {
  const net = mesh.network;
  const routing: ScriptOptions["routing"] = net.routing === "none" ? "none" : net.routingDaemon;
  const opts: ScriptOptions = { routing };
  const dp = dataplane(mesh, node);
  const files: BundleFile[] = [
    { path: `wireguard/${mesh.name}.conf`, content: renderWireguard(mesh, node), mode: 0o600 },
    { path: `wireguard/${mesh.name}.vxlan-ip`, content: renderVxlanIp(dp), mode: 0o644 },
    { path: `wireguard/${mesh.name}.vxlan-fdb`, content: renderVxlanFdb(dp), mode: 0o644 },
  ];
  if (routing === "frr") {
    const frr = renderFrr(mesh, node);
    files.push({ path: "frr/frr.conf", content: frr.frrConf, mode: 0o640 }, { path: "frr/daemons", content: frr.daemons, mode: 0o644 });
  }
  if (routing === "bird") files.push({ path: "bird/bird.conf", content: renderBird(mesh, node), mode: 0o640 });
  files.push({ path: "nft/ciab.nft", content: renderNft(mesh, node), mode: 0o644 });
  files.push(
    { path: "bin/ciab-up", content: renderCiabUp(mesh, node, opts), mode: 0o755 },
    { path: "bin/ciab-down", content: renderCiabDown(mesh, node, opts), mode: 0o755 },
    { path: "bin/ciab-status", content: renderCiabStatus(mesh, node, opts), mode: 0o755 },
    { path: `systemd/ciab-mesh@.service`, content: renderUnit(), mode: 0o644 },
  );
  const manifest = {
    ciab: 1,
    network: mesh.name,
    node: node.name,
    meshDigest,
    routing: net.routing === "none" ? "none" : `${net.routing}/${net.routingDaemon}`,
    mtu: dp.mtu,
    privateKey: node.privateKey ? "in wireguard file" : "on the host (/etc/wireguard/<net>.key)",
    // What `ciab up --bundle` needs beyond the files: the key the host must have, the prefixes it owns (LXD bridges
    // inside them are announced with DiscoverLXD), and whether it forwards IPv6.
    host: { publicKey: node.publicKey, subnets: node.subnets, discoverLXD: node.discoverLXD, ipv6Forwarding: routesIPv6(mesh) },
    files: files.map((f) => ({ path: f.path, mode: `0${f.mode.toString(8)}`, sha256: sha256(f.content) })),
  };
  files.push({ path: "manifest.json", content: `${JSON.stringify(manifest, null, 2)}\n`, mode: 0o644 });
  return files;
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
