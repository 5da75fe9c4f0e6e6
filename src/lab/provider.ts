// The container provider interface of the lab: what a provider gets (ProviderContext), what it returns
// (LabContainer records in the lab's state) and what it implements. Its own module so that the providers
// (containers.ts: netns, lxd-provider.ts: LXD) and the lab import it without a cycle between them.
import type { Runner } from "../adapters/exec.js";
import type { LabPlan, NodePlan } from "./plan.js";

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
