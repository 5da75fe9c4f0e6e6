// Lab: one real LXD daemon per lab node, inside the node's network namespace, with one running busybox container.
// Owns: the node's LXD state directory (<stateDir>/lxd-<name>/, LXD_DIR and LXD_CONF live there), the daemon (by PID),
// the container, the managed bridge, and the local busybox image tarball (built once per state dir).
// Must not: create or delete network namespaces (the lab owns them), touch the root namespace's interfaces, routes or
// firewall, use /var/lib/lxd or ~/.config/lxc, kill processes it did not start (only the daemon's tree and processes
// whose command line names this node's LXD_DIR), or need the internet.
// Every command and every process/mount look-up goes through an injectable LxdNodeHost so the logic is unit-tested.
// A node started by one process can be stopped by another (`ciab lab down` after `ciab lab up`): recordOf() gives the
// plain data (directory, daemon PID and start time) and stopRecordedLxdNode() runs the same stop logic from it.
//
// Why `ip netns exec` for the daemon: it gives LXD the node's network namespace *and* a private mount namespace with
// slave propagation, so LXD's own mounts (LXD_DIR/shmounts, LXD_DIR/devlxd) never appear on the host and vanish with
// the daemon's processes. stop() still checks /proc/self/mountinfo in case a caller ran the daemon differently.
import { spawn } from "node:child_process";
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { type Runner, type RunResult, spawnRunner } from "../adapters/exec.js";
import type { Host } from "../adapters/host.js";
import { formatAddr, mask, parseAddr, parsePrefix, size } from "../ipam/ip.js";
import { CiabError, conflict, invalid } from "../model/errors.js";

// The one Runner (adapters/exec.ts): a deadline reports `timedOut` (exit 137, SIGKILL), as everywhere in ciab.
export type { Runner, RunOptions, RunResult } from "../adapters/exec.js";

/** Commands of an LXD node get this deadline unless they ask for another (lxd waitready, image import). */
const DEFAULT_TIMEOUT_MS = 60_000;

export interface ProcInfo {
  pid: number;
  ppid: number;
  /** /proc/PID/stat state letter; "Z" is a zombie (already dead). */
  state: string;
  /** Start time in clock ticks; guards against PID reuse. */
  start: string;
  /** argv joined by spaces. */
  cmdline: string;
}

export interface DaemonProcess {
  pid: number;
  /** Resolves when the process has exited (never rejects). */
  exited: Promise<void>;
}

/** Everything the module does to the host, so tests can replace it: the one Host's runner plus process control. */
export interface LxdNodeHost extends Pick<Host, "run"> {
  /** Start a long-running process in the background; stdout and stderr go to logFile. */
  spawn(cmd: string[], opts: { env: Record<string, string>; logFile: string }): DaemonProcess;
  processes(): ProcInfo[];
  kill(pid: number, signal: NodeJS.Signals): void;
  /** Contents of /proc/self/mountinfo. */
  mountinfo(): string;
  sleep(ms: number): Promise<void>;
}

export interface LxdNodeOptions {
  /** Existing network namespace (created and deleted by the lab). */
  netns: string;
  /** Lab node name; names the state directory and the default container. */
  name: string;
  /** Per-run state directory; this node uses <stateDir>/lxd-<name>/. */
  stateDir: string;
  /** Container subnet, e.g. "10.0.1.0/24". */
  subnet: string;
  /** The bridge's address in the subnet, e.g. "10.0.1.1"; the container's default route points to it. */
  gateway: string;
  /** Container address (default: the subnet's 10th address, or the first free one in small subnets). */
  containerAddress?: string;
  /** Container name (default "c-<name>"). Unique names avoid cgroup name clashes between daemons on one host. */
  container?: string;
  /** Managed bridge name (default "lxdbr0"). */
  bridge?: string;
  /** Bridge MTU (bridge.mtu); LXD gives the container's eth0 the parent's MTU. */
  mtu?: number;
  /** Image tarball from buildBusyboxImage (default: built once in stateDir). */
  image?: string;
  /**
   * Privileged container (security.privileged=true): container root is host root, so no uid shifting and no need for
   * /etc/subuid or world-traversable parent directories. Default false (unprivileged, as on a real host).
   */
  privileged?: boolean;
  /** Deadline per lxc/lxd command, default 60 s. */
  timeoutMs?: number;
  host?: LxdNodeHost;
  log?: (line: string) => void;
}

