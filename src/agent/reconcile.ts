// The one place that changes a host: observe it, plan against the desired state (plan/, pure), and apply the
// actions in order. Owns: gathering the observation from the adapters, running each action's commands through the
// injected Runner, stopping at the first failure and reporting exactly what was applied. Must not: print (it
// reports through a callback; cli/ prints), write anything a plan does not list, or show a command's secret input.

import { observeBird } from "../adapters/bird.js";
import { tail } from "../adapters/exec.js";
import { observeFrr } from "../adapters/frr.js";
import { observeIp } from "../adapters/iproute2.js";
import { chooseBackend, kernelBackend, observeWireguard, RUN_DIR, userspaceBackend, type WgBackend } from "../adapters/wireguard.js";
import { CiabError } from "../model/errors.js";
import { formatCommand } from "../plan/commands.js";
import { planDown } from "../plan/down.js";
import { BIRD_CONF, type DestroyWg, FRR_CONF, FRR_DAEMONS, ownerMark, plan, sha256Hex, VTYSH_CONF, vxlanSysctls } from "../plan/plan.js";
import type { Action, DesiredHost, ObservedFile, ObservedHost, ObservedWireguard } from "../plan/types.js";
import type { HostDeps } from "./host.js";

export interface Observation {
  observed: ObservedHost;
  backend?: WgBackend;
  /** Why that backend (or why none). */
  backendWhy?: string;
}

/** Everything the planner compares, read from the host. `forDown` skips choosing a WireGuard implementation. */
export async function observe(d: DesiredHost, deps: HostDeps, opts: { forDown?: boolean } = {}): Promise<Observation> {
  const mark = ownerMark(d.network);
  const desiredVx = new Set(d.vxlan.map((x) => x.ifname));
  // Entries of every VXLAN device ciab may own: the desired ones and any carrying its mark (a stale one).
  const ip = await observeIp(deps.run, (links) => links.filter((l) => l.kind === "vxlan" && (desiredVx.has(l.name) || l.alias === mark)).map((l) => l.name));
  const desiredWg = new Set(d.wireguard.map((w) => w.ifname));
  const wgLinks = ip.links.filter((l) => desiredWg.has(l.name) || (l.alias === mark && (l.kind === "wireguard" || l.kind === "tun")));
  const wireguard: ObservedWireguard[] = [];
  for (const l of wgLinks) {
    const w = await observeWireguard(deps.run, l.name);
    if (w) wireguard.push(w);
  }
  let backend: WgBackend | undefined;
  let backendWhy: string | undefined;
  const missing = d.wireguard.some((w) => !ip.links.some((l) => l.name === w.ifname));
  if (missing && !opts.forDown) ({ backend, why: backendWhy } = await chooseBackend(deps, deps.runDir ?? RUN_DIR));

  const sysctls: Record<string, string | undefined> = {};
  for (const { key } of [...d.sysctls, ...d.vxlan.flatMap((x) => vxlanSysctls(x.ifname))]) sysctls[key] = deps.readFile(`/proc/sys/${key}`);

  const secret = new Set(d.files.filter((f) => f.secret).map((f) => f.path));
  const paths = d.files.map((f) => f.path);
  const daemons = new Set(d.routing.map((r) => r.daemon));
  if (daemons.has("frr")) paths.push(FRR_CONF, FRR_DAEMONS, VTYSH_CONF, `${FRR_CONF}.ciab-orig`, `${FRR_DAEMONS}.ciab-orig`);
  if (daemons.has("bird")) paths.push(BIRD_CONF, `${BIRD_CONF}.ciab-orig`);
  const files: Record<string, ObservedFile | undefined> = {};
  for (const p of paths) {
    const text = deps.readFile(p);
    const mode = deps.fileMode(p);
    files[p] = text === undefined || mode === undefined ? undefined : { sha256: sha256Hex(text), mode, ...(secret.has(p) ? {} : { text }) };
  }

  let nftTable: string | null | undefined;
  if (d.nft) {
    const r = await deps.run(["nft", "list", "table", "inet", d.nft.table], { timeoutMs: 10_000 });
    if (r.code === 127) nftTable = null;
    else if (r.code === 0) nftTable = r.stdout;
    else if (!/No such file or directory/.test(r.stderr))
      throw new CiabError("external", `'nft list table inet ${d.nft.table}' exited with ${r.code}: ${tail(r.stderr, 3)}`);
  }
  const probe = { run: deps.run, exists: deps.exists, readFile: deps.readFile };
  const observed: ObservedHost = {
    now: deps.now(),
    ...ip,
    wireguard,
    ...(backend ? { wgBackend: backend.kind } : {}),
    sysctls,
    files,
    ...(d.nft ? { nftTable } : {}),
    ...(daemons.has("frr") ? { frr: observeFrr(probe) } : {}),
    ...(daemons.has("bird") ? { bird: await observeBird(probe) } : {}),
  };
  return { observed, backend, backendWhy };
}

