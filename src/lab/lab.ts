// `ciab lab up/down/status/exec`: builds a mesh in network namespaces on this machine, applies every node's rendered
// bundle with the bundle's own bin/ciab-up (the code users run), and tears it all down again.
// Owns: the order of work, tracking of what was created (state.json, written as it goes), rollback after a failure
// or an abort, and teardown by PID and namespace. Must not: touch the root namespace (all network commands are
// namespaced, see topology.ts), use a mesh file's real endpoints (mesh.ts rewrites them), kill anything except the
// processes inside this lab's own namespaces, or print (progress goes through a callback; cli/ prints).

import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { writeBundle } from "../adapters/bundle-fs.js";
import { type Runner, runOk, tail } from "../adapters/exec.js";
import type { Random } from "../model/edit.js";
import { CiabError, notFound, usage } from "../model/errors.js";
import { type Mesh, meshFromDoc, type Routing } from "../model/mesh.js";
import { dumpToml, type TomlTable } from "../model/toml.js";
import { topology } from "../model/topology.js";
import { loadMesh, meshRef } from "../registry/file.js";
import { bundleRenderer, checkRenderable, sha256 } from "../render/bundle.js";
import { type ContainerProvider, type LabContainer, netnsProvider, type ProviderContext, providerOf, runSteps } from "./containers.js";
import { labifyMesh, newLabMesh } from "./mesh.js";
import { checkLabName, type LabPlan, type NodePlan, planLab, planNamespaces, type Underlay } from "./plan.js";
import { inNs, onNode, PRIVATE_DIRS, runSubdir } from "./private.js";
import { waitReady } from "./ready.js";
import {
  admin,
  emptyMeshText,
  enableEtcdAuth,
  etcdLinkSteps,
  joinedView,
  joinNode,
  labRegistry,
  type RegistryLabContext,
  startEtcd,
  stopEtcd,
  waitAgents,
} from "./registry-lab.js";
import {
  createLabDir,
  LAB_ROOT,
  type LabPaths,
  type LabRegistry,
  type LabState,
  labPaths,
  listLabs,
  readState,
  removeLabDir,
  removeRootIfEmpty,
  writeState,
} from "./state.js";
import { inetSteps, nodeSteps } from "./topology.js";

// Moved to ready.ts; re-exported for the checks and tests that import them from here.
export { kernelProto, missingRoutes, routesOf } from "./ready.js";

export interface LabDeps {
  run: Runner;
  /** Where labs keep their state (default /run/ciab-lab). */
  root?: string;
  progress?: (msg: string) => void;
  /** Containers: network namespaces by default; the `--lxd` provider plugs in here. */
  provider?: ContainerProvider;
  /** Aborting (Ctrl-C) stops the work; `labUp` then tears down what it built and throws. */
  signal?: AbortSignal;
  /** Test hook: runs after a node's bundle is written and before it is applied (e.g. to break it on purpose). */
  beforeApply?: (node: string, bundleDir: string) => void | Promise<void>;
  /** How long routing may take to converge (default 60 s). */
  convergeMs?: number;
  /** argv of the ciab CLI that registry labs run on their nodes (default: this process's). */
  ciab?: string[];
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface LabUpOptions {
  name: string;
  /** Build a new mesh of this many nodes … */
  nodes?: number;
  /** … or adapt this mesh file (its endpoints are replaced by lab addresses). */
  mesh?: string;
  routing?: Routing;
  reflectors?: number;
  underlay?: Underlay;
  /** tbf rate on the internet's links (tc syntax, e.g. 100mbit). */
  rate?: string;
  /** The mesh lives in etcd (registry-lab.ts): nodes join with tokens and run agents instead of bundles. */
  registry?: "etcd";
  /** With a registry: the last K nodes are built but join only on `ciab lab join NODE`. */
  standby?: number;
  random: Random;
}

const APPLY_TIMEOUT_MS = 120_000;
const DOWN_TIMEOUT_MS = 20_000;
const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Read the lab's mesh file back (validated), e.g. for checks. */
export function loadLabMesh(state: LabState): Mesh {
  return loadMesh(meshRef(state.meshFile)).mesh;
}

function abortError(signal: AbortSignal): CiabError {
  const why = typeof signal.reason === "string" ? signal.reason : "interrupted";
  return new CiabError("external", `lab up ${why}`);
}

/** Build the lab's mesh document and the validated mesh; no side effects. */
export function labMesh(opts: LabUpOptions): { doc: TomlTable; mesh: Mesh; warnings: string[] } {
  const underlay = opts.underlay ?? "4";
  const common = { routing: opts.routing, reflectors: opts.reflectors, underlay };
  let doc: TomlTable;
  let net: string;
  let warnings: string[] = [];
  if (opts.mesh !== undefined) {
    if (opts.nodes !== undefined) throw usage("give either --nodes or --mesh, not both");
    const loaded = loadMesh(meshRef(opts.mesh));
    net = loaded.mesh.name;
    doc = loaded.doc;
    warnings = labifyMesh(doc, net, common, opts.random);
  } else {
    net = opts.name;
    doc = newLabMesh(net, opts.nodes ?? 3, common, opts.random);
  }
  const mesh = meshFromDoc(net, doc, { file: `(lab ${opts.name}) ${net}.conf` });
  checkRenderable(topology(mesh));
  return { doc, mesh, warnings: [...warnings, ...mesh.warnings] };
}

/** Names of the namespaces that exist now. */
async function existingNamespaces(run: Runner): Promise<Set<string>> {
  const r = await runOk(run, ["ip", "netns", "list"]);
  return new Set(
    r.stdout
      .split("\n")
      .map((l) => l.split(" ")[0] as string)
      .filter(Boolean),
  );
}

class Builder {
  readonly started: number;
  readonly state: LabState;
  readonly progress: (msg: string) => void;
  readonly now: () => number;

