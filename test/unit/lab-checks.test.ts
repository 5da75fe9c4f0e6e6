// lab test's checks against a fake runner: how each check decides from real tool output (captured from FRR 8.4,
// BIRD 2.0.12, nftables 1.0.6 and tcpdump 4.99 in a running lab). No root, no real commands.
import { describe, expect, it } from "vitest";
import type { RunResult } from "../../src/adapters/exec.js";
import { seededRandom } from "../../src/keys/random.js";
import { type CheckContext, flood, fragments, mapLimit, matrix, mtu, ownership, sessions, traceHops, transit } from "../../src/lab/checks.js";
import type { LabContainer } from "../../src/lab/containers.js";
import { newLabMesh } from "../../src/lab/mesh.js";
import { planLab } from "../../src/lab/plan.js";
import type { LabState } from "../../src/lab/state.js";
import { type Mesh, meshFromDoc } from "../../src/model/mesh.js";
import { FakeKernel, fail, ok } from "../helpers/fake-runner.js";
import { loadFixture } from "../helpers/meshes.js";

const BGP_SUMMARY = (peers: Record<string, string>) =>
  JSON.stringify({
    ipv4Unicast: {
      routerId: "192.168.146.95",
      as: 64512,
      peers: Object.fromEntries(Object.entries(peers).map(([ip, state]) => [ip, { remoteAs: 64512, pfxRcd: 2, state, peerState: "OK", desc: "n1" }])),
      failedPeers: 0,
      totalPeers: Object.keys(peers).length,
    },
  });

const BIRD_NEIGHBORS = `BIRD 2.0.12 ready.
ospf4:
Router ID   \tPri\t     State     \tDTime\tInterface  Router IP
192.168.7.2 \t  1\tFull/BDR     \t3.477\tvlab       192.168.7.2
192.168.7.3 \t  1\t2-Way/Other  \t3.402\tvlab       192.168.7.3
`;

const NFT_COUNTER = (n: number) =>
  JSON.stringify({
    nftables: [{ metainfo: { version: "1.0.6" } }, { counter: { family: "inet", name: "frags", table: "ciab_lab", handle: 2, packets: n, bytes: n * 1400 } }],
  });

function context(k: FakeKernel, o: { nodes?: number; routing?: "bgp" | "ospf"; mesh?: Mesh } = {}): CheckContext {
  const n = o.nodes ?? 3;
  const mesh: Mesh = o.mesh ?? meshFromDoc("lab", newLabMesh("lab", n, { underlay: "4", routing: o.routing }, seededRandom("checks")), { file: "lab.conf" });
  const plan = planLab("t1", mesh, { underlay: "4" });
  const containers: LabContainer[] = plan.nodes.flatMap((p) =>
    p.containers.map((c) => ({ name: c.name, node: p.name, kind: "netns", addresses: c.addresses, mtu: p.containerMTU, exec: ["ip", "netns", "exec", c.ns] })),
  );
  const state = { name: "t1", phase: "up", plan, containers, namespaces: [], pids: {} } as unknown as LabState;
  return { run: k.run, state, plan, mesh, onNode: (node, argv) => ["on", node, ...argv], sleep: async () => {} };
}

describe("matrix", () => {
  it("every container pings every other; a lost pair is reported with its address", async () => {
    const k = new FakeKernel();
    k.replies.push((argv) => (argv[3] === "t1-c2" && argv.at(-1) === "10.0.3.2" ? fail("", 1) : undefined));
    k.replies.push((argv) => (argv.includes("ping") ? ok("rtt min/avg/max/mdev = 0.300/0.412/0.500/0.010 ms\n") : undefined));
    const m = await matrix(context(k));
    expect(m).toHaveLength(6);
    expect(m.filter((p) => !p.ok)).toEqual([{ from: "c2", to: "c3", address: "10.0.3.2", ok: false }]);
    expect(m[0]).toEqual({ from: "c1", to: "c2", address: "10.0.2.2", ok: true, rttMs: 0.412 });
  });
});

