// lab up / down orchestration against a fake runner: what gets created and in which namespace, state tracking,
// teardown after success, after a failure midway and after an abort. No root, no real commands.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { seededRandom } from "../../src/keys/random.js";
import { execTarget, type LabDeps, type LabUpOptions, labDown, labStatus, labUp, resolveLabName } from "../../src/lab/lab.js";
import { labPaths, readState, writeState } from "../../src/lab/state.js";
import { INET_NFT } from "../../src/lab/topology.js";
import { CiabError } from "../../src/model/errors.js";
import { loadMesh, meshRef } from "../../src/registry/file.js";
import { FakeKernel, fail, healthyMesh, ok } from "../helpers/fake-runner.js";

let root: string;
let k: FakeKernel;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "ciab-lab-unit-"));
  k = new FakeKernel();
  k.routes = ["10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"];
  k.replies.push(healthyMesh((lab) => loadMesh(meshRef(readState(root, lab).meshFile)).mesh));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const opts = (o: Partial<LabUpOptions> = {}): LabUpOptions => ({ name: "t1", nodes: 3, random: seededRandom("lab-up"), ...o });
const deps = (o: Partial<LabDeps> = {}): LabDeps => ({ run: k.run, root, sleep: async () => {}, ...o });
const isCiabUp = (argv: string[]) => (argv.at(-1) ?? "").endsWith("/bin/ciab-up");

/**
 * The safety rule of the lab: nothing acts on the root namespace. Allowed: `ip netns add|del|list|pids NS`,
 * `ip -n NS …`, `tc -n NS …`, `ip netns exec NS …`, and host bookkeeping that is not networking.
 */
function assertNamespaced(argv: string[]): void {
  const [a, b] = argv;
  const ok = (a === "ip" && b === "netns") || (a === "ip" && b === "-n") || (a === "tc" && b === "-n") || ["kill", "chown"].includes(a as string);
  expect(ok, argv.join(" ")).toBe(true);
  expect(argv.join(" ")).not.toContain("192.0.2.");
}

describe("lab up", () => {
  it("builds the internet, nodes and containers in namespaces, applies each bundle through the node wrapper", async () => {
    const state = await labUp(opts(), deps());
    expect(state.phase).toBe("up");
    expect(state.namespaces).toEqual(["t1-inet", "t1-n1", "t1-c1", "t1-n2", "t1-c2", "t1-n3", "t1-c3"]);
    expect([...k.namespaces].sort()).toEqual([...state.namespaces].sort());
    for (const c of k.calls) assertNamespaced(c.argv);
    // the internet drops fragments
    expect(k.calls.find((c) => c.input === INET_NFT)?.argv.slice(0, 4)).toEqual(["ip", "netns", "exec", "t1-inet"]);
    // veths are created inside a lab namespace with the peer in another lab namespace
    for (const argv of k.find("veth")) {
      expect(argv.slice(0, 3)).toEqual(["ip", "-n", argv[2]]);
      expect(argv[2]?.startsWith("t1-")).toBe(true);
      expect(argv[argv.indexOf("netns") + 1]?.startsWith("t1-")).toBe(true);
    }
    // container MTU on both veth ends
    expect(k.find("veth", "vc1")[0]?.filter((w) => w === "1390")).toHaveLength(2);
    // ciab-up runs with the private mounts, once per node
    const ups = k.calls.map((c) => c.argv).filter(isCiabUp);
    expect(ups.map((a) => a[3])).toEqual(["t1-n1", "t1-n2", "t1-n3"]);
    expect(ups[0]?.[6]).toContain("mount --bind");
    // the bundle and mesh file are in the lab directory, the state file says what exists
    expect(existsSync(join(root, "t1", "nodes", "n1", "bundle", "bin", "ciab-up"))).toBe(true);
    expect(readFileSync(join(root, "t1", "t1.conf"), "utf8")).toContain('Endpoint = "198.18.1.1:51820"');
    expect(readState(root, "t1").containers.map((c) => [c.name, c.node, c.exec])).toEqual([
      ["c1", "n1", ["ip", "netns", "exec", "t1-c1"]],
      ["c2", "n2", ["ip", "netns", "exec", "t1-c2"]],
      ["c3", "n3", ["ip", "netns", "exec", "t1-c3"]],
    ]);
  });

  it("refuses namespaces that already exist and creates nothing", async () => {
    k.namespaces.add("t1-n2");
    await expect(labUp(opts(), deps())).rejects.toThrow(/t1-n2 already exist/);
    expect(k.find("add")).toEqual([]);
    expect([...k.namespaces]).toEqual(["t1-n2"]);
    expect(existsSync(join(root, "t1"))).toBe(false);
  });

  it("refuses a second lab of the same name", async () => {
    await labUp(opts(), deps());
    await expect(labUp(opts(), deps())).rejects.toThrow(/already exist/);
  });

  it("rate shaping with tbf in the internet namespace", async () => {
    await labUp(opts({ rate: "100mbit" }), deps());
    const tbf = k.find("tbf");
    expect(tbf).toHaveLength(3);
    expect(tbf[0]?.slice(0, 3)).toEqual(["tc", "-n", "t1-inet"]);
  });

  it("dual-stack underlay: IPv6 addresses and default routes too", async () => {
    await labUp(opts({ underlay: "dual" }), deps());
    expect(k.find("address", "2001:db8:0:1::1/64", "eth0")).toHaveLength(1);
    expect(k.find("-6", "default", "2001:db8:0:1::fe")).toHaveLength(1);
  });
});