  constructor(
    readonly deps: LabDeps,
    readonly paths: LabPaths,
    readonly plan: LabPlan,
    public mesh: Mesh,
    readonly provider: ContainerProvider,
    /** A lab that is up already (`lab join`): go on from its state. */
    state?: LabState,
  ) {
    this.now = deps.now ?? Date.now;
    this.started = this.now();
    const progress = deps.progress ?? (() => {});
    this.progress = (msg) => progress(`[${((this.now() - this.started) / 1000).toFixed(1).padStart(5)}s] ${msg}`);
    this.state = state ?? {
      version: 1,
      name: plan.name,
      phase: "building",
      builder: process.pid,
      startedAt: new Date(this.started).toISOString(),
      provider: provider.kind,
      network: mesh.name,
      meshFile: paths.mesh(mesh.name),
      plan,
      namespaces: [],
      containers: [],
      pids: {},
    };
  }

  save(): void {
    writeState(this.paths, this.state);
  }

  checkAbort(): void {
    if (this.deps.signal?.aborted) throw abortError(this.deps.signal);
  }

  async addNamespace(ns: string): Promise<void> {
    this.checkAbort();
    await runOk(this.deps.run, ["ip", "netns", "add", ns], { signal: this.deps.signal });
    await this.track(ns);
  }

  async track(ns: string): Promise<void> {
    if (!this.state.namespaces.includes(ns)) this.state.namespaces.push(ns);
    this.save();
  }

  providerContext(): ProviderContext {
    return {
      run: this.deps.run,
      plan: this.plan,
      track: (ns) => this.track(ns),
      nodeDir: (node) => this.paths.nodeDir(node),
      labDir: this.paths.dir,
      progress: this.progress,
      signal: this.deps.signal,
    };
  }

  /** Each node's private /run, /var/log, /etc/frr …, owned as the daemons expect (FINDINGS §5 A). */
  async privateDirs(): Promise<void> {
    const byOwner = new Map<string, string[]>();
    const inRun = runSubdir(this.paths.root);
    for (const n of this.plan.nodes) {
      const root = this.paths.privateRoot(n.name);
      for (const d of PRIVATE_DIRS) {
        const path = join(root, d.dir);
        mkdirSync(path, { recursive: true, mode: d.mode });
        chmodSync(path, d.mode);
        if (d.owner !== "root") byOwner.set(d.owner, [...(byOwner.get(d.owner) ?? []), path]);
      }
      // the mount point where the lab root reappears inside the node's private /run
      if (inRun) mkdirSync(join(root, "run", inRun), { recursive: true });
    }
    // A user that does not exist (FRR or BIRD not installed) is fine until a bundle needs that daemon.
    for (const [owner, dirs] of byOwner) await this.deps.run(["chown", `${owner}:${owner}`, ...dirs]);
  }