describe("sessions", () => {
  it("BGP: every configured neighbor must be Established (RR: 2, clients: 1)", async () => {
    const k = new FakeKernel();
    k.replies.push((argv) => {
      if (!argv.includes("show bgp summary json")) return undefined;
      if (argv[1] === "n1") return ok(BGP_SUMMARY({ "192.168.1.2": "Established", "192.168.1.3": "Established" }));
      if (argv[1] === "n2") return ok(BGP_SUMMARY({ "192.168.1.1": "Established" }));
      return ok(BGP_SUMMARY({ "192.168.1.1": "Active" }));
    });
    const r = await sessions(context(k));
    expect(r.map((x) => [x.name, x.status, x.detail])).toEqual([
      ["routing sessions on n1", "pass", "BGP 2/2 established"],
      ["routing sessions on n2", "pass", "BGP 1/1 established"],
      ["routing sessions on n3", "fail", "BGP 0/1 established; not up: 192.168.1.1 Active"],
    ]);
  });

  it("BGP: a missing session is a failure even if the others are up", async () => {
    const k = new FakeKernel();
    k.replies.push((argv) => (argv.includes("show bgp summary json") ? ok(BGP_SUMMARY({ "192.168.1.2": "Established" })) : undefined));
    const r = await sessions(context(k));
    expect(r[0]).toMatchObject({ status: "fail", detail: "BGP 1/2 established" });
  });

  it("BGP: vtysh failing or not answering JSON fails the node", async () => {
    const k = new FakeKernel();
    k.replies.push((argv) => (argv[1] === "n1" ? fail("Exiting: failed to connect to any daemons.", 1) : ok("% Unknown command")));
    const r = await sessions(context(k));
    expect(r[0]?.detail).toMatch(/vtysh failed \(1\): Exiting/);
    expect(r[1]?.detail).toMatch(/did not answer JSON/);
  });

  it("OSPF (BIRD): a Full adjacency per node; 2-Way with DROthers is normal on a broadcast segment", async () => {
    const k = new FakeKernel();
    k.replies.push((argv) =>
      argv.includes("birdc") ? ok(argv[1] === "n3" ? "BIRD 2.0.12 ready.\nospf4:\nRouter ID\tPri\tState\n" : BIRD_NEIGHBORS) : undefined,
    );
    const r = await sessions(context(k, { routing: "ospf" }));
    expect(r.map((x) => [x.status, x.detail])).toEqual([
      ["pass", "OSPF 1 full adjacency"],
      ["pass", "OSPF 1 full adjacency"],
      ["fail", "OSPF 0 full adjacencies"],
    ]);
  });
});

// rr5-blacklist: reflectors rr1 (172.20.20.1) and rr2, clients c1 (.11) c2 (.12) c3 (.13); c1-c2 blacklisted, relayed
// by rr1. Containers: c1@c1 10.20.1.2, c2@c2 10.20.2.2, c3@c3, c4@rr1.
const RR5 = loadFixture("rr5-blacklist");
const ipRoutes =
  (byNs: Record<string, object[]>) =>
  (argv: string[]): RunResult | undefined =>
    argv[0] === "ip" && argv[1] === "-n" && argv.includes("route") ? ok(JSON.stringify(argv.includes("-6") ? [] : (byNs[argv[2] as string] ?? []))) : undefined;

describe("ownership", () => {
  const good = {
    "t1-n1": [
      { dst: "10.20.2.0/24", gateway: "172.20.20.1", dev: "vrr5-blacklist", protocol: "bgp" }, // c2 via the transit rr1
      { dst: "10.20.3.0/24", gateway: "172.20.20.13", dev: "vrr5-blacklist" },
      { dst: "10.20.33.0/25", nexthops: [{ gateway: "172.20.20.13" }] },
    ],
  };

  it("passes when every learned route is inside its next hop's Subnets (the transit's, for a blacklisted partner)", async () => {
    const k = new FakeKernel();
    k.replies.push(ipRoutes(good));
    const [r] = await ownership(context(k, { mesh: RR5 }));
    expect(r).toEqual({ name: "route ownership", status: "pass", detail: "all 3 learned routes (proto bgp) point to the nodes that own them" });
    expect(k.find("-j", "-4", "route", "show", "proto", "bgp")).toHaveLength(5);
  });

  it("fails for a prefix nobody owns, a more specific pointing to a non-owner, and a partner route not via the transit", async () => {
    const k = new FakeKernel();
    k.replies.push(
      ipRoutes({
        "t1-n1": [{ dst: "10.20.2.0/24", gateway: "172.20.20.12" }],
        "t1-n4": [
          { dst: "10.99.0.0/24", gateway: "172.20.20.13" },
          { dst: "10.20.1.128/25", gateway: "172.20.20.13" },
          { dst: "10.20.1.7", gateway: "172.20.20.11" }, // a host route: fine
        ],
      }),
    );
    const [r] = await ownership(context(k, { mesh: RR5 }));
    expect(r?.status).toBe("fail");
    expect(r?.detail.split("; ")).toEqual([
      "c1 has 10.20.2.0/24 via 172.20.20.12, but it belongs to c2 (172.20.20.1)",
      "rr1 has 10.99.0.0/24, which is no node's subnet",
      "rr1 has 10.20.1.128/25 via 172.20.20.13, but it belongs to c1 (172.20.20.11)",
    ]);
  });
});