/** A WireGuard interface goes with its implementation: the kernel's by `ip link del`, wireguard-go's with its daemon. */
const destroyWg =
  (deps: HostDeps): DestroyWg =>
  (ifname, kind) =>
    (kind === "wireguard" ? kernelBackend : userspaceBackend(deps.env, deps.runDir ?? RUN_DIR)).destroy(ifname);

export interface ApplyFailure {
  action: Action;
  /** 1-based index of the command that failed, and how many the action has. */
  step: number;
  steps: number;
  command: string;
  exitCode: number;
  output: string;
}

export interface ApplyResult {
  applied: Action[];
  failed?: ApplyFailure;
  /** Actions after the failed one, not attempted. */
  skipped: Action[];
}

const APPLY_TIMEOUT_MS = 120_000;

/** Run the actions in order; stop at the first command that fails. */
export async function applyActions(actions: Action[], deps: Pick<HostDeps, "run">, progress: (a: Action) => void = () => {}): Promise<ApplyResult> {
  const applied: Action[] = [];
  for (const [i, a] of actions.entries()) {
    progress(a);
    for (const [j, c] of a.commands.entries()) {
      const r = await deps.run(c.argv, { ...(c.input !== undefined ? { input: c.input } : {}), timeoutMs: APPLY_TIMEOUT_MS });
      if (r.code !== 0) {
        const why = r.timedOut ? `timed out after ${APPLY_TIMEOUT_MS / 1000} s` : r.code === 127 ? "could not run (not installed?)" : `exited with ${r.code}`;
        return {
          applied,
          failed: {
            action: a,
            step: j + 1,
            steps: a.commands.length,
            command: formatCommand(c),
            exitCode: r.code,
            output: `${why}${r.stderr || r.stdout ? `: ${tail(`${r.stderr}${r.stdout}`, 8)}` : ""}`,
          },
          skipped: actions.slice(i + 1),
        };
      }
    }
    applied.push(a);
  }
  return { applied, skipped: [] };
}

export interface ReconcileReport {
  network: string;
  node: string;
  dryRun: boolean;
  actions: Action[];
  result?: ApplyResult;
  backend?: string;
  warnings: string[];
}

/** Observe, plan, and (unless dryRun) apply. Throws before changing anything when the plan cannot be made. */
export async function reconcile(
  d: DesiredHost,
  deps: HostDeps,
  opts: { dryRun?: boolean; progress?: (a: Action) => void; keepRoamed?: boolean } = {},
): Promise<ReconcileReport> {
  const { observed, backend, backendWhy } = await observe(d, deps);
  const warnings: string[] = [];
  if (d.nft && observed.nftTable === null) {
    // Without the guard the underlay reaches the containers and the VXLAN socket: refuse rather than expose.
    throw new CiabError("external", "nft is missing: the mesh's guard (only WireGuard carries mesh traffic) cannot be installed", {
      hint: "apt-get install nftables",
    });
  }
  if (!backend && backendWhy) warnings.push(`WireGuard: ${backendWhy}`);
  const actions = plan(d, observed, { ...(backend ? { backend } : {}), destroyWg: destroyWg(deps), keepRoamed: opts.keepRoamed });
  const base = { network: d.network, node: d.node, actions, ...(backend ? { backend: `${backend.kind} (${backendWhy})` } : {}), warnings };
  if (opts.dryRun || actions.length === 0) return { ...base, dryRun: Boolean(opts.dryRun) };
  return { ...base, dryRun: false, result: await applyActions(actions, deps, opts.progress) };
}

/** `ciab down`: the removal plan, applied the same way. */
export async function teardown(d: DesiredHost, deps: HostDeps, opts: { dryRun?: boolean; progress?: (a: Action) => void } = {}): Promise<ReconcileReport> {
  const { observed } = await observe(d, deps, { forDown: true });
  const actions = planDown(d, observed, { destroyWg: destroyWg(deps) });
  const base = { network: d.network, node: d.node, actions, warnings: [] };
  if (opts.dryRun || actions.length === 0) return { ...base, dryRun: Boolean(opts.dryRun) };
  return { ...base, dryRun: false, result: await applyActions(actions, deps, opts.progress) };
}