export interface LxdNodeTimings {
  /** Daemon spawn until `lxd waitready` returns. */
  startMs: number;
  /** Bridge, storage pool, profile. */
  configureMs: number;
  imageImportMs: number;
  /** `lxc launch` plus address and route set-up. */
  launchMs: number;
  totalMs: number;
}

export interface LxdNode {
  name: string;
  netns: string;
  containerName: string;
  containerAddress: string;
  bridge: string;
  daemonPid: number;
  /** The daemon's start time (/proc/PID/stat, clock ticks; "" if unknown): tells the daemon from a reused PID. */
  daemonStart: string;
  /** PID (on the host) of the container's init; `nsenter -t PID -n` reaches its network namespace. */
  containerPid: number;
  lxdDir: string;
  /** The daemon's REST socket ($LXD_DIR/unix.socket), for adapters/lxd.ts. */
  socket: string;
  timings: LxdNodeTimings;
  /**
   * Run a command inside the container (all its namespaces, as its root). Uses nsenter on the container's init, not
   * `lxc exec`: LXD 5.0.x's exec loses output on a loaded CPU (canonical/lxd#11422, fixed in 5.14) — 16 of 450 runs
   * returned exit 0 with empty stdout here with both CPUs busy.
   */
  exec(cmd: string[]): Promise<RunResult>;
  /** Run `lxc` against this node's daemon. */
  lxc(args: string[]): Promise<RunResult>;
  /** Create another managed bridge, e.g. { "ipv4.address": "10.0.9.1/24", "ipv6.address": "none" }. */
  addBridge(name: string, config: Record<string, string>): Promise<void>;
  /** Remove the container, the daemon and its processes, mounts under the node directory, and the directory. Idempotent. */
  stop(): Promise<void>;
}

const IMAGE_ALIAS = "ciab-busybox";
// PATH, HOME, USER and LANG as `lxc exec` sets them for a command in the container.
const CONTAINER_ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", HOME: "/root", USER: "root", LANG: "C.UTF-8" };
const IMAGE_FILE = "ciab-busybox.tar.gz";
// sun_path is 108 bytes including the terminating NUL; LXD cannot listen on a longer socket path.
const MAX_SOCKET_PATH = 107;
// LXD instance names are hostnames: letters, digits, hyphens, not starting with a digit or hyphen (lxc launch --help).
const INSTANCE_NAME = /^[a-zA-Z][a-zA-Z0-9-]{0,62}$/;

// ---------------------------------------------------------------------------------------------------------------
// The real host

export const realHost: LxdNodeHost = {
  run: (cmd, opts = {}) => spawnRunner(cmd, { timeoutMs: DEFAULT_TIMEOUT_MS, ...opts }),

  spawn: (cmd, opts) => {
    const [file, ...args] = cmd;
    if (file === undefined) throw invalid("empty daemon command");
    const fd = openSync(opts.logFile, "a");
    // detached: a Ctrl-C on the terminal must not kill the daemon before the lab's own handler stops it in order
    // (container first, then daemon); a killed daemon leaves its container and monitor running.
    const child = spawn(file, args, { env: { ...process.env, ...opts.env }, stdio: ["ignore", fd, fd], detached: true });
    closeSync(fd);
    // unref: the daemon outlives the process that started it (`ciab lab up` exits while the lab runs); whoever stops
    // it later does so by PID (stopRecordedLxdNode). The exit event still arrives while this process runs anyway.
    child.unref();
    const exited = new Promise<void>((res) => {
      child.once("exit", () => res());
      child.once("error", () => res());
    });
    if (child.pid === undefined) throw new CiabError("external", `could not start ${file}`, { hint: `is ${file} installed?` });
    return { pid: child.pid, exited };
  },

  processes: () => {
    const out: ProcInfo[] = [];
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
        // comm may contain spaces and parentheses, so split after the last ")" (proc(5)).
        const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8").replace(/\0+$/, "").replaceAll("\0", " ");
        out.push({ pid: Number(entry), state: rest[0] ?? "?", ppid: Number(rest[1]), start: rest[19] ?? "", cmdline });
      } catch {
        // the process exited while we read it
      }
    }
    return out;
  },

  kill: (pid, signal) => {
    try {
      process.kill(pid, signal);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
    }
  },

  mountinfo: () => readFileSync("/proc/self/mountinfo", "utf8"),

  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