describe("transit", () => {
  const trace = (...hops: string[]) =>
    `traceroute to x (x), 8 hops max, 60 byte packets\n${hops.map((h, i) => ` ${i + 1}  ${h}${h === "*" ? "" : "  0.412 ms"}`).join("\n")}\n`;

  it("traceHops reads Linux traceroute's and busybox's hop lines, * for silence", () => {
    expect(traceHops(trace("10.20.1.1", "172.20.20.1", "*", "10.20.2.2"))).toEqual(["10.20.1.1", "172.20.20.1", "*", "10.20.2.2"]);
    const busybox = "traceroute to 10.20.2.2 (10.20.2.2), 8 hops max, 38 byte packets\n 1  10.20.1.1  0.010 ms\n 2  172.20.20.1  0.345 ms\n";
    expect(traceHops(busybox)).toEqual(["10.20.1.1", "172.20.20.1"]);
  });

  it("passes when both directions of the pair reach the other side through the transit's overlay address", async () => {
    const k = new FakeKernel();
    k.replies.push((argv) => {
      if (!argv.includes("traceroute")) return undefined;
      return ok(
        argv.at(-1) === "10.20.2.2"
          ? trace("10.20.1.1", "172.20.20.1", "172.20.20.12", "10.20.2.2")
          : trace("10.20.2.1", "172.20.20.1", "172.20.20.11", "10.20.1.2"),
      );
    });
    const r = await transit(context(k, { mesh: RR5 }));
    expect(r.map((x) => [x.name, x.status, x.detail])).toEqual([
      ["blacklist transit c1->c2", "pass", "c1->c2 (10.20.2.2) via rr1 172.20.20.1: hops 10.20.1.1 172.20.20.1 172.20.20.12 10.20.2.2 (transit at hop 2)"],
      ["blacklist transit c2->c1", "pass", "c2->c1 (10.20.1.2) via rr1 172.20.20.1: hops 10.20.2.1 172.20.20.1 172.20.20.11 10.20.1.2 (transit at hop 2)"],
    ]);
    // from the container's namespace, numeric, one probe per hop
    expect(k.find("traceroute")[0]).toEqual(["ip", "netns", "exec", "t1-c1", "traceroute", "-n", "-q", "1", "-w", "2", "-m", "8", "10.20.2.2"]);
  });

  it.each([
    ["direct (no transit hop)", ["10.20.1.1", "172.20.20.12", "10.20.2.2"]],
    ["never arrives", ["10.20.1.1", "172.20.20.1", "*", "*"]],
  ])("fails when the path is %s", async (_, hops) => {
    const k = new FakeKernel();
    k.replies.push((argv) => (argv.includes("traceroute") ? ok(trace(...hops)) : undefined));
    expect((await transit(context(k, { mesh: RR5 })))[0]?.status).toBe("fail");
  });

  it("skips without blacklisted pairs, and without traceroute", async () => {
    expect(await transit(context(new FakeKernel()))).toEqual([{ name: "blacklist transit", status: "skip", detail: "no blacklisted or relayed pairs" }]);
    const k = new FakeKernel();
    k.replies.push((argv) =>
      argv.includes("traceroute") ? { code: 127, stdout: "", stderr: "exec of traceroute failed: No such file or directory" } : undefined,
    );
    expect((await transit(context(k, { mesh: RR5 }))).map((x) => x.status)).toEqual(["skip", "skip"]);
  });
});

