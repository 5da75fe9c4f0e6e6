// Control plane at scale (issue 12 part 8): a throw-away etcd on 127.0.0.1 holding one mesh of N nodes (made with
// the real CLI: `ciab add`, `ciab set`, `ciab registry import`) and one node record per node ("records only": no
// host behind them); AGENTS real `ciab agent NET NODE --dry-run --json` processes (each its own --state-dir; dry
// run: each renders its node's bundle in memory and plans against this host read-only, changing nothing). Then
// BENCH_RUNS changes, each one `ciab --registry … set NET node X endpoint …` of a node no agent runs: for every
// agent, the time from the moment etcd published the new mesh revision (seen by the bench's own watch, the same
// watch stream the agents get) until the agent prints its `planned` event for that revision. Per change and agent
// the CPU time (utime+stime of the agent and the ip/wg/vtysh children it waited for, /proc/PID/stat) and, after
// the changes, each agent's RSS. First one agent runs alone (the cost of one render without contention), then all.
// Every process started here (etcd, agents, CLI calls) is stopped by its PID and the temp directories removed,
// also after a failure or Ctrl-C. Env: BENCH_CONTROL_SIZES (100,300,1000), BENCH_CONTROL_AGENTS (50), BENCH_RUNS (3),
// BENCH_AGENT_NODE_ARGS (node options for the agents, e.g. "--cpu-prof --cpu-prof-dir=DIR").
import { spawn } from "node:child_process";
import { createPublicKey } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./lib/common.mjs";
import { startEtcd } from "./lib/etcd.mjs";

const CLI = join(ROOT, "dist", "ciab.mjs");
const SIZES = (process.env.BENCH_CONTROL_SIZES ?? "100,300,1000").split(",").map(Number);
const AGENTS = Number(process.env.BENCH_CONTROL_AGENTS ?? 50);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const NET = "bctl";
const PREFIX = "bench";
const TARGET_MS = 1000;
/** Node options for the agents only (e.g. `--cpu-prof --cpu-prof-dir=DIR` to profile them; NODE_OPTIONS refuses it). */
const AGENT_NODE_ARGS = (process.env.BENCH_AGENT_NODE_ARGS ?? "").split(" ").filter(Boolean);
/** How long one change may take to reach every agent before the missing ones are counted as missed. */
const CHANGE_TIMEOUT_MS = 120_000;
/** How long to wait for the agents to go idle (after the start, after a change) before going on anyway. */
const SETTLE_START_MS = 180_000;
const SETTLE_CHANGE_MS = 90_000;
const TICK_MS = 10; // 1000 / CLK_TCK (100 on Linux)

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (m) => process.stderr.write(`control: ${m}\n`);
const round = (x, d = 1) => (typeof x === "number" && Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : null);
const sorted = (xs) => xs.filter((x) => typeof x === "number" && Number.isFinite(x)).sort((a, b) => a - b);
/** Nearest-rank percentile (p in 0..100) of the finite values, or null. */
const pct = (xs, p) => {
  const s = sorted(xs);
  return s.length ? s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)] : null;
};
const mean = (xs) => {
  const s = sorted(xs);
  return s.length ? s.reduce((a, b) => a + b, 0) / s.length : null;
};

// ---------------------------------------------------------------- processes (stopped by PID, also on Ctrl-C)

