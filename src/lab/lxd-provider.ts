// `ciab lab up --lxd`: the container provider with a real LXD daemon per lab node (lxd-node.ts), in the node's
// network namespace, with a managed bridge that carries the node's subnet gateways and one running container.
// Owns: mapping the lab's plan onto startLxdNode (bridge name and MTU, container name and addresses), the record
// `lab down` needs to stop the daemon from another process (LabContainer.data), and the addresses of further
// subnets, which LXD's one-address-per-family bridge config cannot hold. Must not: create or delete namespaces (the
// lab does), act in the root namespace, or kill anything but the recorded daemon and its node's processes (the
// stop logic of lxd-node.ts). The lab kills the rest of its namespaces' processes after down().
import { chmodSync, statSync } from "node:fs";
import { join } from "node:path";
import { runOk } from "../adapters/exec.js";
import { canonicalNetwork } from "../ipam/ip.js";
import { CiabError } from "../model/errors.js";
import { type LxdNode, type LxdNodeHost, type LxdNodeRecord, realHost, recordOf, startLxdNode, stopRecordedLxdNode } from "./lxd-node.js";
import type { ContainerPlan, NodePlan } from "./plan.js";
import type { ContainerProvider, LabContainer, ProviderContext } from "./provider.js";

/** Where the lab's LXD nodes live: <lab>/lxd/lxd-<node>/ (short: LXD's socket path must fit in 107 bytes). */
const stateDir = (ctx: Pick<ProviderContext, "labDir">): string => join(ctx.labDir, "lxd");

/** LXD instance names become cgroup names (lxc.payload.<name>), which every daemon on the machine shares. */
const instanceName = (ctx: Pick<ProviderContext, "plan">, c: Pick<ContainerPlan, "name">): string => `${ctx.plan.name}-${c.name}`;

const bare = (a: string): string => a.split("/")[0] as string;
const v6 = (a: string): boolean => a.includes(":");

/**
 * An unprivileged container's root (uid 100000 on the host) must traverse every directory above its rootfs; the lab
 * directory is 0700. Traverse only (o+x): nothing becomes listable, and the lab's secrets are 0600 files anyway.
 */
function traversable(dir: string): void {
  const mode = statSync(dir).mode & 0o7777;
  if ((mode & 0o001) === 0) chmodSync(dir, mode | 0o001);
}

/** The record of LabContainer.data, checked: state files are JSON, and an older or edited one may lack fields. */
function recordFrom(ctx: ProviderContext, node: NodePlan, containers: LabContainer[]): LxdNodeRecord {
  const d = containers.find((c) => c.data?.lxdName !== undefined)?.data ?? {};
  const str = (k: string) => (typeof d[k] === "string" ? (d[k] as string) : undefined);
  const pid = typeof d.daemonPid === "number" && d.daemonPid > 0 ? d.daemonPid : undefined;
  return {
    netns: node.ns,
    name: str("lxdName") ?? node.name,
    stateDir: str("lxdStateDir") ?? stateDir(ctx),
    containerName: str("lxdContainer") ?? instanceName(ctx, node.containers[0] ?? { name: "" }),
    // Without a record (up died before it saved one) the daemon is unknown: stopRecordedLxdNode then removes the
    // leftovers it can identify by the node's LXD_DIR (monitors, container init, dnsmasq), and the lab kills the
    // daemon with its namespace.
    ...(pid !== undefined ? { daemonPid: pid, daemonStart: str("daemonStart") ?? "" } : {}),
  };
}

/** argv prefix that runs a host program in the container's network namespace (its init's). */
const inContainerNet = (lxd: Pick<LxdNode, "containerPid">): string[] => ["nsenter", "-t", String(lxd.containerPid), "-n", "--"];

/**
 * Addresses the LXD bridge config does not hold (it has one address per family): the further subnets' gateways on
 * the bridge, the container's further addresses, and the other family's default route. Set with the host's `ip`
 * in the container's network namespace: busybox's `ip` has no `nodad`, and DAD would delay the first packets.
 */
