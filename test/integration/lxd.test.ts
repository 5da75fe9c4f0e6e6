// Real LXD daemons inside network namespaces this test creates (ciabt-lxd-<pid>, ciabt-lxd2-<pid>) and deletes.
// Nothing is configured in the root namespace; every address below exists only inside those namespaces.
// Skips unless root with lxd, lxc, dnsmasq, ip and a static busybox.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { discoverSubnets, type LxdEvent, watchEvents } from "../../src/adapters/lxd.js";
import { buildBusyboxImage, type LxdNode, mountsUnder, nodeProcesses, realHost, startLxdNode } from "../../src/lab/lxd-node.js";
import { CiabError } from "../../src/model/errors.js";
import { hasTool, isRoot } from "../helpers/env.js";

const ready = isRoot && ["lxd", "lxc", "dnsmasq", "ip"].every(hasTool) && existsSync("/bin/busybox");

const NS = `ciabt-lxd-${process.pid}`;
const NS2 = `ciabt-lxd2-${process.pid}`;
const ip = (...args: string[]) => execFileSync("ip", args, { stdio: "pipe" }).toString();
const netnsList = () => ip("netns", "list");
const lxcConfExisted = existsSync(join(homedir(), ".config", "lxc"));
const rootNftTables = () => (hasTool("nft") ? execFileSync("nft", ["list", "tables"]).toString() : "");
const varLibLxd = () => (existsSync("/var/lib/lxd") ? readdirSync("/var/lib/lxd") : []);