// ---------------------------------------------------------------------------------------------------------------
// The busybox image

const imageBuilds = new Map<string, Promise<string>>();

/**
 * Build (once per directory and process) an LXD unified image tarball from the host's static busybox: a rootfs with
 * busybox and a symlink per applet, an inittab that only waits (so the container stays up with nothing running),
 * and metadata.yaml. No internet needed. Returns the tarball path; concurrent callers share one build.
 */
export function buildBusyboxImage(dir: string, opts: { host?: Pick<LxdNodeHost, "run">; busybox?: string } = {}): Promise<string> {
  const out = join(resolve(dir), IMAGE_FILE);
  let build = imageBuilds.get(out);
  if (build === undefined) {
    build = doBuildImage(out, opts.host?.run ?? realHost.run, opts.busybox ?? "/bin/busybox");
    imageBuilds.set(out, build);
    // a failed build may be retried (e.g. after installing busybox-static)
    build.catch(() => imageBuilds.delete(out));
  }
  return build;
}

async function doBuildImage(out: string, run: Runner, busybox: string): Promise<string> {
  if (existsSync(out)) return out;
  let elf: Buffer;
  try {
    elf = readFileSync(busybox);
  } catch (e) {
    throw new CiabError("notFound", `${busybox} not found`, { hint: "apt-get install --no-install-recommends busybox-static", cause: e });
  }
  // A dynamic busybox has a PT_INTERP naming the loader near the start of the file; it would not run in a rootfs
  // without libc, so insist on the static build.
  if (elf.subarray(0, 4096).includes("ld-linux")) {
    throw new CiabError("invalid", `${busybox} is dynamically linked; the container image needs a static busybox`, {
      hint: "apt-get install --no-install-recommends busybox-static",
    });
  }
  const work = `${out}.build`;
  rmSync(work, { recursive: true, force: true });
  const rootfs = join(work, "rootfs");
  for (const d of ["bin", "dev", "proc", "sys", "tmp", "etc", "root", "run", "var", "usr"]) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync(busybox, join(rootfs, "bin", "busybox"));
  chmodSync(join(rootfs, "bin", "busybox"), 0o755);
  const list = await run([busybox, "--list"]);
  if (list.code !== 0) throw new CiabError("external", `${busybox} --list failed: ${list.stderr.trim()}`);
  for (const applet of list.stdout.split("\n").map((s) => s.trim())) {
    if (applet !== "" && applet !== "busybox" && /^[\w.[-]+$/.test(applet)) symlinkSync("busybox", join(rootfs, "bin", applet));
  }
  symlinkSync("bin", join(rootfs, "sbin"));
  symlinkSync("../bin", join(rootfs, "usr", "bin"));
  symlinkSync("../bin", join(rootfs, "usr", "sbin"));
  // busybox init without an inittab would start shells on ttys; this one runs nothing and just keeps PID 1 alive.
  writeFileSync(join(rootfs, "etc", "inittab"), "::sysinit:/bin/true\n");
  const arch = await run(["uname", "-m"]);
  if (arch.code !== 0 || arch.stdout.trim() === "") throw new CiabError("external", `uname -m failed: ${arch.stderr.trim()}`);
  // creation_date is fixed so the image is the same on every run.
  writeFileSync(
    join(work, "metadata.yaml"),
    `architecture: ${arch.stdout.trim()}\ncreation_date: 1700000000\nproperties:\n  description: ciab lab busybox\n  os: busybox\n`,
  );
  const tar = await run(["tar", "-C", work, "-czf", `${out}.tmp`, "metadata.yaml", "rootfs"]);
  if (tar.code !== 0) throw new CiabError("external", `building ${out} failed: ${tar.stderr.trim()}`);
  renameSync(`${out}.tmp`, out);
  rmSync(work, { recursive: true, force: true });
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Addresses

/** The container address: the subnet's 10th address when usable, else the first host address that is not the gateway. */
export function pickContainerAddress(subnet: string, gateway: string): string {
  const p = parsePrefix(subnet, "subnet");
  const net = p.addr & mask(p.family, p.len);
  const gw = parseAddr(gateway, "gateway").addr;
  const last = size(p) - 1n; // broadcast (IPv4) / last address
  for (const off of [10n, ...Array.from({ length: 16 }, (_, i) => BigInt(i + 1))]) {
    if (off >= last || net + off === gw) continue;
    return formatAddr(p.family, net + off);
  }
  throw invalid(`subnet ${subnet} has no free address for a container besides the gateway ${gateway}`);
}

function checkAddresses(subnet: string, gateway: string, address: string): void {
  const p = parsePrefix(subnet, "subnet");
  const net = p.addr & mask(p.family, p.len);
  for (const [what, text] of [
    ["gateway", gateway],
    ["container address", address],
  ] as const) {
    const a = parseAddr(text, what);
    if (a.family !== p.family || (a.addr & mask(p.family, p.len)) !== net) throw invalid(`${what} ${text} is not inside ${subnet}`);
    if (a.addr === net || (p.family === 4 && a.addr === net + size(p) - 1n)) throw invalid(`${what} ${text} is not a host address of ${subnet}`);
  }
  if (gateway === address) throw invalid(`container address ${address} equals the gateway`);
}

// ---------------------------------------------------------------------------------------------------------------
// Mounts and processes

/** Mount points at or under dir in a mountinfo text (field 5, with octal escapes like \040 decoded), deepest first. */
export function mountsUnder(mountinfo: string, dir: string): string[] {
  const base = resolve(dir);
  const out: string[] = [];
  for (const line of mountinfo.split("\n")) {
    const field = line.split(" ")[4];
    if (field === undefined) continue;
    const point = field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
    if (point === base || point.startsWith(`${base}/`)) out.push(point);
  }
  return [...new Set(out)].sort((a, b) => b.length - a.length);
}

/**
 * PIDs that belong to one node's LXD: the daemon, LXD's helpers and container monitors (their command lines name the
 * node's LXD_DIR: "dnsmasq … --dhcp-leasefile=<LXD_DIR>/…", "[lxc monitor] <LXD_DIR>/containers c1", "lxd forkexec …")
 * and every descendant of those (container init and what runs in the container). Zombies are already dead and left out.
 */
export function nodeProcesses(procs: ProcInfo[], daemonPid: number | undefined, lxdDir: string): ProcInfo[] {
  const dir = `${resolve(lxdDir)}/`;
  const ours = (p: ProcInfo) => {
    if (p.pid === daemonPid) return true;
    if (!p.cmdline.includes(dir)) return false;
    const argv0 = p.cmdline.split(" ")[0] ?? "";
    return p.cmdline.startsWith("[lxc monitor] ") || /(^|\/)(lxd|dnsmasq)$/.test(argv0);
  };
  const children = new Map<number, ProcInfo[]>();
  for (const p of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const found = new Map<number, ProcInfo>();
  const stack = procs.filter(ours);
  while (stack.length > 0) {
    const p = stack.pop() as ProcInfo;
    if (found.has(p.pid)) continue;
    found.set(p.pid, p);
    stack.push(...(children.get(p.pid) ?? []));
  }
  return [...found.values()].filter((p) => p.state !== "Z").sort((a, b) => a.pid - b.pid);
}

// ---------------------------------------------------------------------------------------------------------------
// The node

/**
 * Start LXD in the namespace, create the bridge (gateway/len, no NAT, no IPv6), a dir storage pool, the default
 * profile, import the busybox image, launch the container with a static address and a default route via the gateway.
 * Static addressing instead of DHCP: the address is known before launch and nothing races a DHCP client.
 * On any failure everything started so far is removed before the error is thrown.
 */
export async function startLxdNode(opts: LxdNodeOptions): Promise<LxdNode> {
  const host = opts.host ?? realHost;
  const log = opts.log ?? (() => {});
  const t0 = Date.now();
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const bridge = opts.bridge ?? "lxdbr0";
  // The name becomes a directory name and part of the container name, so keep it to safe characters.
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/.test(opts.name)) throw invalid(`lab node name '${opts.name}' must be letters, digits, '.', '_' or '-'`);
  const containerName = opts.container ?? `c-${opts.name}`;
  if (!INSTANCE_NAME.test(containerName)) {
    throw invalid(`container name '${containerName}' is not a valid LXD instance name (letters, digits, hyphens; starts with a letter)`);
  }
  const prefix = parsePrefix(opts.subnet, "subnet");
  const containerAddress = opts.containerAddress ?? pickContainerAddress(opts.subnet, opts.gateway);
  checkAddresses(opts.subnet, opts.gateway, containerAddress);

  const { dir, lxdDir, env } = nodePaths(opts.stateDir, opts.name);
  const socket = join(lxdDir, "unix.socket");
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
    throw invalid(`LXD socket path ${socket} is longer than ${MAX_SOCKET_PATH} bytes`, { hint: "use a shorter state directory" });
  }
  const where = `LXD node ${opts.name} (netns ${opts.netns})`;
  // A namespace whose lo was never set up has no local routing table yet, and LXD's bridge set-up then fails with
  // "ip -4 route flush dev lxdbr0 proto static: FIB table does not exist". Setting lo up is idempotent.
  const lo = await host.run(["ip", "-n", opts.netns, "link", "set", "lo", "up"], { timeoutMs: 10_000 });
  if (lo.code !== 0) {
    throw new CiabError("external", `${where}: network namespace not usable: ${lo.stderr.trim()}`, {
      hint: "the lab must create the namespace (ip netns add) before starting LXD in it",
    });
  }
  if (!opts.privileged) ensureTraversable(resolve(opts.stateDir));
  if (existsSync(dir))
    throw conflict(`${dir} already exists (a node of this name is running, or a previous run left it)`, { hint: "stop the old node or remove the directory" });
  mkdirSync(lxdDir, { recursive: true, mode: 0o711 });
  mkdirSync(env.LXD_CONF, { mode: 0o700 });
  const daemonLog = join(dir, "lxd.log");
  const daemonOut = join(dir, "lxd.out");

  const tail = () => {
    const read = (f: string) => (existsSync(f) ? readFileSync(f, "utf8").trim().split("\n").slice(-5).join("\n") : "");
    return [read(daemonOut), read(daemonLog)].filter((s) => s !== "").join("\n");
  };
  const lxc = (args: string[], t = timeoutMs) => host.run(["lxc", ...args], { env, timeoutMs: t });
  const must = async (args: string[], what: string) => {
    const r = await lxc(args);
    if (r.code !== 0) {
      throw new CiabError("external", `${where}: ${what} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`, {
        hint: `see ${daemonLog}`,
      });
    }
    return r;
  };

  const initPid = async () => {
    const r = await must(["query", `/1.0/instances/${containerName}/state`], `reading ${containerName}'s state`);
    let state: unknown;
    try {
      state = JSON.parse(r.stdout);
    } catch {
      state = undefined;
    }
    const pid = (state as { pid?: unknown } | undefined)?.pid;
    if (typeof pid !== "number" || !Number.isInteger(pid) || pid <= 0) {
      throw new CiabError("external", `${where}: ${containerName} has no init PID (state: ${r.stdout.trim().slice(0, 200)})`, { hint: `see ${daemonLog}` });
    }
    return pid;
  };

  // --group root: the socket is only for root (the default group "lxd" would open it to that group's members).
  let daemon: DaemonProcess;
  try {
    daemon = host.spawn(["ip", "netns", "exec", opts.netns, "lxd", "--group", "root", "--logfile", daemonLog], { env, logFile: daemonOut });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  let daemonExited = false;
  void daemon.exited.then(() => {
    daemonExited = true;
  });
  log(`${where}: lxd started, pid ${daemon.pid}`);
  const daemonStart = host.processes().find((p) => p.pid === daemon.pid)?.start ?? "";

  let stopping: Promise<void> | undefined;
  const node: LxdNode = {
    name: opts.name,
    netns: opts.netns,
    containerName,
    containerAddress,
    bridge,
    daemonPid: daemon.pid,
    daemonStart,
    containerPid: 0,
    lxdDir,
    socket,
    timings: { startMs: 0, configureMs: 0, imageImportMs: 0, launchMs: 0, totalMs: 0 },
    exec: (cmd) => {
      if (node.containerPid === 0) throw new CiabError("internal", `${where}: exec before the container runs`);
      // -a: user, mount, pid, net, uts, ipc, cgroup namespaces; -r/-w: the container's root and working directory.
      return host.run(["nsenter", "-t", String(node.containerPid), "-a", "-r", "-w", "--", ...cmd], { env: CONTAINER_ENV, timeoutMs });
    },
    lxc: (args) => lxc(args),
    addBridge: async (name, config) => {
      await must(["network", "create", name, ...Object.entries(config).map(([k, v]) => `${k}=${v}`)], `creating bridge ${name}`);
    },
    stop: () => {
      stopping ??= stopNode({ host, where, dir, lxdDir, containerName, env, daemonPid: daemon.pid, isExited: () => daemonExited, log });
      return stopping;
    },
  };

  try {
    // waitready is cancelled when the daemon dies first, so no `lxd waitready` outlives a failed start.
    const cancel = new AbortController();
    const waited = await Promise.race([
      host.run(["lxd", "waitready", "--timeout", String(Math.ceil(timeoutMs / 1000))], { env, timeoutMs: timeoutMs + 5000, signal: cancel.signal }),
      daemon.exited.then(() => undefined),
    ]);
    cancel.abort();
    if (waited === undefined || daemonExited) {
      throw new CiabError("external", `${where}: lxd exited during start-up:\n${tail()}`, {
        hint: "is the namespace there (ip netns list) and are lxd and dnsmasq-base installed?",
      });
    }
    if (waited.code !== 0) {
      throw new CiabError("external", `${where}: lxd did not become ready (${waited.stderr.trim()}):\n${tail()}`, { hint: `see ${daemonLog}` });
    }
    const t1 = Date.now();
    node.timings.startMs = t1 - t0;

    const net = [`ipv${prefix.family}.address=${opts.gateway}/${prefix.len}`];
    // The other family off, NAT off: the mesh routes the subnet, LXD must not masquerade it.
    net.push(prefix.family === 4 ? "ipv4.nat=false" : "ipv6.nat=false", prefix.family === 4 ? "ipv6.address=none" : "ipv4.address=none");
    if (opts.mtu !== undefined) net.push(`bridge.mtu=${opts.mtu}`);
    await must(["network", "create", bridge, ...net], `creating bridge ${bridge}`);
    await must(["storage", "create", "default", "dir"], "creating the dir storage pool");
    await must(["profile", "device", "add", "default", "eth0", "nic", `network=${bridge}`, "name=eth0"], "adding eth0 to the default profile");
    await must(["profile", "device", "add", "default", "root", "disk", "path=/", "pool=default"], "adding the root disk to the default profile");
    if (opts.privileged) await must(["profile", "set", "default", "security.privileged", "true"], "making the container privileged");
    const t2 = Date.now();
    node.timings.configureMs = t2 - t1;

    const image = opts.image ?? (await buildBusyboxImage(opts.stateDir, { host }));
    const t3 = Date.now();
    await must(["image", "import", image, "--alias", IMAGE_ALIAS], `importing ${image}`);
    const t4 = Date.now();
    node.timings.imageImportMs = t4 - t3;

    await must(["launch", IMAGE_ALIAS, containerName], `launching ${containerName}`);
    node.containerPid = await initPid();
    const route = prefix.family === 4 ? "ip route add default" : "ip -6 route add default";
    const setup = `set -e; ip link set lo up; ip link set eth0 up; ip addr add ${containerAddress}/${prefix.len} dev eth0; ${route} via ${opts.gateway} dev eth0`;
    const r = await node.exec(["/bin/sh", "-c", setup]);
    if (r.code !== 0) throw new CiabError("external", `${where}: configuring ${containerName}'s address failed (exit ${r.code}): ${r.stderr.trim()}`);
    const t5 = Date.now();
    node.timings.launchMs = t5 - t4;
    node.timings.totalMs = t5 - t0;
    log(`${where}: ${containerName} ${containerAddress} up in ${node.timings.totalMs} ms`);
    return node;
  } catch (e) {
    try {
      await node.stop();
    } catch (cleanup) {
      const msg = e instanceof Error ? e.message : String(e);
      throw new CiabError("external", `${msg}; cleanup also failed: ${(cleanup as Error).message}`, { cause: e, hint: `remove ${dir} by hand` });
    }
    throw e;
  }
}

/**
 * An unprivileged container's root (uid 100000 or so on the host) must traverse every directory above its rootfs, or
 * liblxc fails with "Could not access <dir>. Please grant it x access". mkdtemp makes 0700 directories, so the state
 * directory gets o+x (traverse only, not list); parents are only checked, never changed.
 */
function ensureTraversable(stateDir: string): void {
  mkdirSync(stateDir, { recursive: true });
  const mode = statSync(stateDir).mode;
  if ((mode & 0o001) === 0) chmodSync(stateDir, (mode & 0o7777) | 0o001);
  for (let d = dirname(stateDir); ; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) {
      throw invalid(`${d} is not traversable by other users, so an unprivileged container under ${stateDir} cannot start`, {
        hint: `use a state directory under /tmp or /run, run chmod o+x ${d}, or start the node with privileged: true`,
      });
    }
    if (d === dirname(d)) break;
  }
}

/** The node directory, LXD_DIR, and the environment every lxd/lxc command of the node runs with. */
function nodePaths(stateDir: string, name: string): { dir: string; lxdDir: string; env: { LXD_DIR: string; LXD_CONF: string } } {
  const dir = join(resolve(stateDir), `lxd-${name}`);
  const lxdDir = join(dir, "lxd");
  // LXD_CONF keeps the lxc client's config.yml out of ~/.config/lxc.
  return { dir, lxdDir, env: { LXD_DIR: lxdDir, LXD_CONF: join(dir, "lxc-conf") } };
}

/** What another process needs to stop a node: plain data (JSON), e.g. kept in a lab's state file. */
export interface LxdNodeRecord {
  netns: string;
  name: string;
  stateDir: string;
  containerName: string;
  /** Unknown when the starting process died before it could record the daemon: then only its leftovers are found. */
  daemonPid?: number;
  /** See LxdNode.daemonStart. */
  daemonStart?: string;
}

export const recordOf = (node: LxdNode, stateDir: string): LxdNodeRecord => ({
  netns: node.netns,
  name: node.name,
  stateDir: resolve(stateDir),
  containerName: node.containerName,
  daemonPid: node.daemonPid,
  daemonStart: node.daemonStart,
});

/**
 * stop() for a node started by another process, from its record: the same teardown (container, `lxd shutdown`,
 * signals to the daemon by PID, leftovers by LXD_DIR, mounts, directory). Without a child handle, "the daemon has
 * exited" means no live process has its PID with its recorded start time. Idempotent: a node already stopped (its
 * directory gone) is a no-op.
 */
export async function stopRecordedLxdNode(rec: LxdNodeRecord, opts: { host?: LxdNodeHost; log?: (line: string) => void } = {}): Promise<void> {
  const host = opts.host ?? realHost;
  const { dir, lxdDir, env } = nodePaths(rec.stateDir, rec.name);
  if (!existsSync(dir)) return;
  const { daemonPid, daemonStart } = rec;
  const isExited = () =>
    daemonPid === undefined || !host.processes().some((p) => p.pid === daemonPid && p.state !== "Z" && (!daemonStart || p.start === daemonStart));
  await stopNode({
    host,
    where: `LXD node ${rec.name} (netns ${rec.netns})`,
    dir,
    lxdDir,
    containerName: rec.containerName,
    env,
    daemonPid: daemonPid ?? 0,
    isExited,
    log: opts.log ?? (() => {}),
  });
}

interface StopContext {
  host: LxdNodeHost;
  where: string;
  dir: string;
  lxdDir: string;
  containerName: string;
  env: Record<string, string>;
  daemonPid: number;
  isExited: () => boolean;
  log: (line: string) => void;
}

/** Wait until cond() holds, checking every 100 ms, at most ms. */
async function waitFor(host: LxdNodeHost, cond: () => boolean, ms: number): Promise<boolean> {
  for (let waited = 0; ; waited += 100) {
    if (cond()) return true;
    if (waited >= ms) return false;
    await host.sleep(100);
  }
}

/**
 * Tear down in the order that leaves nothing running: the container through LXD (stops init and its monitor),
 * `lxd shutdown` (stops dnsmasq, unmounts), then signals to the daemon by PID, then SIGKILL to any process of this
 * node still alive (a killed daemon leaves monitors and containers behind), then mounts under the node directory,
 * then the directory. Every step runs even when an earlier one failed; leftovers are reported in one error.
 */
async function stopNode(c: StopContext): Promise<void> {
  const { host } = c;
  const problems: string[] = [];
  // Once the daemon has exited (and been reaped) its PID may belong to someone else: match it only while it runs.
  const daemonPid = () => (c.isExited() ? undefined : c.daemonPid);
  // The tree while the daemon is still the parent: once it is gone its children are re-parented and only the
  // LXD_DIR in their command lines would identify them.
  const before = nodeProcesses(host.processes(), daemonPid(), c.lxdDir);

  if (!c.isExited()) {
    await host.run(["lxc", "delete", "--force", c.containerName], { env: c.env, timeoutMs: 30_000 });
    await host.run(["lxd", "shutdown", "--timeout", "20"], { env: c.env, timeoutMs: 30_000 });
    for (const signal of ["SIGTERM", "SIGKILL"] as const) {
      if (await waitFor(host, c.isExited, 5000)) break;
      c.log(`${c.where}: lxd ${c.daemonPid} still running, sending ${signal}`);
      host.kill(c.daemonPid, signal);
    }
    if (!(await waitFor(host, c.isExited, 5000))) problems.push(`lxd (pid ${c.daemonPid}) did not exit`);
  }

  const now = host.processes();
  const alive = new Map(now.filter((p) => p.state !== "Z").map((p) => [p.pid, p]));
  const targets = new Map<number, ProcInfo>();
  // From the old snapshot only processes that are still the same process (same start time), so a reused PID is safe.
  for (const p of before) if (alive.get(p.pid)?.start === p.start) targets.set(p.pid, p);
  for (const p of nodeProcesses(now, daemonPid(), c.lxdDir)) targets.set(p.pid, p);
  if (targets.size > 0) {
    c.log(`${c.where}: killing leftover processes ${[...targets.keys()].join(" ")}`);
    for (const pid of targets.keys()) host.kill(pid, "SIGKILL");
    const gone = () => {
      const left = new Map(
        host
          .processes()
          .filter((p) => p.state !== "Z")
          .map((p) => [p.pid, p.start]),
      );
      return [...targets.values()].every((p) => left.get(p.pid) !== p.start);
    };
    if (!(await waitFor(host, gone, 3000))) problems.push(`processes still running: ${[...targets.values()].map((p) => `${p.pid} (${p.cmdline})`).join(", ")}`);
  }

  for (const point of mountsUnder(host.mountinfo(), c.dir)) {
    // -l: a busy mount (a process we could not kill) is detached now and freed when released.
    const r = await host.run(["umount", "-l", point], { timeoutMs: 10_000 });
    if (r.code !== 0) problems.push(`umount ${point}: ${r.stderr.trim()}`);
  }
  const left = mountsUnder(host.mountinfo(), c.dir);
  if (left.length > 0) {
    // Never rm -rf through a mount point: it would delete files outside the node directory.
    problems.push(`still mounted: ${left.join(", ")}; ${c.dir} not removed`);
  } else {
    try {
      rmSync(c.dir, { recursive: true, force: true });
    } catch (e) {
      problems.push(`removing ${c.dir}: ${(e as Error).message}`);
    }
  }
  if (problems.length > 0) {
    throw new CiabError("external", `${c.where}: cleanup incomplete: ${problems.join("; ")}`, {
      hint: "kill the listed processes and unmount the listed paths by hand",
    });
  }
}