async function extraAddresses(ctx: ProviderContext, node: NodePlan, lxd: LxdNode, c: ContainerPlan): Promise<void> {
  const [first, ...rest] = c.addresses;
  if (first === undefined || rest.length === 0) return;
  const firstNet = canonicalNetwork(first);
  const dad = (a: string) => (v6(a) ? ["nodad"] : []);
  const ipn = (...args: string[]) => ["ip", "-n", node.ns, ...args];
  const inC = (...args: string[]) => [...inContainerNet(lxd), "ip", ...args];
  const bridgeExtra = node.bridgeAddresses.filter((a) => canonicalNetwork(a) !== firstNet);
  // LXD turns IPv6 off on a bridge whose ipv6.address is none; a further IPv6 subnet needs it back on.
  if (!v6(first) && bridgeExtra.some(v6))
    await runOk(ctx.run, ["ip", "netns", "exec", node.ns, "sysctl", "-q", "-w", `net.ipv6.conf.${node.bridge}.disable_ipv6=0`]);
  for (const a of bridgeExtra) await runOk(ctx.run, ipn("address", "add", a, "dev", node.bridge, ...dad(a)));
  for (const a of rest) await runOk(ctx.run, inC("address", "add", a, "dev", "eth0", ...dad(a)));
  // startLxdNode gave the first subnet's family its default route; the other family's comes here.
  const other = v6(first) ? c.gateway4 : rest.some(v6) ? c.gateway6 : undefined;
  if (other) await runOk(ctx.run, inC(v6(first) ? "-4" : "-6", "route", "add", "default", "via", other, "dev", "eth0"));
}

export interface LxdProviderOptions {
  /** How LXD is run (default: the real host; tests pass a fake). */
  host?: LxdNodeHost;
  /** The container image tarball (default: built once per lab from the host's static busybox). */
  image?: string;
}

export function lxdProvider(opts: LxdProviderOptions = {}): ContainerProvider {
  const host = opts.host ?? realHost;
  return {
    kind: "lxd",
    async up(ctx, node) {
      const c = node.containers[0];
      // A node without subnets has no container, so it needs no daemon either.
      if (!c) return [];
      const first = c.addresses[0] as string;
      const gateway = node.bridgeAddresses.find((a) => canonicalNetwork(a) === canonicalNetwork(first));
      if (!gateway) throw new CiabError("internal", `node ${node.name}: no bridge address in the subnet of ${first}`);
      traversable(ctx.labDir);
      const dir = stateDir(ctx);
      const lxd = await startLxdNode({
        netns: node.ns,
        name: node.name,
        stateDir: dir,
        subnet: canonicalNetwork(first),
        gateway: bare(gateway),
        containerAddress: bare(first),
        container: instanceName(ctx, c),
        // The plan's bridge name, so the layout (and `ip -n NS addr show br0`) is the same with either provider.
        bridge: node.bridge,
        // The container's eth0 takes the bridge's MTU: the rendered container MTU, as with the netns provider.
        mtu: node.containerMTU,
        ...(opts.image ? { image: opts.image } : {}),
        host,
      });
      try {
        await extraAddresses(ctx, node, lxd, c);
      } catch (e) {
        await lxd.stop();
        throw e;
      }
      const rec = recordOf(lxd, dir);
      const pid = String(lxd.containerPid);
      ctx.progress(
        `node ${node.name}: LXD ${lxd.lxdDir} (pid ${lxd.daemonPid}) runs container ${lxd.containerName} (init pid ${pid}) in ${Math.round(lxd.timings.totalMs)} ms`,
      );
      return [
        {
          name: c.name,
          node: node.name,
          kind: "lxd",
          addresses: c.addresses,
          mtu: node.containerMTU,
          // nsenter on the container's init, as lxd-node's exec (LXD 5.0's `lxc exec` loses output under load).
          exec: ["nsenter", "-t", pid, "-a", "-r", "-w", "--"],
          netExec: inContainerNet(lxd),
          data: {
            lxdName: rec.name,
            lxdStateDir: rec.stateDir,
            lxdContainer: rec.containerName,
            lxdDir: lxd.lxdDir,
            daemonPid: lxd.daemonPid,
            daemonStart: lxd.daemonStart,
            containerPid: lxd.containerPid,
          },
        },
      ];
    },
    async down(ctx, node, containers) {
      if (node.containers.length === 0) return;
      await stopRecordedLxdNode(recordFrom(ctx, node, containers), { host, log: ctx.progress });
    },
  };
}
