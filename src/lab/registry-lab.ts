// The lab with its mesh in etcd (`ciab lab up --registry etcd`, issue 12 part 7; docs/LAB.md). A real etcd-server
// runs in its own namespace on the lab's internet (198.19.0.1, 2001:db8:1::1), with auth on. The nodes start with
// no mesh: for each node the admin (ciab in the etcd namespace, as root of etcd) creates a token, and the node runs
// `ciab join`, which makes its key on the node, publishes its record and starts `ciab agent` there; the agents do
// the rest. `--standby K` leaves the last K nodes built but not joined, for `ciab lab join NODE` later.
// Owns: etcd's namespace, start and stop, the admin's commands, the order of joins, and waiting until every
// joined node's agent applied the same effective mesh. Must not: reach etcd from the root namespace (every
// command runs in a lab namespace), or print a token or password (they go to commands' argv and stdin only).
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Runner, runOk, tail } from "../adapters/exec.js";
import { CiabError } from "../model/errors.js";
import { type Mesh, meshFromDoc } from "../model/mesh.js";
import { dumpToml, parseToml, type TomlTable } from "../model/toml.js";
import type { LabContainer } from "./containers.js";
import { endpointText, type LabPlan, type NodePlan, type NodeUnderlay, type Underlay } from "./plan.js";
import { inNs, onNode } from "./private.js";
import type { LabPaths, LabRegistry } from "./state.js";
import { nodeSteps, type Step } from "./topology.js";

export const etcdNs = (lab: string): string => `${lab}-etcd`;
const PORT = 2379;
const PREFIX = "ciab";
/** Where each node's agent keeps its state, inside the node's private /run. */
export const agentStateDir = (net: string): string => `/run/ciab/${net}`;

function etcdUnderlay(underlay: Underlay): NodeUnderlay {
  const v4 = underlay === "6" ? undefined : { addr: "198.19.0.1/24", gateway: "198.19.0.254" };
  const v6 = underlay === "4" ? undefined : { addr: "2001:db8:1::1/64", gateway: "2001:db8:1::fe" };
  return v4 ? { v4, v6, endpointHost: "198.19.0.1", endpointFamily: 4 } : { v6, endpointHost: "2001:db8:1::1", endpointFamily: 6 };
}

export function labRegistry(plan: LabPlan, standby: number): LabRegistry {
  if (!Number.isInteger(standby) || standby < 0 || standby >= plan.nodes.length)
    throw new CiabError("usage", `--standby ${standby}: must be 0-${plan.nodes.length - 1} (at least one node joins at once)`);
  const host = endpointText(etcdUnderlay(plan.underlay), PORT);
  return {
    kind: "etcd",
    ns: etcdNs(plan.name),
    url: `etcd://${host}/${PREFIX}`,
    standby: plan.nodes.slice(plan.nodes.length - standby).map((n) => n.name),
    joined: [],
  };
}

/** etcd's namespace and its link to the internet (the same steps as a node's uplink). */
export const etcdLinkSteps = (plan: LabPlan): Step[] => nodeSteps(plan, { ns: etcdNs(plan.name), uplink: "to-etcd", underlay: etcdUnderlay(plan.underlay) });

export interface RegistryLabContext {
  run: Runner;
  plan: LabPlan;
  paths: LabPaths;
  reg: LabRegistry;
  /** argv of the ciab CLI (node, dist/ciab.mjs). */
  ciab: string[];
  progress: (msg: string) => void;
  signal?: AbortSignal;
}

