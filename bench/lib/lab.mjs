// Shared helpers of the lab parts (convergence, failover, dataplane, mtu): run the real CLI (`node dist/ciab.mjs
// lab …`) and commands inside the lab's own namespaces, track every process started, and tear every lab down even
// on failure or Ctrl-C. Safety rules (docs/LAB.md): nothing in the root namespace, processes are found by PID inside
// a lab namespace (`ip netns pids` + /proc/PID/comm), never by name machine-wide, and only labs this process
// created are torn down.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./common.mjs";

export const CLI = join(ROOT, "dist", "ciab.mjs");
export const LAB_ROOT = process.env.CIAB_LAB_ROOT ?? "/run/ciab-lab";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const median = (xs) => {
  const s = xs.filter((x) => typeof x === "number" && Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return null;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
export const round = (x, digits = 2) => (typeof x === "number" && Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : null);
export const log = (msg) => process.stderr.write(`${msg}\n`);

export function needRoot(part) {
  if (typeof process.getuid === "function" && process.getuid() !== 0) throw new Error(`bench ${part} needs root (it runs ciab lab)`);
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (node scripts/build.mjs)`);
}

// ---------------------------------------------------------------- processes

/** Children still running (PID -> {child, ciabUp}). Interrupts stop them by PID. */
const children = new Map();
/** Labs this process created and has not torn down yet. */
const activeLabs = new Set();
let interrupted = false;
let handlerInstalled = false;

export class Interrupted extends Error {}
/** True once SIGINT/SIGTERM arrived: the handler is tearing the labs down and will exit the process. */
export const isInterrupted = () => interrupted;

/**
 * Run argv (no shell) in its own process group, so a terminal's Ctrl-C reaches only the bench, which then stops
 * its children by PID and tears its labs down. Resolves {code, stdout, stderr, ms, timedOut}; never rejects on a
 * non-zero exit. `cleanup: true` is allowed after an interrupt (teardown).
 */
export function run(argv, opts = {}) {
  installInterruptHandler();
  if (interrupted && !opts.cleanup) return Promise.reject(new Interrupted("interrupted"));
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(argv[0], argv.slice(1), { stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"], detached: true });
    const out = [];
    const err = [];
    child.stdout.on("data", (b) => out.push(b));
    child.stderr.on("data", (b) => {
      err.push(b);
      if (opts.echoStderr) process.stderr.write(b);
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    let timedOut = false;
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          child.kill("SIGKILL");
        }, opts.timeoutMs)
      : undefined;
    if (child.pid) children.set(child.pid, { child, ciabUp: !!opts.ciabUp });
    let done = false;
    let exitedAt;
    const finish = (code) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      if (child.pid) children.delete(child.pid);
      resolve({
        code,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        ms: (exitedAt ?? performance.now()) - t0,
        timedOut,
      });
    };
    const status = (code, signal) => code ?? 128 + (signal === "SIGKILL" ? 9 : 15);
    child.on("error", (e) => {
      err.push(Buffer.from(String(e.message)));
      finish(127);
    });
    child.on("close", (code, signal) => finish(status(code, signal)));
    // A daemon the program left behind may hold its stdout open: once the program exited, wait only briefly for EOF.
    child.on("exit", (code, signal) => {
      exitedAt = performance.now();
      setTimeout(() => {
        if (done) return;
        child.stdout.destroy();
        child.stderr.destroy();
        finish(status(code, signal));
      }, 300);
    });
  });
}

/** Start a long-running process (an iperf3 server) and return its child; stop it with `stopChild`. */
export function start(argv) {
  installInterruptHandler();
  if (interrupted) throw new Interrupted("interrupted");
  const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "pipe"], detached: true });
  const out = [];
  child.stdout.on("data", (b) => out.push(b));
  child.stderr.on("data", (b) => out.push(b));
  child.output = () => Buffer.concat(out).toString("utf8");
  child.exited = new Promise((r) => child.on("close", r));
  if (child.pid) children.set(child.pid, { child, ciabUp: false });
  child.on("close", () => children.delete(child.pid));
  return child;
}

/** Stop a child started by `start` (by its PID), waiting at most 2 s before SIGKILL. */
export async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const done = await Promise.race([child.exited.then(() => true), sleep(2000).then(() => false)]);
  if (!done) {
    child.kill("SIGKILL");
    await child.exited;
  }
}

export const ciab = (args, opts = {}) => run([process.execPath, CLI, ...args], opts);

function installInterruptHandler() {
  if (handlerInstalled) return;
  handlerInstalled = true;
  const onSignal = (sig) => {
    if (interrupted) {
      log(`bench: ${sig} again: still tearing down, please wait`);
      return;
    }
    interrupted = true;
    log(`bench: ${sig}: stopping and tearing down labs ${[...activeLabs].join(", ") || "(none)"}`);
    void (async () => {
      // `ciab lab up` tears down what it built when interrupted; everything else of ours simply stops.
      for (const [pid, c] of children) {
        try {
          process.kill(pid, c.ciabUp ? "SIGINT" : "SIGKILL");
        } catch {}
      }
      const deadline = Date.now() + 120_000;
      while ([...children.values()].some((c) => c.ciabUp) && Date.now() < deadline) await sleep(200);
      for (const lab of activeLabs) downSync(lab);
      process.exit(130);
    })();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}

export const labExists = (lab) => existsSync(join(LAB_ROOT, lab, "state.json"));

function downSync(lab) {
  if (!labExists(lab)) return;
  const r = spawnSync(process.execPath, [CLI, "lab", "down", "--name", lab], { encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0) log(`bench: ciab lab down --name ${lab} failed: ${r.stderr}`);
}

// ---------------------------------------------------------------- labs

let seq = 0;
/** A unique lab name: prefix (2-3 letters) + PID + a counter, at most 12 characters (ciab's lab-name rule). */
export function labName(prefix) {
  seq++;
  const name = `${prefix}${process.pid}${seq.toString(36)}`;
  if (!/^[a-z][a-z0-9]{0,11}$/.test(name)) throw new Error(`lab name ${name} is not valid`);
  return name;
}

/**
 * `ciab lab up --name NAME ARGS --json`: resolves {state, ms}; throws (after ciab's own teardown) when it fails.
 * The lab is tracked for teardown from the moment `up` starts.
 */
export async function labUp(name, args, timeoutMs = 300_000) {
  activeLabs.add(name);
  // -v: its phases on stderr (convergence.mjs splits the time by them; without a terminal they are silent otherwise)
  const r = await ciab(["lab", "up", "-v", "--name", name, ...args, "--json"], { timeoutMs, ciabUp: true });
  if (r.code !== 0) {
    if (interrupted) throw new Interrupted("interrupted");
    throw new Error(
      `ciab lab up --name ${name} ${args.join(" ")} failed (${r.code}${r.timedOut ? ", timed out" : ""}): ${r.stderr.trim().split("\n").slice(-6).join("\n")}`,
    );
  }
  return { state: JSON.parse(r.stdout), ms: r.ms, log: r.stderr };
}

/** `ciab lab down`, then check that none of the lab's namespaces is left. Resolves the teardown time (ms). */
export async function labDown(name) {
  if (!labExists(name)) {
    activeLabs.delete(name);
    return 0;
  }
  const r = await ciab(["lab", "down", "--name", name], { timeoutMs: 180_000, cleanup: true });
  if (r.code !== 0) throw new Error(`ciab lab down --name ${name} failed (${r.code}): ${r.stderr.trim()}`);
  activeLabs.delete(name);
  const left = (await run(["ip", "netns", "list"], { cleanup: true })).stdout
    .split("\n")
    .map((l) => l.split(" ")[0])
    .filter((ns) => ns.startsWith(`${name}-`));
  if (left.length) throw new Error(`lab ${name}: namespaces left after ciab lab down: ${left.join(", ")}`);
  return r.ms;
}

/** Build a lab, run fn(lab) and always tear it down. lab = {name, state, upMs, paths…}. */
export async function withLab(name, args, fn) {
  let result;
  let failure;
  try {
    const up = await labUp(name, args);
    result = await fn(labInfo(name, up));
  } catch (e) {
    failure = e;
  }
  // After Ctrl-C the interrupt handler tears every lab down (one teardown at a time, not two racing).
  if (interrupted) throw failure ?? new Interrupted("interrupted");
  try {
    await labDown(name);
  } catch (e) {
    failure = failure ?? e;
    if (failure !== e) log(`bench: teardown of ${name} failed too: ${e.message}`);
  }
  if (failure) throw failure;
  return result;
}

/** Everything about a lab that is up, from its state (`ciab lab up --json`) and its files. */
export function labInfo(name, up) {
  const { state } = up;
  const plan = state.plan;
  const dir = join(LAB_ROOT, name);
  const node = (n) => plan.nodes.find((x) => x.name === n);
  return {
    name,
    state,
    plan,
    upMs: up.ms,
    log: up.log ?? "",
    network: state.network,
    wgIf: state.network,
    vxIf: `v${state.network}`,
    inet: plan.inetNs,
    node,
    nodeNs: (n) => node(n).ns,
    container: (n) => state.containers.find((c) => c.node === n),
    bundle: (n) => join(dir, "nodes", n, "bundle"),
    manifest: (n) => JSON.parse(readFileSync(join(dir, "nodes", n, "bundle", "manifest.json"), "utf8")),
    frrConf: (n) => readFileSync(join(dir, "nodes", n, "bundle", "frr", "frr.conf"), "utf8"),
  };
}

// ---------------------------------------------------------------- inside the lab

export const inNs = (ns, argv) => ["ip", "netns", "exec", ns, ...argv];
export const bare = (a) => a.split("/")[0];

/** PIDs of the processes in a lab namespace whose /proc/PID/comm is `comm` (never a machine-wide name lookup). */
export async function pidsIn(ns, comm) {
  const r = await run(["ip", "netns", "pids", ns]);
  if (r.code !== 0) throw new Error(`ip netns pids ${ns}: ${r.stderr}`);
  const out = [];
  for (const pid of r.stdout
    .split("\n")
    .map(Number)
    .filter((p) => Number.isInteger(p) && p > 0)) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() === comm) out.push(pid);
    } catch {}
  }
  return out;
}

export async function onePid(ns, comm) {
  const pids = await pidsIn(ns, comm);
  if (pids.length !== 1) throw new Error(`expected one ${comm} in ${ns}, found ${pids.length} (${pids.join(" ")})`);
  return pids[0];
}

/** First address (without length) of an interface inside a namespace, of family 4 or 6 (not link-local IPv6). */
export async function ifAddress(ns, dev, family = 4) {
  const r = await run(["ip", "-n", ns, "-j", `-${family}`, "addr", "show", "dev", dev]);
  if (r.code !== 0) throw new Error(`ip -n ${ns} addr show dev ${dev}: ${r.stderr}`);
  const info = JSON.parse(r.stdout || "[]")[0]?.addr_info ?? [];
  const a = info.find((x) => family === 4 || x.scope === "global");
  if (!a) throw new Error(`${dev} in ${ns} has no IPv${family} address`);
  return a.local;
}

/** Is there a route to exactly `prefix` from the routing daemon (`ip -n NS route show proto P PREFIX`)? */
export async function hasRoute(ns, prefix, proto) {
  const r = await run(["ip", "-n", ns, "route", "show", "proto", proto, prefix]);
  return r.code === 0 && r.stdout.trim() !== "";
}

/**
 * Poll `cond` every `intervalMs` (from the start of one poll to the start of the next) until it is true. Resolves
 * the seconds from t0 to the end of the poll that saw it (an upper bound: the event happened before), or null
 * after timeoutMs.
 */
export async function pollUntil(cond, { t0 = performance.now(), intervalMs = 50, timeoutMs = 60_000 } = {}) {
  for (;;) {
    const started = performance.now();
    if (await cond()) return (performance.now() - t0) / 1000;
    if (performance.now() - t0 > timeoutMs) return null;
    const wait = intervalMs - (performance.now() - started);
    if (wait > 0) await sleep(wait);
  }
}

/** Ping from a namespace: resolves {ok, avgMs, lossPct, out}. */
export async function ping(ns, address, args = []) {
  const r = await run(inNs(ns, ["ping", "-n", "-q", ...args, address]), { timeoutMs: 60_000 });
  const avg = /= [\d.]+\/([\d.]+)\//.exec(r.stdout);
  const loss = /([\d.]+)% packet loss/.exec(r.stdout);
  return { ok: r.code === 0, avgMs: avg ? Number(avg[1]) : null, lossPct: loss ? Number(loss[1]) : null, out: r.stdout + r.stderr };
}

/** The internet's dropped-fragment counter (nft counter `frags` of table inet ciab_lab). */
export async function fragCounter(lab) {
  const r = await run(inNs(lab.inet, ["nft", "-j", "list", "counter", "inet", "ciab_lab", "frags"]));
  const m = /"packets":\s*(\d+)/.exec(r.stdout);
  if (r.code !== 0 || !m) throw new Error(`cannot read the fragment counter in ${lab.inet}: ${r.stderr}`);
  return Number(m[1]);
}

/** The bundle's nft table (guard and MSS clamp) of a node: its file and table name. */
export function guardOf(lab, node) {
  const file = join(lab.bundle(node), "nft", "ciab.nft");
  const table = /^table inet (\S+) \{$/m.exec(readFileSync(file, "utf8"))?.[1];
  if (!table) throw new Error(`${file} declares no nft table`);
  return { file, table };
}

/**
 * Run fn() with the bundle's nft table removed from `nodes` (a comparison only: the guard and the clamp are off for
 * that run), then load the bundle's file again, also when fn throws.
 */
export async function withoutGuard(lab, nodes, fn) {
  for (const n of nodes) {
    const r = await run(inNs(lab.nodeNs(n), ["nft", "delete", "table", "inet", guardOf(lab, n).table]));
    if (r.code !== 0) throw new Error(`nft delete table in ${lab.nodeNs(n)}: ${r.stderr}`);
  }
  let result;
  let failure;
  try {
    result = await fn();
  } catch (e) {
    failure = e;
  }
  for (const n of nodes) {
    const { file } = guardOf(lab, n);
    const r = await run(inNs(lab.nodeNs(n), ["nft", "-f", file]), { cleanup: true });
    if (r.code !== 0) throw new Error(`nft -f ${file} in ${lab.nodeNs(n)}: ${r.stderr}`);
  }
  if (failure) throw failure;
  return result;
}

/** CPU seconds (user + system) a process has used so far, from /proc/PID/stat; 0 when it is gone. */
export function cpuSeconds(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}
/** Clock ticks per second of /proc/PID/stat (USER_HZ: 100 on Linux). */
const CLK_TCK = 100;

/** A namespace's UDP receive-buffer drops (/proc/net/snmp Udp RcvbufErrors): datagrams a full socket refused. */
export async function udpRcvbufErrors(ns) {
  const r = await run(inNs(ns, ["cat", "/proc/net/snmp"]));
  const [head, vals] = r.stdout.split("\n").filter((l) => l.startsWith("Udp: "));
  const i = head?.split(" ").indexOf("RcvbufErrors") ?? -1;
  if (r.code !== 0 || i < 0 || !vals) throw new Error(`cannot read UDP counters in ${ns}: ${r.stderr}`);
  return Number(vals.split(" ")[i]);
}

/**
 * iperf3 TCP from namespace `clientNs` to `address`, server in `serverNs` (a process we start and stop by PID).
 * Resolves {mbps (sender), receiverMbps, bytes, retransmits, mss, seconds, cpuPct {client, server}, ok, error}.
 */
let port = 5201 + (process.pid % 500);
export async function iperf(serverNs, clientNs, address, { seconds = 5, extra = [] } = {}) {
  const p = String(port++);
  const server = start(inNs(serverNs, ["iperf3", "-s", "-1", "-p", p]));
  try {
    // Wait until the server listens (inside its namespace).
    const listening = await pollUntil(
      async () => (await run(inNs(serverNs, ["ss", "-Hltn", `sport = :${p}`]))).stdout.trim() !== "" || server.exitCode !== null,
      { intervalMs: 100, timeoutMs: 10_000 },
    );
    if (listening === null || server.exitCode !== null) return { ok: false, error: `iperf3 server did not start: ${server.output().trim()}` };
    const r = await run(inNs(clientNs, ["iperf3", "-c", address, "-p", p, "-t", String(seconds), "-J", ...extra]), { timeoutMs: (seconds + 30) * 1000 });
    let j;
    try {
      j = JSON.parse(r.stdout);
    } catch {
      return { ok: false, error: `iperf3 gave no JSON (exit ${r.code}${r.timedOut ? ", timed out" : ""}): ${r.stderr.trim().slice(0, 200)}` };
    }
    if (j.error) return { ok: false, error: j.error };
    const end = j.end ?? {};
    return {
      ok: r.code === 0,
      mbps: (end.sum_sent?.bits_per_second ?? 0) / 1e6,
      receiverMbps: (end.sum_received?.bits_per_second ?? 0) / 1e6,
      bytes: end.sum_received?.bytes ?? 0,
      retransmits: end.sum_sent?.retransmits ?? null,
      mss: j.start?.tcp_mss_default ?? null,
      seconds: end.sum_sent?.seconds ?? null,
      // CPU of the iperf3 processes themselves (user + system, % of the run's wall time): client, server.
      cpuPct: { client: end.cpu_utilization_percent?.host_total ?? null, server: end.cpu_utilization_percent?.remote_total ?? null },
    };
  } finally {
    await stopChild(server);
  }
}
