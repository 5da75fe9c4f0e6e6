// Containers behind a lab node: the provider interface, and the default provider (a network namespace on a veth
// into the node's bridge). Owns: the bridge and the containers of each node. Must not: create namespaces without
// tracking them first-thing (teardown deletes what is tracked), touch the root namespace, or kill processes it did
// not start (the lab kills what runs in its namespaces; a provider's down() stops only its own, e.g. LXD's daemon
// by its recorded PID and containers that live in namespaces LXD made). The `--lxd` provider (lxd-provider.ts: a
// real LXD daemon per node) plugs in here: it returns the same LabContainer records, so checks and `ciab lab exec`
// work with either.
import { type Runner, runOk } from "../adapters/exec.js";
import { lxdProvider } from "./lxd-provider.js";
import type { LabPlan, NodePlan } from "./plan.js";
import { inNs } from "./private.js";
import { bridgeSteps, type Step } from "./topology.js";

/** A running container, as recorded in the lab's state (JSON). */
export interface LabContainer {
  /** Lab-wide name (c1, c2 …): `ciab lab exec c1 -- …`. */
  name: string;
  node: string;
  /** Provider kind ("netns", "lxd"). */
  kind: string;
  /** Addresses with length; the matrix pings the first IPv4 one (and IPv6 ones when both ends have them). */
  addresses: string[];
  mtu: number;
  /** argv prefix that runs a command inside the container, from any process (e.g. ["ip","netns","exec","lab-c1"]). */
  exec: string[];
  /**
   * argv prefix that runs one of the host's programs in the container's network namespace only. Checks that depend
   * on a tool's flags (iputils `ping -M do`, traceroute) use it: a container image may have other tools (busybox
   * ping cannot set DF). Absent when `exec` already runs host programs (a plain namespace).
   */
  netExec?: string[];
  /** Provider-specific facts its down() needs later (a daemon PID, a state directory). */
  data?: Record<string, string | number>;
}

export interface ProviderContext {
  run: Runner;
  plan: LabPlan;
  /** Record a namespace as the lab's right after creating it, so teardown finds it even if the next step fails. */
  track(ns: string): Promise<void>;
  /** A directory of the lab for this node's provider files; removed with the lab. */
  nodeDir(node: string): string;
  /** The lab's directory (files shared by the nodes, e.g. a container image); removed with the lab. */
  labDir: string;
  progress(msg: string): void;
  signal?: AbortSignal;
}

export interface ContainerProvider {
  readonly kind: string;
  /** Create the node's bridge and containers; the node namespace and its underlay exist, the bundle is not applied yet. */
  up(ctx: ProviderContext, node: NodePlan): Promise<LabContainer[]>;
  /**
   * Release what up() made outside the lab's namespaces (the lab then kills every process in its namespaces and
   * deletes them). Called on teardown with the recorded containers, possibly by another process than up(), and also
   * after a failed up(): must be idempotent and tolerate half-made state.
   */
  down?(ctx: ProviderContext, node: NodePlan, containers: LabContainer[]): Promise<void>;
}

export async function runSteps(run: Runner, steps: Step[], signal?: AbortSignal): Promise<void> {
  for (const s of steps) await runOk(run, s.argv, { input: s.input, signal });
}

/** The default: one namespace per node on a veth into the node's bridge, with an address in each of its subnets. */
export const netnsProvider: ContainerProvider = {
  kind: "netns",
  async up(ctx, node) {
    await runSteps(ctx.run, bridgeSteps(node), ctx.signal);
    const made: LabContainer[] = [];
    for (const c of node.containers) {
      await runOk(ctx.run, ["ip", "netns", "add", c.ns], { signal: ctx.signal });
      await ctx.track(c.ns);
      const ipn = (ns: string, ...args: string[]) => ({ argv: ["ip", "-n", ns, ...args] });
      const mtu = String(node.containerMTU);
      // The container's MTU is the rendered container MTU (the VXLAN MTU): it must not send what the overlay
      // cannot carry unfragmented (FINDINGS §4: set the container veth MTU to the vx0 MTU).
      await runSteps(
        ctx.run,
        [
          ipn(c.ns, "link", "set", "lo", "up"),
          ipn(node.ns, "link", "add", c.hostIf, "mtu", mtu, "type", "veth", "peer", "name", "eth0", "netns", c.ns, "mtu", mtu),
          ipn(node.ns, "link", "set", c.hostIf, "master", node.bridge, "up"),
          ...c.addresses.map((a) => ipn(c.ns, "address", "add", a, "dev", "eth0", ...(a.includes(":") ? ["nodad"] : []))),
          ipn(c.ns, "link", "set", "eth0", "up"),
          ...(c.gateway4 ? [ipn(c.ns, "route", "add", "default", "via", c.gateway4)] : []),
          ...(c.gateway6 ? [ipn(c.ns, "-6", "route", "add", "default", "via", c.gateway6)] : []),
        ],
        ctx.signal,
      );
      made.push({ name: c.name, node: node.name, kind: "netns", addresses: c.addresses, mtu: node.containerMTU, exec: inNs(c.ns, []) });
    }
    return made;
  },
};

/** The provider of a kind: `lab up` takes the one asked for, `lab down` the one the lab's state names. */
export function providerOf(kind: string): ContainerProvider | undefined {
  if (kind === netnsProvider.kind) return netnsProvider;
  if (kind === "lxd") return lxdProvider();
  return undefined;
}
