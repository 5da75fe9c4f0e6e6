// `ciab token create`, `ciab join`, `ciab agent` (issue 12 parts 4-5; docs/FLEET.md): a fleet whose mesh lives
// in a registry. Thin: parse, call agent/join.ts and agent/agent.ts, print. The token is the last line of
// `token create`'s output (a script takes it with `tail -1`); nothing else ever prints it or a credential.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, openSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Command } from "commander";
import { spawnRunner } from "../adapters/exec.js";
import { readRegularText } from "../adapters/files.js";
import { agentStep, initialState, type RunningAgent, runAgent } from "../agent/agent.js";
import { realHost } from "../agent/host.js";
import { createJoinToken, joinHost, readJoinState } from "../agent/join.js";
import { reconcile } from "../agent/reconcile.js";
import { punchSender, stunLearner, wgHandshakes } from "../agent/stun.js";
import { pubkey } from "../keys/x25519.js";
import { CiabError, usage } from "../model/errors.js";
import type { NodeRecord } from "../model/record.js";
import { formatCommand } from "../plan/commands.js";
import { EtcdRegistry } from "../registry/etcd.js";
import { openRegistry } from "../registry/open.js";
import type { Registry } from "../registry/registry.js";
import { parseTtl } from "../registry/token.js";
import { renderAgentUnit } from "../render/bundle.js";
import { keyFilePath } from "../render/showconf.js";
import { globals, VERSION, withRegistry } from "./context.js";
import { info, json, jsonLine, out } from "./output.js";

/** Where a joined host keeps its key (the bundle's key file, /etc/wireguard/NET.key) and its join state. */
const KEY_DIR = dirname(keyFilePath("x"));
/** The agent's cache of the last good mesh, its effective mesh and status.json. */
export const stateDirOf = (net: string, dir?: string): string => dir ?? join("/var/lib/ciab", net);

const splitList = (v: string | undefined, what: string): string[] | undefined => {
  if (v === undefined) return undefined;
  const items = v.split(",").map((s) => s.trim());
  if (items.some((s) => s === "")) throw usage(`${what} '${v}' has an empty item`, "give a comma-separated list, e.g. 10.1.0.0/24,10.1.1.0/24");
  return items;
};

/** A joined host's agent: systemd when it runs, else a detached process logging to /var/log/ciab-agent-NET.log. */
function startAgent(net: string, node: string, stateDir: string): { how: string; pid?: number } {
  // --json: the log is one JSON event per line, each with its time (`at`).
  const argv = [process.argv[1] as string, "agent", net, node, "--state-dir", stateDir, "--json"];
  if (existsSync("/run/systemd/system")) {
    const unit = `ciab-agent-${net}.service`;
    writeFileSync(`/etc/systemd/system/${unit}`, renderAgentUnit(net, node, { ciab: `${process.execPath} ${argv[0]}`, args: ["--state-dir", stateDir] }), {
      mode: 0o644,
    });
    for (const a of [["daemon-reload"], ["enable", "--now", unit]]) {
      const r = spawnSyncOk("systemctl", a);
      if (r) throw new CiabError("external", `systemctl ${a.join(" ")} failed: ${r}`, { hint: `start it by hand: ciab agent ${net} ${node}` });
    }
    return { how: `systemd unit ${unit}` };
  }
  mkdirSync("/var/log", { recursive: true });
  const log = openSync(`/var/log/ciab-agent-${net}.log`, "a", 0o640);
  const child = spawn(process.execPath, argv, { detached: true, stdio: ["ignore", log, log] });
  child.unref();
  return { how: `process ${child.pid} (log /var/log/ciab-agent-${net}.log)`, pid: child.pid };
}

function spawnSyncOk(cmd: string, args: string[]): string | undefined {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return r.status === 0 ? undefined : (r.stderr || `exit ${r.status}`).trim();
}

interface AgentOpts {
  stateDir?: string;
  once?: boolean;
  dryRun?: boolean;
  leaseTtl: string;
  relayAfter: string;
}

