// The lab's layout as data: lab names, namespace names, the emulated internet's address plan, each node's underlay
// and container addresses. Pure; no I/O. Everything the lab creates is named here, so naming rules (unique per lab,
// no collision between two labs, ≤ 15-byte interface names) live in one place and are unit-tested.
import { type Family, formatAddr, network, overlaps, parsePrefix, size } from "../ipam/ip.js";
import { CiabError, usage } from "../model/errors.js";
import type { Mesh, MeshNode } from "../model/mesh.js";
import { mtuPlan } from "../model/mtu.js";

export const DEFAULT_LAB = "ciab";
/**
 * Lab names: no "-", so "<lab>-" is a prefix no other lab's namespaces share (lab "a" never sees lab "a-b"'s).
 * Short, because the lab name is also the default network name (WireGuard interface, VXLAN "v<name>").
 */
export const LAB_NAME = /^[a-z][a-z0-9]{0,11}$/;

export function checkLabName(name: string): void {
  if (!LAB_NAME.test(name)) {
    throw usage(`lab name '${name}' is invalid`, "use 1-12 of a-z 0-9, starting with a letter (it prefixes the lab's namespace names)");
  }
}

/** Which underlay the emulated internet gives the nodes; endpoints use IPv4 unless the underlay is IPv6 only. */
export type Underlay = "4" | "6" | "dual";
export const UNDERLAYS: readonly Underlay[] = ["4", "6", "dual"];

// RFC 2544's benchmarking range (198.18.0.0/15) and RFC 3849's documentation prefix: never routed anywhere real.
// NEVER 192.0.2.0/24: this machine's own network (FINDINGS §9).
export const LAB_V4 = "198.18.0.0/15";
export const LAB_V6 = "2001:db8::/32";
/** One /24 (198.18.<i>.0/24) and one /64 (2001:db8:0:<i>::/64) per node: node i is .1, the internet's side .254. */
export const MAX_NODES = 250;
export const WG_PORT = 51820;

export interface Underlay4 {
  /** Node side, with length. */
  addr: string;
  gateway: string;
}

export interface NodeUnderlay {
  v4?: Underlay4;
  v6?: Underlay4;
  /** The address peers send WireGuard to: what replaces the mesh file's Endpoint host. */
  endpointHost: string;
  endpointFamily: Family;
}

export function nodeUnderlay(index: number, underlay: Underlay): NodeUnderlay {
  if (!Number.isInteger(index) || index < 1 || index > MAX_NODES) {
    throw new CiabError("invalid", `the lab has room for ${MAX_NODES} nodes, node number ${index} is out of range`);
  }
  const v4 = underlay === "6" ? undefined : { addr: `198.18.${index}.1/24`, gateway: `198.18.${index}.254` };
  const hex = index.toString(16);
  const v6 = underlay === "4" ? undefined : { addr: `2001:db8:0:${hex}::1/64`, gateway: `2001:db8:0:${hex}::fe` };
  return v4 ? { v4, v6, endpointHost: `198.18.${index}.1`, endpointFamily: 4 } : { v6, endpointHost: `2001:db8:0:${hex}::1`, endpointFamily: 6 };
}

/** "host:port" for wg(8): IPv6 in brackets. */
export const endpointText = (u: NodeUnderlay, port: number): string => (u.endpointFamily === 6 ? `[${u.endpointHost}]:${port}` : `${u.endpointHost}:${port}`);

export interface ContainerPlan {
  /** Lab-wide name: c<i> for node i (what `ciab lab exec c1 -- …` takes). */
  name: string;
  node: string;
  ns: string;
  /** The veth end inside the node namespace (a bridge port). */
  hostIf: string;
  /** Addresses with length, one per subnet of the node that has room for a container. */
  addresses: string[];
  gateway4?: string;
  gateway6?: string;
}

export interface NodePlan {
  name: string;
  /** 1-based position in the mesh's (sorted) node list. */
  index: number;
  ns: string;
  /** The veth end in the internet namespace that leads to this node. */
  uplink: string;
  underlay: NodeUnderlay;
  /** Bridge for the node's containers, with the subnets' gateway addresses (the first host of each subnet). */
  bridge: string;
  bridgeAddresses: string[];
  containers: ContainerPlan[];
  /** The MTU the rendered bundle gives containers (VXLAN MTU): the container veths use it. */
  containerMTU: number;
}

export interface LabPlan {
  name: string;
  network: string;
  underlay: Underlay;
  inetNs: string;
  /** tbf rate on the internet's links towards the nodes (tc(8) syntax, e.g. 100mbit), when shaping. */
  rate?: string;
  nodes: NodePlan[];
}

