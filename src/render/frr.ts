// FRR 8.4 configuration of one node: frr.conf (BGP over the VXLAN overlay, or OSPF with ospfd/ospf6d) and the
// daemons file that says which FRR daemons frrinit.sh starts. Pure: (topology, node) -> text; no I/O, no clock.
// Verified on FRR 8.4.4 (Debian 12): `vtysh --dryrun -f` and each daemon's `-C` check accept every rendered file.
// Blocks end with "!" and no `exit`: FRR leaves a block when a line only its parent node knows comes (lib/command.c
// walks up the node tree). A daemon that reads the integrated file and does not know a block (bfdd and
// `router bgp`) would take that block's closing `exit` as "leave configure mode" and skip every later line.
import { type Family, sortedNetworks } from "../ipam/ip.js";
import type { Mesh, MeshNode } from "../model/mesh.js";
import { hostPart, type NodeTopology } from "../model/topology.js";
import { networkLines } from "../state/desired.js";

export interface FrrFiles {
  /** /etc/frr/frr.conf (integrated config, loaded by `vtysh -b`). */
  frrConf: string;
  /** /etc/frr/daemons. */
  daemons: string;
  /**
   * With BGP, where each family's `network` lines are in frrConf (0-based line, count): desired.json records it so
   * `ciab up` puts the LXD announcements there (render/desired.ts spliceAnnouncements) without parsing the text.
   */
  networks?: { family: 4 | 6; line: number; count: number }[];
}

/** Log target. /var/log/frr exists (owned by frr) on a Debian/Ubuntu host and logrotate.d/frr rotates *.log there. */
export const FRR_LOG_FILE = "/var/log/frr/frr.log";
const BFD_PROFILE = "ciab";
// The options lines of FRR 8.4's stock /etc/frr/daemons, verbatim (-A binds each daemon's telnet vty to loopback).
const OPTIONS = [
  'zebra_options="  -A 127.0.0.1 -s 90000000"',
  'bgpd_options="   -A 127.0.0.1"',
  'ospfd_options="  -A 127.0.0.1"',
  'ospf6d_options=" -A ::1"',
  'ripd_options="   -A 127.0.0.1"',
  'ripngd_options=" -A ::1"',
  'isisd_options="  -A 127.0.0.1"',
  'pimd_options="   -A 127.0.0.1"',
  'pim6d_options="  -A ::1"',
  'ldpd_options="   -A 127.0.0.1"',
  'nhrpd_options="  -A 127.0.0.1"',
  'eigrpd_options=" -A 127.0.0.1"',
  'babeld_options=" -A 127.0.0.1"',
  'sharpd_options=" -A 127.0.0.1"',
  'pbrd_options="   -A 127.0.0.1"',
  'staticd_options="-A 127.0.0.1"',
  'bfdd_options="   -A 127.0.0.1"',
  'fabricd_options="-A 127.0.0.1"',
  'vrrpd_options="  -A 127.0.0.1"',
  'pathd_options="  -A 127.0.0.1"',
];
/** The daemon switches of the stock file, in its order: every daemon but zebra and staticd, which always run. */
const DAEMONS = OPTIONS.map((o) => o.slice(0, o.indexOf("_"))).filter((d) => d !== "zebra" && d !== "staticd");

const ip = (f: Family): string => (f === 4 ? "ip" : "ipv6");
const afi = (f: Family): string => (f === 4 ? "ipv4" : "ipv6");
/** The node's overlay address of a family, without length: the BGP peer address and next hop. */
const overlay = (n: MeshNode, f: Family): string => (f === 4 ? (n.overlayIPv4 as string) : hostPart(n.ipv6 as string));
const ownList = (n: MeshNode, f: Family): string => `CIAB-OWN${f}-${n.name}`;
const nhList = (n: MeshNode): string => `CIAB-NH4-${n.name}`;

/**
 * Render frr.conf and daemons for a node. When FRR has nothing to do (Routing = "none", or OSPF run by BIRD) both
 * texts are empty and no file should be written. The topology must have no problems (renderBundle checks).
 */
