// The --lxd container provider against a fake LXD host and a fake lab runner: how a node's plan becomes an LXD node
// (bridge, MTU, container name and addresses, further subnets), what it records for `lab down`, and that down works
// from that record alone. The real daemons run in test/e2e/lab-lxd.test.ts.
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ProviderContext } from "../../src/lab/containers.js";
import { lxdProvider } from "../../src/lab/lxd-provider.js";
import { type NodePlan, planLab } from "../../src/lab/plan.js";
import { DAEMON, FakeHost } from "../helpers/fake-lxd-host.js";
import { FakeKernel, fail } from "../helpers/fake-runner.js";
import { loadFixture } from "../helpers/meshes.js";

// dualstack: d1 has 10.40.1.0/24 and 2001:db8:4001::/64, d3 only 2001:db8:4003::/56.
const plan = planLab("t1", loadFixture("dualstack"), { underlay: "4" });
const nodeOf = (name: string) => plan.nodes.find((n) => n.name === name) as NodePlan;

let labDir = "";
beforeEach(() => {
  labDir = mkdtempSync(join(tmpdir(), "ciabt-lxdprov-")); // 0700, like a lab directory
});
afterEach(() => rmSync(labDir, { recursive: true, force: true }));

const context = (k: FakeKernel): ProviderContext => ({
  run: k.run,
  plan,
  track: async () => {},
  nodeDir: (n) => join(labDir, "nodes", n),
  labDir,
  progress: () => {},
});

describe("lxd provider", () => {
  it("a dual-stack node: LXD's bridge holds the first subnet, the second is added on the bridge and in the container", async () => {
    const host = new FakeHost();
    const k = new FakeKernel();
    const node = nodeOf("d1");
    const [c] = await lxdProvider({ host, image: "/img/bb.tar.gz" }).up(context(k), node);
    const lxdDir = join(labDir, "lxd", "lxd-d1", "lxd");
    expect(host.calls).toContain(`lxc network create br0 ipv4.address=10.40.1.1/24 ipv4.nat=false ipv6.address=none bridge.mtu=${node.containerMTU}`);
    expect(host.calls).toContain("lxc launch ciab-busybox t1-c1");
    expect(host.calls.at(-1)).toMatch(/ip addr add 10\.40\.1\.2\/24 dev eth0; ip route add default via 10\.40\.1\.1 dev eth0$/);
    expect(k.calls.map((x) => x.argv.join(" "))).toEqual([
      "ip netns exec t1-n1 sysctl -q -w net.ipv6.conf.br0.disable_ipv6=0",
      "ip -n t1-n1 address add 2001:db8:4001::1/64 dev br0 nodad",
      "nsenter -t 5000 -n -- ip address add 2001:db8:4001::2/64 dev eth0 nodad",
      "nsenter -t 5000 -n -- ip -6 route add default via 2001:db8:4001::1 dev eth0",
    ]);
    expect(c).toEqual({
      name: "c1",
      node: "d1",
      kind: "lxd",
      addresses: ["10.40.1.2/24", "2001:db8:4001::2/64"],
      mtu: node.containerMTU,
      exec: ["nsenter", "-t", "5000", "-a", "-r", "-w", "--"],
      netExec: ["nsenter", "-t", "5000", "-n", "--"],
      data: { lxdName: "d1", lxdStateDir: join(labDir, "lxd"), lxdContainer: "t1-c1", lxdDir, daemonPid: DAEMON, daemonStart: "", containerPid: 5000 },
    });
    // an unprivileged container's root must traverse the lab directory
    expect(statSync(labDir).mode & 0o777).toBe(0o701);
  });

  it("an IPv6-only node: LXD's bridge is IPv6, nothing else to add", async () => {
    const host = new FakeHost();
    const k = new FakeKernel();
    await lxdProvider({ host, image: "/img/bb.tar.gz" }).up(context(k), nodeOf("d3"));
    expect(host.calls).toContain(
      `lxc network create br0 ipv6.address=2001:db8:4003::1/56 ipv6.nat=false ipv4.address=none bridge.mtu=${nodeOf("d3").containerMTU}`,
    );
    expect(k.calls).toEqual([]);
  });

  it("a failure after launch stops the node it started (nothing is recorded yet), then throws", async () => {
    const host = new FakeHost();
    const k = new FakeKernel();
    k.replies.push((argv) => (argv[0] === "nsenter" ? fail("RTNETLINK answers: File exists", 2) : undefined));
    await expect(lxdProvider({ host, image: "/img/bb.tar.gz" }).up(context(k), nodeOf("d1"))).rejects.toThrow(/File exists/);
    expect(host.calls).toContain("lxc delete --force t1-c1");
    expect(host.calls).toContain("lxd shutdown --timeout 20");
  });

  it("down, in another process, from the recorded containers only", async () => {
    const k = new FakeKernel();
    const up = new FakeHost();
    up.procs = [{ pid: DAEMON, ppid: 1, state: "S", start: "42", cmdline: "lxd --group root" }];
    const made = await lxdProvider({ host: up, image: "/img/bb.tar.gz" }).up(context(k), nodeOf("d1"));
    const recorded = JSON.parse(JSON.stringify(made)); // as state.json carries them
    const down = new FakeHost();
    down.procs = [{ pid: DAEMON, ppid: 1, state: "S", start: "42", cmdline: "lxd --group root" }];
    down.replies.push([
      "lxd shutdown",
      () => {
        down.procs = [];
        return { code: 0, stdout: "", stderr: "" };
      },
    ]);
    await lxdProvider({ host: down }).down?.(context(k), nodeOf("d1"), recorded);
    expect(down.calls).toEqual(["lxc delete --force t1-c1", "lxd shutdown --timeout 20"]);
    expect(down.envs[0]?.LXD_DIR).toBe(join(labDir, "lxd", "lxd-d1", "lxd"));
    // a node without subnets has no LXD: nothing to do
    down.calls = [];
    await lxdProvider({ host: down }).down?.(context(k), { ...nodeOf("d1"), containers: [] }, []);
    expect(down.calls).toEqual([]);
  });
});