describe("flood", () => {
  const captures =
    (third: number, dst: number) =>
    (argv: string[]): RunResult | undefined => {
      if (!argv.includes("tcpdump")) return undefined;
      const lines = (n: number) => Array.from({ length: n }, (_, i) => `04:20:0${i} IP 10.0.1.2 > 10.0.2.2: ICMP echo request`).join("\n");
      return ok(argv[3] === "t1-n3" ? lines(third) : lines(dst));
    };

  it("passes when the uninvolved node sees none of the pair's frames and the destination sees them", async () => {
    const k = new FakeKernel();
    k.replies.push(captures(0, 40));
    const [r] = await flood(context(k));
    expect(r).toEqual({ name: "no unicast flooding", status: "pass", detail: "c1->c2 ping ok; n2 (destination) saw 40 frames, n3 (uninvolved) saw 0" });
    // captures run in the nodes' namespaces on the VXLAN device, filtered to the pair
    const cap = k.find("tcpdump")[0] as string[];
    expect(cap.slice(0, 4)).toEqual(["ip", "netns", "exec", "t1-n3"]);
    expect(cap).toContain("vlab");
    expect(cap.at(-1)).toBe("icmp and host 10.0.1.2 and host 10.0.2.2");
  });

  it.each([
    [40, 40, "flooded"],
    [0, 0, "the control capture saw nothing"],
  ])("fails when the third node saw %i and the destination %i (%s)", async (third, dst) => {
    const k = new FakeKernel();
    k.replies.push(captures(third, dst));
    expect((await flood(context(k)))[0]?.status).toBe("fail");
  });

  it("skips with two nodes", async () => {
    expect((await flood(context(new FakeKernel(), { nodes: 2 })))[0]?.status).toBe("skip");
  });

  it("skips when tcpdump is missing", async () => {
    const k = new FakeKernel();
    k.replies.push((argv) =>
      argv.includes("tcpdump") ? { code: 127, stdout: "", stderr: "timeout: failed to run command 'tcpdump': No such file or directory" } : undefined,
    );
    expect((await flood(context(k)))[0]?.status).toBe("skip");
  });
});

describe("mtu", () => {
  it("MTU-28 with DF passes, MTU-27 is refused, for each container to the next", async () => {
    const k = new FakeKernel();
    k.replies.push((argv) =>
      argv.includes("-s") && argv[argv.indexOf("-s") + 1] === "1363" ? fail("ping: local error: message too long, mtu=1390", 1) : undefined,
    );
    const r = await mtu(context(k));
    expect(r.map((x) => [x.name, x.status])).toEqual([
      ["MTU boundary c1->c2", "pass"],
      ["MTU boundary c2->c3", "pass"],
      ["MTU boundary c3->c1", "pass"],
    ]);
    expect(k.find("-M", "do", "1362")).toHaveLength(3);
  });

  it("IPv6 when the pair has no IPv4 in common: 48 bytes of headers", async () => {
    const k = new FakeKernel();
    k.replies.push((argv) => (argv.includes("1343") ? fail("ping: local error: message too long, mtu: 1390", 1) : undefined));
    const ctx = context(k, { nodes: 2 });
    ctx.state.containers = ctx.state.containers.map((c, i) => ({ ...c, addresses: [`2001:db8:400${i + 1}::2/64`] }));
    const r = await mtu(ctx);
    expect(r[0]).toMatchObject({ status: "pass", detail: "1390-byte IPv6 packets (ping -M do -s 1342) pass; 1391 bytes refused" });
    expect(k.find("1342", "2001:db8:4002::2")).toHaveLength(1);
  });

  it("fails when an oversized packet gets through (container MTU too large) or a full-size one is lost", async () => {
    const k = new FakeKernel();
    k.replies.push((argv) => (argv[3] === "t1-c1" && argv.includes("1362") ? fail("", 1) : undefined));
    const r = await mtu(context(k));
    expect(r[0]).toMatchObject({ status: "fail" });
    expect(r[0]?.detail).toContain("are LOST");
    expect(r[0]?.detail).toContain("PASS (the container MTU is wrong)");
  });
});

describe("fragments", () => {
  it.each([
    [0, "pass"],
    [3, "fail"],
  ])("counter %i: %s", async (n, status) => {
    const k = new FakeKernel();
    k.replies.push((argv) => (argv.includes("nft") ? ok(NFT_COUNTER(n)) : undefined));
    const [r] = await fragments(context(k));
    expect(r).toEqual({ name: "no IP fragments", status, detail: `the internet dropped ${n} IP fragment(s)` });
  });
});

describe("mapLimit", () => {
  it("keeps order and never runs more than the limit at once", async () => {
    let running = 0;
    let peak = 0;
    const out = await mapLimit([1, 2, 3, 4, 5, 6, 7], 3, async (x) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      return x * 2;
    });
    expect(out).toEqual([2, 4, 6, 8, 10, 12, 14]);
    expect(peak).toBe(3);
  });
});