export interface FrrOptions {
  /**
   * With BGP, the prefixes the node announces (`network` lines) instead of its Subnets: the LXD bridges found inside
   * them (DiscoverLXD). Peers' filters still accept anything inside the node's Subnets, so ownership is unchanged.
   */
  announce?: string[];
}

export function renderFrr(nt: NodeTopology, opts: FrrOptions = {}): FrrFiles {
  const t = nt.topology;
  const { mesh } = t;
  const { node } = nt;
  const { routing, routingDaemon, bfd } = mesh.network;
  if (routing === "none" || (routing === "ospf" && routingDaemon !== "frr")) return { frrConf: "", daemons: "" };
  const fams = t.families;
  const networks: NonNullable<FrrFiles["networks"]> = [];
  const body = routing === "bgp" ? bgp(nt, opts.announce, networks) : ospf(nt);
  const head = [
    `! FRR configuration of node ${node.name} in mesh ${mesh.name}, rendered by ciab: edit the mesh file, not this.`,
    "frr defaults traditional",
    `hostname ${node.name}`,
    // With BGP, level debugging lets the one debug below through: bgpd logs each route the inbound policy denies
    // ("rcvd UPDATE about P -- DENIED due to: route-map"). Nothing else logs at that level unless enabled.
    `log file ${FRR_LOG_FILE} ${routing === "bgp" ? "debugging" : "informational"}`,
    ...(routing === "bgp" ? ["debug bgp updates in"] : []),
    "!",
    // BGP announces the node's own subnets with `network`; OSPF redistributes them through its own prefix-list.
    ...prefixLists(nt, (f) => (routing === "ospf" ? t.prefixOwners[f] : nt.policy[f].map((e) => e.owner))),
  ];
  const frrConf = [...head, ...body, ...(bfd ? bfdProfile(mesh) : []), "end", ""].join("\n");
  const on = new Set(["zebra", "staticd", ...(bfd ? ["bfdd"] : []), ...(routing === "bgp" ? ["bgpd"] : ["ospfd", ...(fams.includes(6) ? ["ospf6d"] : [])])]);
  return {
    frrConf,
    daemons: daemonsFile(mesh, node, on),
    ...(routing === "bgp" ? { networks: networks.map((n) => ({ ...n, line: n.line + head.length })) } : {}),
  };
}

/** One prefix-list per owner and family: its Subnets and anything more specific (le /32, /128). */
function prefixLists(nt: NodeTopology, owners: (f: Family) => MeshNode[]): string[] {
  const out: string[] = [];
  for (const f of nt.topology.families) {
    for (const n of owners(f)) {
      nt.topology.owned(n, f).forEach((p, i) => out.push(`${ip(f)} prefix-list ${ownList(n, f)} seq ${5 * (i + 1)} permit ${p} le ${f === 4 ? 32 : 128}`));
    }
  }
  return out.length ? ["! Prefix ownership: the Subnets the mesh file gives each node.", ...out, "!"] : [];
}