  async network(): Promise<void> {
    const { run, signal } = this.deps;
    await this.addNamespace(this.plan.inetNs);
    await runSteps(run, inetSteps(this.plan), signal);
    this.progress(
      `internet ${this.plan.inetNs}: routes 198.18.0.0/15 and 2001:db8::/32, drops IP fragments${this.plan.rate ? `, rate ${this.plan.rate}` : ""}`,
    );
    const ctx = this.providerContext();
    for (const n of this.plan.nodes) {
      await this.addNamespace(n.ns);
      await runSteps(run, nodeSteps(this.plan, n), signal);
      this.checkAbort();
      const made = await this.provider.up(ctx, n);
      this.state.containers.push(...made);
      this.save();
      const cs = made.map((c) => `${c.name} ${c.addresses.join(" ")}`).join(", ");
      this.progress(
        `node ${n.name} (${n.ns}): underlay ${[n.underlay.v4?.addr, n.underlay.v6?.addr].filter(Boolean).join(" ")}${cs ? `; container ${cs} mtu ${n.containerMTU}` : ""}`,
      );
    }
  }

  registryContext(): RegistryLabContext {
    const reg = this.state.registry;
    if (!reg) throw new CiabError("internal", "not a registry lab");
    return {
      run: this.deps.run,
      plan: this.plan,
      paths: this.paths,
      reg,
      ciab: this.deps.ciab ?? [process.execPath, process.argv[1] as string],
      progress: this.progress,
      signal: this.deps.signal,
    };
  }

  /** etcd in its namespace, auth on, the mesh's settings imported (no nodes); then the nodes join one by one. */
  async registry(doc: TomlTable): Promise<void> {
    const c = this.registryContext();
    await this.addNamespace(c.reg.ns);
    await runSteps(this.deps.run, etcdLinkSteps(this.plan), this.deps.signal);
    await startEtcd(c);
    await enableEtcdAuth(c);
    this.save();
    const empty = join(this.paths.dir, "etcd", `${this.mesh.name}.empty.conf`);
    writeFileSync(empty, emptyMeshText(doc), { mode: 0o600 });
    mkdirSync(dirname(designFile(this.paths, this.mesh.name)), { recursive: true, mode: 0o700 });
    writeFileSync(designFile(this.paths, this.mesh.name), dumpToml(doc), { mode: 0o600 });
    await admin(c, ["registry", "import", this.mesh.name, empty]);
    this.progress(`etcd ${c.reg.url} in ${c.reg.ns} (auth on, pid ${c.reg.pid}): network ${this.mesh.name} imported with no nodes`);
    for (const n of this.plan.nodes.filter((x) => !c.reg.standby.includes(x.name))) {
      this.checkAbort();
      await joinNode(c, n, this.mesh);
      this.save();
    }
    await this.agentsConverged();
  }

  /** Every joined node's agent applied the same mesh: it becomes the lab's mesh file (for `lab test` and checks). */
  async agentsConverged(): Promise<void> {
    const c = this.registryContext();
    const { mesh, text } = await waitAgents(c, this.mesh.name, this.deps.convergeMs ?? 60_000);
    writeFileSync(this.state.meshFile, text, { mode: 0o600 });
    this.mesh = mesh;
    this.progress(`agents on ${c.reg.joined.join(", ")} applied the same mesh`);
  }

  async bundles(meshText: string): Promise<void> {
    const digest = sha256(meshText);
    const topo = topology(this.mesh);
    const render = bundleRenderer(topo, digest);
    for (const node of this.mesh.nodes) {
      const dir = this.paths.bundle(node.name);
      writeBundle(dir, render(topo.node(node)));
      await this.deps.beforeApply?.(node.name, dir);
    }
  }

