// Lab LXD node logic against a fake host: command sequence, clean-up on every failure path, leftover processes and
// mounts, stopping from a record in another process, validation, the image builder. The real daemon is exercised in test/integration/lxd.test.ts.
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import {
  buildBusyboxImage,
  type LxdNodeHost,
  type LxdNodeOptions,
  mountsUnder,
  nodeProcesses,
  type ProcInfo,
  pickContainerAddress,
  type RunResult,
  realHost,
  recordOf,
  startLxdNode,
  stopRecordedLxdNode,
} from "../../src/lab/lxd-node.js";
import { CiabError } from "../../src/model/errors.js";
import { DAEMON, FakeHost, OK } from "../helpers/fake-lxd-host.js";
import { ciabFailure } from "../helpers/meshes.js";

let root = "";
let stateDir = "";
beforeEach(() => {
  root ||= mkdtempSync(join(tmpdir(), "ciabt-lxdnode-"));
  chmodSync(root, 0o755);
  stateDir = mkdtempSync(join(root, "run-"));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const base = (host: LxdNodeHost, extra: Partial<LxdNodeOptions> = {}): LxdNodeOptions => ({
  netns: "ns1",
  name: "n1",
  stateDir,
  subnet: "10.0.1.0/24",
  gateway: "10.0.1.1",
  image: "/img/busybox.tar.gz",
  host,
  ...extra,
});

const failure = ciabFailure;

describe("startLxdNode", () => {
  it("starts the daemon in the namespace and sets up bridge, pool, profile, image and container in order", async () => {
    const host = new FakeHost();
    const node = await startLxdNode(base(host, { mtu: 1370 }));
    const dir = join(stateDir, "lxd-n1");
    expect(host.calls).toEqual([
      "ip -n ns1 link set lo up",
      `spawn ip netns exec ns1 lxd --group root --logfile ${dir}/lxd.log`,
      "lxd waitready --timeout 60",
      "lxc network create lxdbr0 ipv4.address=10.0.1.1/24 ipv4.nat=false ipv6.address=none bridge.mtu=1370",
      "lxc storage create default dir",
      "lxc profile device add default eth0 nic network=lxdbr0 name=eth0",
      "lxc profile device add default root disk path=/ pool=default",
      "lxc image import /img/busybox.tar.gz --alias ciab-busybox",
      "lxc launch ciab-busybox c-n1",
      "lxc query /1.0/instances/c-n1/state",
      "nsenter -t 5000 -a -r -w -- /bin/sh -c set -e; ip link set lo up; ip link set eth0 up; ip addr add 10.0.1.10/24 dev eth0; ip route add default via 10.0.1.1 dev eth0",
    ]);
    // every daemon and client command sees this node's LXD_DIR and LXD_CONF, never the defaults
    for (const env of host.envs.slice(0, -1)) expect(env).toEqual({ LXD_DIR: join(dir, "lxd"), LXD_CONF: join(dir, "lxc-conf") });
    expect(host.envs.at(-1)?.PATH).toMatch(/\/bin/);
    expect(node).toMatchObject({
      containerName: "c-n1",
      containerAddress: "10.0.1.10",
      daemonPid: DAEMON,
      containerPid: 5000,
      lxdDir: join(dir, "lxd"),
      socket: join(dir, "lxd", "unix.socket"),
      bridge: "lxdbr0",
    });
    // mkdtemp made the state dir 0700; an unprivileged container needs to traverse it
    expect(statSync(stateDir).mode & 0o001).toBe(1);

    host.calls = [];
    await node.exec(["ping", "-c", "1", "10.0.1.1"]);
    await node.addBridge("lxdbr1", { "ipv4.address": "10.0.2.1/24" });
    expect(host.calls).toEqual(["nsenter -t 5000 -a -r -w -- ping -c 1 10.0.1.1", "lxc network create lxdbr1 ipv4.address=10.0.2.1/24"]);

    host.calls = [];
    await node.stop();
    await node.stop();
    expect(host.calls).toEqual(["lxc delete --force c-n1", "lxd shutdown --timeout 20"]);
    expect(host.kills).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });

  it("IPv6 subnet: v6 bridge without NAT, v4 off, v6 default route", async () => {
    const host = new FakeHost();
    const node = await startLxdNode(base(host, { subnet: "fd00:1::/64", gateway: "fd00:1::1", container: "web", bridge: "br-c", privileged: true }));
    expect(host.calls).toContain("lxc network create br-c ipv6.address=fd00:1::1/64 ipv6.nat=false ipv4.address=none");
    expect(host.calls).toContain("lxc profile set default security.privileged true");
    expect(host.calls.at(-1)).toBe(
      "nsenter -t 5000 -a -r -w -- /bin/sh -c set -e; ip link set lo up; ip link set eth0 up; ip addr add fd00:1::a/64 dev eth0; ip -6 route add default via fd00:1::1 dev eth0",
    );
    await node.stop();
  });

  it("a failing step removes container, daemon and directory, and names the step", async () => {
    const host = new FakeHost();
    host.replies.push(["lxc launch", () => ({ code: 1, stdout: "", stderr: "Error: Failed to run: lxd forkstart\n" })]);
    const e = await failure(startLxdNode(base(host)));
    expect(e.code).toBe("external");
    expect(e.message).toBe("LXD node n1 (netns ns1): launching c-n1 failed (exit 1): Error: Failed to run: lxd forkstart");
    expect(e.hint).toContain("lxd.log");
    expect(host.calls.slice(-2)).toEqual(["lxc delete --force c-n1", "lxd shutdown --timeout 20"]);
    expect(existsSync(join(stateDir, "lxd-n1"))).toBe(false);
  });

  it("a daemon that dies during start-up: its log in the error, waitready cancelled, nothing left", async () => {
    const host = new FakeHost();
    host.spawnLog = "Error: Failed to start the daemon: mkdir /var/lib/lxd/x: permission denied\n";
    let aborted = false;
    host.replies.push([
      "lxd waitready",
      (opts) =>
        new Promise((resolve) => {
          opts?.signal?.addEventListener("abort", () => {
            aborted = true;
            resolve({ code: 130, stdout: "", stderr: "aborted" });
          });
          host.daemonDies();
        }),
    ]);
    const e = await failure(startLxdNode(base(host)));
    expect(e.message).toMatch(/lxd exited during start-up:\nError: Failed to start the daemon: mkdir/);
    expect(aborted).toBe(true);
    // the daemon is gone, so no lxc/lxd command is sent to it during clean-up
    expect(host.calls.filter((c) => c.startsWith("lxc") || c.startsWith("lxd shutdown"))).toEqual([]);
    expect(existsSync(join(stateDir, "lxd-n1"))).toBe(false);
  });

  it("a container without an init PID is an error, and is cleaned up", async () => {
    const host = new FakeHost();
    host.replies.push(["lxc query", () => ({ code: 0, stdout: '{"pid": 0, "status": "Stopped"}', stderr: "" })]);
    const e = await failure(startLxdNode(base(host)));
    expect(e.message).toMatch(/c-n1 has no init PID \(state: \{"pid": 0, "status": "Stopped"\}\)/);
    expect(host.calls.slice(-2)).toEqual(["lxc delete --force c-n1", "lxd shutdown --timeout 20"]);
  });

  it("waitready failing is reported with its message", async () => {
    const host = new FakeHost();
    host.replies.push(["lxd waitready", () => ({ code: 1, stdout: "", stderr: "Error: LXD still not running after 60s timeout" })]);
    const e = await failure(startLxdNode(base(host)));
    expect(e.message).toMatch(/did not become ready \(Error: LXD still not running after 60s timeout\)/);
  });

  it("a namespace that does not exist: nothing is spawned or created", async () => {
    const host = new FakeHost();
    host.replies.push(["ip -n ns1 link set lo up", () => ({ code: 1, stdout: "", stderr: 'Cannot open network namespace "ns1": No such file or directory' })]);
    const e = await failure(startLxdNode(base(host)));
    expect(e.message).toBe('LXD node n1 (netns ns1): network namespace not usable: Cannot open network namespace "ns1": No such file or directory');
    expect(host.calls).toEqual(["ip -n ns1 link set lo up"]);
    expect(existsSync(join(stateDir, "lxd-n1"))).toBe(false);
  });

  it.each([
    ["node name with a slash", { name: "../x" }, "invalid", /lab node name/],
    ["invalid container name", { container: "1bad" }, "invalid", /not a valid LXD instance name/],
    ["gateway outside the subnet", { gateway: "10.0.2.1" }, "invalid", /gateway 10.0.2.1 is not inside 10.0.1.0\/24/],
    ["address equal to the gateway", { containerAddress: "10.0.1.1" }, "invalid", /equals the gateway/],
    ["network address as container", { containerAddress: "10.0.1.0" }, "invalid", /not a host address/],
    ["broadcast as gateway", { gateway: "10.0.1.255" }, "invalid", /not a host address/],
    ["family mismatch", { gateway: "fd00::1" }, "invalid", /not inside/],
    ["subnet garbage", { subnet: "10.0.1.0" }, "invalid", /no prefix length/],
    ["socket path too long", { stateDir: `/tmp/${"x".repeat(100)}` }, "invalid", /longer than 107 bytes/],
  ])("rejects %s before starting anything", async (_name, extra, code, message) => {
    const host = new FakeHost();
    const e = await failure(startLxdNode(base(host, extra)));
    expect(e.code).toBe(code);
    expect(e.message).toMatch(message);
    expect(host.calls.filter((c) => c.startsWith("spawn"))).toEqual([]);
  });

  it("refuses to reuse a node directory that is already there", async () => {
    mkdirSync(join(stateDir, "lxd-n1"));
    const e = await failure(startLxdNode(base(new FakeHost())));
    expect(e.code).toBe("conflict");
  });

  it("refuses a state directory under a parent others cannot traverse (unless privileged)", async () => {
    const closed = join(stateDir, "closed");
    mkdirSync(join(closed, "run"), { recursive: true });
    chmodSync(closed, 0o700);
    const e = await failure(startLxdNode(base(new FakeHost(), { stateDir: join(closed, "run") })));
    expect(e.code).toBe("invalid");
    expect(e.message).toContain(`${closed} is not traversable`);
    expect(e.hint).toMatch(/privileged: true/);
    const node = await startLxdNode(base(new FakeHost(), { stateDir: join(closed, "run"), privileged: true }));
    await node.stop();
  });
});

describe("stop", () => {
  it("a daemon that ignores shutdown gets SIGTERM, then SIGKILL", async () => {
    const host = new FakeHost();
    const node = await startLxdNode(base(host));
    host.exitOnShutdown = false;
    host.exitOnSignal = ["SIGKILL"];
    await node.stop();
    expect(host.kills).toEqual([
      [DAEMON, "SIGTERM"],
      [DAEMON, "SIGKILL"],
    ]);
    expect(existsSync(join(stateDir, "lxd-n1"))).toBe(false);
  });

  it("kills the node's leftover processes (monitor, container init, dnsmasq) and nothing else", async () => {
    const host = new FakeHost();
    const node = await startLxdNode(base(host));
    const lxdDir = node.lxdDir;
    const p = (pid: number, ppid: number, cmdline: string, start = "1", state = "S"): ProcInfo => ({ pid, ppid, state, start, cmdline });
    host.procs = [
      p(DAEMON, 1, `lxd --group root --logfile ${stateDir}/lxd-n1/lxd.log`),
      p(600, DAEMON, `dnsmasq --keep-in-foreground --dhcp-leasefile=${lxdDir}/networks/lxdbr0/dnsmasq.leases`),
      p(700, 1, `[lxc monitor] ${lxdDir}/containers c-n1`),
      p(701, 700, "init"),
      p(702, 701, "sh"),
      p(800, 1, `tail -f ${lxdDir}/lxd.log`), // someone reading the log: not ours
      p(900, 1, `[lxc monitor] ${lxdDir}0/containers c-n1`), // another node with a lookalike path
      p(950, 701, "sleep 1000", "1"), // a container process that exits during shutdown...
    ];
    // shutdown "exits" the daemon; its tree stays as a crash would leave it, and PID 950 is reused by then
    host.replies.push([
      "lxd shutdown",
      () => {
        host.daemonDies();
        host.procs = host.procs.filter((x) => x.pid !== DAEMON && x.pid !== 950);
        host.procs.push(p(950, 1, "busy", "2")); // ...and an unrelated process that got its PID: not killed
        return OK;
      },
    ]);
    await node.stop();
    expect(host.kills.map(([pid, sig]) => `${pid}:${sig}`).sort()).toEqual(["600:SIGKILL", "700:SIGKILL", "701:SIGKILL", "702:SIGKILL"]);
    expect(host.procs.map((x) => x.pid)).toEqual([800, 900, 950]);
  });

  it("a daemon that already exited: its PID, now someone else's, is left alone", async () => {
    const host = new FakeHost();
    const node = await startLxdNode(base(host));
    host.daemonDies();
    await Promise.resolve();
    host.procs = [{ pid: DAEMON, ppid: 1, state: "S", start: "99", cmdline: "sshd: someone" }];
    host.calls = [];
    await node.stop();
    expect(host.kills).toEqual([]);
    expect(host.calls).toEqual([]); // no lxc/lxd commands to a daemon that is gone
  });

  it("unmounts what is mounted under the node directory, deepest first, then removes it", async () => {
    const host = new FakeHost();
    const node = await startLxdNode(base(host));
    host.mounts = ["/", `${node.lxdDir}/shmounts`, `${node.lxdDir}/devlxd`, `${node.lxdDir}/storage-pools/default/containers/c n1/rootfs`];
    await node.stop();
    expect(host.calls.filter((c) => c.startsWith("umount"))).toEqual([
      `umount -l ${node.lxdDir}/storage-pools/default/containers/c n1/rootfs`,
      `umount -l ${node.lxdDir}/shmounts`,
      `umount -l ${node.lxdDir}/devlxd`,
    ]);
    expect(host.mounts).toEqual(["/"]);
    expect(existsSync(join(stateDir, "lxd-n1"))).toBe(false);
  });

  it("never removes the directory through a mount it could not unmount", async () => {
    const host = new FakeHost();
    const node = await startLxdNode(base(host));
    const stuck = `${node.lxdDir}/shmounts`;
    host.mounts = [stuck];
    host.stuckMounts.add(stuck);
    const e = await failure(node.stop());
    expect(e.message).toContain(`still mounted: ${stuck}`);
    expect(e.message).toContain("not removed");
    expect(existsSync(node.lxdDir)).toBe(true);
  });
});

describe("stopRecordedLxdNode (another process stops the node from its record)", () => {
  const p = (pid: number, ppid: number, cmdline: string, start = "1"): ProcInfo => ({ pid, ppid, state: "S", start, cmdline });

  /** A node started through `host`; returns its record as JSON would carry it, and the node. */
  async function started(host: FakeHost) {
    host.procs = [p(DAEMON, 1, "lxd --group root", "77")];
    const node = await startLxdNode(base(host));
    return { node, rec: JSON.parse(JSON.stringify(recordOf(node, stateDir))) as ReturnType<typeof recordOf> };
  }

  it("records plain data: namespace, name, state dir, container, daemon PID and start time", async () => {
    const { node, rec } = await started(new FakeHost());
    expect(node.daemonStart).toBe("77");
    expect(rec).toEqual({ netns: "ns1", name: "n1", stateDir, containerName: "c-n1", daemonPid: DAEMON, daemonStart: "77" });
  });

  it("deletes the container, shuts the daemon down, kills leftovers by LXD_DIR and removes the directory", async () => {
    const { node, rec } = await started(new FakeHost());
    // the other process sees the same kernel, but has no child handle of the daemon
    const other = new FakeHost();
    other.procs = [p(DAEMON, 1, "lxd --group root", "77"), p(700, 1, `[lxc monitor] ${node.lxdDir}/containers c-n1`), p(701, 700, "init")];
    other.replies.push([
      "lxd shutdown",
      () => {
        other.procs = other.procs.filter((x) => x.pid !== DAEMON);
        return OK;
      },
    ]);
    await stopRecordedLxdNode(rec, { host: other });
    expect(other.calls).toEqual(["lxc delete --force c-n1", "lxd shutdown --timeout 20"]);
    expect(other.envs[0]).toEqual({ LXD_DIR: node.lxdDir, LXD_CONF: join(stateDir, "lxd-n1", "lxc-conf") });
    expect(other.kills).toEqual([
      [700, "SIGKILL"],
      [701, "SIGKILL"],
    ]);
    expect(existsSync(join(stateDir, "lxd-n1"))).toBe(false);
    // idempotent: the directory is gone, so nothing runs
    other.calls = [];
    await stopRecordedLxdNode(rec, { host: other });
    expect(other.calls).toEqual([]);
  });

  it("a daemon that ignores shutdown gets SIGTERM at its recorded PID", async () => {
    const { rec } = await started(new FakeHost());
    const other = new FakeHost();
    other.procs = [p(DAEMON, 1, "lxd --group root", "77")];
    await stopRecordedLxdNode(rec, { host: other });
    expect(other.kills).toEqual([[DAEMON, "SIGTERM"]]);
  });

  it("the recorded PID now belongs to another process (other start time): no command, no signal", async () => {
    const { rec } = await started(new FakeHost());
    const other = new FakeHost();
    other.procs = [p(DAEMON, 1, "sshd: someone", "99")];
    await stopRecordedLxdNode(rec, { host: other });
    expect(other.calls).toEqual([]);
    expect(other.kills).toEqual([]);
    expect(other.procs).toHaveLength(1);
    expect(existsSync(join(stateDir, "lxd-n1"))).toBe(false);
  });

  it("without a recorded daemon only the node's own leftovers are killed", async () => {
    const { node, rec } = await started(new FakeHost());
    const other = new FakeHost();
    other.procs = [p(DAEMON, 1, "lxd --group root", "77"), p(600, DAEMON, `dnsmasq --dhcp-leasefile=${node.lxdDir}/networks/lxdbr0/dnsmasq.leases`)];
    await stopRecordedLxdNode({ ...rec, daemonPid: undefined, daemonStart: undefined }, { host: other });
    expect(other.calls).toEqual([]);
    expect(other.kills).toEqual([[600, "SIGKILL"]]);
  });
});

describe("helpers", () => {
  it.each([
    ["10.0.1.0/24", "10.0.1.1", "10.0.1.10"],
    ["10.0.1.0/24", "10.0.1.10", "10.0.1.1"],
    ["10.0.1.0/29", "10.0.1.1", "10.0.1.2"],
    ["10.0.1.4/30", "10.0.1.5", "10.0.1.6"],
    ["fd00:1::/64", "fd00:1::1", "fd00:1::a"],
  ])("container address in %s with gateway %s is %s", (subnet, gateway, want) => {
    expect(pickContainerAddress(subnet, gateway)).toBe(want);
  });

  it.each([["10.0.1.0/31"], ["10.0.1.0/32"]])("no container address in %s", (subnet) => {
    expect(() => pickContainerAddress(subnet, "10.0.1.0")).toThrow(CiabError);
  });

  it("mountsUnder decodes escapes, ignores lookalike prefixes and sorts deepest first", () => {
    const info = [
      "22 1 0:21 / / rw - ext4 /dev/vda rw",
      "49 45 0:40 / /tmp/s/lxd-n1/lxd/shmounts rw,relatime shared:3 - tmpfs tmpfs rw,size=100k,mode=711",
      "50 45 0:41 / /tmp/s/lxd-n1/lxd/devlxd rw,relatime - tmpfs tmpfs rw",
      "51 45 0:42 / /tmp/s/lxd-n10/lxd/devlxd rw,relatime - tmpfs tmpfs rw",
      "52 45 0:43 / /tmp/s/lxd-n1/a\\040b rw - tmpfs tmpfs rw",
      "53 45 0:44 / /tmp/s/lxd-n1 rw - tmpfs tmpfs rw",
      "",
    ].join("\n");
    expect(mountsUnder(info, "/tmp/s/lxd-n1/")).toEqual(["/tmp/s/lxd-n1/lxd/shmounts", "/tmp/s/lxd-n1/lxd/devlxd", "/tmp/s/lxd-n1/a b", "/tmp/s/lxd-n1"]);
  });

  it("nodeProcesses follows the tree and skips zombies", () => {
    const procs: ProcInfo[] = [
      { pid: 10, ppid: 1, state: "S", start: "5", cmdline: "lxd --group root" },
      { pid: 11, ppid: 10, state: "S", start: "6", cmdline: "/usr/bin/lxd forkexec c1 /x/lxd/containers /x/lxd/logs/c1/lxc.conf" },
      { pid: 12, ppid: 10, state: "Z", start: "7", cmdline: "" },
      { pid: 13, ppid: 1, state: "S", start: "8", cmdline: "dnsmasq --conf-file=/x/lxd/networks/lxdbr0/dnsmasq.raw" },
      { pid: 14, ppid: 1, state: "S", start: "9", cmdline: "vim /x/lxd/lxd.log" },
    ];
    expect(nodeProcesses(procs, 10, "/x/lxd").map((p) => p.pid)).toEqual([10, 11, 13]);
  });
});

describe("buildBusyboxImage", () => {
  const fakeBusybox = (content: string) => {
    const path = join(stateDir, "busybox");
    writeFileSync(path, content);
    return path;
  };

  it("builds a rootfs with applet links, an idle inittab and metadata, once per directory", async () => {
    const busybox = fakeBusybox("\x7fELF static");
    const seen: string[] = [];
    let rootfsChecked = false;
    const run = async (cmd: string[]): Promise<RunResult> => {
      seen.push(cmd.join(" "));
      if (cmd[1] === "--list") return { code: 0, stdout: "busybox\nsh\nip\nping\n", stderr: "" };
      if (cmd[0] === "uname") return { code: 0, stdout: "x86_64\n", stderr: "" };
      if (cmd[0] === "tar") {
        const work = cmd[2] ?? "";
        expect(readlinkSync(join(work, "rootfs", "bin", "ip"))).toBe("busybox");
        expect(readlinkSync(join(work, "rootfs", "sbin"))).toBe("bin");
        expect(lstatSync(join(work, "rootfs", "bin", "busybox")).mode & 0o777).toBe(0o755);
        expect(readFileSync(join(work, "rootfs", "etc", "inittab"), "utf8")).toBe("::sysinit:/bin/true\n");
        expect(readFileSync(join(work, "metadata.yaml"), "utf8")).toMatch(/^architecture: x86_64\ncreation_date: 1700000000\n/);
        rootfsChecked = true;
        writeFileSync(cmd[4] ?? "", "tarball");
      }
      return OK;
    };
    const [a, b] = await Promise.all([buildBusyboxImage(stateDir, { host: { run }, busybox }), buildBusyboxImage(stateDir, { host: { run }, busybox })]);
    expect(a).toBe(join(stateDir, "ciab-busybox.tar.gz"));
    expect(b).toBe(a);
    expect(rootfsChecked).toBe(true);
    expect(seen.filter((c) => c.startsWith("tar"))).toHaveLength(1);
    expect(readFileSync(a, "utf8")).toBe("tarball");
    expect(existsSync(`${a}.build`)).toBe(false);
  });

  it("refuses a dynamically linked busybox", async () => {
    const busybox = fakeBusybox("\x7fELF ... /lib64/ld-linux-x86-64.so.2 ...");
    const e = await failure(buildBusyboxImage(stateDir, { host: { run: async () => OK }, busybox }));
    expect(e.code).toBe("invalid");
    expect(e.hint).toContain("busybox-static");
  });

  it("a missing busybox names the package", async () => {
    const e = await failure(buildBusyboxImage(stateDir, { host: { run: async () => OK }, busybox: join(stateDir, "none") }));
    expect(e.code).toBe("notFound");
    expect(e.hint).toContain("busybox-static");
  });
});

describe("realHost.run", () => {
  it("returns exit code and output, never rejects", async () => {
    expect(await realHost.run(["sh", "-c", "echo out; echo err >&2; exit 3"])).toEqual({ code: 3, stdout: "out\n", stderr: "err\n" });
    expect((await realHost.run(["/nonexistent/ciab-tool"])).code).toBe(127);
    expect((await realHost.run(["sh", "-c", "echo $X"], { env: { X: "y" } })).stdout).toBe("y\n");
  });

  it("kills on timeout and on abort", async () => {
    const t = Date.now();
    // The one Runner's semantics (adapters/exec.ts): killed with SIGKILL, exit 137, `timedOut` on a deadline.
    expect(await realHost.run(["sleep", "5"], { timeoutMs: 100 })).toMatchObject({ code: 137, timedOut: true });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const aborted = await realHost.run(["sleep", "5"], { signal: ac.signal });
    expect(aborted.code).toBe(137);
    expect(aborted.timedOut).toBeUndefined();
    expect(Date.now() - t).toBeLessThan(3000);
  });
});