/** `networks` receives where each family's `network` lines are (index into the returned lines). */
function bgp(nt: NodeTopology, announce: string[] | undefined, networks: NonNullable<FrrFiles["networks"]>): string[] {
  const { node, topology: t } = nt;
  const { mesh, families: fams } = t;
  const net = mesh.network;
  const dev = t.vxlanIf;
  const neighbors = nt.bgpNeighbors;
  const client = net.routeReflectors.length > 0 && !nt.reflector;
  const out: string[] = [];

  out.push(
    "! Inbound policy on every session: a route is accepted only if its prefix belongs to the node whose overlay",
    "! address is its next hop. Reflected routes keep the originator's next hop (RFC 4456 §10), so the check holds",
    "! through reflectors. The rest hits the final deny: it is logged (DENIED due to: route-map) and listed by",
    "! 'show bgp <ipv4|ipv6> unicast neighbors <peer> filtered-routes' (soft-reconfiguration inbound keeps it).",
    ...(client ? ["! As a reflector client this node hears only the reflectors, which enforce that policy for everyone."] : []),
  );
  for (const f of fams) {
    const map = `CIAB-BGP-IN${f}`;
    nt.policy[f].forEach(({ owner, via }, i) => {
      out.push(
        `route-map ${map} permit ${10 * (i + 1)}`,
        ` description ${owner.name}${via ? ` (blacklisted with ${node.name}: relayed by ${via.name})` : ""}`,
        ` match ${ip(f)} address prefix-list ${ownList(owner, f)}`,
        ` match ${ip(f)} next-hop address ${overlay(owner, f)}`,
        // No WireGuard peer between a blacklisted pair: send its traffic to the relay, which forwards it on the
        // same VXLAN segment (ciab disables ICMP redirects there, so the relay does not redirect us back).
        ...(via ? [f === 4 ? ` set ip next-hop ${overlay(via, 4)}` : ` set ipv6 next-hop global ${overlay(via, 6)}`] : []),
        "!",
      );
    });
    if (client) out.push(`route-map ${map} permit 65535`, " description the rest, as the reflectors checked it", "!");
    else out.push(`route-map ${map} deny 65535`, " description everything else: not the sender's own subnet", "!");
  }

  out.push(
    `router bgp ${net.asn}`,
    ` bgp router-id ${node.overlayIPv4}`,
    " bgp log-neighbor-changes",
    // Each address family is activated explicitly, so an IPv4 session never carries IPv6 routes and vice versa.
    " no bgp default ipv4-unicast",
    // A subnet is announced only while it is in the RIB (its bridge is up): never attract traffic we cannot
    // deliver. This is FRR's default since 7.4; written out because the announcement depends on it.
    " bgp network import-check",
    ` timers bgp ${net.bgpKeepalive} ${net.bgpHold}`,
  );
  for (const f of fams) {
    for (const { node: p } of neighbors) {
      const a = overlay(p, f);
      out.push(
        ` neighbor ${a} remote-as ${net.asn}`,
        ` neighbor ${a} description ${p.name}`,
        ` neighbor ${a} update-source ${dev}`,
        // FRR retries a failed connection only every 120 s by default.
        ` neighbor ${a} timers connect 5`,
        ...(net.bgpPassword ? [` neighbor ${a} password ${net.bgpPassword}`] : []),
        // Both lines, as `show running-config` prints them, so a running config diffs cleanly against this file.
        ...(net.bfd ? [` neighbor ${a} bfd`, ` neighbor ${a} bfd profile ${BFD_PROFILE}`] : []),
      );
    }
  }
  for (const f of fams) {
    out.push(" !", ` address-family ${afi(f)} unicast`);
    // Canonical and sorted like the Subnets, so an announcement equal to the Subnets renders the same file.
    const nets = networkLines(announce ? sortedNetworks(announce, f) : nt.owned[f]);
    // +1: the role line below goes before `out`.
    networks.push({ family: f, line: out.length + 1, count: nets.length });
    out.push(...nets);
    for (const { node: p, rrClient } of neighbors) {
      const a = overlay(p, f);
      out.push(
        `  neighbor ${a} activate`,
        ...(rrClient ? [`  neighbor ${a} route-reflector-client`] : []),
        `  neighbor ${a} soft-reconfiguration inbound`,
        `  neighbor ${a} route-map CIAB-BGP-IN${f} in`,
      );
    }
    out.push(" exit-address-family");
  }
  out.push("!");
  const role = mesh.network.routeReflectors.length === 0 ? "full iBGP mesh" : nt.reflector ? "route reflector" : "route-reflector client";
  return [`! BGP: AS ${net.asn} over ${dev}, ${role}.`, ...out];
}

