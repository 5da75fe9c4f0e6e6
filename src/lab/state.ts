// A lab's state on disk: one directory per lab under /run/ciab-lab/<name>/ (tmpfs: a reboot forgets labs, as it
// forgets their namespaces) holding the mesh file, the bundles, each node's private directories and state.json
// (namespaces, containers, PIDs). Owns: the layout, reading and writing state.json. Must not: run commands, or
// delete anything outside a lab directory it identified by its state.json (lab.ts decides what to tear down).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { CiabError, conflict, notFound } from "../model/errors.js";
import { writeAtomic } from "../registry/file.js";
import type { LabContainer } from "./containers.js";
import type { LabPlan } from "./plan.js";

export const LAB_ROOT = "/run/ciab-lab";

export interface LabState {
  version: 1;
  name: string;
  /** building: `lab up` is running (or died); up: applied and converged; failed: up failed and teardown did not finish. */
  phase: "building" | "up" | "failed";
  /** PID of the `ciab lab up` that builds the lab (a second `up` of the same name is refused while it lives). */
  builder: number;
  startedAt: string;
  provider: string;
  network: string;
  /** The lab's mesh file (with lab endpoints). */
  meshFile: string;
  plan?: LabPlan;
  /** Every namespace this lab created, in creation order; teardown deletes exactly these. */
  namespaces: string[];
  containers: LabContainer[];
  /** Processes per namespace once up (informational: teardown asks the kernel again, PIDs may be reused). */
  pids: Record<string, number[]>;
  /** Seconds from start to converged routing, once up. */
  upSeconds?: number;
  /** `lab up --registry etcd`: etcd's namespace and PID, joined and standby nodes. */
  registry?: LabRegistry;
}

/** What the lab's state remembers of its registry. */
export interface LabRegistry {
  kind: "etcd";
  ns: string;
  /** The URL the nodes use (on the lab's internet). */
  url: string;
  /** PID of etcd (in `ns`), while it runs. */
  pid?: number;
  /** Nodes built but not joined yet (`ciab lab join NODE`). */
  standby: string[];
  joined: string[];
}

export interface LabPaths {
  /** The directory of all labs (/run/ciab-lab). */
  root: string;
  dir: string;
  state: string;
  mesh(net: string): string;
  nodeDir(node: string): string;
  /** The node's private directories (bind-mounted over /run, /var/log, /etc/frr …, see private.ts). */
  privateRoot(node: string): string;
  bundle(node: string): string;
  /** Output of the node's ciab-up and ciab-down. */
  log(node: string, what: string): string;
}

export function labPaths(root: string, lab: string): LabPaths {
  const dir = join(root, lab);
  const nodeDir = (node: string) => join(dir, "nodes", node);
  return {
    root,
    dir,
    state: join(dir, "state.json"),
    mesh: (net) => join(dir, `${net}.conf`),
    nodeDir,
    privateRoot: (node) => join(nodeDir(node), "root"),
    bundle: (node) => join(nodeDir(node), "bundle"),
    log: (node, what) => join(nodeDir(node), `${what}.log`),
  };
}

/** Claim the lab directory: mkdir without -p is atomic, so two `lab up` of one name cannot both proceed. */
export function createLabDir(root: string, lab: string): LabPaths {
  const p = labPaths(root, lab);
  mkdirSync(root, { recursive: true, mode: 0o755 });
  try {
    mkdirSync(p.dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") {
      throw conflict(`lab '${lab}' already exists (${p.dir})`, { hint: `tear it down first: ciab lab down --name ${lab}` });
    }
    throw new CiabError("io", `cannot create ${p.dir}: ${(e as Error).message}`, { cause: e, hint: "lab commands need root" });
  }
  return p;
}

export function writeState(p: LabPaths, s: LabState): void {
  writeAtomic(p.state, `${JSON.stringify(s, null, 2)}\n`, false);
}

export function readState(root: string, lab: string): LabState {
  const p = labPaths(root, lab);
  let text: string;
  try {
    text = readFileSync(p.state, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") {
      const others = listLabs(root);
      throw notFound(`no lab named '${lab}'`, { hint: others.length ? `labs: ${others.join(", ")} (use --name)` : "create one with: ciab lab up --nodes 3" });
    }
    throw new CiabError("io", `cannot read ${p.state}: ${(e as Error).message}`, { cause: e });
  }
  try {
    return JSON.parse(text) as LabState;
  } catch (e) {
    throw new CiabError("invalid", `${p.state} is not valid JSON`, { cause: e, hint: `remove the lab's namespaces by hand (ip netns list), then ${p.dir}` });
  }
}

/** Names of the labs that have a state file. */
export function listLabs(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(root, d.name, "state.json")))
    .map((d) => d.name)
    .sort();
}

/** Remove a lab's directory (after its namespaces are gone); only a directory that holds a state.json. */
export function removeLabDir(root: string, lab: string): void {
  const p = labPaths(root, lab);
  if (existsSync(p.dir) && !existsSync(p.state)) {
    throw new CiabError("internal", `refusing to remove ${p.dir}: it has no state.json, so it is not a lab directory`);
  }
  rmSync(p.dir, { recursive: true, force: true });
}

/** Remove the directory of all labs once the last lab is gone (rmdir: never when another lab is being built). */
export function removeRootIfEmpty(root: string): void {
  try {
    rmdirSync(root);
  } catch {
    /* not empty, or already gone */
  }
}
