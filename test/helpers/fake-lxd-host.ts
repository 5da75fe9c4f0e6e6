// A scripted LxdNodeHost for unit tests of the lab's LXD nodes (lxd-node.ts) and the --lxd provider: records
// every command, simulates the daemon's life and the process and mount tables. No real command runs.
import { writeFileSync } from "node:fs";
import type { LxdNodeHost, ProcInfo, RunOptions, RunResult } from "../../src/lab/lxd-node.js";

export const OK: RunResult = { code: 0, stdout: "", stderr: "" };
export const DAEMON = 4242;

/** A scripted host: records every command, simulates the daemon's life and the process and mount tables. */
export class FakeHost implements LxdNodeHost {
  calls: string[] = [];
  envs: Record<string, string>[] = [];
  kills: [number, string][] = [];
  procs: ProcInfo[] = [];
  mounts: string[] = [];
  /** Per-command overrides, matched by prefix of the joined command. */
  replies: [string, (opts?: RunOptions) => RunResult | Promise<RunResult>][] = [];
  exitOnShutdown = true;
  exitOnSignal: string[] = ["SIGTERM", "SIGKILL"];
  spawnLog = "";
  private exit!: () => void;
  exited = new Promise<void>((r) => {
    this.exit = r;
  });
  stuckMounts = new Set<string>();

  run = async (cmd: string[], opts?: RunOptions): Promise<RunResult> => {
    const line = cmd.join(" ");
    this.calls.push(line);
    if (opts?.env) this.envs.push(opts.env);
    const reply = this.replies.find(([p]) => line.startsWith(p));
    if (reply) return reply[1](opts);
    if (line.startsWith("lxc query /1.0/instances/")) return { code: 0, stdout: '{"pid": 5000, "status": "Running"}\n', stderr: "" };
    if (line.startsWith("lxd shutdown") && this.exitOnShutdown) this.exit();
    if (line.startsWith("umount -l ")) {
      const point = cmd[2] ?? "";
      if (this.stuckMounts.has(point)) return { code: 32, stdout: "", stderr: `umount: ${point}: not mounted` };
      this.mounts = this.mounts.filter((m) => m !== point);
    }
    return OK;
  };
  spawn = (cmd: string[], opts: { env: Record<string, string>; logFile: string }) => {
    this.calls.push(`spawn ${cmd.join(" ")}`);
    this.envs.push(opts.env);
    writeFileSync(opts.logFile, this.spawnLog);
    return { pid: DAEMON, exited: this.exited };
  };
  processes = () => this.procs;
  kill = (pid: number, signal: NodeJS.Signals) => {
    this.kills.push([pid, signal]);
    if (pid === DAEMON && this.exitOnSignal.includes(signal)) this.exit();
    this.procs = this.procs.filter((p) => p.pid !== pid);
  };
  mountinfo = () => this.mounts.map((m, i) => `${100 + i} 45 0:${40 + i} / ${m.replaceAll(" ", "\\040")} rw,relatime - tmpfs tmpfs rw`).join("\n");
  sleep = async () => {};
  daemonDies() {
    this.exit();
  }
}
