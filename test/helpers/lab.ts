// Harness for lab end-to-end tests: unique lab names per run, the real runner, and the "leaves nothing behind"
// assertions (no namespace with the lab's prefix, no process that ran in its namespaces, no state directory).
// A new scenario is: `const lab = await startLab(tag, { … })`, checks, `await stopLab(lab)` (also in afterAll).
import { existsSync, readFileSync } from "node:fs";
import { expect } from "vitest";
import { spawnRunner } from "../../src/adapters/exec.js";
import { cryptoRandom } from "../../src/keys/random.js";
import { execTarget, type LabDeps, type LabUpOptions, labDown, labUp, netnsPids } from "../../src/lab/lab.js";
import { LAB_ROOT, type LabState } from "../../src/lab/state.js";
import { CLI, hasTool, isRoot } from "./env.js";

/** Real daemons need root, wireguard-go + wg-quick, and the routing daemon. */
export const labReady = (routing: "frr" | "bird" = "frr"): boolean =>
  isRoot &&
  ["ip", "wg", "wg-quick", "wireguard-go", "nft", "ping"].every(hasTool) &&
  (routing === "frr" ? existsSync("/usr/lib/frr/frrinit.sh") && hasTool("vtysh") : hasTool("bird") && hasTool("birdc"));

let counter = 0;
/** A lab name unique to this test run: a short tag, the PID and a counter (lab names are [a-z][a-z0-9]{0,11}). */
export const uniqueLab = (tag: string): string => `${tag}${process.pid % 100000}${counter++}`.slice(0, 12);

export const deps = (o: Partial<LabDeps> = {}): LabDeps => ({ run: spawnRunner, root: LAB_ROOT, ...o });

export interface RunningLab {
  name: string;
  state: LabState;
  /** Every PID seen in the lab's namespaces (sampled at start and before stop). */
  pids: Set<number>;
}

const namespacesOf = async (name: string): Promise<string[]> =>
  (await spawnRunner(["ip", "netns", "list"])).stdout
    .split("\n")
    .map((l) => l.split(" ")[0] as string)
    .filter((ns) => ns.startsWith(`${name}-`));

export async function samplePids(lab: RunningLab): Promise<void> {
  for (const ns of await namespacesOf(lab.name)) for (const p of await netnsPids(spawnRunner, ns)) lab.pids.add(p);
}

export async function startLab(tag: string, o: Partial<LabUpOptions> = {}, d: Partial<LabDeps> = {}): Promise<RunningLab> {
  const name = uniqueLab(tag);
  const state = await labUp({ name, nodes: 3, random: cryptoRandom(), ...o }, deps(d));
  const lab = { name, state, pids: new Set<number>() };
  await samplePids(lab);
  return lab;
}

/** A process is gone when /proc has no entry for it, or only a zombie (PID 1 here reaps lazily, FINDINGS §7). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Assert that nothing of lab `name` is left: namespaces, state directory, processes. */
export async function expectNothingLeft(name: string, pids: Iterable<number> = []): Promise<void> {
  expect(await namespacesOf(name)).toEqual([]);
  expect(existsSync(`${LAB_ROOT}/${name}`)).toBe(false);
  expect([...pids].filter(alive)).toEqual([]);
}

export async function stopLab(lab: RunningLab | undefined): Promise<void> {
  if (!lab) return;
  await samplePids(lab);
  if (existsSync(`${LAB_ROOT}/${lab.name}/state.json`)) await labDown(lab.name, deps());
  await expectNothingLeft(lab.name, lab.pids);
}

/** Run argv on a lab node (its namespace and private mounts). */
export async function onNode(lab: RunningLab, node: string, argv: string[], timeoutMs = 120_000) {
  return spawnRunner(execTarget(LAB_ROOT, lab.state, node, argv).argv, { timeoutMs });
}
/** The ciab CLI (dist/ciab.mjs) on a lab node. */
export const ciabOn = (lab: RunningLab, node: string, args: string[]) => onNode(lab, node, [process.execPath, CLI, ...args]);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Poll until `check` holds; the milliseconds it took. */
export async function waitFor(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<number> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(250);
  }
  return Date.now() - t0;
}