const live = new Set(); // PIDs of our children still running
const dirs = new Set();
let handler = false;
function track(child) {
  if (!handler) {
    handler = true;
    const onSignal = (sig) => {
      log(`${sig}: stopping ${live.size} process(es) by PID`);
      killAll();
      process.exit(130);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    process.on("exit", killAll);
  }
  const pid = child.pid;
  live.add(pid);
  child.once("exit", () => live.delete(pid));
  return child;
}
function killAll() {
  for (const pid of live)
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
async function stop(child, graceMs = 3000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  if (await Promise.race([gone.then(() => true), sleep(graceMs).then(() => false)])) return;
  child.kill("SIGKILL");
  await gone;
}

/** A node process, asynchronously (the bench keeps reading the agents meanwhile): {code, stdout, stderr, ms}. */
function node(argv) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = track(spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "pipe"], detached: true }));
    const out = [];
    const err = [];
    child.stdout.on("data", (b) => out.push(b));
    child.stderr.on("data", (b) => err.push(b));
    child.on("close", (code) => resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), ms: performance.now() - t0 }));
  });
}
async function mustCiab(args) {
  const r = await node([CLI, ...args]);
  if (r.code !== 0) throw new Error(`ciab ${args.slice(0, 4).join(" ")} … failed (${r.code}): ${r.stderr.trim().split("\n").slice(-5).join("\n")}`);
  return r;
}

/** utime+stime of the process and of its waited-for children (ip, wg, vtysh …), ms. */
function cpuMs(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return { self: (Number(f[11]) + Number(f[12])) * TICK_MS, children: (Number(f[13]) + Number(f[14])) * TICK_MS };
}
function memMiB(pid) {
  const s = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(s)?.[1] ?? Number.NaN);
  return { rss: kib("VmRSS") / 1024, hwm: kib("VmHWM") / 1024 };
}

// ---------------------------------------------------------------- agents

/**
 * One `ciab agent … --dry-run --json`. Its `planned` lines hold every planned command (about 1 MB at 1000 nodes),
 * so only the head and tail of each line are kept: {"schema":…,"ok":…,"at":…,"event":"planned","revision":"R",…,"ms":N,"message":"…"}.
 */
function startAgent(url, node, stateDir) {
  const child = track(
    spawn(process.execPath, [...AGENT_NODE_ARGS, CLI, "--registry", url, "agent", NET, node, "--dry-run", "--json", "--state-dir", stateDir], {
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    }),
  );
  const a = { node, child, pid: child.pid, planned: [], logs: [], stderr: "", waiters: new Set() };
  let head = "";
  let tail = "";
  const line = () => {
    const at = performance.now();
    // {"schema":"ciab/agent/v1","ok":true,"at":…,"event":"planned","revision":"N","actions":[…],"ms":N,"message":"…"}
    const ev = /^\{(?:"schema":"[^"]*",)?(?:"ok":(?:true|false),)?(?:"at":"[^"]*",)?"event":"(\w+)"(?:,"revision":"(\d+)")?/.exec(head);
    if (ev?.[1] === "planned") {
      const ms = /"ms":(\d+),(?:"dataPlaneMs":\d+,)?"message":"[^"]*?(\d+) action\(s\)(?: in \d+ ms)?"\}$/.exec(tail);
      a.planned.push({ at, revision: Number(ev[2]), reconcileMs: ms ? Number(ms[1]) : null, actions: ms ? Number(ms[2]) : null });
    } else if (ev?.[1] === "log" && !/"message":"applied revision/.test(head)) a.logs.push(head.slice(0, 300));
    for (const w of a.waiters) w();
  };
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk) => {
    const parts = chunk.split("\n");
    for (let i = 0; i < parts.length; i++) {
      if (head.length < 300) head += parts[i].slice(0, 300 - head.length);
      tail = (tail + parts[i]).slice(-300);
      if (i < parts.length - 1) {
        line();
        head = "";
        tail = "";
      }
    }
  });
  child.stderr.on("data", (b) => {
    a.stderr = (a.stderr + b).slice(-2000);
  });
  child.once("exit", () => {
    for (const w of a.waiters) w();
  });
  return a;
}