describe("failures midway leave nothing behind", () => {
  it("a bundle whose ciab-up fails: error names the node, every namespace and the lab directory are gone", async () => {
    k.replies.push((argv) => (isCiabUp(argv) && argv[3] === "t1-n2" ? fail("ciab-up: error: wg-quick up t1 failed") : undefined));
    const err = await labUp(opts(), deps()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CiabError);
    expect((err as CiabError).message).toMatch(/ciab-up of node n2 exited with 1:\n.*wg-quick up t1 failed/);
    expect([...k.namespaces]).toEqual([]);
    expect(existsSync(join(root, "t1"))).toBe(false);
  });

  it("the beforeApply hook sees each written bundle before it is applied", async () => {
    const seen: string[] = [];
    await labUp(opts(), deps({ beforeApply: (node, dir) => void seen.push(`${node}:${existsSync(join(dir, "bin", "ciab-up"))}`) }));
    expect(seen).toEqual(["n1:true", "n2:true", "n3:true"]);
  });

  it("a failing network command: teardown, and the namespaces made so far are deleted", async () => {
    k.replies.push((argv) => (argv.includes("t1-n2") && argv.includes("veth") ? fail("RTNETLINK answers: File exists", 2) : undefined));
    await expect(labUp(opts(), deps())).rejects.toThrow(/veth.*exited with 2/s);
    expect(k.find("del").map((a) => a[3])).toEqual(["t1-n2", "t1-c1", "t1-n1", "t1-inet"]);
    expect([...k.namespaces]).toEqual([]);
  });

  it("routing that never converges: a clear error after the deadline, then teardown", async () => {
    k.routes = ["10.0.1.0/24"];
    let t = 0;
    const sleep = async (ms: number) => {
      t += ms;
    };
    const err = await labUp(opts(), deps({ convergeMs: 1000, now: () => t, sleep })).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/not ready after 1 s: routes: 4 of 6 missing \(n1 lacks 10.0.2.0\/24 \(proto bgp\)/);
    expect([...k.namespaces]).toEqual([]);
  });

  it("an abort (Ctrl-C) during apply: teardown, then an 'interrupted' error", async () => {
    const ac = new AbortController();
    k.replies.push((argv) => {
      if (isCiabUp(argv)) ac.abort("interrupted by SIGINT");
      return undefined;
    });
    await expect(labUp(opts(), deps({ signal: ac.signal }))).rejects.toThrow("lab up interrupted by SIGINT");
    expect([...k.namespaces]).toEqual([]);
    expect(existsSync(join(root, "t1"))).toBe(false);
  });

  it("a namespace created but not yet tracked when the abort came is still removed", async () => {
    const ac = new AbortController();
    k.replies.push((argv) => {
      if (argv[2] === "add" && argv[3] === "t1-n2") {
        k.namespaces.add("t1-n2");
        ac.abort("interrupted by SIGTERM");
        return { code: 137, stdout: "", stderr: "" };
      }
      return undefined;
    });
    await expect(labUp(opts(), deps({ signal: ac.signal }))).rejects.toThrow(/interrupted/);
    expect([...k.namespaces]).toEqual([]);
  });
});

