// `ciab up`, `ciab down`, `ciab status`, `ciab doctor`: this host, reconciled with its bundle or the mesh file.
// Thin: parse, call agent/*, print, exit codes. `up --watch` re-runs the reconcile on a timer (and on LXD network
// events for DiscoverLXD nodes) until SIGINT/SIGTERM.
import type { Command } from "commander";
import { spawnRunner } from "../adapters/exec.js";
import { type LxdEventStream, watchEvents } from "../adapters/lxd.js";
import { readAgentStatus } from "../agent/agent.js";
import type { AgentStatus } from "../agent/decide.js";
import { type DesiredSource, loadDesired } from "../agent/desired.js";
import { type Check, doctor } from "../agent/doctor.js";
import { type HostDeps, realHost } from "../agent/host.js";
import { type ReconcileReport, reconcile, teardown } from "../agent/reconcile.js";
import { hostStatus, type StatusReport } from "../agent/status.js";
import { waitHealthy } from "../agent/wait.js";
import { CiabError, EXIT, usage } from "../model/errors.js";
import { formatCommand } from "../plan/commands.js";
import type { Action, DesiredHost } from "../plan/types.js";
import { globals } from "./context.js";
import { info, json, jsonLine, out, warn } from "./output.js";

interface HostOpts {
  bundle?: string;
  stateDir?: string;
  dryRun?: boolean;
  json?: boolean;
  watch?: boolean;
  interval?: string;
  lxdSocket?: string;
  wait?: boolean;
  timeout?: string;
}

function source(net: string | undefined, node: string | undefined, o: HostOpts, dir: string): DesiredSource {
  if (o.bundle !== undefined) {
    if (net !== undefined) throw usage("give either --bundle DIR or NET NODE, not both");
    return { bundle: o.bundle };
  }
  if (net === undefined || node === undefined)
    throw usage("which host is this? give --bundle DIR (a rendered bundle) or NET NODE (the mesh file and this host's node)");
  return { network: net, node, meshDir: dir };
}

function hostDeps(o: HostOpts): HostDeps {
  const deps = realHost(spawnRunner);
  if (o.lxdSocket) deps.lxd = { socket: o.lxdSocket };
  return deps;
}

const actionJson = (a: Action) => ({ kind: a.kind, subject: a.subject, reason: a.reason, commands: a.commands.map(formatCommand) });

function reportJson(r: ReconcileReport & { announce?: string[] }) {
  return {
    ok: !r.result?.failed,
    network: r.network,
    node: r.node,
    dryRun: r.dryRun,
    ...(r.announce ? { announce: r.announce } : {}),
    ...(r.backend ? { wireguardBackend: r.backend } : {}),
    actions: r.actions.map(actionJson),
    applied: r.result ? r.result.applied.length : 0,
    ...(r.result?.failed
      ? {
          failed: { action: actionJson(r.result.failed.action), step: r.result.failed.step, command: r.result.failed.command, output: r.result.failed.output },
          skipped: r.result.skipped.length,
        }
      : {}),
    warnings: r.warnings,
  };
}

function printPlan(r: ReconcileReport, what: string): void {
  if (r.actions.length === 0) {
    out(`${what}: node ${r.node} of ${r.network} is up to date (0 actions)`);
    return;
  }
  out(`${what}: node ${r.node} of ${r.network}: ${r.actions.length} action(s)${r.dryRun ? " (dry run: nothing changed)" : ""}`);
  r.actions.forEach((a, i) => {
    out(`  ${i + 1}. [${a.kind}] ${a.reason}`);
    if (r.dryRun) for (const c of a.commands) out(`       $ ${formatCommand(c)}`);
  });
}

/** A failed apply: what was applied, what failed, what was not attempted. */
function failure(r: ReconcileReport): CiabError {
  const f = r.result?.failed;
  if (!f) return new CiabError("internal", "no failure");
  const applied = r.result?.applied ?? [];
  return new CiabError(
    "external",
    `node ${r.node}: action ${applied.length + 1} of ${r.actions.length} failed: [${f.action.kind}] ${f.action.reason}\n` +
      `  command ${f.step} of ${f.steps}: ${f.command}\n  ${f.output.replace(/\n/g, "\n  ")}\n` +
      `  applied before it: ${applied.length ? applied.map((a) => `[${a.kind}] ${a.reason}`).join("; ") : "nothing"}\n` +
      `  not attempted: ${r.result?.skipped.length ?? 0} action(s)`,
    { hint: "fix the cause and run 'ciab up' again: it only applies what still differs" },
  );
}