  /** Every node runs its bundle's bin/ciab-up at once (as a fleet would), through the node wrapper. */
  async apply(): Promise<void> {
    this.checkAbort();
    this.progress(`applying bundles (bin/ciab-up) on ${this.plan.nodes.map((n) => n.name).join(", ")}`);
    const results = await Promise.all(
      this.plan.nodes.map(async (n) => {
        const t0 = this.now();
        const r = await this.deps.run(onNode(n.ns, this.paths.privateRoot(n.name), this.paths.root, ["sh", `${this.paths.bundle(n.name)}/bin/ciab-up`]), {
          timeoutMs: APPLY_TIMEOUT_MS,
          signal: this.deps.signal,
        });
        writeFileSync(this.paths.log(n.name, "ciab-up"), `${r.stdout}${r.stderr}`);
        if (r.code === 0) this.progress(`node ${n.name}: ciab-up done in ${((this.now() - t0) / 1000).toFixed(1)} s`);
        return { n, r };
      }),
    );
    this.checkAbort();
    const failed = results.filter((x) => x.r.code !== 0);
    if (failed.length) {
      const f = failed[0] as (typeof failed)[number];
      const why = f.r.timedOut ? `timed out after ${APPLY_TIMEOUT_MS / 1000} s` : `exited with ${f.r.code}`;
      throw new CiabError(
        "external",
        `bin/ciab-up of node ${f.n.name} ${why}${failed.length > 1 ? ` (and on ${failed.length - 1} more node(s))` : ""}:\n${tail(`${f.r.stdout}${f.r.stderr}`)}`,
        {
          hint: `the bundle is ${this.paths.bundle(f.n.name)}; its output is in ${this.paths.log(f.n.name, "ciab-up")}`,
        },
      );
    }
  }

  /** Wait until the mesh works as users rely on it (ready.ts): handshakes, sessions, routes, an all-pairs ping. */
  async ready(): Promise<void> {
    const root = this.paths.root;
    const nodeNs = new Map(this.plan.nodes.map((n) => [n.name, n]));
    const view = joinedView(this.plan, this.state.containers, this.state.registry);
    await waitReady(
      {
        run: this.deps.run,
        plan: view.plan,
        mesh: this.mesh,
        containers: view.containers,
        onNode: (node, argv) => {
          const n = nodeNs.get(node);
          if (!n) throw new CiabError("invalid", `lab has no node ${node}`);
          return onNode(n.ns, this.paths.privateRoot(n.name), root, argv);
        },
      },
      {
        // A bigger mesh starts more daemons on the same cores: a second per node on top of a minute.
        timeoutMs: this.deps.convergeMs ?? 60_000 + 1000 * this.plan.nodes.length,
        now: this.now,
        sleep: this.deps.sleep ?? defaultSleep,
        progress: this.progress,
        aborted: () => this.checkAbort(),
      },
    );
    this.progress(
      "ready: every pair has a WireGuard handshake, every routing session is established, every node has every other node's subnets, every container reaches every other",
    );
  }