export function registerFleetCommands(program: Command): void {
  const token = program.command("token").description("join tokens for new hosts (single use, expiring)");
  token
    .command("create <network>")
    .description("allocate a node (with --node) and print a single-use token for 'ciab join' (the last line of the output)")
    .option("--node <name>", "the node the token is for: allocated now (overlay address, VTEP, port)")
    .option("--ttl <duration>", "how long the token is valid: 30s, 15m, 1h, 2d (at most 7d)", "1h")
    .action(async (net: string, o: { node?: string; ttl: string }, cmd: Command) => {
      const g = globals(cmd);
      const ttl = parseTtl(o.ttl);
      const r = await withRegistry(g, async (reg) => {
        const etcdAuth = reg instanceof EtcdRegistry && reg.authenticated;
        if (etcdAuth && !o.node) throw usage("with etcd auth on, a token is for one node: give --node NAME", "its etcd user may write only that node's record");
        const grant = etcdAuth && o.node ? (id: string) => (reg as EtcdRegistry).grantNode(net, o.node as string, id) : undefined;
        return { ...(await createJoinToken(reg, net, ttl, { node: o.node, grant })), location: reg.location };
      });
      if (g.json) {
        json({ ok: true, network: net, node: o.node, id: r.id, expiresAt: r.expiresAt, allocated: r.allocated, token: r.text });
        return;
      }
      if (r.allocated) out(`node ${o.node} of ${net}: address ${r.allocated.address.join(", ")}, vtep ${r.allocated.vtep}, port ${r.allocated.listenPort}`);
      out(`token ${r.id} expires ${r.expiresAt}; on the new host: ciab join ${r.location} TOKEN${o.node ? "" : " --name NAME"}`);
      out(r.text);
    });

  program
    .command("join <url> <token>")
    .description("join this host to the mesh in the registry at URL: make its key here, publish its record, start its agent")
    .option("--name <node>", "this host's node name (when the token names none)")
    .option("--endpoint <host:port>", "where the other hosts reach this one (none: it must speak first)")
    .option("--subnets <cidrs>", "this host's container subnets, comma-separated")
    .option("--state-dir <dir>", "the agent's state directory (default /var/lib/ciab/NET)")
    .option("--no-agent", "do not start the agent (print how to)")
    .action(async (url: string, text: string, o: { name?: string; endpoint?: string; subnets?: string; stateDir?: string; agent: boolean }, cmd: Command) => {
      const g = globals(cmd);
      const ro = g.registryOptions;
      const tls = { ca: ro.ca, cert: ro.cert, key: ro.key };
      let reg: Registry | undefined;
      try {
        const r = await joinHost(
          text,
          async (t) => {
            reg = await openRegistry(url, g.dir, { ...ro, user: t.credentials?.user ?? ro.user, password: t.credentials?.password });
            return reg;
          },
          {
            name: o.name,
            endpoint: o.endpoint,
            subnets: splitList(o.subnets, "--subnets"),
            dir: KEY_DIR,
            registry: { url, ...Object.fromEntries(Object.entries(tls).filter(([, v]) => v !== undefined)) },
          },
        );
        const stateDir = stateDirOf(r.net, o.stateDir);
        const agent = o.agent ? startAgent(r.net, r.node, stateDir) : undefined;
        const run = `ciab agent ${r.net} ${r.node} --state-dir ${stateDir}`;
        if (g.json) json({ ok: true, ...r, stateDir, agent: agent ?? null, ...(agent ? {} : { run }) });
        else {
          out(`joined ${r.net} as node ${r.node}: address ${r.address.join(", ")}, vtep ${r.vtep}, port ${r.listenPort}`);
          out(`  public key ${r.publicKey} (private key in ${r.keyFile}, 0600, never sent)`);
          out(agent ? `  agent: ${agent.how}` : `  start the agent: ${run}`);
        }
      } finally {
        await (reg as Registry | undefined)?.close();
      }
    });

  program
    .command("agent <network> <node>")
    .description("keep this host's node in step with the registry: render in memory, reconcile on every change, publish its record under a lease")
    .option("--state-dir <dir>", "the last good mesh (0600), the effective mesh, status.json (default /var/lib/ciab/NET)")
    .option("--once", "one reconcile (and one record published), then exit")
    .option("--dry-run", "plan each change and print it; change nothing on this host")
    .option("--lease-ttl <seconds>", "the record's lease: it disappears this long after the agent stops", "10")
    .option(
      "--relay-after <seconds>",
      "report a peer behind a NAT unreached (its traffic then goes through a relay) after this long without a WireGuard handshake (env CIAB_RELAY_AFTER)",
      process.env.CIAB_RELAY_AFTER || "120",
    )
    .action(async (net: string, node: string, o: AgentOpts, cmd: Command) => {
      const g = globals(cmd);
      const lease = Number(o.leaseTtl);
      if (!Number.isInteger(lease) || lease < 2 || lease > 3600) throw usage(`--lease-ttl '${o.leaseTtl}' must be whole seconds from 2 to 3600`);
      const relayAfter = Number(o.relayAfter);
      if (!Number.isInteger(relayAfter) || relayAfter < 10 || relayAfter > 86400)
        throw usage(`--relay-after '${o.relayAfter}' must be whole seconds from 10 to 86400`, "WireGuard retries a handshake every 5 s; 120 s is the default");
      const joined = readJoinState(KEY_DIR, net);
      if (joined && joined.node !== node) throw usage(`this host joined ${net} as node '${joined.node}', not '${node}'`);
      const url = g.registry ?? (process.env.CIAB_REGISTRY || undefined) ?? joined?.registry.url;
      const ro = g.registryOptions;
      const registry = await openRegistry(url, g.dir, {
        ...ro,
        ...(ro.user === undefined && joined?.credentials ? { user: joined.credentials.user, password: joined.credentials.password } : {}),
        ca: ro.ca ?? joined?.registry.ca,
        cert: ro.cert ?? joined?.registry.cert,
        key: ro.key ?? joined?.registry.key,
      });
      const deps = realHost(spawnRunner);
      const emit = (ev: Record<string, unknown>) =>
        g.json ? jsonLine({ at: new Date().toISOString(), ...ev }) : info(`ciab agent: ${ev.message ?? ev.event}`);
      const keyFile = keyFilePath(net);
      const record = (): NodeRecord => {
        const key = existsSync(keyFile) ? readRegularText(keyFile, { what: "key file", maxBytes: 4096 }) : undefined;
        return {
          version: 1,
          node,
          ...(key ? { publicKey: pubkey(key, `key file ${keyFile}`) } : {}),
          ...(joined?.endpoint ? { endpoint: joined.endpoint } : {}),
          ...(joined?.subnets ? { subnets: joined.subnets } : {}),
          agentVersion: VERSION,
          health: "ok",
          updatedAt: new Date().toISOString(),
        };
      };
      const opts = {
        net,
        node,
        registry,
        stateDir: stateDirOf(net, o.stateDir),
        deps,
        record,
        leaseSeconds: lease,
        // NAT = "auto": learn the WireGuard port's mapping by STUN and publish it (not in a dry run: without the
        // bundle's SNAT rule applied, STUN would see the STUN port's mapping, not WireGuard's).
        ...(o.dryRun ? {} : { learn: stunLearner(spawnRunner), punch: punchSender(spawnRunner, (line) => emit({ event: "log", message: line })) }),
        // Peers it cannot reach are reported (and relayed) after --relay-after; not in a dry run (nothing is up).
        ...(o.dryRun ? {} : { handshakes: wgHandshakes(spawnRunner), relayAfterMs: relayAfter * 1000, reachEveryMs: Math.min(30_000, relayAfter * 250) }),
        log: (line: string) => emit({ event: "log", message: line }),
        apply: async (d: Parameters<typeof reconcile>[0], info: { revision?: string }) => {
          const t0 = Date.now();
          // When the data plane (everything but the routing daemon's start or reload, which come last) was done.
          let dataPlaneMs: number | undefined;
          const r = await reconcile(d, deps, {
            dryRun: o.dryRun,
            // Endpoints from records are hints: one WireGuard authenticated a handshake from wins (issue 13, part 3).
            keepRoamed: true,
            progress: (a) => {
              if (dataPlaneMs === undefined && /^(frr|bird)-/.test(a.kind)) dataPlaneMs = Date.now() - t0;
            },
          });
          const ms = Date.now() - t0;
          const actions = r.actions.map((a) => ({ kind: a.kind, reason: a.reason, ...(o.dryRun ? { commands: a.commands.map(formatCommand) } : {}) }));
          emit({
            event: o.dryRun ? "planned" : "applied",
            revision: info.revision,
            actions,
            ms,
            ...(o.dryRun ? {} : { dataPlaneMs: dataPlaneMs ?? ms }),
            message: `${o.dryRun ? "planned" : "applied"} revision ${info.revision}: ${actions.length} action(s) in ${ms} ms`,
          });
          if (r.result?.failed)
            throw new CiabError("external", `[${r.result.failed.action.kind}] ${r.result.failed.action.reason}: ${r.result.failed.command}`);
        },
      };
      let running: RunningAgent | undefined;
      try {
        if (o.once) {
          const st = await agentStep(opts, initialState(opts));
          if (st.status.reachable) await registry.publish(net, record());
          for (const p of st.refused) emit({ event: "refused", ...p, message: `record of ${p.node} refused: ${p.field} ${p.message}` });
          if (g.json) emit({ event: "status", ...st.status });
          if (st.status.lastError) throw new CiabError(st.status.reachable ? "invalid" : "external", st.status.lastError);
          return;
        }
        running = await runAgent(opts);
        emit({ event: "started", message: `watching ${registry.location} for ${net}/${node}` });
        await new Promise<void>((resolve) => {
          const stop = (sig: string) => {
            emit({ event: "stopping", message: `${sig}: stopping (record lease revoked)` });
            resolve();
          };
          process.once("SIGTERM", () => stop("SIGTERM"));
          process.once("SIGINT", () => stop("SIGINT"));
        });
      } finally {
        await running?.stop();
        await registry.close();
      }
    });
}