/** Resolves true when `pred(agent)` holds for every agent; false after timeoutMs or when an agent exits. */
function waitAll(agents, pred, timeoutMs) {
  return new Promise((resolve) => {
    const check = () => {
      if (agents.some((a) => a.child.exitCode !== null || a.child.signalCode !== null)) done(false);
      else if (agents.every(pred)) done(true);
    };
    const done = (ok) => {
      clearTimeout(timer);
      for (const a of agents) a.waiters.delete(check);
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    for (const a of agents) a.waiters.add(check);
    check();
  });
}

/**
 * Wait until the agents are idle: over the last second their CPU rose by less than 8 ms per agent (an idle agent
 * spends a few ms a second on its lease keepalive and gRPC timers) plus 20 ms. Resolves {settled, ms,
 * idleMsPerSec}: whether they did within maxMs, how long it took and the last second's CPU per agent.
 */
async function quiet(agents, maxMs) {
  const t0 = Date.now();
  const total = () => agents.reduce((s, a) => s + cpuMs(a.pid).self, 0);
  let before = total();
  let at = performance.now();
  while (Date.now() - t0 < maxMs) {
    await sleep(1000);
    const now = total();
    const t = performance.now();
    const perSec = ((now - before) * 1000) / (t - at);
    if (perSec < 8 * agents.length + 20) return { settled: true, ms: Date.now() - t0, idleMsPerSec: perSec / agents.length };
    before = now;
    at = t;
  }
  log(`the agents did not go idle within ${maxMs / 1000} s; going on`);
  return { settled: false, ms: Date.now() - t0, idleMsPerSec: null };
}

// ---------------------------------------------------------------- the mesh and its records

/** X25519 public key (base64) of a base64 private key. */
function publicOf(priv) {
  const der = Buffer.concat([Buffer.from("302e020100300506032b656e04220420", "hex"), Buffer.from(priv, "base64")]);
  const jwk = createPublicKey({ key: der, format: "der", type: "pkcs8" }).export({ format: "jwk" });
  return Buffer.from(jwk.x, "base64url").toString("base64");
}

const endpointOf = (i) => `198.18.${Math.floor(i / 250)}.${(i % 250) + 1}:51820`;

async function buildMesh(dir, names) {
  await mustCiab(["-C", dir, "add", NET]);
  await mustCiab(["-C", dir, "set", NET, "pool-ipv4", "172.16.0.0/16", "pool-ipv6", "fd42:beef::/64"]);
  await mustCiab(["-C", dir, "add", NET, ...names]);
  const set = ["-C", dir, "set", NET, "route-reflectors", "n1,n2"];
  names.forEach((n, i) => set.push("node", n, "endpoint", endpointOf(i), "listen-port", "51820"));
  await mustCiab(set);
  const keys = new Map();
  let node;
  for (const l of readFileSync(join(dir, `${NET}.conf`), "utf8").split("\n")) {
    const t = /^\[Node\.([^\]]+)\]/.exec(l);
    if (t) node = t[1];
    const k = /^PrivateKey = "([^"]+)"/.exec(l);
    if (k && node) keys.set(node, publicOf(k[1]));
  }
  if (keys.size !== names.length) throw new Error(`expected ${names.length} private keys in the mesh, found ${keys.size}`);
  return keys;
}

/**
 * A record like a joined host's: its public key (the mesh's), the LXD subnet it discovered. No endpoint: the mesh's
 * stays in force, so the endpoint change below reaches the rendered files.
 */
const recordOf = (node, i, publicKey) =>
  JSON.stringify({
    version: 1,
    node,
    publicKey,
    subnets: [`10.${(i >> 8) & 255}.${i & 255}.0/24`],
    agentVersion: "bench",
    health: "ok",
    updatedAt: new Date().toISOString(),
  });

// ---------------------------------------------------------------- one change

