// End to end, real daemons: `ciab lab` with 3 nodes, BGP, one route reflector, driven through the CLI as a user
// would: up, test (full matrix, sessions, routes proto bgp, no flooding, MTU boundary, no fragments), exec,
// status, down, and nothing left. Namespaces are named after a per-run lab name; skips unless root with
// wireguard-go and FRR.
import { spawn, spawnSync } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import type { LabTestReport } from "../../src/lab/checks.js";
import { CLI } from "../helpers/env.js";
import { oneDocument } from "../helpers/json-contract.js";
import { alive, expectNothingLeft, labReady, uniqueLab } from "../helpers/lab.js";

const ciab = (args: string[], timeout = 180_000) => {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout, env: { ...process.env, NO_COLOR: "1" } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
};
const pidsOf = (name: string) => {
  const nss = spawnSync("ip", ["netns", "list"], { encoding: "utf8" })
    .stdout.split("\n")
    .map((l) => l.split(" ")[0] as string)
    .filter((n) => n.startsWith(`${name}-`));
  return nss.flatMap((ns) => spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8" }).stdout.split("\n").filter(Boolean).map(Number));
};

describe.skipIf(!labReady())("ciab lab: 3 nodes, BGP, one reflector (CLI)", () => {
  const name = uniqueLab("eb");
  let pids: number[] = [];
  afterAll(() => {
    // whatever happened above, the lab goes
    if (pidsOf(name).length || spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout.includes(`${name}-`)) ciab(["lab", "down", "--name", name]);
  });

  it("lab up builds it and reports its phases on stderr (-v)", () => {
    const r = ciab(["lab", "up", "-v", "--name", name, "--nodes", "3", "--routing", "bgp", "--reflectors", "1"]);
    expect(r.stderr).toContain("routing converged");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`lab ${name} is up`);
    pids = pidsOf(name);
    expect(pids.length).toBeGreaterThan(6); // wireguard-go + FRR daemons on 3 nodes
  }, 180_000);

  it("lab test: full matrix and every check passes", () => {
    const r = ciab(["lab", "test", "--name", name, "--json"]);
    const report = oneDocument(r.stdout, "ciab/lab-test/v1") as unknown as LabTestReport;
    const failed = report.checks.filter((c) => c.status === "fail");
    expect(failed, JSON.stringify(failed, null, 2)).toEqual([]);
    expect(r.code).toBe(0);
    expect(report.containers.map((c) => [c.name, c.node, c.addresses])).toEqual([
      ["c1", "n1", ["10.0.1.2/24"]],
      ["c2", "n2", ["10.0.2.2/24"]],
      ["c3", "n3", ["10.0.3.2/24"]],
    ]);
    expect(report.matrix).toHaveLength(6);
    expect(report.matrix.every((p) => p.ok)).toBe(true);
    const names = report.checks.map((c) => `${c.name}:${c.status}`);
    expect(names).toEqual(
      expect.arrayContaining([
        "routing sessions on n1:pass",
        "routing sessions on n2:pass",
        "routing sessions on n3:pass",
        "routes learned:pass",
        "no unicast flooding:pass",
        "MTU boundary c1->c2:pass",
        "no IP fragments:pass",
      ]),
    );
  }, 120_000);

  it("lab test prints the matrix for people", () => {
    const r = ciab(["lab", "test", "--name", name]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/c1 +- +ok +ok/);
    expect(r.stdout).toContain("all checks passed");
  }, 120_000);

  it("lab exec runs on a node with its own daemons, and in containers", () => {
    const routes = ciab(["lab", "exec", "--name", name, "n2", "--", "ip", "-j", "route", "show", "proto", "bgp"]);
    expect((JSON.parse(routes.stdout) as { dst: string }[]).map((x) => x.dst).sort()).toEqual(["10.0.1.0/24", "10.0.3.0/24"]);
    // wg talks to n2's own wireguard-go (private /run/wireguard): its listening port and 2 peers
    const wg = ciab(["lab", "exec", "--name", name, "n2", "--", "wg", "show", name, "peers"]);
    expect(wg.stdout.trim().split("\n")).toHaveLength(2);
    expect(ciab(["lab", "exec", "--name", name, "c1", "--", "ping", "-c1", "-w5", "10.0.3.2"]).code).toBe(0);
    expect(ciab(["lab", "exec", "--name", name, "n1", "--", "sh", "-c", "exit 3"]).code).toBe(3);
  }, 60_000);

  it("lab status lists nodes, namespaces and processes", () => {
    const r = ciab(["lab", "status", "--name", name, "--json"]);
    const s = oneDocument(r.stdout, "ciab/lab-status/v1") as unknown as { phase: string; namespaces: { exists: boolean }[]; nodes: unknown[] };
    expect(s.phase).toBe("up");
    expect(s.nodes).toHaveLength(3);
    expect(s.namespaces.every((n) => n.exists)).toBe(true);
  });

  it("lab down leaves nothing: no namespace, no process, no state", async () => {
    const r = ciab(["lab", "down", "--name", name, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(oneDocument(r.stdout, "ciab/lab-down/v1").name).toBe(name);
    await expectNothingLeft(name, [...pids, ...pidsOf(name)]);
  }, 120_000);
});

describe.skipIf(!labReady())("ciab lab: Ctrl-C during lab up", () => {
  it("Ctrl-C (SIGINT to the process group, twice) while bundles are applied tears down what was built", async () => {
    const name = uniqueLab("ei");
    // its own process group, like a foreground job: a terminal's Ctrl-C signals the whole group
    const child = spawn(process.execPath, [CLI, "lab", "up", "-v", "--name", name, "--nodes", "2"], { stdio: ["ignore", "pipe", "pipe"], detached: true });
    const ctrlC = () => {
      try {
        process.kill(-(child.pid as number), "SIGINT");
      } catch {
        /* the group is already gone */
      }
    };
    let stderr = "";
    let seen: number[] = [];
    const exited = new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? -1)));
    let armed = false;
    await new Promise<void>((resolve) => {
      child.stderr.on("data", (b: Buffer) => {
        stderr += b.toString();
        // interrupt once the daemons are being started: the worst moment
        if (!armed && stderr.includes("applying bundles")) {
          armed = true;
          setTimeout(() => {
            seen = pidsOf(name);
            ctrlC();
            setTimeout(ctrlC, 500); // impatient user: the teardown must go on
            resolve();
          }, 300);
        }
      });
      child.on("exit", () => resolve());
    });
    const code = await exited;
    expect(stderr).toContain("SIGINT: stopping and tearing down");
    expect(stderr).toContain("lab up interrupted by SIGINT");
    expect(code).not.toBe(0);
    await expectNothingLeft(name, [...seen, ...pidsOf(name)]);
    expect(seen.every((p) => !alive(p))).toBe(true);
  }, 120_000);
});
