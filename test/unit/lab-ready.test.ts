// Readiness of a lab (src/lab/ready.ts): the pure parsers and summaries as tables of named cases, and the wait
// against a fake runner: it says which condition it waits for, in order, and names what is missing at the deadline.
import { describe, expect, it } from "vitest";
import { seededRandom } from "../../src/keys/random.js";
import type { LabContainer } from "../../src/lab/containers.js";
import { labMesh } from "../../src/lab/lab.js";
import { planLab } from "../../src/lab/plan.js";
import { bgpNotEstablished, describeMissing, peersWithoutHandshake, pingJobs, type ReadyProbe, waitReady } from "../../src/lab/ready.js";
import { topology } from "../../src/model/topology.js";
import { FakeKernel, healthyMesh, ok } from "../helpers/fake-runner.js";

const A = "AAAA=";
const B = "BBBB=";
const dump = (...peers: [string, number][]) =>
  ["priv\tpub\t51820\toff", ...peers.map(([k, t]) => `${k}\t(none)\t198.18.1.1:51820\t169.254.1.1/32\t${t}\t10\t10\toff`)].join("\n");

describe("readiness: pure parts", () => {
  it.each([
    ["all handshaken", dump([A, 1700000000], [B, 1700000001]), []],
    ["one never handshaken", dump([A, 1700000000], [B, 0]), ["nb"]],
    ["a peer missing from the interface", dump([A, 1700000000]), ["nb"]],
    ["no interface output", "", ["na", "nb"]],
  ])("handshakes: %s", (_n, text, want) => {
    expect(
      peersWithoutHandshake(text, [
        { name: "na", publicKey: A },
        { name: "nb", publicKey: B },
      ]),
    ).toEqual(want);
  });

  const want = [
    { name: "n1", addresses: ["192.168.1.1", "fd00::1"] },
    { name: "n2", addresses: ["192.168.1.2"] },
  ];
  it.each([
    ["all established", { ipv4Unicast: { peers: { "192.168.1.1": { state: "Established" }, "192.168.1.2": { state: "Established" } } } }, []],
    [
      "one in Connect",
      { ipv4Unicast: { peers: { "192.168.1.1": { state: "Established" }, "192.168.1.2": { state: "Connect" } } } },
      [{ name: "n2", state: "Connect" }],
    ],
    ["a neighbor absent", { ipv4Unicast: { peers: { "192.168.1.1": { state: "Established" } } } }, [{ name: "n2", state: "missing" }]],
    [
      "IPv6 session down (another family, uncompressed address)",
      {
        ipv4Unicast: { peers: { "192.168.1.1": { state: "Established" }, "192.168.1.2": { state: "Established" } } },
        ipv6Unicast: { peers: { "fd00:0::1": { state: "Active" } } },
      },
      [{ name: "n1", state: "Active" }],
    ],
  ])("BGP: %s", (_n, json, out) => expect(bgpNotEstablished(JSON.stringify(json), want)).toEqual(out));

  it("BGP: not JSON is undefined (an error, not 'all fine')", () => expect(bgpNotEstablished("% BGP not running", want)).toBeUndefined());

  it.each([
    [{ condition: "handshakes" as const, items: ["n1–n3", "n2–n5"], total: 15 }, 6, "WireGuard handshakes: 2 of 15 missing (n1–n3, n2–n5)"],
    [{ condition: "pings" as const, items: ["a", "b", "c"], total: 30 }, 2, "all-pairs ping: 3 of 30 missing (a, b, … 1 more)"],
  ])("describeMissing %#", (m, max, text) => expect(describeMissing(m, max)).toBe(text));

  it("ping jobs: each other container once per family both have", () => {
    const c = (name: string, ...addresses: string[]): LabContainer => ({ kind: "netns", name, node: name, addresses, mtu: 1390, exec: [] });
    const jobs = pingJobs([c("c1", "10.0.1.2/24", "fd01::2/64"), c("c2", "10.0.2.2/24"), c("c3", "10.0.3.2/24", "fd03::2/64")]);
    expect(jobs.map((j) => [j.from.name, j.to.map((t) => t.address)])).toEqual([
      ["c1", ["10.0.2.2", "10.0.3.2", "fd03::2"]],
      ["c2", ["10.0.1.2", "10.0.3.2"]],
      ["c3", ["10.0.1.2", "fd01::2", "10.0.2.2"]],
    ]);
  });
});

