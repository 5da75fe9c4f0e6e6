// BIRD 2 configuration of one node (/etc/bird/bird.conf) for Routing = "ospf" with RoutingDaemon = "bird": OSPFv2
// (and OSPFv3 when the mesh has IPv6 subnets) on the VXLAN device, exporting only the node's own Subnets, importing
// only prefixes their owner announces. Pure: (topology, node) -> text; no I/O. Verified with `bird -p -c` (BIRD 2.0.12).
import type { Family } from "../ipam/ip.js";
import type { NodeTopology } from "../model/topology.js";

const OSPF_SOURCES = "[ RTS_OSPF, RTS_OSPF_IA, RTS_OSPF_EXT1, RTS_OSPF_EXT2 ]";
/** A BIRD prefix set matching the prefixes and anything more specific ("+" suffix). */
const prefixSet = (ps: string[]): string => `[ ${ps.map((p) => `${p}+`).join(", ")} ]`;

/** Render bird.conf for a node; "" (write no file) unless the mesh runs OSPF with BIRD. */
export function renderBird(nt: NodeTopology): string {
  const { node, topology: t } = nt;
  const { mesh, families: fams } = t;
  const net = mesh.network;
  if (net.routing !== "ospf" || net.routingDaemon !== "bird") return "";
  const dev = t.vxlanIf;
  const out: string[] = [
    `# BIRD 2 configuration of node ${node.name} in mesh ${mesh.name}, rendered by ciab: edit the mesh file, not this.`,
    "log syslog { info, remote, warning, error, auth, fatal, bug };",
    `router id ${node.overlayIPv4};`,
    "",
    "# Interface state for the other protocols.",
    "protocol device {",
    "}",
    "",
    "# Connected networks, so OSPF can announce the node's subnets (the export filters below pick them).",
    "protocol direct {",
    ...fams.map((f) => `  ipv${f};`),
    "}",
  ];
  out.push("", "# Install the routes OSPF learnt in the kernel (they show as `proto bird`); learn nothing from it.");
  for (const f of fams) {
    out.push(`protocol kernel kernel${f} {`, `  ipv${f} { import none; export where source ~ ${OSPF_SOURCES}; };`, "}");
  }
  for (const f of fams) out.push("", ...filters(nt, f));
  if (net.bfd) {
    out.push(
      "",
      "# BFD on the overlay: a silent peer is dropped in interval x multiplier instead of the OSPF dead interval.",
      "protocol bfd {",
      `  interface "${dev}" { min rx interval ${net.bfdIntervalMs} ms; min tx interval ${net.bfdIntervalMs} ms; multiplier ${net.bfdMultiplier}; };`,
      "}",
    );
  }
  for (const f of fams) {
    out.push(
      "",
      // OSPF runs on the VXLAN device only: its all-zero FDB entries replicate the multicast hellos to every peer.
      // Over the WireGuard device hellos would be dropped (224.0.0.5 is in no peer's AllowedIPs; FINDINGS §8).
      // VXLAN MTUs may differ per node; BIRD only logs an MTU mismatch in ExStart (ospf/dbdes.c), unlike ospfd.
      `protocol ospf v${f === 4 ? 2 : 3} ospf${f} {`,
      // keep filtered: routes the import filter rejects stay visible in `birdc show route filtered`.
      `  ipv${f} { import keep filtered on; import filter ciab_ospf_in${f}; export filter ciab_ospf_out${f}; };`,
      "  area 0 {",
      `    interface "${dev}" {`,
      `      type broadcast; hello ${net.ospfHello}; dead ${net.ospfDead}; cost ${net.ospfCost};${net.bfd ? " bfd yes;" : ""}`,
      "    };",
      "  };",
      "}",
    );
  }
  out.push("");
  return out.join("\n");
}

/**
 * Import: a prefix is accepted only from the router that owns it (ospf_router_id is the advertising router, our
 * router id = the owner's overlay IPv4). Export: only this node's own Subnets, as connected (device) routes, so
 * the underlay and the overlay network itself are never announced.
 */
function filters(nt: NodeTopology, f: Family): string[] {
  const own = nt.owned[f];
  return [
    `filter ciab_ospf_in${f} {`,
    ...nt.owners[f].map((o) => `  if net ~ ${prefixSet(nt.topology.owned(o, f))} && ospf_router_id = ${o.overlayIPv4} then accept; # ${o.name}`),
    "  reject;",
    "}",
    `filter ciab_ospf_out${f} {`,
    ...(own.length ? [`  if source = RTS_DEVICE && net ~ ${prefixSet(own)} then accept;`] : []),
    "  reject;",
    "}",
  ];
}
