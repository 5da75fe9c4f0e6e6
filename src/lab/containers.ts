// Containers behind a lab node: the default provider (a network namespace on a veth into the node's bridge) and
// the choice of provider by kind; the provider interface is in provider.ts. Owns: the bridge and the containers of
// each node. Must not: create namespaces without tracking them first-thing (teardown deletes what is tracked),
// touch the root namespace, or kill processes it did not start (the lab kills what runs in its namespaces; a
// provider's down() stops only its own, e.g. LXD's daemon by its recorded PID and containers that live in
// namespaces LXD made). The `--lxd` provider (lxd-provider.ts: a real LXD daemon per node) plugs in here: it
// returns the same LabContainer records, so checks and `ciab lab exec` work with either.
import { type Runner, runOk } from "../adapters/exec.js";
import { lxdProvider } from "./lxd-provider.js";
import { inNs } from "./private.js";
import type { ContainerProvider, LabContainer } from "./provider.js";
import { bridgeSteps, type Step } from "./topology.js";

export type { ContainerProvider, LabContainer, ProviderContext } from "./provider.js";

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