export const inetNs = (lab: string): string => `${lab}-inet`;
// Indices, not node names, in namespace and interface names: node names may be 63 bytes and may contain "-".
export const nodeNs = (lab: string, index: number): string => `${lab}-n${index}`;
export const containerNs = (lab: string, index: number): string => `${lab}-c${index}`;
export const BRIDGE = "br0";

/** The n-th host address of a prefix (n ≥ 1), with the prefix's length; undefined when the prefix is too small. */
export function hostAddress(prefix: string, n: number): string | undefined {
  const p = network(parsePrefix(prefix));
  // IPv4 needs room for network and broadcast addresses; IPv6 only skips the subnet-router anycast (::0).
  const usable = p.family === 4 ? size(p) - 2n : size(p) - 1n;
  if (BigInt(n) > usable) return undefined;
  return `${formatAddr(p.family, p.addr + BigInt(n))}/${p.len}`;
}

const bare = (a: string): string => a.split("/")[0] as string;

function containerOf(lab: string, node: MeshNode, index: number): ContainerPlan | undefined {
  const addresses = node.subnets.map((s) => hostAddress(s, 2)).filter((a): a is string => a !== undefined);
  if (addresses.length === 0) return undefined;
  const gw = (f: Family) =>
    node.subnets
      .filter((s) => parsePrefix(s).family === f)
      .map((s) => hostAddress(s, 1))
      .find(Boolean);
  const g4 = gw(4);
  const g6 = gw(6);
  return {
    name: `c${index}`,
    node: node.name,
    ns: containerNs(lab, index),
    hostIf: `vc${index}`,
    addresses,
    ...(g4 ? { gateway4: bare(g4) } : {}),
    ...(g6 ? { gateway6: bare(g6) } : {}),
  };
}

/**
 * The mesh's own prefixes (pools, overlay addresses, subnets) must not overlap the lab's underlay: a node would
 * then have two routes to one address and the lab would test something else than the mesh.
 */
function checkNoOverlap(mesh: Mesh, nodes: NodePlan[]): void {
  const underlay = nodes
    .flatMap((n) => [n.underlay.v4?.addr, n.underlay.v6?.addr])
    .filter((a): a is string => a !== undefined)
    .map((a) => network(parsePrefix(a)));
  const own = [
    ...[mesh.network.poolIPv4, mesh.network.poolIPv6].filter((p): p is string => p !== undefined).map((p) => ({ what: "the network's address pool", p })),
    ...mesh.nodes.flatMap((n) => [...n.subnets, ...n.address].map((p) => ({ what: `node ${n.name}'s ${n.subnets.includes(p) ? "subnet" : "address"}`, p }))),
  ];
  for (const { what, p } of own) {
    const hit = underlay.find((u) => overlaps(u, parsePrefix(p)));
    if (hit) {
      throw new CiabError("invalid", `${what} ${p} overlaps the lab's underlay ${formatAddr(hit.family, hit.addr)}/${hit.len}`, {
        hint: `the lab's internet uses ${LAB_V4} and ${LAB_V6} (198.18.<node>.0/24, 2001:db8:0:<node>::/64); move the mesh's prefixes out of those`,
      });
    }
  }
}

/** Lay the lab out for a (validated, lab-rewritten) mesh. */
export function planLab(lab: string, mesh: Mesh, opts: { underlay: Underlay; rate?: string }): LabPlan {
  checkLabName(lab);
  if (mesh.nodes.length > MAX_NODES) throw new CiabError("invalid", `the lab has room for ${MAX_NODES} nodes; the mesh has ${mesh.nodes.length}`);
  const nodes = mesh.nodes.map((node, i): NodePlan => {
    const index = i + 1;
    // The container of node i is c<i>, in namespace <lab>-c<i> beside <lab>-n<i>.
    const container = containerOf(lab, node, index);
    return {
      name: node.name,
      index,
      ns: nodeNs(lab, index),
      uplink: `to-n${index}`,
      underlay: nodeUnderlay(index, opts.underlay),
      bridge: BRIDGE,
      bridgeAddresses: node.subnets.map((s) => hostAddress(s, 1)).filter((a): a is string => a !== undefined),
      containers: container ? [container] : [],
      containerMTU: mtuPlan(mesh, node).container,
    };
  });
  checkNoOverlap(mesh, nodes);
  return { name: lab, network: mesh.name, underlay: opts.underlay, inetNs: inetNs(lab), ...(opts.rate ? { rate: opts.rate } : {}), nodes };
}

/** The namespaces of the lab's infrastructure (the internet, then the nodes); container providers add their own. */
export const planNamespaces = (p: LabPlan): string[] => [p.inetNs, ...p.nodes.map((n) => n.ns)];
