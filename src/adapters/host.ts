// What ciab may do to the machine, as one injectable object: run commands (the Runner), read files and stat them,
// the clock, the environment. The one host-capability type: adapters take the part they use (Pick<Host, …>), the
// host agent adds its options (agent/host.ts), the lab's LXD nodes add process control (lab/lxd-node.ts). Tests
// pass fakes; the CLI passes realHost(). Must not: write files directly (writes are commands, so the plan shows
// them and a fake runner records them).
import { existsSync, statSync } from "node:fs";
import { type Runner, spawnRunner } from "./exec.js";
import { isNotRegular, readRegularText } from "./files.js";

export interface Host {
  run: Runner;
  readFile(path: string): string | undefined;
  /** Permission bits (e.g. 0o600), undefined when the path does not exist. */
  fileMode(path: string): number | undefined;
  exists(path: string): boolean;
  /** Unix seconds. */
  now(): number;
  env: Record<string, string | undefined>;
}

export function realHost(run: Runner = spawnRunner): Host {
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
