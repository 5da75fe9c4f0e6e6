// End to end, real daemons: `ciab lab up --lxd` with 3 nodes, BGP, one reflector. Each node runs its own LXD daemon
// (own LXD_DIR, in the node's namespace) that launched a busybox container on its managed bridge; the containers
// ping each other across the mesh from inside (busybox ping, via nsenter into every namespace of the container).
// `up` and `down` run as separate CLI processes, as a user runs them: `down` stops the daemons from what the lab's
// state recorded. Afterwards nothing of the lab is left: namespaces, LXD/monitor/dnsmasq processes, mounts, files.
// Skips unless root with wireguard-go, FRR, LXD, dnsmasq and a static busybox.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { labTest } from "../../src/lab/checks.js";
import { LAB_ROOT, type LabState, readState } from "../../src/lab/state.js";
import { CLI, hasTool } from "../helpers/env.js";
import { alive, deps, expectNothingLeft, labReady, stopLab, uniqueLab } from "../helpers/lab.js";

const lxdReady = labReady() && ["lxd", "lxc", "dnsmasq", "nsenter"].every(hasTool) && existsSync("/bin/busybox");

const ciab = (args: string[], timeout = 180_000) => {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout, env: { ...process.env, NO_COLOR: "1" } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
};

/** Processes whose command line names the lab's directory: LXD daemons, `[lxc monitor]`s, dnsmasq, forkexec. */
function labProcesses(name: string): string[] {
  const dir = `${LAB_ROOT}/${name}/`;
  const out: string[] = [];
  for (const pid of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      if (cmd.includes(dir) && alive(Number(pid))) out.push(`${pid} ${cmd}`);
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Mount points under the lab directory, seen from our mount namespace and from PID 1's. */
const labMounts = (name: string): string[] =>
  ["/proc/self/mountinfo", "/proc/1/mountinfo"].flatMap((f) =>
    readFileSync(f, "utf8")
      .split("\n")
      .map((l) => l.split(" ")[4] ?? "")
      .filter((p) => p.startsWith(`${LAB_ROOT}/${name}`)),
  );

describe.skipIf(!lxdReady)("ciab lab --lxd: 3 nodes, a real LXD daemon and container per node", () => {
  const name = uniqueLab("el");
  let state: LabState | undefined;
  let pids: number[] = [];
  afterAll(async () => {
    // whatever happened above, the lab goes (labDown picks the LXD provider from the lab's state)
    if (existsSync(`${LAB_ROOT}/${name}/state.json`)) await stopLab({ name, state: state as LabState, pids: new Set(pids) });
  }, 120_000);

  it("lab up --lxd (one process) builds it; the daemons outlive that process", () => {
    const t0 = Date.now();
    const r = ciab(["lab", "up", "-v", "--name", name, "--nodes", "3", "--lxd"]);
    console.log(`lab up --lxd: ${((Date.now() - t0) / 1000).toFixed(1)} s\n${r.stderr}`);
    // A daemon child the CLI kept a handle on would keep `lab up` from exiting: spawnSync would time out (signal).
    expect(r.signal).toBeNull();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("containers: lxd");
    state = readState(LAB_ROOT, name);
    expect(state.provider).toBe("lxd");
    expect(state.containers.map((c) => [c.name, c.kind, c.addresses])).toEqual([
      ["c1", "lxd", ["10.0.1.2/24"]],
      ["c2", "lxd", ["10.0.2.2/24"]],
      ["c3", "lxd", ["10.0.3.2/24"]],
    ]);
    pids = state.containers.flatMap((c) => [Number(c.data?.daemonPid), Number(c.data?.containerPid)]);
    expect(pids.every(alive)).toBe(true);
  }, 200_000);

  it("each container runs under its node's LXD daemon: RUNNING in that daemon's `lxc list`, init under its monitor", () => {
    if (!state) throw new Error("no lab");
    const st = state;
    for (const c of st.containers) {
      const node = st.plan?.nodes.find((n) => n.name === c.node);
      const lxdDir = String(c.data?.lxdDir);
      const instance = `${name}-${c.name}`;
      // the daemon's own client, through its LXD_DIR (LXD_CONF: keep the client's config out of ~/.config/lxc)
      const list = spawnSync("lxc", ["list", "--format", "csv", "-c", "ns4"], {
        encoding: "utf8",
        env: { ...process.env, LXD_DIR: lxdDir, LXD_CONF: join(dirname(lxdDir), "lxc-conf") },
      });
      expect(list.status, list.stderr).toBe(0);
      expect(list.stdout.trim()).toBe(`${instance},RUNNING,${c.addresses[0]?.split("/")[0]} (eth0)`);
      // the daemon runs in the node's namespace; the container in a namespace of its own that LXD made
      const daemonPid = Number(c.data?.daemonPid);
      const initPid = Number(c.data?.containerPid);
      expect(spawnSync("ip", ["netns", "identify", String(daemonPid)], { encoding: "utf8" }).stdout.trim()).toBe(node?.ns);
      expect(spawnSync("ip", ["netns", "identify", String(initPid)], { encoding: "utf8" }).stdout.trim()).toBe("");
      // init's parent is LXD's monitor for this instance, which names this daemon's LXD_DIR
      const ppid = Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${initPid}/status`, "utf8"))?.[1]);
      expect(readFileSync(`/proc/${ppid}/cmdline`, "utf8").replaceAll("\0", " ").trim()).toBe(`[lxc monitor] ${lxdDir}/containers ${instance}`);
      // `lab exec`'s argv enters the container: its hostname, its busybox
      const inside = spawnSync(c.exec[0] as string, [...c.exec.slice(1), "sh", "-c", "hostname; readlink /bin/ping"], { encoding: "utf8" });
      expect(inside.stdout).toBe(`${instance}\nbusybox\n`);
    }
  });

  it("lab test: full matrix from inside the containers, every check passes", async () => {
    const r = await labTest(name, deps());
    console.log(r.checks.map((c) => `${c.status} ${c.name}: ${c.detail}`).join("\n"));
    expect(r.matrix.filter((p) => !p.ok)).toEqual([]);
    expect(r.matrix).toHaveLength(6);
    expect(r.checks.filter((c) => c.status === "fail")).toEqual([]);
    // The MTU checks ran (through the host's iputils ping in the container's namespace), none skipped.
    expect(r.checks.filter((c) => c.name.startsWith("MTU boundary")).map((c) => c.status)).toEqual(["pass", "pass", "pass"]);
    expect(r.checks.find((c) => c.name === "no unicast flooding")?.status).toBe("pass");
  }, 120_000);

  it("lab down (another process) stops each LXD by its recorded PID; nothing of the lab is left", async () => {
    if (!state) throw new Error("no lab");
    expect(labProcesses(name).length).toBeGreaterThanOrEqual(6); // per node: lxd, [lxc monitor] (+ dnsmasq)
    const t0 = Date.now();
    const r = ciab(["lab", "down", "--name", name]);
    console.log(`lab down: ${((Date.now() - t0) / 1000).toFixed(1)} s\n${r.stderr}`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain("warning");
    // The provider's down stopped every LXD process (daemon, dnsmasq) by the record before the lab's last resort,
    // killing whatever still runs in its namespaces, found anything.
    expect(r.stderr).toMatch(/is down: 4 namespace\(s\) deleted, 0 process\(es\) stopped/);
    await expectNothingLeft(name, pids);
    expect(labProcesses(name)).toEqual([]);
    expect(labMounts(name)).toEqual([]);
  }, 120_000);
});