/** `ciab set` of one node's endpoint; per agent: ms from the commit (bench watch) to its `planned` of that revision. */
async function change(ctx, agents, target, k) {
  const cpu0 = agents.map((a) => cpuMs(a.pid));
  const spawnAt = performance.now();
  const r = await mustCiab(["--registry", ctx.url, "set", NET, "node", target, "endpoint", `198.18.200.${(k % 250) + 1}:51820`]);
  const rev = await ctx.latestRevision();
  const commitAt = await ctx.commitTime(rev);
  const arrived = (a) => a.planned.some((p) => p.revision >= rev);
  await waitAll(agents, arrived, CHANGE_TIMEOUT_MS);
  const settled = await quiet(agents, SETTLE_CHANGE_MS);
  const windowS = (performance.now() - spawnAt) / 1000;
  const lat = agents.map((a) => {
    const p = a.planned.find((x) => x.revision >= rev);
    return p ? p.at - commitAt : null;
  });
  const reconcile = agents.map((a) => a.planned.find((x) => x.revision >= rev)?.reconcileMs ?? null);
  const cpu = agents.map((a, i) => {
    const c = cpuMs(a.pid);
    return { self: c.self - cpu0[i].self, children: c.children - cpu0[i].children };
  });
  const got = lat.filter((x) => x !== null);
  return {
    revision: rev,
    target,
    cliMs: r.ms,
    spawnToCommitMs: commitAt - spawnAt,
    arrived: got.length,
    within1s: got.filter((x) => x < TARGET_MS).length,
    p50Ms: pct(lat, 50),
    p95Ms: pct(lat, 95),
    maxMs: got.length === agents.length ? pct(lat, 100) : null,
    reconcileMs: pct(reconcile, 50),
    cpuMsPerAgent: mean(cpu.map((c) => c.self + c.children)),
    childCpuMsPerAgent: mean(cpu.map((c) => c.children)),
    cpuMsAllAgents: cpu.reduce((s, c) => s + c.self + c.children, 0),
    cpuWindowS: windowS,
    settled: settled.settled ? "yes" : "no",
  };
}

// ---------------------------------------------------------------- one mesh size