describe("readiness: waiting", () => {
  const { mesh } = labMesh({ name: "rd", nodes: 3, random: seededRandom("ready") });
  const plan = planLab("rd", mesh, { underlay: "4" });
  const containers: LabContainer[] = plan.nodes.map((n) => ({
    kind: "netns",
    name: `c${n.index}`,
    node: n.name,
    addresses: [`10.0.${n.index}.2/24`],
    mtu: 1390,
    exec: ["ip", "netns", "exec", `rd-c${n.index}`],
  }));
  const setup = () => {
    const k = new FakeKernel();
    k.routes = mesh.nodes.flatMap((n) => n.subnets);
    const probe: ReadyProbe = { run: k.run, plan, mesh, containers, onNode: (node, argv) => ["ip", "netns", "exec", `rd-n${node.slice(1)}`, ...argv] };
    let t = 0;
    const progress: string[] = [];
    const o = {
      timeoutMs: 2000,
      now: () => t,
      sleep: async (ms: number) => {
        t += ms;
      },
      progress: (m: string) => progress.push(m),
    };
    return { k, probe, o, progress, tick: () => t };
  };

  it("a healthy mesh is ready at once; it says routing converged", async () => {
    const { k, probe, o, progress } = setup();
    k.replies.push(healthyMesh(() => mesh));
    await waitReady(probe, o);
    expect(progress).toEqual(["routing converged: every node has every other node's subnets (proto bgp)"]);
  });

  it("a pair without a handshake: waits, says so, and the timeout names the pair", async () => {
    const { k, probe, o, progress } = setup();
    const [n1, n2] = mesh.nodes;
    // n2 never completes the handshake with n1 (both ends report it)
    k.replies.push((argv) => {
      if (!argv.includes("dump")) return undefined;
      const self = mesh.nodes[Number(argv[3]?.slice(-1)) - 1];
      if (!self) return undefined;
      const peers = topology(mesh)
        .node(self)
        .peers.map((p) => {
          const never = (self === n1 && p === n2) || (self === n2 && p === n1);
          return `${p.publicKey}\t(none)\t198.18.0.1:51820\t${p.vtep}/32\t${never ? 0 : 1700000000}\t1\t1\toff`;
        });
      return ok(["x\ty\t51820\toff", ...peers].join("\n"));
    });
    k.replies.push(healthyMesh(() => mesh));
    const err = await waitReady(probe, o).catch((e: Error) => e);
    expect((err as Error).message).toBe("the lab is not ready after 2 s: WireGuard handshakes: 1 of 3 missing (n1–n2)");
    expect(progress[0]).toBe("waiting for WireGuard handshakes: 1 of 3 missing (n1–n2)");
  });

  it("pings that fail at first: only the failed pairs are pinged again, and then it is ready", async () => {
    const { k, probe, o, progress } = setup();
    let round = 0;
    const pinged: string[][] = [];
    k.replies.push((argv) => {
      const i = argv.indexOf("ciab-ready");
      if (i < 0) return undefined;
      const dsts = argv.slice(i + 1);
      pinged.push([argv[3] as string, ...dsts]);
      round++;
      // c1 cannot reach c3 in the first round
      return ok(dsts.map((a) => (argv[3] === "rd-c1" && a === "10.0.3.2" && round <= 3 ? `fail ${a}\n` : `ok ${a}\n`)).join(""));
    });
    k.replies.push(healthyMesh(() => mesh));
    await waitReady(probe, o);
    expect(progress).toContain("waiting for all-pairs ping: 1 of 6 missing (c1→c3 10.0.3.2)");
    expect(pinged.slice(3)).toEqual([["rd-c1", "10.0.3.2"]]);
  });

  it("routes before sessions are not enough: a session in Connect is waited for", async () => {
    const { k, probe, o } = setup();
    k.replies.push((argv) => (argv.includes("show bgp summary json") ? ok(JSON.stringify({ ipv4Unicast: { peers: {} } })) : undefined));
    k.replies.push(healthyMesh(() => mesh));
    const err = await waitReady(probe, o).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/^the lab is not ready after 2 s: routing sessions: \d+ of \d+ missing \(n1→n2 missing/);
  });
});