describe.skipIf(!ready)("LXD in a network namespace (real daemon)", () => {
  let stateDir = "";
  let node: LxdNode | undefined;
  let node2: LxdNode | undefined;
  const varLibBefore = ready ? varLibLxd() : [];
  const rootTablesBefore = ready ? rootNftTables() : "";
  const rootLinksBefore = ready ? ip("-br", "link") : "";

  beforeAll(() => {
    // mkdtemp makes a 0700 directory, as a lab's state directory would be.
    stateDir = mkdtempSync(join(tmpdir(), "ciabt-lxd-"));
    for (const ns of [NS, NS2]) {
      ip("netns", "add", ns);
      ip("-n", ns, "link", "set", "lo", "up");
    }
  });

  afterAll(async () => {
    // Runs after failures too: stop daemons (by PID, inside stop()), delete our namespaces, remove the state dir.
    for (const n of [node, node2]) await n?.stop().catch((e) => console.error(e));
    for (const ns of [NS, NS2]) if (netnsList().includes(ns)) ip("netns", "del", ns);
    if (mountsUnder(readFileSync("/proc/self/mountinfo", "utf8"), stateDir).length === 0) rmSync(stateDir, { recursive: true, force: true });
  });

  it("starts LXD with a managed bridge and discovers its subnet through the REST socket", async () => {
    node = await startLxdNode({ netns: NS, name: "n1", stateDir, subnet: "10.0.1.0/24", gateway: "10.0.1.1", mtu: 1370 });
    console.log(`LXD node timings (ms): ${JSON.stringify(node.timings)}`);
    expect(node.containerAddress).toBe("10.0.1.10");
    expect(node.lxdDir.startsWith(stateDir)).toBe(true);
    expect(await discoverSubnets({ socket: node.socket })).toEqual([{ network: "lxdbr0", ipv4: "10.0.1.0/24" }]);
    // The same daemon found through $LXD_DIR, as `ciab up` on a host with LXD_DIR set would.
    expect(await discoverSubnets({ env: { LXD_DIR: node.lxdDir } })).toEqual([{ network: "lxdbr0", ipv4: "10.0.1.0/24" }]);
    // The bridge lives in the namespace, not in the root namespace.
    expect(ip("-n", NS, "-br", "addr", "show", "lxdbr0")).toContain("10.0.1.1/24");
    expect(ip("-br", "link")).not.toContain("lxdbr0");
    // LXD turns on IPv4 forwarding and adds its nft table `inet lxd` in the node namespace only.
    const inNs = (...cmd: string[]) => execFileSync("ip", ["netns", "exec", NS, ...cmd]).toString();
    expect(inNs("sysctl", "-n", "net.ipv4.ip_forward").trim()).toBe("1");
    if (hasTool("nft")) {
      expect(inNs("nft", "list", "tables")).toContain("table inet lxd");
      expect(rootNftTables()).toBe(rootTablesBefore);
    }
    // LXD's mounts (shmounts, devlxd) live in the private mount namespace `ip netns exec` gave the daemon: visible in
    // the daemon's mountinfo, never in ours.
    expect(mountsUnder(readFileSync(`/proc/${node.daemonPid}/mountinfo`, "utf8"), node.lxdDir)).toEqual(
      expect.arrayContaining([join(node.lxdDir, "shmounts"), join(node.lxdDir, "devlxd")]),
    );
    expect(mountsUnder(readFileSync("/proc/self/mountinfo", "utf8"), stateDir)).toEqual([]);
  });

  it("the container has its address, the bridge MTU, and pings the bridge gateway", async () => {
    if (!node) throw new Error("no node");
    // whole results in the assertions, so a failure shows the command's stderr
    // exec runs inside the container: its hostname, its PID namespace, its (unprivileged, shifted) user namespace
    expect(await node.exec(["hostname"])).toMatchObject({ code: 0, stdout: "c-n1\n" });
    expect(await node.exec(["cat", "/proc/1/comm"])).toMatchObject({ code: 0, stdout: "init\n" });
    expect((await node.exec(["cat", "/proc/self/uid_map"])).stdout).toMatch(/^\s*0\s+[1-9]\d*\s+\d+/);
    expect(await node.exec(["ip", "addr", "show", "dev", "eth0"])).toMatchObject({ code: 0, stdout: expect.stringContaining("inet 10.0.1.10/24") });
    expect(await node.exec(["cat", "/sys/class/net/eth0/mtu"])).toMatchObject({ code: 0, stdout: "1370\n" });
    expect(await node.exec(["ip", "route"])).toMatchObject({ code: 0, stdout: expect.stringContaining("default via 10.0.1.1") });
    expect(await node.exec(["ping", "-c", "2", "-W", "2", "10.0.1.1"])).toMatchObject({ code: 0, stdout: expect.stringContaining("2 packets received") });
  });

  it("picks up a bridge created after start, and announces it as a lifecycle event", async () => {
    if (!node) throw new Error("no node");
    const events: LxdEvent[] = [];
    const stream = await watchEvents({ socket: node.socket }, (e) => events.push(e));
    await node.addBridge("lxdbr1", { "ipv4.address": "10.0.2.1/24", "ipv4.nat": "false", "ipv6.address": "fd42:c1ab:2::1/64", "ipv6.nat": "false" });
    // "auto" is resolved by LXD into a concrete address in the config, so discovery sees a real prefix.
    await node.addBridge("lxdbr2", { "ipv4.address": "auto", "ipv6.address": "none" });
    const subnets = await discoverSubnets({ socket: node.socket });
    expect(subnets.slice(0, 2)).toEqual([
      { network: "lxdbr0", ipv4: "10.0.1.0/24" },
      { network: "lxdbr1", ipv4: "10.0.2.0/24", ipv6: "fd42:c1ab:2::/64" },
    ]);
    expect(subnets[2]?.network).toBe("lxdbr2");
    expect(subnets[2]?.ipv4).toMatch(/^10\.\d+\.\d+\.0\/24$/);
    expect(subnets[2]?.ipv6).toBeUndefined();
    for (let i = 0; i < 20 && events.length < 2; i++) await new Promise((r) => setTimeout(r, 100));
    stream.close();
    await stream.closed;
    console.log(`LXD events: ${JSON.stringify(events)}`);
    expect(events.map((e) => [e.type, e.metadata.action, e.metadata.source])).toEqual([
      ["lifecycle", "network-created", "/1.0/networks/lxdbr1"],
      ["lifecycle", "network-created", "/1.0/networks/lxdbr2"],
    ]);
  });

  it("runs a second daemon side by side in another namespace, sharing one image tarball", async () => {
    const image = await buildBusyboxImage(stateDir);
    expect(await buildBusyboxImage(stateDir)).toBe(image);
    node2 = await startLxdNode({ netns: NS2, name: "n2", stateDir, subnet: "10.0.1.0/24", gateway: "10.0.1.1", image });
    console.log(`second LXD node timings (ms): ${JSON.stringify(node2.timings)}`);
    // Same subnet in two namespaces: no clash, each container reaches its own gateway.
    expect((await node2.exec(["ping", "-c", "1", "-W", "2", "10.0.1.1"])).code).toBe(0);
    expect(await discoverSubnets({ socket: node2.socket })).toEqual([{ network: "lxdbr0", ipv4: "10.0.1.0/24" }]);
  });

  it("stop() leaves no process, mount or file behind", async () => {
    for (const n of [node, node2]) {
      if (!n) throw new Error("no node");
      const t = Date.now();
      await n.stop();
      console.log(`LXD node ${n.name} stop: ${Date.now() - t} ms`);
      await n.stop(); // idempotent
      expect(nodeProcesses(realHost.processes(), n.daemonPid, n.lxdDir)).toEqual([]);
      expect(realHost.processes().filter((p) => p.state !== "Z" && p.cmdline.includes(n.lxdDir))).toEqual([]);
      expect(existsSync(join(stateDir, `lxd-${n.name}`))).toBe(false);
    }
    expect(mountsUnder(readFileSync("/proc/self/mountinfo", "utf8"), stateDir)).toEqual([]);
    expect(varLibLxd()).toEqual(varLibBefore);
    expect(existsSync(join(homedir(), ".config", "lxc"))).toBe(lxcConfExisted);
  });

  it("stop() after the daemon was killed (SIGKILL) still removes its container, monitor and dnsmasq", async () => {
    const n = await startLxdNode({ netns: NS2, name: "crash", stateDir, subnet: "10.0.5.0/24", gateway: "10.0.5.1" });
    node2 = n;
    const tree = nodeProcesses(realHost.processes(), n.daemonPid, n.lxdDir);
    // daemon, dnsmasq, the container's monitor and its init at least
    expect(tree.length).toBeGreaterThanOrEqual(4);
    process.kill(n.daemonPid, "SIGKILL");
    await new Promise((r) => setTimeout(r, 300));
    expect(nodeProcesses(realHost.processes(), n.daemonPid, n.lxdDir).length).toBeGreaterThanOrEqual(3);
    await n.stop();
    const alive = new Set(
      realHost
        .processes()
        .filter((p) => p.state !== "Z")
        .map((p) => `${p.pid}/${p.start}`),
    );
    expect(tree.filter((p) => alive.has(`${p.pid}/${p.start}`))).toEqual([]);
    expect(existsSync(join(stateDir, "lxd-crash"))).toBe(false);
  });

  it("a failure midway (image import) removes the daemon and the node directory", async () => {
    const t = Date.now();
    const err = await startLxdNode({
      netns: NS,
      name: "bad",
      stateDir,
      subnet: "10.0.3.0/24",
      gateway: "10.0.3.1",
      image: join(stateDir, "missing.tar.gz"),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CiabError);
    expect((err as CiabError).code).toBe("external");
    expect((err as CiabError).message).toMatch(/importing .*missing\.tar\.gz failed/);
    console.log(`failed start + cleanup: ${Date.now() - t} ms`);
    expect(existsSync(join(stateDir, "lxd-bad"))).toBe(false);
    expect(realHost.processes().filter((p) => p.state !== "Z" && p.cmdline.includes(join(stateDir, "lxd-bad")))).toEqual([]);
    // and the namespace holds no leftover bridge
    expect(ip("-n", NS, "-br", "link")).not.toContain("lxdbr0");
  });

  it("a namespace that does not exist fails fast with the daemon's message", async () => {
    const err = await startLxdNode({ netns: `ciabt-none-${process.pid}`, name: "nons", stateDir, subnet: "10.0.4.0/24", gateway: "10.0.4.1" }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CiabError);
    expect((err as CiabError).message).toMatch(/network namespace not usable/);
    expect(existsSync(join(stateDir, "lxd-nons"))).toBe(false);
  });

  it("the namespaces are removed by the test; the root namespace's links and nft tables are as before", () => {
    for (const ns of [NS, NS2]) ip("netns", "del", ns);
    expect(netnsList()).not.toContain(NS);
    expect(netnsList()).not.toContain(NS2);
    expect(ip("-br", "link")).toBe(rootLinksBefore);
    expect(rootNftTables()).toBe(rootTablesBefore);
  });
});