async function size(n, nAgents) {
  const root = mkdtempSync(join(tmpdir(), `ciab-bench-control-${n}-`));
  dirs.add(root);
  let etcd;
  let client;
  const agents = [];
  try {
    const names = Array.from({ length: n }, (_, i) => `n${i + 1}`);
    const t0 = performance.now();
    const keys = await buildMesh(root, names);
    etcd = await startEtcd();
    track(etcd.child);
    dirs.add(etcd.dir);
    const url = `etcd://${etcd.host}/${PREFIX}`;
    await mustCiab(["--registry", url, "registry", "import", NET, join(root, `${NET}.conf`)]);
    // Agents: spread over the names (n1, a route reflector, among them); the changes go to nodes no agent runs.
    const agentIdx = [...new Set(Array.from({ length: nAgents }, (_, k) => Math.floor((k * n) / nAgents)))];
    const agentNames = new Set(agentIdx.map((i) => names[i]));
    const targets = names.filter((x) => !agentNames.has(x) && x !== "n1" && x !== "n2").reverse();
    const { Etcd3 } = createRequire(import.meta.url)("etcd3");
    client = new Etcd3({ hosts: etcd.endpoint });
    // The records of the nodes without an agent; each agent publishes its own (under its lease).
    const puts = names.map((node, i) => (agentNames.has(node) ? undefined : [`${PREFIX}/${NET}/nodes/${node}/record`, recordOf(node, i, keys.get(node))]));
    const todo = puts.filter(Boolean);
    for (let i = 0; i < todo.length; i += 100) await Promise.all(todo.slice(i, i + 100).map(([k, v]) => client.put(k).value(v).exec()));
    const setupMs = performance.now() - t0;
    // The pure phases of one step (bench/lib/agent-phases.mjs), before any agent runs.
    writeFileSync(join(root, "records.json"), JSON.stringify(todo.map(([, v]) => JSON.parse(v))));
    const ph = await node([join(ROOT, "bench", "lib", "agent-phases.mjs"), join(root, `${NET}.conf`), join(root, "records.json"), names[agentIdx[0]]]);
    if (ph.code !== 0) throw new Error(`bench/lib/agent-phases.mjs failed: ${ph.stderr}`);
    const phases = JSON.parse(ph.stdout);
    if (phases.refused) throw new Error(`${phases.refused} of the bench's records were refused by effectiveDoc`);
    // The commit time of each mesh revision, from the bench's own watch of the mesh key.
    const commits = new Map();
    const watch = await client.watch().key(`${PREFIX}/${NET}/mesh`).create();
    watch.on("put", (kv) => commits.set(Number(kv.mod_revision), performance.now()));
    const ctx = {
      url,
      latestRevision: async () => Number((await client.get(`${PREFIX}/${NET}/mesh`).exec()).kvs[0].mod_revision),
      commitTime: async (rev) => {
        for (let i = 0; i < 500 && !commits.has(rev); i++) await sleep(10);
        if (!commits.has(rev)) throw new Error(`the bench's watch never saw mesh revision ${rev}`);
        return commits.get(rev);
      },
    };
    const start = (i) => {
      const dir = join(root, `state-${names[i]}`);
      const a = startAgent(url, names[i], dir);
      agents.push(a);
      return a;
    };
    const firstPlanned = async (list, what) => {
      if (!(await waitAll(list, (a) => a.planned.length > 0, 900_000)))
        throw new Error(
          `${what}: not every agent planned: ${list
            .filter((a) => !a.planned.length)
            .map((a) => `${a.node} (exit ${a.child.exitCode}; ${a.stderr.trim().split("\n").slice(-2).join(" ")})`)
            .join(", ")}`,
        );
    };
    let k = 0;
    // 1. One agent alone: the cost of one change without contention.
    const solo = [start(agentIdx[0])];
    await firstPlanned(solo, "the first agent");
    await quiet(solo, SETTLE_START_MS);
    const alone = [];
    for (let r = 0; r < RUNS; r++) alone.push(await change(ctx, solo, targets[k % targets.length], k++));
    log(
      `${n} nodes, 1 agent alone: ${alone.map((c) => `${c.p50Ms?.toFixed(0)} ms`).join(", ")}; CPU ${alone.map((c) => c.cpuMsPerAgent?.toFixed(0)).join(", ")} ms`,
    );
    // 2. All of them.
    const s0 = performance.now();
    for (const i of agentIdx.slice(1)) start(i);
    await firstPlanned(agents, "all agents");
    const startMs = performance.now() - s0;
    const settled = await quiet(agents, SETTLE_START_MS);
    const runs = [];
    for (let r = 0; r < RUNS; r++) {
      const c = await change(ctx, agents, targets[k % targets.length], k++);
      runs.push(c);
      log(
        `${n} nodes, ${agents.length} agents, change ${r + 1}: ${c.arrived}/${agents.length} arrived, ${c.within1s} within 1 s, p50 ${round(c.p50Ms, 0)} ms, max ${round(c.maxMs, 0)} ms, CPU ${round(c.cpuMsPerAgent, 0)} ms/agent`,
      );
    }
    const mem = agents.map((a) => memMiB(a.pid));
    const problems = agents.flatMap((a) => a.logs.map((l) => `${a.node}: ${l}`));
    await watch.cancel();
    return {
      row: {
        nodes: n,
        records: n,
        agents: agents.length,
        changes: runs.length,
        arrivedAll: runs.every((c) => c.arrived === agents.length) ? "yes" : "no",
        within1sMin: Math.min(...runs.map((c) => c.within1s)),
        p50Ms: pct(
          runs.map((c) => c.p50Ms),
          50,
        ),
        p95Ms: Math.max(...runs.map((c) => c.p95Ms ?? Number.NaN)),
        maxMs: runs.some((c) => c.maxMs === null) ? "timeout" : Math.max(...runs.map((c) => c.maxMs)),
        cpuMsPerAgent: mean(runs.map((c) => c.cpuMsPerAgent)),
        cpuMsAllAgents: mean(runs.map((c) => c.cpuMsAllAgents)),
        aloneMs: pct(
          alone.map((c) => c.p50Ms),
          50,
        ),
        aloneCpuMs: mean(alone.map((c) => c.cpuMsPerAgent)),
        rssMiB: pct(
          mem.map((m) => m.rss),
          50,
        ),
        rssMaxMiB: pct(
          mem.map((m) => m.rss),
          100,
        ),
        peakRssMiB: pct(
          mem.map((m) => m.hwm),
          100,
        ),
        settled: settled.settled && runs.every((c) => c.settled === "yes") ? "yes" : "no",
        leaseLost: agents.reduce((s, a) => s + a.logs.filter((l) => /lease lost/.test(l)).length, 0),
        loadAvg: loadavg()[0],
      },
      phases: {
        nodes: n,
        records: phases.records,
        parseMs: phases.parseMs,
        overlayRecordsMs: phases.overlayMs,
        validateEffectiveMs: phases.validateEffectiveMs,
        renderNodeMs: phases.renderNodeMs,
        setupMs,
        startAllMs: startMs,
        settleMs: settled.ms,
        idleCpuMsPerSec: settled.idleMsPerSec,
      },
      changes: [...alone.map((c, i) => ({ agents: 1, change: i + 1, ...c })), ...runs.map((c, i) => ({ agents: agents.length, change: i + 1, ...c }))].map(
        (c) => ({
          nodes: n,
          ...c,
        }),
      ),
      problems,
    };
  } finally {
    await Promise.all(agents.map((a) => stop(a.child)));
    client?.close();
    await etcd?.stop();
    if (etcd) dirs.delete(etcd.dir);
    rmSync(root, { recursive: true, force: true });
    dirs.delete(root);
  }
}