  async recordPids(): Promise<void> {
    for (const ns of this.state.namespaces) this.state.pids[ns] = await netnsPids(this.deps.run, ns);
  }
}

export async function netnsPids(run: Runner, ns: string): Promise<number[]> {
  const r = await run(["ip", "netns", "pids", ns]);
  if (r.code !== 0) return [];
  return r.stdout
    .split("\n")
    .map(Number)
    .filter((p) => Number.isInteger(p) && p > 0);
}

/**
 * Build a lab and bring its mesh up. On any failure or abort, tears down everything it built, then throws.
 * Returns the lab's state once routing has converged.
 */
export async function labUp(opts: LabUpOptions, deps: LabDeps): Promise<LabState> {
  checkLabName(opts.name);
  const root = deps.root ?? LAB_ROOT;
  const provider = deps.provider ?? netnsProvider;
  const { doc, mesh, warnings } = labMesh(opts);
  const plan = planLab(opts.name, mesh, { underlay: opts.underlay ?? "4", rate: opts.rate });
  for (const w of warnings) deps.progress?.(`warning: ${w}`);

  // Namespaces this lab will create must not exist: teardown deletes them, and they might be someone else's.
  const registry = opts.registry ? labRegistry(plan, opts.standby ?? 0) : undefined;
  if (!registry && opts.standby) throw usage("--standby goes with --registry etcd");
  const planned = [...planNamespaces(plan), ...plan.nodes.flatMap((n) => n.containers.map((c) => c.ns)), ...(registry ? [registry.ns] : [])];
  const existing = await existingNamespaces(deps.run);
  const taken = planned.filter((ns) => existing.has(ns));
  if (taken.length) {
    throw new CiabError("conflict", `network namespace(s) ${taken.join(", ")} already exist`, {
      hint: listLabs(root).includes(opts.name)
        ? `lab '${opts.name}' exists: ciab lab down --name ${opts.name}`
        : "choose another --name (they are not from a lab ciab knows, so ciab leaves them alone)",
    });
  }

  const paths = createLabDir(root, opts.name);
  const b = new Builder(deps, paths, plan, mesh, provider);
  if (registry) b.state.registry = registry;
  const text = dumpToml(doc);
  try {
    b.save();
    writeFileSync(paths.mesh(mesh.name), text, { mode: 0o600 });
    b.progress(
      `lab ${plan.name}: network ${mesh.name}, ${plan.nodes.length} node(s), routing ${mesh.network.routing}${mesh.network.routing === "none" ? "" : `/${mesh.network.routingDaemon}`}, containers: ${provider.kind}`,
    );
    await b.privateDirs();
    await b.network();
    if (opts.registry) await b.registry(doc);
    else {
      await b.bundles(text);
      await b.apply();
    }
    await b.ready();
    await b.recordPids();
    b.state.phase = "up";
    b.state.upSeconds = Math.round((b.now() - b.started) / 100) / 10;
    b.save();
    b.progress(`lab ${plan.name} is up: ${plan.nodes.length} node(s), ${b.state.containers.length} container(s)`);
    return b.state;
  } catch (e) {
    b.progress(`failed: ${(e as Error).message.split("\n")[0]}; tearing down what was built`);
    // The namespaces of the plan did not exist before this run, so any that exist now are ours even if tracking
    // missed them (an abort between `ip netns add` and the state write).
    const now = await existingNamespaces(deps.run).catch(() => new Set<string>());
    for (const ns of planned) if (now.has(ns) && !b.state.namespaces.includes(ns)) b.state.namespaces.push(ns);
    b.state.phase = "failed";
    b.save();
    const cleanup: LabDeps = { ...deps, signal: undefined };
    try {
      await labDown(opts.name, cleanup);
    } catch (d) {
      throw new CiabError("external", `${(e as Error).message}\nand the teardown failed too: ${(d as Error).message}`, {
        cause: e,
        hint: `run 'ciab lab down --name ${opts.name}' again`,
      });
    }
    if (deps.signal?.aborted) throw abortError(deps.signal);
    throw e;
  }
}

/** The mesh the lab was designed with (a registry lab's mesh file is what its agents applied); named NET.conf. */
const designFile = (p: LabPaths, net: string) => join(p.dir, "etcd", "design", `${net}.conf`);

function registryLab(root: string, name: string): { state: LabState; reg: LabRegistry; plan: LabPlan; paths: LabPaths } {
  const state = readState(root, name);
  const reg = state.registry;
  if (!reg || !state.plan) throw usage(`lab '${name}' keeps its mesh in a file, not in a registry`, "ciab lab up --registry etcd [--standby K]");
  if (state.phase !== "up") throw new CiabError("invalid", `lab '${name}' is not up (phase: ${state.phase})`);
  return { state, reg, plan: state.plan, paths: labPaths(root, name) };
}

/** `ciab lab join NODE`: a standby node of a registry lab joins (token, `ciab join`, its agent), then the lab is ready again. */
export async function labJoin(name: string, node: string, deps: LabDeps): Promise<LabState> {
  const root = deps.root ?? LAB_ROOT;
  const { state, reg, plan, paths } = registryLab(root, name);
  const n = plan.nodes.find((x) => x.name === node);
  if (!n) throw notFound(`lab '${name}' has no node '${node}'`, { hint: `nodes: ${plan.nodes.map((x) => x.name).join(", ")}` });
  if (!reg.standby.includes(node))
    throw new CiabError("conflict", `node '${node}' has joined already`, { hint: `standby nodes: ${reg.standby.join(", ") || "none"}` });
  const design = loadMesh(meshRef(designFile(paths, state.network))).mesh;
  const b = new Builder(deps, paths, plan, loadLabMesh(state), deps.provider ?? providerOf(state.provider) ?? netnsProvider, state);
  await joinNode(b.registryContext(), n, design);
  b.save();
  await b.agentsConverged();
  await b.ready();
  b.save();
  return b.state;
}

/** `ciab lab etcd stop|start`: kill the lab's etcd (by PID, in its namespace), or start it again on its data. */
export async function labEtcd(name: string, action: "stop" | "start", deps: LabDeps): Promise<LabState> {
  const root = deps.root ?? LAB_ROOT;
  const { state, reg, plan, paths } = registryLab(root, name);
  const c: RegistryLabContext = { run: deps.run, plan, paths, reg, ciab: [], progress: deps.progress ?? (() => {}) };
  if (action === "stop") await stopEtcd(c);
  else if (reg.pid === undefined) await startEtcd(c);
  writeState(paths, state);
  deps.progress?.(`etcd of lab ${name}: ${reg.pid === undefined ? "stopped" : `running (pid ${reg.pid})`}`);
  return state;
}

export interface DownReport {
  name: string;
  namespaces: string[];
  killed: number;
  warnings: string[];
}

async function killAll(run: Runner, namespaces: string[], sleep: (ms: number) => Promise<void>): Promise<number> {
  const pidsNow = async () => (await Promise.all(namespaces.map((ns) => netnsPids(run, ns)))).flat();
  let pids = await pidsNow();
  const total = new Set(pids);
  // CONT first: a SIGSTOPped daemon (fault injection) would otherwise keep SIGTERM pending forever.
  for (const [sig, rounds] of [
    ["TERM", 20],
    ["KILL", 20],
  ] as const) {
    for (let i = 0; i < rounds && pids.length; i++) {
      if (i % 5 === 0) {
        await run(["kill", "-CONT", ...pids.map(String)]);
        await run(["kill", `-${sig}`, ...pids.map(String)]);
      }
      await sleep(100);
      pids = await pidsNow();
      for (const p of pids) total.add(p);
    }
  }
  if (pids.length) throw new CiabError("external", `processes ${pids.join(" ")} in the lab's namespaces survive SIGKILL`);
  return total.size;
}

/** Tear a lab down: ciab-down on each node, the provider's down, every process in its namespaces, the namespaces, its files. */
export async function labDown(name: string, deps: LabDeps): Promise<DownReport> {
  const root = deps.root ?? LAB_ROOT;
  const { run } = deps;
  const state = readState(root, name);
  // kill -0 only asks whether the process exists
  if (state.phase === "building" && state.builder !== process.pid && (await run(["kill", "-0", String(state.builder)])).code === 0) {
    throw new CiabError("conflict", `lab '${name}' is being built by process ${state.builder}`, {
      hint: `interrupt that 'ciab lab up' (Ctrl-C, or kill -INT ${state.builder}): it tears down what it built`,
    });
  }
  const paths = labPaths(root, name);
  const sleep = deps.sleep ?? defaultSleep;
  const warnings: string[] = [];
  const existing = await existingNamespaces(run);
  const plan = state.plan;
  // Without a provider given, the one that made the lab's containers (its state names it) cleans them up.
  const provider = deps.provider ?? providerOf(state.provider) ?? netnsProvider;
  if (plan) {
    // The bundle's own ciab-down first (it is part of what users run), but its failure must not stop the teardown.
    await Promise.all(
      plan.nodes
        // A registry lab's nodes have no bundle: their agents die with the namespaces.
        .filter((n) => existing.has(n.ns) && state.namespaces.includes(n.ns) && !state.registry)
        .map(async (n) => {
          const r = await run(onNode(n.ns, paths.privateRoot(n.name), paths.root, ["sh", `${paths.bundle(n.name)}/bin/ciab-down`]), {
            timeoutMs: DOWN_TIMEOUT_MS,
          });
          if (state.phase === "up" && r.code !== 0) warnings.push(`node ${n.name}: ciab-down exited with ${r.code}: ${tail(r.stderr, 3)}`);
        }),
    );
    if (provider.kind !== state.provider)
      warnings.push(`the lab's containers are '${state.provider}' but the '${provider.kind}' provider was given: its own clean-up did not run`);
    else if (provider.down) {
      const down = provider.down.bind(provider);
      const ctx: ProviderContext = { run, plan, track: async () => {}, nodeDir: paths.nodeDir, labDir: paths.dir, progress: deps.progress ?? (() => {}) };
      // Nodes are independent (an LXD daemon each takes seconds to shut down), so all at once.
      await Promise.all(
        plan.nodes.map((n) =>
          down(
            ctx,
            n,
            state.containers.filter((c) => c.node === n.name),
          ).catch((e: Error) => warnings.push(`node ${n.name}: ${e.message}`)),
        ),
      );
    }
  }
  const ours = state.namespaces.filter((ns) => existing.has(ns));
  const killed = await killAll(run, ours, sleep);
  for (const ns of [...ours].reverse()) await runOk(run, ["ip", "netns", "del", ns]);
  const left = await existingNamespaces(run);
  const stuck = ours.filter((ns) => left.has(ns));
  if (stuck.length) throw new CiabError("external", `namespaces ${stuck.join(", ")} could not be deleted`);
  removeLabDir(root, name);
  removeRootIfEmpty(root);
  deps.progress?.(`lab ${name} is down: ${ours.length} namespace(s) deleted, ${killed} process(es) stopped`);
  return { name, namespaces: ours, killed, warnings };
}

/** Which lab a command means: --name, else "ciab" if it exists, else the only lab there is. */
export function resolveLabName(root: string, name: string | undefined): string {
  if (name !== undefined) {
    checkLabName(name);
    return name;
  }
  const labs = listLabs(root);
  if (labs.includes("ciab") || labs.length === 0) return "ciab";
  if (labs.length === 1) return labs[0] as string;
  throw usage(`there are ${labs.length} labs (${labs.join(", ")}): say which with --name`);
}

export interface ExecTarget {
  /** What the target is, for messages. */
  what: string;
  argv: string[];
}

/** argv that runs `argv` on a node (with its private mounts), in a container (c1, NODE/c1), or in the internet. */
export function execTarget(root: string, state: LabState, target: string, argv: string[]): ExecTarget {
  const plan = state.plan;
  if (!plan) throw new CiabError("invalid", `lab '${state.name}' has no plan in its state file`);
  const paths = labPaths(root, state.name);
  const node = plan.nodes.find((n) => n.name === target);
  if (node) return { what: `node ${node.name}`, argv: onNode(node.ns, paths.privateRoot(node.name), paths.root, argv) };
  const [owner, cname] = target.includes("/") ? target.split("/", 2) : [undefined, target];
  const c = state.containers.find((x) => x.name === cname && (owner === undefined || x.node === owner));
  if (c) return { what: `container ${c.name} on ${c.node}`, argv: [...c.exec, ...argv] };
  if (target === "inet") return { what: "the internet", argv: inNs(plan.inetNs, argv) };
  throw notFound(`lab '${state.name}' has no node or container '${target}'`, {
    hint: `nodes: ${plan.nodes.map((n) => n.name).join(", ")}; containers: ${state.containers.map((x) => `${x.name} (${x.node}/${x.name})`).join(", ") || "none"}; or 'inet'`,
  });
}

export interface LabStatus {
  name: string;
  phase: LabState["phase"];
  network: string;
  startedAt: string;
  upSeconds?: number;
  provider: string;
  namespaces: { name: string; exists: boolean; pids: number }[];
  nodes: { name: string; ns: string; underlay: string[]; containers: { name: string; addresses: string[] }[] }[];
}

export async function labStatus(name: string, deps: Pick<LabDeps, "run" | "root">): Promise<LabStatus> {
  const state = readState(deps.root ?? LAB_ROOT, name);
  const existing = await existingNamespaces(deps.run);
  const namespaces = await Promise.all(
    state.namespaces.map(async (ns) => ({ name: ns, exists: existing.has(ns), pids: existing.has(ns) ? (await netnsPids(deps.run, ns)).length : 0 })),
  );
  return {
    name: state.name,
    phase: state.phase,
    network: state.network,
    startedAt: state.startedAt,
    ...(state.upSeconds !== undefined ? { upSeconds: state.upSeconds } : {}),
    provider: state.provider,
    namespaces,
    nodes: (state.plan?.nodes ?? []).map((n: NodePlan) => ({
      name: n.name,
      ns: n.ns,
      underlay: [n.underlay.v4?.addr, n.underlay.v6?.addr].filter((a): a is string => a !== undefined),
      containers: state.containers.filter((c: LabContainer) => c.node === n.name).map((c) => ({ name: c.name, addresses: c.addresses })),
    })),
  };
}