const etcdDir = (p: LabPaths) => join(p.dir, "etcd");
const passwordFile = (p: LabPaths) => join(etcdDir(p), "root.password");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Start etcd in its namespace (the data directory survives a stop: `startEtcd` again resumes it). */
export async function startEtcd(c: RegistryLabContext): Promise<number> {
  const dir = etcdDir(c.paths);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const u = etcdUnderlay(c.plan.underlay);
  const urls = [`http://127.0.0.1:${PORT}`, ...(u.v4 ? [`http://${bare(u.v4.addr)}:${PORT}`] : []), ...(u.v6 ? [`http://[${bare(u.v6.addr)}]:${PORT}`] : [])];
  const script = `etcd --name lab --data-dir "$1/data" --listen-client-urls "$2" --advertise-client-urls "$2" --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster lab=http://127.0.0.1:2380 --log-level warn >>"$1/etcd.log" 2>&1 & echo $!`;
  const r = await runOk(c.run, inNs(c.reg.ns, ["sh", "-c", script, "etcd-start", dir, urls.join(",")]), { signal: c.signal });
  const pid = Number(r.stdout.trim());
  // Healthy means it serves reads: with auth on (a restart), as root.
  const pw = existsSync(passwordFile(c.paths)) ? readFileSync(passwordFile(c.paths), "utf8").trim() : undefined;
  const health = ["etcdctl", "--endpoints=127.0.0.1:2379", "--command-timeout=1s", ...(pw ? [`--user=root:${pw}`] : []), "get", "ciab-health-probe"];
  for (let i = 0; ; i++) {
    if ((await c.run(inNs(c.reg.ns, health))).code === 0) break;
    if (i >= 100) throw new CiabError("external", `etcd did not start in ${c.reg.ns}: ${tail(readLog(c.paths), 5)}`);
    await sleep(100);
  }
  c.reg.pid = pid;
  return pid;
}

const readLog = (p: LabPaths) => (existsSync(join(etcdDir(p), "etcd.log")) ? readFileSync(join(etcdDir(p), "etcd.log"), "utf8") : "");
const bare = (a: string) => a.split("/")[0] as string;

/** Stop etcd by its PID (only if that PID is in etcd's namespace). */
export async function stopEtcd(c: Pick<RegistryLabContext, "run" | "reg">): Promise<void> {
  const pid = c.reg.pid;
  if (pid === undefined) return;
  const pids = (await c.run(["ip", "netns", "pids", c.reg.ns])).stdout.split("\n").map(Number);
  if (pids.includes(pid)) await c.run(["kill", "-KILL", String(pid)]);
  for (let i = 0; i < 50 && (await c.run(["kill", "-0", String(pid)])).code === 0; i++) await sleep(100);
  c.reg.pid = undefined;
}

/** Auth on: a root user with a random password (a file in the lab directory, 0600; given to etcdctl on stdin). */
export async function enableEtcdAuth(c: RegistryLabContext): Promise<void> {
  const pw = randomBytes(18).toString("base64url");
  writeFileSync(passwordFile(c.paths), `${pw}\n`, { mode: 0o600 });
  const ctl = (args: string[], input?: string) => runOk(c.run, inNs(c.reg.ns, ["etcdctl", "--endpoints=127.0.0.1:2379", ...args]), { input });
  await ctl(["user", "add", "root", "--interactive=false"], `${pw}\n`);
  await ctl(["role", "add", "root"]).catch(() => undefined);
  await ctl(["user", "grant-role", "root", "root"]);
  await ctl(["auth", "enable"]);
}

/** ciab as etcd's root, in etcd's namespace (the admin's workstation of this lab). */
export async function admin(c: RegistryLabContext, args: string[]): Promise<string> {
  const argv = [
    ...c.ciab,
    "--registry",
    `etcd://127.0.0.1:${PORT}/${PREFIX}`,
    "--registry-user",
    "root",
    "--registry-password-file",
    passwordFile(c.paths),
    ...args,
  ];
  const r = await c.run(inNs(c.reg.ns, argv), { timeoutMs: 60_000, signal: c.signal });
  if (r.code !== 0) throw new CiabError("external", `ciab ${args.slice(0, 2).join(" ")} (admin) exited with ${r.code}: ${tail(r.stderr, 6)}`);
  return r.stdout;
}

/** The lab's designed mesh without its nodes and route reflectors: what the admin imports before anyone joins. */
export function emptyMeshText(doc: TomlTable): string {
  const d = structuredClone(doc);
  delete d.Node;
  delete (d.Network as TomlTable).RouteReflectors;
  return dumpToml(d);
}

/**
 * Join one node: a token for it (allocation by the admin), then `ciab join` on the node with its lab endpoint and
 * its subnets; join starts the node's agent. Route reflectors are set once their node exists.
 */
