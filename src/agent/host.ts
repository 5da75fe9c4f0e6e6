// What the host agent (ciab up/down/status/doctor) may do to the machine: the one Host (adapters/host.ts: run
// commands, read and stat files, the clock, the environment) plus the agent's options. Tests pass fakes; the CLI
// passes realHost().
import type { Runner } from "../adapters/exec.js";
import { type Host, realHost as realMachine } from "../adapters/host.js";
import type { LxdOptions } from "../adapters/lxd.js";

export interface HostDeps extends Host {
  /** LXD discovery options (socket, timeout, transport) for DiscoverLXD nodes. */
  lxd?: LxdOptions;
  /** Where ciab keeps wireguard-go's PID file and log (default /run/ciab). */
  runDir?: string;
}

/** The real machine, with no options set (the CLI sets them). */
export const realHost = (run?: Runner): HostDeps => realMachine(run);