async function upOnce(
  src: DesiredSource,
  deps: HostDeps,
  o: HostOpts,
  jsonOut: boolean,
): Promise<ReconcileReport & { announce: string[]; desired: DesiredHost }> {
  const loaded = await loadDesired(src, deps);
  for (const w of loaded.warnings) warn(w);
  const r = await reconcile(loaded.desired, deps, { dryRun: o.dryRun, progress: (a) => (jsonOut ? undefined : info(`ciab up: [${a.kind}] ${a.reason}`)) });
  for (const w of r.warnings) warn(w);
  return { ...r, announce: loaded.desired.announce, desired: loaded.desired };
}

/** --timeout in seconds (default 60), for --wait. */
function waitTimeoutMs(o: HostOpts): number {
  if (o.timeout !== undefined && !o.wait) throw usage("--timeout goes with --wait");
  const s = o.timeout === undefined ? 60 : Number(o.timeout);
  if (!Number.isFinite(s) || s <= 0) throw usage(`--timeout '${o.timeout}' must be a number of seconds > 0`);
  return s * 1000;
}

async function watchLoop(src: DesiredSource, deps: HostDeps, o: HostOpts, jsonOut: boolean, debug: boolean): Promise<void> {
  const trace = (msg: string) => (debug ? info(`ciab up --watch: ${msg}`) : undefined);
  const interval = o.interval === undefined ? 30 : Number(o.interval);
  if (!Number.isFinite(interval) || interval < 1) throw usage(`--interval '${o.interval}' must be a number of seconds >= 1`);
  let stop = false;
  let wake: () => void = () => {};
  const onSignal = (sig: string) => {
    info(`ciab up --watch: ${sig}: stopping`);
    stop = true;
    wake();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let events: LxdEventStream | undefined;
  try {
    for (let round = 1; !stop; round++) {
      trace(`round ${round}`);
      try {
        const r = await upOnce(src, deps, o, jsonOut);
        if (jsonOut) jsonLine({ round, ...reportJson(r) });
        else if (r.actions.length || round === 1) printPlan(r, `ciab up (round ${round})`);
        if (r.result?.failed) warn(failure(r).message);
      } catch (e) {
        // A failed round (an LXD daemon restarting, a daemon refusing a config) is reported; the next one retries.
        warn(`round ${round}: ${(e as Error).message}`);
      }
      if (!events && !stop) {
        // Never wait on the event stream for long: a daemon that neither upgrades nor answers must not stall the
        // loop (the timer drives it then; a stream that opens late is closed again).
        const pending = lxdEvents(deps, () => wake());
        events = await Promise.race([pending, new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000).unref())]);
        if (!events) void pending.then((e) => e?.close());
        trace(events ? "listening to LXD events" : "no LXD events: timer only");
      }
      if (stop) break;
      trace(`sleeping ${interval} s`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, interval * 1000);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  } finally {
    events?.close();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/** LXD network events wake the watch loop early; without LXD (or on error) the timer alone drives it. */
async function lxdEvents(deps: HostDeps, wake: () => void): Promise<LxdEventStream | undefined> {
  try {
    return await watchEvents({ ...(deps.lxd ?? {}), timeoutMs: 3000 }, (e) => {
      const action = typeof e.metadata.action === "string" ? e.metadata.action : "";
      if (action.startsWith("network-")) wake();
    });
  } catch {
    return undefined;
  }
}

function printStatus(s: StatusReport): void {
  out(`node ${s.node} of ${s.network}: ${s.ok ? "ok" : "DEGRADED"}`);
  out(
    `  ${[
      ...s.wireguard.map((w) => `${w.ifname}: ${w.exists ? `up, port ${w.listenPort ?? "?"}` : "MISSING"}`),
      ...s.vxlan.map((x) => `${x.ifname}: ${x.exists ? (x.up ? "up" : "DOWN") : "MISSING"}`),
    ].join("; ")}; routing ${s.routing.daemon}: ${s.routing.answering ? "answering" : "NOT ANSWERING"}`,
  );
  const w = Math.max(4, ...s.peers.map((p) => p.name.length));
  for (const p of s.peers) {
    const hs = p.handshakeAgeSeconds === null ? "never" : `${p.handshakeAgeSeconds}s ago`;
    const sess = p.sessions.length
      ? p.sessions
          .map((x) => `${x.protocol}${x.family ? `/${x.family}` : ""} ${x.state}${x.prefixesReceived !== undefined ? ` (${x.prefixesReceived} pfx)` : ""}`)
          .join(", ")
      : "no session (reflected routes)";
    const pg = p.ping ? (p.ping.ok ? `ping ${p.ping.rttMs ?? "?"} ms` : "ping FAILED") : "no ping";
    const nat = p.nat ? `; NAT ${p.nat}` : "";
    if (p.path === "relayed") {
      const probe = p.probing ? `; probing direct ${p.endpoint ?? "(no endpoint)"}, handshake ${hs}` : "";
      out(`  ${p.up ? "up  " : "DOWN"} ${p.name.padEnd(w)}  relayed via ${p.via}; routes ${p.routes.length} through it${nat}${probe}`);
      continue;
    }
    const ep = p.endpoint ? `${p.endpoint} (${p.endpointSource})` : "-";
    out(
      `  ${p.up ? "up  " : "DOWN"} ${p.name.padEnd(w)}  direct ${ep.padEnd(30)} handshake ${hs.padEnd(10)} rx ${p.rxBytes} tx ${p.txBytes}  ${sess}; routes ${p.routes.length}${nat}; ${pg}`,
    );
  }
  for (const pr of s.problems) out(`  problem: ${pr}`);
}

function printChecks(checks: Check[]): void {
  const w = Math.max(...checks.map((c) => c.name.length));
  for (const c of checks) {
    out(`  ${c.status.toUpperCase().padEnd(4)}  ${c.name.padEnd(w)}  ${c.detail}`);
    if (c.fix && c.status !== "ok") out(`  ${"".padEnd(4)}  ${"".padEnd(w)}  fix: ${c.fix}`);
  }
}

export function registerHostCommands(program: Command): void {
  const withSource = (c: Command) =>
    c
      .argument("[network]", "the mesh (NET.conf in -C DIR), with NODE; or use --bundle")
      .argument("[node]", "this host's node in the mesh")
      .option("--bundle <dir>", "a bundle rendered by 'ciab render' for this host")
      .option("--lxd-socket <path>", "LXD/Incus socket for DiscoverLXD (default: $LXD_DIR, $INCUS_DIR, snap, deb, Incus paths)");

  withSource(program.command("up").description("bring this host to its desired state: observe, plan (with reasons), apply only the differences"))
    .option("--dry-run", "print the plan and change nothing")
    .option("--watch", "reconcile again on a timer (and on LXD network events) until SIGINT/SIGTERM")
    .option("--interval <seconds>", "with --watch: seconds between rounds (default 30)")
    .option("--wait", "then wait until every peer has a handshake and answers, and every routing session is up; exit 9 naming what is missing")
    .option("--timeout <seconds>", "with --wait: how long to wait (default 60)")
    .action(async (net: string | undefined, node: string | undefined, o: HostOpts, cmd: Command) => {
      const g = globals(cmd);
      const src = source(net, node, o, g.dir);
      const deps = hostDeps(o);
      const timeoutMs = waitTimeoutMs(o);
      if (o.wait && (o.watch || o.dryRun)) throw usage("--wait goes with neither --watch nor --dry-run");
      if (o.watch) return watchLoop(src, deps, o, g.json, g.debug);
      const r = await upOnce(src, deps, o, g.json);
      if (g.json && !o.wait) json(reportJson(r));
      else if (!g.json) printPlan(r, "ciab up");
      if (r.result?.failed) throw failure(r);
      if (o.wait) {
        const s = await waitHealthy(r.desired, deps, { timeoutMs, progress: (m) => (g.json ? undefined : info(`ciab up --wait: ${m}`)) });
        if (g.json) json({ ...reportJson(r), status: s });
        else out(`ciab up: node ${s.node} is ready: ${s.peers.length} peer(s) with a handshake and an answer, routing sessions up`);
      }
    });

  withSource(
    program.command("down").description("remove what ciab created on this host (its interfaces, nft table, files); put the host's FRR/BIRD files back"),
  )
    .option("--dry-run", "print the plan and change nothing")
    .action(async (net: string | undefined, node: string | undefined, o: HostOpts, cmd: Command) => {
      const g = globals(cmd);
      const deps = hostDeps(o);
      // The LXD bridges do not matter for what to remove: skip discovery (a dead LXD must not block `down`).
      const loaded = await loadDesired(source(net, node, o, g.dir), { ...deps, lxd: { ...deps.lxd, timeoutMs: 2000 } }).catch(async (e: unknown) => {
        if (e instanceof CiabError && e.message.startsWith("LXD"))
          return loadDesired(source(net, node, o, g.dir), { ...deps, lxd: { socket: "/nonexistent" } });
        throw e;
      });
      const r = await teardown(loaded.desired, deps, {
        dryRun: o.dryRun,
        progress: (a) => (g.json ? undefined : info(`ciab down: [${a.kind}] ${a.reason}`)),
      });
      if (g.json) json(reportJson(r));
      else printPlan(r, "ciab down");
      if (r.result?.failed) throw failure(r);
    });

  withSource(program.command("status").description("per peer: endpoint, handshake, bytes, routing session, prefixes, overlay ping; exit 9 when degraded"))
    .option("--state-dir <dir>", "a host run by 'ciab agent': its state directory (the mesh it applied, its registry status)")
    .action(async (net: string | undefined, node: string | undefined, o: HostOpts, cmd: Command) => {
      const g = globals(cmd);
      const deps = hostDeps(o);
      if (o.stateDir !== undefined && o.bundle !== undefined) throw usage("give either --bundle DIR or --state-dir DIR, not both");
      const agent = o.stateDir === undefined ? undefined : readAgentStatus(o.stateDir);
      if (o.stateDir !== undefined && !agent)
        throw new CiabError("notFound", `no agent state in ${o.stateDir} (status.json)`, { hint: "is 'ciab agent NET NODE --state-dir DIR' running here?" });
      const { desired } = await loadDesired(source(net, node, o, o.stateDir ?? g.dir), deps);
      const s: StatusReport & { agent?: AgentStatus } = { ...(await hostStatus(desired, deps)), ...(agent ? { agent } : {}) };
      if (agent && !agent.reachable) {
        s.ok = false;
        s.problems.push(
          `registry ${agent.registry} unreachable (${agent.failures} failed attempt(s), last: ${agent.lastError ?? "?"}); the agent keeps revision ${agent.revision ?? "none"} and retries with backoff`,
        );
      } else if (agent?.lastError) s.problems.push(`agent: ${agent.lastError}`);
      if (g.json) json(s);
      else {
        if (agent)
          out(
            `agent: registry ${agent.registry} ${agent.reachable ? "reachable" : "UNREACHABLE"}, revision ${agent.revision ?? "none"}${agent.appliedAt ? ` applied ${agent.appliedAt}` : ""}`,
          );
        printStatus(s);
      }
      // "degraded" is the verdict: the report above is the output, not an error message.
      if (!s.ok) process.exitCode = EXIT.degraded;
    });

  withSource(program.command("doctor").description("check this host's prerequisites, with the fix for each")).action(
    async (net: string | undefined, node: string | undefined, o: HostOpts, cmd: Command) => {
      const g = globals(cmd);
      const deps = hostDeps(o);
      const d = net !== undefined || o.bundle !== undefined ? (await loadDesired(source(net, node, o, g.dir), deps)).desired : undefined;
      const checks = await doctor(d, deps);
      const failed = checks.filter((c) => c.status === "fail").length;
      if (g.json) json({ ok: failed === 0, checks });
      else {
        out(`ciab doctor${d ? ` (node ${d.node} of ${d.network})` : ""}:`);
        printChecks(checks);
        out(failed ? `${failed} check(s) failed` : "no blocking problem");
      }
      if (failed) process.exitCode = EXIT.degraded;
    },
  );
}
