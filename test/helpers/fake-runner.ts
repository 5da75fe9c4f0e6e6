// A fake command runner for lab orchestration tests: records every argv and simulates just enough of a kernel
// (the set of network namespaces, processes in them, routes a routing daemon installed) to drive labUp/labDown.
import type { Runner, RunOptions, RunResult } from "../../src/adapters/exec.js";
import type { Mesh } from "../../src/model/mesh.js";
import { topology } from "../../src/model/topology.js";

export type Reply = (argv: string[], opts?: RunOptions) => RunResult | undefined | Promise<RunResult | undefined>;

export const ok = (stdout = ""): RunResult => ({ code: 0, stdout, stderr: "" });
export const fail = (stderr = "failed", code = 1): RunResult => ({ code, stdout: "", stderr });

export class FakeKernel {
  calls: { argv: string[]; input?: string }[] = [];
  namespaces = new Set<string>();
  /** PIDs per namespace; `kill -TERM/-KILL` removes them. */
  pids = new Map<string, number[]>();
  /** Processes outside the lab that exist (answers `kill -0`). */
  alive = new Set<number>();
  /** Routes (destinations) the fake routing daemon installs in every node namespace. */
  routes: string[] = [];
  /** Tried in order before the built-in behaviour; return undefined to fall through. */
  replies: Reply[] = [];

  run: Runner = async (argv, opts) => {
    this.calls.push({ argv, ...(opts?.input !== undefined ? { input: opts.input } : {}) });
    for (const r of this.replies) {
      const res = await r(argv, opts);
      if (res) return res;
    }
    return this.builtin(argv);
  };

  private builtin(argv: string[]): RunResult {
    const [a, b, c, d] = argv;
    if (a === "ip" && b === "netns") {
      if (c === "list") return ok([...this.namespaces].map((n) => `${n} (id: 0)`).join("\n"));
      if (c === "add") {
        if (this.namespaces.has(d as string)) return fail(`Cannot create namespace file "/run/netns/${d}": File exists`);
        this.namespaces.add(d as string);
        return ok();
      }
      if (c === "del") {
        this.namespaces.delete(d as string);
        this.pids.delete(d as string);
        return ok();
      }
      if (c === "pids") return ok((this.pids.get(d as string) ?? []).join("\n"));
    }
    if (a === "kill") {
      const sig = b;
      if (sig === "-0") return this.alive.has(Number(c)) ? ok() : fail("No such process");
      const targets = argv.slice(2).map(Number);
      if (sig === "-TERM" || sig === "-KILL")
        for (const [ns, list] of this.pids)
          this.pids.set(
            ns,
            list.filter((p) => !targets.includes(p)),
          );
      return ok();
    }
    if (a === "ip" && b === "-n" && argv.includes("-j") && argv.includes("route")) {
      const v6 = argv.includes("-6");
      return ok(JSON.stringify(this.routes.filter((r) => r.includes(":") === v6).map((dst) => ({ dst }))));
    }
    return ok();
  }

  /** Commands whose argv contains all of the given words, in order of calls. */
  find(...words: string[]): string[][] {
    return this.calls.map((c) => c.argv).filter((argv) => words.every((w) => argv.includes(w)));
  }
}

/**
 * Replies of a healthy mesh for the lab's readiness probes (src/lab/ready.ts): every WireGuard peer has a handshake,
 * every BGP neighbor is Established, every ping answers. `meshOf(lab)` reads the lab's mesh when a probe comes;
 * node i is the one in namespace "<lab>-n<i>".
 */
export function healthyMesh(meshOf: (lab: string) => Mesh): Reply {
  return (argv) => {
    const ns = argv[0] === "ip" && argv[1] === "netns" && argv[2] === "exec" ? (argv[3] as string) : "";
    const m = /^(.*)-n(\d+)$/.exec(ns);
    const mesh = () => meshOf(m?.[1] ?? "");
    const node = () => (m ? mesh().nodes[Number(m[2]) - 1] : undefined);
    if (argv.includes("wg") && argv.includes("dump")) {
      const n = node();
      if (!n) return undefined;
      const peers = topology(mesh())
        .node(n)
        .peers.map((p) => `${p.publicKey}\t(none)\t198.18.0.1:51820\t${p.vtep}/32\t1700000000\t100\t100\toff`);
      return ok(["key\tpub\t51820\toff", ...peers].join("\n"));
    }
    if (argv.includes("show bgp summary json")) {
      const n = node();
      if (!n) return undefined;
      const peers = Object.fromEntries(
        topology(mesh())
          .node(n)
          .bgpNeighbors.map((b) => [b.node.overlayIPv4 as string, { state: "Established" }]),
      );
      return ok(JSON.stringify({ ipv4Unicast: { peers } }));
    }
    const i = argv.indexOf("ciab-ready");
    if (i >= 0)
      return ok(
        argv
          .slice(i + 1)
          .map((a) => `ok ${a}\n`)
          .join(""),
      );
    return undefined;
  };
}