export async function joinNode(c: RegistryLabContext, n: NodePlan, mesh: Mesh): Promise<void> {
  const node = mesh.nodes.find((x) => x.name === n.name);
  if (!node) throw new CiabError("internal", `lab mesh has no node ${n.name}`);
  const tok = JSON.parse(await admin(c, ["token", "create", mesh.name, "--node", n.name, "--ttl", "10m", "--json"])) as {
    token: string;
    allocated: { listenPort: number };
  };
  const rr = mesh.network.routeReflectors.filter((r) => [...c.reg.joined, n.name].includes(r));
  if (rr.includes(n.name)) await admin(c, ["set", mesh.name, "route-reflectors", rr.join(",")]);
  const argv = [
    ...c.ciab,
    "join",
    c.reg.url,
    tok.token,
    "--endpoint",
    endpointText(n.underlay, tok.allocated.listenPort),
    ...(node.subnets.length ? ["--subnets", node.subnets.join(",")] : []),
    "--state-dir",
    agentStateDir(mesh.name),
  ];
  const r = await c.run(onNode(n.ns, c.paths.privateRoot(n.name), c.paths.root, argv), { timeoutMs: 60_000, signal: c.signal });
  writeFileSync(c.paths.log(n.name, "join"), `${r.stdout}${r.stderr}`);
  if (r.code !== 0) throw new CiabError("external", `ciab join on node ${n.name} exited with ${r.code}: ${tail(r.stderr, 6)}`);
  c.reg.joined.push(n.name);
  c.reg.standby = c.reg.standby.filter((s) => s !== n.name);
  c.progress(`node ${n.name} joined (endpoint ${endpointText(n.underlay, tok.allocated.listenPort)}); its agent applies the mesh`);
}

/** Host path of a file in a node's agent state directory. */
export const agentFile = (paths: LabPaths, node: string, net: string, file: string): string =>
  join(paths.privateRoot(node), agentStateDir(net).replace(/^\/run\//, "run/"), file);

/**
 * Wait until every joined node's agent applied one and the same effective mesh, holding every joined node with
 * its key and endpoint from its record. Returns it (the lab keeps it as its mesh file, for `lab test`).
 */
export async function waitAgents(c: RegistryLabContext, net: string, timeoutMs: number): Promise<{ mesh: Mesh; text: string }> {
  const deadline = Date.now() + timeoutMs;
  let why = "";
  for (;;) {
    const texts = c.reg.joined.map((n) => {
      const f = agentFile(c.paths, n, net, `${net}.conf`);
      return existsSync(f) ? readFileSync(f, "utf8") : "";
    });
    const text = texts[0] ?? "";
    if (texts.every((t) => t !== "" && t === text)) {
      const mesh = meshFromDoc(net, parseToml(text, `(lab) ${net}.conf`), { file: `(lab) ${net}.conf` });
      const lacking = c.reg.joined.filter((j) => !mesh.nodes.find((m) => m.name === j && m.endpoint));
      if (lacking.length === 0) return { mesh, text };
      why = `the agents' mesh has no endpoint yet for ${lacking.join(", ")}`;
    } else why = `agents on ${c.reg.joined.filter((_, i) => texts[i] !== text || !texts[i]).join(", ")} have not applied the same mesh yet`;
    if (Date.now() > deadline)
      throw new CiabError("external", `the agents did not converge in ${timeoutMs / 1000} s: ${why}`, {
        hint: `look at an agent's log: ${c.paths.privateRoot(c.reg.joined[0] ?? "n1")}/var-log/ciab-agent-${net}.log`,
      });
    await sleep(100);
  }
}

/** The lab's plan and containers narrowed to the joined nodes (standby nodes are not part of the mesh yet). */
export function joinedView(plan: LabPlan, containers: LabContainer[], reg: LabRegistry | undefined): { plan: LabPlan; containers: LabContainer[] } {
  if (!reg) return { plan, containers };
  const on = new Set(reg.joined);
  return { plan: { ...plan, nodes: plan.nodes.filter((n) => on.has(n.name)) }, containers: containers.filter((x) => on.has(x.node)) };
}
