// `ciab lab …`: a whole mesh on this machine, in network namespaces, on real daemons. Thin: parse, call lab/*,
// print; Ctrl-C during `lab up` aborts the work, and lab/ tears down what was built before the error is reported.
import type { Command } from "commander";
import { spawnRunner } from "../adapters/exec.js";
import { type LabTestReport, labTest } from "../lab/checks.js";
import { type ContainerProvider, providerOf } from "../lab/containers.js";
import { execTarget, labDown, labEtcd, labJoin, labStatus, labUp, resolveLabName } from "../lab/lab.js";
import { DEFAULT_LAB, UNDERLAYS, type Underlay } from "../lab/plan.js";
import { LAB_ROOT, readState } from "../lab/state.js";
import { CiabError, usage } from "../model/errors.js";
import type { Routing } from "../model/mesh.js";
import { globals } from "./context.js";
import { detail, info, json, out, progressLine, verbosity } from "./output.js";
import { randomSource } from "./random.js";

const root = () => process.env.CIAB_LAB_ROOT ?? LAB_ROOT;

function needRoot(): void {
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    throw new CiabError("usage", "ciab lab needs root (it creates network namespaces and runs WireGuard and routing daemons)", { hint: "run it with sudo" });
  }
}

const int = (flag: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw usage(`${flag} '${v}' must be a whole number`);
  return Number(v);
};

/** Container providers by kind: `lab up` picks one (--lxd), `lab down` the one the lab's state names. */
function provider(kind: string): ContainerProvider {
  const p = providerOf(kind);
  if (!p) throw usage(`unknown container provider '${kind}'`, "containers are network namespaces (default) or LXD (--lxd)");
  return p;
}

/** Abort `work` on SIGINT/SIGTERM; the lab tears down before the error is reported, so a second signal only waits. */
async function interruptible<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (ac.signal.aborted) {
      info(`ciab lab: ${sig} again: still tearing down, please wait`);
      return;
    }
    info(`ciab lab: ${sig}: stopping and tearing down what was built`);
    ac.abort(`interrupted by ${sig}`);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    return await work(ac.signal);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/**
 * The phases of `lab up` and `lab join` (each says when it started, "[ 12.3s] …"): one progress line on a terminal,
 * every phase as a line of its own with -v, nothing otherwise (the result line says how long it took).
 */
function phases(): { say: (msg: string) => void; end: () => void } {
  if (verbosity() === "verbose") return { say: (m) => detail(m), end: () => {} };
  const line = progressLine({ afterMs: 0 });
  return { say: (m) => line.update(m), end: () => line.end() };
}

function printReport(r: LabTestReport): void {
  for (const c of r.containers) out(`${c.name}: container on node ${c.node}, ${c.addresses.join(" ")}`);
  const names = r.containers.map((c) => c.name);
  const w = Math.max(4, ...names.map((n) => n.length)) + 2;
  const cell = (from: string, to: string) => {
    if (from === to) return "-";
    const ps = r.matrix.filter((p) => p.from === from && p.to === to);
    if (ps.length === 0) return "";
    return ps.every((p) => p.ok) ? "ok" : "FAIL";
  };
  if (names.length > 1) {
    out("reachability (ping from row to column):");
    out(`${"".padEnd(w)}${names.map((n) => n.padStart(w)).join("")}`);
    for (const a of names) out(`${`  ${a}`.padEnd(w)}${names.map((b) => cell(a, b).padStart(w)).join("")}`);
    for (const p of r.matrix.filter((x) => !x.ok)) out(`  FAIL ${p.from} -> ${p.to} (${p.address})`);
  }
  out("checks:");
  const nw = Math.max(...r.checks.map((c) => c.name.length));
  for (const c of r.checks) out(`  ${c.status.toUpperCase().padEnd(4)}  ${c.name.padEnd(nw)}  ${c.detail}`);
  const failed = r.checks.filter((c) => c.status === "fail").length;
  out(`lab ${r.lab}: ${failed === 0 ? "all checks passed" : `${failed} check(s) FAILED`} (${r.seconds} s)`);
}

