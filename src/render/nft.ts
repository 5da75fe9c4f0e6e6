// nftables ruleset of one node: TCP MSS clamping for routed container traffic crossing the VXLAN overlay, so TCP
// works even where path MTU discovery is broken (ICMP filtered). Pure: (mesh, node) -> text; no I/O.
// Verified with `nft -c -f` (nftables 1.0.6) in a private network namespace.
import { createHash } from "node:crypto";
import type { Mesh, MeshNode } from "../model/mesh.js";
import { vxlanDev } from "../model/topology.js";

/**
 * The table name: `ciab_<mesh>`. nft 1.0.6 takes only bare identifiers ([A-Za-z_][A-Za-z0-9_/.-]*, no quoting), and
 * mesh names may hold '=' or '+': those become '_' plus a short hash of the real name, so two meshes never collide.
 */
export function nftTable(mesh: Mesh): string {
  const safe = mesh.name.replace(/[^A-Za-z0-9_.-]/g, "_");
  if (safe === mesh.name) return `ciab_${safe}`;
  return `ciab_${safe}_${createHash("sha256").update(mesh.name).digest("hex").slice(0, 6)}`;
}

/** Render the nft file for a node; "" (write no file) when the network turns MSS clamping off (MSSClamp = false). */
export function renderNft(mesh: Mesh, node: MeshNode): string {
  if (!mesh.network.mssClamp) return "";
  const t = nftTable(mesh);
  const dev = vxlanDev(mesh);
  return [
    "#!/usr/sbin/nft -f",
    `# TCP MSS clamping of node ${node.name} in mesh ${mesh.name}, rendered by ciab. Load with \`nft -f\`; loading it`,
    "# again replaces the table in one transaction. Declaring the table first makes the delete safe when it does not",
    "# exist yet (nft 1.0.6 has no `destroy`).",
    `table inet ${t} {}`,
    `delete table inet ${t}`,
    `table inet ${t} {`,
    "\tchain mss_clamp {",
    "\t\ttype filter hook forward priority mangle; policy accept;",
    "\t\t# SYN and SYN-ACK of forwarded connections into or out of the overlay: MSS = MTU of the route to the",
    "\t\t# destination minus the IP and TCP headers. The kernel only ever lowers the MSS option, never raises it",
    '\t\t# (nft_exthdr, Linux >= 4.14: "increase can cause connection to stall").',
    `\t\toifname "${dev}" tcp flags syn tcp option maxseg size set rt mtu`,
    `\t\tiifname "${dev}" tcp flags syn tcp option maxseg size set rt mtu`,
    "\t}",
    "}",
    "",
  ].join("\n");
}