describe("lab down", () => {
  it("runs each node's ciab-down, stops processes in the lab's namespaces by PID, deletes them and the state", async () => {
    await labUp(opts(), deps());
    k.pids.set("t1-n1", [101, 102]);
    k.pids.set("t1-c1", [103]);
    k.pids.set("foreign", [999]);
    k.namespaces.add("foreign");
    const r = await labDown("t1", deps());
    expect(r.killed).toBe(3);
    expect(k.find("ciab-down").length).toBe(0); // the wrapper's argv ends with the script path
    expect(k.calls.map((c) => c.argv).filter((a) => (a.at(-1) ?? "").endsWith("/bin/ciab-down"))).toHaveLength(3);
    for (const kill of k.find("kill")) expect(kill).not.toContain("999");
    expect([...k.namespaces]).toEqual(["foreign"]);
    expect(existsSync(join(root, "t1"))).toBe(false);
    expect(existsSync(root)).toBe(false); // the last lab removes the lab root
  });

  it("only deletes the namespaces its state lists", async () => {
    await labUp(opts({ name: "a" }), deps());
    await labUp(opts({ name: "b" }), deps());
    await labDown("a", deps());
    expect([...k.namespaces].every((ns) => ns.startsWith("b-"))).toBe(true);
    expect(existsSync(join(root, "b", "state.json"))).toBe(true);
  });

  it("a failing ciab-down is a warning, not a stop", async () => {
    await labUp(opts(), deps());
    k.replies.push((argv) => ((argv.at(-1) ?? "").endsWith("/bin/ciab-down") ? fail("boom", 1) : undefined));
    const r = await labDown("t1", deps());
    expect(r.warnings).toHaveLength(3);
    expect([...k.namespaces]).toEqual([]);
  });

  it("refuses to tear down a lab another live process is still building", async () => {
    await labUp(opts(), deps());
    const s = readState(root, "t1");
    writeState(labPaths(root, "t1"), { ...s, phase: "building", builder: 4711 });
    k.alive.add(4711);
    await expect(labDown("t1", deps())).rejects.toMatchObject({ code: "conflict" });
    k.alive.delete(4711); // the builder died (SIGKILL): its lab can be torn down
    await labDown("t1", deps());
    expect([...k.namespaces]).toEqual([]);
  });

  it("an unknown lab is notFound", async () => {
    await expect(labDown("nope", deps())).rejects.toMatchObject({ code: "notFound" });
  });
});

describe("status, exec targets, lab names", () => {
  it("status reports namespaces and processes", async () => {
    await labUp(opts(), deps());
    k.pids.set("t1-n1", [7, 8]);
    k.namespaces.delete("t1-c3");
    const s = await labStatus("t1", deps());
    expect(s.phase).toBe("up");
    expect(s.namespaces.find((n) => n.name === "t1-n1")).toEqual({ name: "t1-n1", exists: true, pids: 2 });
    expect(s.namespaces.find((n) => n.name === "t1-c3")?.exists).toBe(false);
    expect(s.nodes[0]).toEqual({ name: "n1", ns: "t1-n1", underlay: ["198.18.1.1/24"], containers: [{ name: "c1", addresses: ["10.0.1.2/24"] }] });
  });

  it.each([
    ["n2", "node n2", ["ip", "netns", "exec", "t1-n2", "sh"]],
    ["c3", "container c3 on n3", ["ip", "netns", "exec", "t1-c3", "true"]],
    ["n3/c3", "container c3 on n3", ["ip", "netns", "exec", "t1-c3", "true"]],
    ["inet", "the internet", ["ip", "netns", "exec", "t1-inet", "true"]],
  ])("exec target %s", async (target, what, prefix) => {
    await labUp(opts(), deps());
    const t = execTarget(root, readState(root, "t1"), target, ["true"]);
    expect(t.what).toBe(what);
    expect(t.argv.slice(0, prefix.length)).toEqual(prefix);
    expect(t.argv.at(-1)).toBe("true");
  });

  it("exec target errors list what exists", async () => {
    await labUp(opts(), deps());
    expect(() => execTarget(root, readState(root, "t1"), "n1/c3", ["true"])).toThrow(/no node or container 'n1\/c3'/);
  });

  it("resolveLabName: --name, else 'ciab', else the only lab", async () => {
    expect(resolveLabName(root, undefined)).toBe("ciab");
    await labUp(opts({ name: "x" }), deps());
    expect(resolveLabName(root, undefined)).toBe("x");
    await labUp(opts({ name: "y" }), deps());
    expect(() => resolveLabName(root, undefined)).toThrow(/2 labs/);
    expect(resolveLabName(root, "y")).toBe("y");
    expect(() => resolveLabName(root, "Y-")).toThrow(CiabError);
  });

  it("the fake kernel answers like ip(8) (sanity of the test double)", async () => {
    expect(await k.run(["ip", "netns", "list"])).toEqual(ok(""));
  });
});
