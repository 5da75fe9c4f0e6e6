// The commands that build the lab's network: the emulated internet namespace and each node's namespace with its
// underlay link. Pure: returns argv lists; lab.ts runs them. Must not: produce any command that acts on the root
// namespace. Every command is `ip netns add NS`, `ip -n NS …`, `tc -n NS …` or `ip netns exec NS …`, and every veth
// is created with both ends inside lab namespaces (test/unit/lab-topology.test.ts checks this for all commands).
import type { LabPlan, NodePlan } from "./plan.js";

export type Argv = string[];

/** A command and its standard input (nft reads its ruleset from stdin). */
export interface Step {
  argv: Argv;
  input?: string;
}

export const NFT_TABLE = "ciab_lab";
export const FRAG_COUNTER = "frags";

/**
 * Like many real internet paths, drop IP fragments (IPv4 MF/offset, IPv6 fragment header), counting them. Without
 * this an oversized WireGuard MTU still "works" because the sending kernel fragments wireguard-go's UDP (FINDINGS §4).
 * "forward_nofrag": `fwd` is an nft keyword (FINDINGS §9).
 */
export const INET_NFT = `table inet ${NFT_TABLE} {
  counter ${FRAG_COUNTER} { }
  chain forward_nofrag {
    type filter hook forward priority 0; policy accept;
    ip frag-off & 0x3fff != 0 counter name "${FRAG_COUNTER}" drop
    exthdr frag exists counter name "${FRAG_COUNTER}" drop
  }
}
`;

const exec = (ns: string, ...argv: string[]): Argv => ["ip", "netns", "exec", ns, ...argv];
const ipn = (ns: string, ...args: string[]): Argv => ["ip", "-n", ns, ...args];
const sysctl = (ns: string, ...settings: string[]): Argv => exec(ns, "sysctl", "-q", "-w", ...settings);

/** The internet namespace: a router with forwarding on and the fragment-drop rule. */
export function inetSteps(p: LabPlan): Step[] {
  return [
    { argv: ipn(p.inetNs, "link", "set", "lo", "up") },
    { argv: sysctl(p.inetNs, "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1") },
    { argv: exec(p.inetNs, "nft", "-f", "-"), input: INET_NFT },
  ];
}

/**
 * One node's namespace and its link to the internet: the veth is created inside the internet namespace with its
 * peer moved straight into the node's (FINDINGS §2), so it never exists in the root namespace. `nodad`: the lab's
 * IPv6 addresses are unique by construction, and DAD would delay the first handshake by a second or two.
 */
export function nodeSteps(p: LabPlan, n: Pick<NodePlan, "ns" | "uplink" | "underlay">): Step[] {
  const steps: Step[] = [
    { argv: ipn(n.ns, "link", "set", "lo", "up") },
    { argv: ipn(p.inetNs, "link", "add", n.uplink, "type", "veth", "peer", "name", "eth0", "netns", n.ns) },
  ];
  for (const u of [n.underlay.v4, n.underlay.v6]) {
    if (!u) continue;
    const len = u.addr.split("/")[1];
    const dad = u.addr.includes(":") ? ["nodad"] : [];
    steps.push({ argv: ipn(p.inetNs, "address", "add", `${u.gateway}/${len}`, "dev", n.uplink, ...dad) });
    steps.push({ argv: ipn(n.ns, "address", "add", u.addr, "dev", "eth0", ...dad) });
  }
  steps.push({ argv: ipn(p.inetNs, "link", "set", n.uplink, "up") }, { argv: ipn(n.ns, "link", "set", "eth0", "up") });
  if (n.underlay.v4) steps.push({ argv: ipn(n.ns, "route", "add", "default", "via", n.underlay.v4.gateway) });
  if (n.underlay.v6) steps.push({ argv: ipn(n.ns, "-6", "route", "add", "default", "via", n.underlay.v6.gateway) });
  // tbf is the only shaping qdisc this kernel has (no netem/fq, FINDINGS §1); it shapes the internet's egress.
  if (p.rate) steps.push({ argv: ["tc", "-n", p.inetNs, "qdisc", "add", "dev", n.uplink, "root", "tbf", "rate", p.rate, "burst", "64k", "latency", "50ms"] });
  return steps;
}

/** The node's container bridge with the gateway address of each of its subnets (what an LXD bridge would be). */
export function bridgeSteps(n: NodePlan): Step[] {
  return [
    { argv: ipn(n.ns, "link", "add", n.bridge, "type", "bridge") },
    ...n.bridgeAddresses.map((a) => ({ argv: ipn(n.ns, "address", "add", a, "dev", n.bridge, ...(a.includes(":") ? ["nodad"] : [])) })),
    { argv: ipn(n.ns, "link", "set", n.bridge, "up") },
  ];
}
