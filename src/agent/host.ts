// What the host agent (ciab up/down/status/doctor) may do to the machine, as one injectable object: run commands
// (the Runner), read files and stat them, the clock, the environment. Tests pass fakes; the CLI passes realHost().
// Must not: write files directly (writes are commands, so the plan shows them and a fake runner records them).
import { existsSync, statSync } from "node:fs";
import { type Runner, spawnRunner } from "../adapters/exec.js";
import { isNotRegular, readRegularText } from "../adapters/files.js";
import type { LxdOptions } from "../adapters/lxd.js";

export interface HostDeps {
  run: Runner;
  readFile(path: string): string | undefined;
  /** Permission bits (e.g. 0o600), undefined when the path does not exist. */
  fileMode(path: string): number | undefined;
  exists(path: string): boolean;
  /** Unix seconds. */
  now(): number;
  env: Record<string, string | undefined>;
  /** LXD discovery options (socket, timeout, transport) for DiscoverLXD nodes. */
  lxd?: LxdOptions;
  /** Where ciab keeps wireguard-go's PID file and log (default /run/ciab). */
  runDir?: string;
}

export function realHost(run: Runner = spawnRunner): HostDeps {
  return {
    run,
    // Regular files only, opened non-blocking: a FIFO manifest.json or /dev/zero is refused at once, never read.
    // A missing or unreadable file is undefined (the caller names what it expected); a non-regular one throws.
    readFile: (p) => {
      try {
        return readRegularText(p);
      } catch (e) {
        if (isNotRegular(e)) throw e;
        return undefined;
      }
    },
    fileMode: (p) => {
      try {
        return statSync(p).mode & 0o7777;
      } catch {
        return undefined;
      }
    },
    exists: existsSync,
    now: () => Math.floor(Date.now() / 1000),
    env: process.env,
  };
}