export async function control() {
  const rows = [];
  const changes = [];
  const phases = [];
  const problems = [];
  for (const n of SIZES) {
    const nAgents = Math.min(AGENTS, n);
    log(`${n} nodes, ${nAgents} agents`);
    const r = await size(n, nAgents);
    rows.push(r.row);
    changes.push(...r.changes);
    phases.push(r.phases);
    problems.push(...r.problems);
  }
  const big = rows.at(-1);
  const bigPh = phases.at(-1);
  const ok = big.arrivedAll === "yes" && big.within1sMin === big.agents;
  const notes = [
    "Latency: from the moment etcd published the changed mesh revision (seen by the bench's own watch of the mesh key, the stream every agent watches) to the agent's `planned` line for that revision on its stdout; spawnToCommitMs is the `ciab set` process before it (start, read, compare-and-swap). p95/max over all agents of every change; within1sMin: the fewest agents within 1 s in any change. aloneMs/aloneCpuMs: the same change with only the first agent running (no contention).",
    "CPU per change: utime+stime of each agent and of the ip/wg/vtysh children it waited for (/proc/PID/stat), from before `ciab set` until the agents were idle again (cpuWindowS; it includes idleCpuMsPerSec, what an idle agent spends a second on its lease keepalive and gRPC timers), so it covers the whole reaction (read the mesh and all records, lay the records over it, validate, render this node in memory, observe the host, plan). cpuMsAllAgents: the sum over the agents, the work the machine has to do per change.",
    "Pure work of one step, median of 3 in one process: parse and validate the mesh text (parseMs), lay the records over it (overlayRecordsMs: registry/records.ts effectiveDoc checks each record against the mesh and the records before it), validate the effective mesh, topology and one node's bundle (renderNodeMs). An agent does this on every registry event that reaches it (a record written by any node included), then observes the host and plans. startAllMs: from starting the other agents until each printed its first plan; settleMs: until they were idle; leaseLost: record leases the agents lost (starved of CPU past their 10 s TTL) and re-published, each such write making every agent step again.",
    `Records only: the mesh (made by \`ciab add\`, two route reflectors n1,n2, endpoints in 198.18.0.0/15) holds every node; each node without an agent has a record (its public key, one LXD subnet), each agent publishes its own under its lease. Agents are --dry-run: the host is observed read-only, so every plan lists every action of a fresh host (thousands at 1000 nodes). Machine: ${cpus().length} cores, shared with other work (loadAvg at the end of each size).`,
  ];
  if (!ok)
    notes.push(
      `Missed at ${big.nodes} nodes: ${big.within1sMin} of ${big.agents} agents within 1 s (p50 ${round(big.p50Ms, 0)} ms, max ${big.maxMs === "timeout" ? "timeout" : `${round(big.maxMs, 0)} ms`}). One agent alone takes ${round(big.aloneMs, 0)} ms and ${round(big.aloneCpuMs, 0)} ms of CPU for the change; ${big.agents} agents need ${round(big.cpuMsAllAgents / 1000, 1)} s of CPU per change on ${cpus().length} cores, so the last agent cannot finish before about ${round(big.cpuMsAllAgents / 1000 / cpus().length, 1)} s. Of one step's pure work at ${bigPh.nodes} nodes (phases run from nothing; the agent reuses unchanged node tables, MeshNodes and TOML sections between steps), laying the ${bigPh.records} records over the mesh takes ${round(bigPh.overlayRecordsMs, 0)} ms, parsing ${round(bigPh.parseMs, 0)} ms, validating the effective mesh ${round(bigPh.validateEffectiveMs, 0)} ms, rendering the node ${round(bigPh.renderNodeMs, 0)} ms. On real hosts each agent has its own CPU (the alone column is that case). What is left in a step is mesh-wide: two validations (the registry's text, then the effective mesh: the cross-node checks), the topology and this node's whole bundle, desired.json parsed back from the rendered text, and in --dry-run a plan against a fresh host (every action of a 1000-peer node, printed). What would fix it: a delta path that, for a change of one node's section or record, validates that node against indexes kept between steps and re-renders only the peer pieces it touches (proved equal to the full step by the incremental property test), the desired state handed over as data, and a dry run that plans against what it planned last.`,
    );
  if (problems.length)
    notes.push(`Agent log lines other than "applied": ${problems.slice(0, 5).join("; ")}${problems.length > 5 ? ` (${problems.length} in all)` : ""}`);
  return {
    rows,
    tables: [
      { title: "Per change (1 agent alone, then all agents)", rows: changes },
      { title: "One step's pure work (bench/lib/agent-phases.mjs, in one process before the agents start) and the start", rows: phases },
    ],
    targets: [
      {
        what: `one change reaches all ${big.agents} agents (${big.nodes} nodes, ${big.records} records in etcd), from the commit`,
        target: "all < 1 s",
        value: `${big.within1sMin}/${big.agents} in every change; p50 ${round(big.p50Ms, 0)} ms, p95 ${round(big.p95Ms, 0)} ms, max ${big.maxMs === "timeout" ? "timeout" : `${round(big.maxMs, 0)} ms`}`,
        met: ok,
      },
      { what: `agent CPU per change, ${big.nodes} nodes`, target: "(reported)", value: `${round(big.cpuMsPerAgent, 0)} ms per agent`, met: true },
      ...rows.map((r) => ({
        what: `agent RSS, ${r.nodes} peers`,
        target: "(reported)",
        value: `${round(r.rssMiB, 0)} MiB (max ${round(r.rssMaxMiB, 0)})`,
        met: true,
      })),
    ],
    notes,
  };
}

// `node bench/control.mjs` alone (without run.mjs) prints the result.
if (process.argv[1] === new URL(import.meta.url).pathname) writeFileSync(1, `${JSON.stringify(await control(), null, 2)}\n`);