export function registerLabCommands(program: Command): void {
  const lab = program.command("lab").description("a whole mesh on this machine: network namespaces, real WireGuard and routing daemons, containers");

  lab
    .command("up")
    .description("build a lab and apply every node's bundle (bin/ciab-up) in it")
    .option("--name <lab>", "lab name: prefixes its namespaces, so labs can run side by side", DEFAULT_LAB)
    .option("--nodes <n>", "a new mesh of n nodes (n1…nN, subnets 10.0.N.0/24) (default: 3)")
    .option("--mesh <file>", "use this mesh file instead; its endpoints are replaced by lab addresses")
    .option("--routing <routing>", "bgp | ospf | none (default: bgp, or the mesh file's)")
    .option("--reflectors <k>", "the first k nodes are BGP route reflectors (default for --nodes: 1)")
    .option("--underlay <family>", "the emulated internet: 4, 6 or dual", "4")
    .option("--rate <rate>", "shape the internet's links with tbf, e.g. 100mbit")
    .option("--lxd", "containers are real LXD containers (one LXD daemon per node)")
    .option("--registry <kind>", "etcd: the mesh lives in a real etcd (own namespace, auth on); nodes join with tokens and run 'ciab agent'")
    .option("--standby <k>", "with --registry: the last k nodes are built but join only on 'ciab lab join NODE'")
    .option("--json", "print the lab's state as JSON")
    .action(
      async (o: {
        name: string;
        nodes?: string;
        mesh?: string;
        routing?: string;
        reflectors?: string;
        underlay: string;
        rate?: string;
        lxd?: boolean;
        registry?: string;
        standby?: string;
        json?: boolean;
      }) => {
        needRoot();
        if (o.registry !== undefined && o.registry !== "etcd") throw usage(`--registry '${o.registry}': the lab knows etcd`, "ciab lab up --registry etcd");
        if (o.routing !== undefined && !["bgp", "ospf", "none"].includes(o.routing)) throw usage(`--routing '${o.routing}' must be bgp, ospf or none`);
        if (!UNDERLAYS.includes(o.underlay as Underlay)) throw usage(`--underlay '${o.underlay}' must be 4, 6 or dual`);
        if (o.rate !== undefined && !/^\d+(\.\d+)?[kmg]?(bit|bps)$/i.test(o.rate)) throw usage(`--rate '${o.rate}' is not a tc rate`, "e.g. 100mbit");
        const said = phases();
        const state = await interruptible((signal) =>
          labUp(
            {
              name: o.name,
              nodes: int("--nodes", o.nodes),
              mesh: o.mesh,
              routing: o.routing as Routing | undefined,
              reflectors: int("--reflectors", o.reflectors),
              underlay: o.underlay as Underlay,
              rate: o.rate,
              ...(o.registry ? { registry: "etcd" as const, standby: int("--standby", o.standby) } : {}),
              random: randomSource(),
            },
            { run: spawnRunner, root: root(), progress: said.say, provider: provider(o.lxd ? "lxd" : "netns"), signal },
          ),
        ).finally(said.end);
        if (o.json) json(state);
        else out(`lab ${state.name} is up in ${state.upSeconds} s. Next: ciab lab test${state.name === DEFAULT_LAB ? "" : ` --name ${state.name}`}`);
      },
    );

  lab
    .command("join <node>")
    .description("a standby node of a registry lab joins: token, 'ciab join' on the node, its agent; waits until the lab is ready")
    .option("--name <lab>", "which lab")
    .option("--json", "print the lab's state as JSON")
    .action(async (node: string, o: { name?: string; json?: boolean }) => {
      needRoot();
      const said = phases();
      const state = await labJoin(resolveLabName(root(), o.name), node, { run: spawnRunner, root: root(), progress: said.say }).finally(said.end);
      if (o.json) json(state);
      else out(`node ${node} joined lab ${state.name}: ${state.registry?.joined.length} node(s) in the mesh`);
    });

  lab
    .command("etcd <action>")
    .description("stop (kill) or start the etcd of a registry lab: the data plane must keep running without it")
    .option("--name <lab>", "which lab")
    .action(async (action: string, o: { name?: string }, cmd: Command) => {
      needRoot();
      if (action !== "stop" && action !== "start") throw usage(`'${action}': give stop or start`);
      const name = resolveLabName(root(), o.name);
      await labEtcd(name, action, { run: spawnRunner, root: root(), progress: info });
      if (globals(cmd).json) json({ lab: name, etcd: action === "stop" ? "stopped" : "started" });
    });

  lab
    .command("test")
    .description("reachability matrix and checks (sessions, learned routes, flooding, MTU); exit 9 when any fails")
    .option("--name <lab>", "which lab")
    .option("--json", "machine-readable report")
    .action(async (o: { name?: string; json?: boolean }) => {
      needRoot();
      const report = await labTest(resolveLabName(root(), o.name), { run: spawnRunner, root: root() });
      if (o.json) json(report);
      else printReport(report);
      if (!report.ok) throw new CiabError("degraded", `lab ${report.lab}: ${report.checks.filter((c) => c.status === "fail").length} check(s) failed`);
    });

  lab
    .command("exec")
    .description("run a command on a node (its namespace and private /etc/frr, /run/wireguard …), in a container (c1 or NODE/c1), or in 'inet'")
    .option("--name <lab>", "which lab")
    .argument("<target>", "node name, container (c1, NODE/c1), or inet")
    .argument("[command...]", "the command (default: sh); put it after --")
    .passThroughOptions()
    .action(async (target: string, command: string[], o: { name?: string }, cmd: Command) => {
      needRoot();
      const name = resolveLabName(root(), o.name);
      // passThroughOptions keeps the "--" that separates ciab's options from the command's
      const argv = command[0] === "--" ? command.slice(1) : command;
      const t = execTarget(root(), readState(root(), name), target, argv.length ? argv : ["sh"]);
      if (globals(cmd).json) {
        // The command's output is captured into the one document (no terminal: `sh` would read nothing).
        const r = await spawnRunner(t.argv);
        json({ ok: r.code === 0, lab: name, target, argv: t.argv, exitCode: r.code, stdout: r.stdout, stderr: r.stderr });
        if (r.code !== 0) process.exitCode = r.code;
        return;
      }
      const r = await spawnRunner(t.argv, { inherit: true });
      if (r.code !== 0) {
        if (r.code === 127 && r.stderr) process.stderr.write(r.stderr);
        process.exitCode = r.code;
      }
    });

  lab
    .command("status")
    .description("the lab's nodes, containers, namespaces and processes")
    .option("--name <lab>", "which lab")
    .option("--json", "machine-readable")
    .action(async (o: { name?: string; json?: boolean }) => {
      needRoot();
      const s = await labStatus(resolveLabName(root(), o.name), { run: spawnRunner, root: root() });
      if (o.json) {
        json(s);
        return;
      }
      out(
        `lab ${s.name}: ${s.phase}${s.upSeconds !== undefined ? ` (up in ${s.upSeconds} s)` : ""}, network ${s.network}, containers: ${s.provider}, since ${s.startedAt}`,
      );
      for (const n of s.nodes) {
        out(
          `  ${n.name.padEnd(10)} ${n.ns.padEnd(14)} ${n.underlay.join(" ").padEnd(36)} ${n.containers.map((c) => `${c.name} ${c.addresses.join(" ")}`).join(", ")}`,
        );
      }
      const missing = s.namespaces.filter((n) => !n.exists).map((n) => n.name);
      out(
        `  namespaces: ${s.namespaces.length}${missing.length ? ` (MISSING: ${missing.join(", ")})` : ""}; processes: ${s.namespaces.reduce((a, n) => a + n.pids, 0)}`,
      );
    });

  lab
    .command("down")
    .description("stop every daemon of the lab, delete its namespaces and files")
    .option("--name <lab>", "which lab")
    .option("--json", "machine-readable")
    .action(async (o: { name?: string; json?: boolean }) => {
      needRoot();
      const name = resolveLabName(root(), o.name);
      const state = readState(root(), name);
      const r = await labDown(name, { run: spawnRunner, root: root(), progress: info, provider: provider(state.provider) });
      if (o.json) json({ ok: true, ...r });
      else for (const w of r.warnings) info(`warning: ${w}`);
    });
}