function ospf(nt: NodeTopology): string[] {
  const { node, topology: t } = nt;
  const { mesh, families: fams } = t;
  const net = mesh.network;
  const dev = t.vxlanIf;
  const out: string[] = [];
  for (const f of fams) {
    // zebra installs a route OSPF learnt only if its prefix is owned by the router it points to. The IPv4 next hop
    // of an external route is its ASBR's overlay address (forwarding address 0 on a shared segment, RFC 2328
    // §16.4), i.e. the owner's. OSPFv3 next hops are link-local, so IPv6 is checked against every owner's subnets.
    // (zebra has no `match ip next-hop address`: it takes the rule silently and ignores it; a /32 prefix-list works.)
    const map = `CIAB-OSPF-IN${f}`;
    nt.owners[f].forEach((owner, i) => {
      if (f === 4) out.push(`ip prefix-list ${nhList(owner)} seq 5 permit ${owner.overlayIPv4}/32`);
      out.push(
        `route-map ${map} permit ${10 * (i + 1)}`,
        ` description ${owner.name}`,
        ` match ${ip(f)} address prefix-list ${ownList(owner, f)}`,
        ...(f === 4 ? [` match ip next-hop prefix-list ${nhList(owner)}`] : []),
        "!",
      );
    });
    out.push(`route-map ${map} deny 65535`, " description everything else, including the overlay network itself (connected)", "!");
    if (nt.owned[f].length > 0) {
      out.push(
        `route-map CIAB-OSPF-OUT${f} permit 10`,
        ` description own subnets of ${node.name}`,
        ` match ${ip(f)} address prefix-list ${ownList(node, f)}`,
        "!",
      );
    }
    out.push(`${ip(f)} protocol ${f === 4 ? "ospf" : "ospf6"} route-map ${map}`, "!");
  }

  // OSPF runs only on the VXLAN device: its all-zero FDB entries replicate the multicast hellos to every peer.
  // The underlay and the container bridges never get an adjacency.
  out.push(`interface ${dev}`);
  for (const f of fams) {
    const p = f === 4 ? " ip ospf" : " ipv6 ospf6";
    out.push(
      `${p} area 0`,
      `${p} network broadcast`,
      `${p} hello-interval ${net.ospfHello}`,
      `${p} dead-interval ${net.ospfDead}`,
      `${p} cost ${net.ospfCost}`,
      // The VXLAN MTU is computed per node from its endpoint family, so neighbours can differ; without this the
      // DBD exchange stalls in ExStart on an MTU mismatch (RFC 2328 §10.6).
      `${p} mtu-ignore`,
      // ospfd refuses a profile before `ip ospf bfd` ("ip ospf bfd has not been set").
      ...(net.bfd ? [`${p} bfd`, `${p} bfd profile ${BFD_PROFILE}`] : []),
    );
  }
  out.push("!");
  for (const f of fams) {
    const [router, rid] = f === 4 ? ["ospf", "ospf router-id"] : ["ospf6", "ospf6 router-id"];
    out.push(
      `router ${router}`,
      ` ${rid} ${node.overlayIPv4}`,
      " log-adjacency-changes",
      // Only the node's own Subnets become external LSAs; other connected networks (underlay) are not announced.
      ...(nt.owned[f].length > 0 ? [` redistribute connected route-map CIAB-OSPF-OUT${f}`] : []),
      "!",
    );
  }
  return [`! OSPF on ${dev}, area 0.`, ...out];
}

function bfdProfile(mesh: Mesh): string[] {
  const { bfdIntervalMs: ms, bfdMultiplier: mult } = mesh.network;
  return ["bfd", ` profile ${BFD_PROFILE}`, `  detect-multiplier ${mult}`, `  receive-interval ${ms}`, `  transmit-interval ${ms}`, "!"];
}

function daemonsFile(mesh: Mesh, node: MeshNode, on: Set<string>): string {
  return [
    `# FRR daemons of node ${node.name} in mesh ${mesh.name}, rendered by ciab. Install as /etc/frr/daemons.`,
    "# zebra and staticd are always started by frrinit.sh (frrcommon.sh), whatever this file says.",
    ...DAEMONS.map((d) => `${d}=${on.has(d) ? "yes" : "no"}`),
    "",
    "# Load /etc/frr/frr.conf with `vtysh -b` once the daemons run.",
    "vtysh_enable=yes",
    ...OPTIONS,
    "",
    "# frr.conf starts with `frr defaults traditional`; start the daemons with the same profile.",
    'frr_profile="traditional"',
    "",
  ].join("\n");
}
