// Failover: in a 3-node lab (BGP, n1 the route reflector) node n3 fails, and n2 measures how long n3's subnet stays
// in its kernel (`ip -n NS route show proto bgp PREFIX`, polled every 50 ms), then how long the route takes to come
// back after the repair. Faults: the routing daemon hung (SIGSTOP bgpd: TCP stays up, BFD runs in bfdd and keeps
// answering), the node's underlay link cut (in the internet namespace), the WireGuard daemon killed (wireguard-go),
// and the routing daemon killed loudly (kill -9 bgpd: the kernel closes its TCP sessions, so this is no silent
// failure). Repairs: SIGCONT, link up, the node's own bundle bin/ciab-up again (through `ciab lab exec`), and for
// kill -9 nothing (watchfrr restarts bgpd). Three timer settings, each from a mesh file (`ciab lab up --mesh`): FRR's
// defaults (60/180, no BFD), fast timers without BFD (3/9), and ciab's defaults (3/9 + BFD). The timers in each row
// are read back from the rendered frr.conf. Processes are found by PID inside n3's namespace, never by name.
// `--quick` (or BENCH_QUICK=1) leaves out the FRR-defaults setting, whose silent failures take 3 minutes each.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ciab, hasRoute, labName, log, median, needRoot, onePid, pidsIn, pollUntil, round, run, sleep, withLab } from "./lib/lab.mjs";

const NET = "bfo";
const NODES = ["n1", "n2", "n3"];
const [REFLECTOR, OBSERVER, VICTIM] = NODES;
const SUBNET = (i) => `10.0.${i + 1}.0/24`;
/** How long each route poll (`ip route show`) took, ms: the measurement's resolution is max(50 ms, this). */
const pollMs = [];
async function routeAt(ns, prefix) {
  const t = performance.now();
  const has = await hasRoute(ns, prefix, "bgp");
  pollMs.push(performance.now() - t);
  return has;
}

const SETTINGS = [
  { id: "frr-defaults", label: "FRR defaults (60/180, no BFD)", set: ["bgp-keepalive", "60", "bgp-hold", "180", "bfd", "off"], slow: true },
  { id: "fast", label: "fast timers (3/9, no BFD)", set: ["bgp-keepalive", "3", "bgp-hold", "9", "bfd", "off"] },
  { id: "ciab", label: "ciab defaults", set: [] },
];

const TARGETS = [
  { fault: "link", what: "underlay link cut, withdrawn (ciab defaults)", limit: 1 },
  { fault: "wg", what: "WireGuard daemon killed, withdrawn (ciab defaults)", limit: 1 },
  { fault: "hung", what: "routing daemon hung (SIGSTOP bgpd), withdrawn (ciab defaults)", limit: 10 },
];

/** The mesh file of one setting, made with the real CLI (`ciab add`, `ciab set`); its endpoints the lab replaces. */
async function meshFile(dir, setting) {
  const ok = async (args) => {
    const r = await ciab(["-C", dir, ...args]);
    if (r.code !== 0) throw new Error(`ciab ${args.join(" ")}: ${r.stderr}`);
  };
  await ok(["add", NET, ...NODES]);
  await ok(["set", NET, "route-reflectors", REFLECTOR, ...setting.set, ...NODES.flatMap((n, i) => ["node", n, "subnets", SUBNET(i)])]);
  return join(dir, `${NET}.conf`);
}

/** What the rendered frr.conf of the victim says: BGP timers and BFD. */
function renderedTimers(conf) {
  const t = /^\s*timers bgp (\d+) (\d+)/m.exec(conf);
  const bfd = /^\s*neighbor \S+ bfd\b/m.test(conf);
  const mult = /detect-multiplier (\d+)/.exec(conf);
  const rx = /receive-interval (\d+)/.exec(conf);
  return {
    keepalive: t ? Number(t[1]) : 60,
    hold: t ? Number(t[2]) : 180,
    explicit: !!t,
    bfd: bfd ? `${rx ? rx[1] : "300"} ms x ${mult ? mult[1] : "3"}` : "off",
  };
}

/** Run a command on a node through the CLI (its own mounts: vtysh talks to that node's FRR). */
const onNode = (lab, node, argv, timeoutMs = 60_000) => ciab(["lab", "exec", "--name", lab.name, node, "--", ...argv], { timeoutMs });

async function vtyJson(lab, node, cmd) {
  const r = await onNode(lab, node, ["vtysh", "-c", cmd], 20_000);
  try {
    return JSON.parse(r.stdout);
  } catch {
    return undefined;
  }
}

/** Every node has every other node's subnet (proto bgp), the reflector's sessions are Established, BFD is up. */
async function settled(lab, bfd) {
  for (const [i, n] of NODES.entries()) {
    for (const [j] of NODES.entries()) if (i !== j && !(await hasRoute(lab.nodeNs(n), SUBNET(j), "bgp"))) return false;
  }
  const sum = await vtyJson(lab, REFLECTOR, "show bgp summary json");
  const peers = Object.values(sum?.ipv4Unicast?.peers ?? {});
  if (peers.length !== NODES.length - 1 || peers.some((p) => p.state !== "Established")) return false;
  if (bfd) {
    for (const n of [REFLECTOR, VICTIM]) {
      const b = await vtyJson(lab, n, "show bfd peers json");
      if (!Array.isArray(b) || b.length === 0 || b.some((p) => p.status !== "up")) return false;
    }
  }
  return true;
}

async function settle(lab, bfd) {
  const s = await pollUntil(() => settled(lab, bfd), { intervalMs: 500, timeoutMs: 240_000 });
  if (s === null) throw new Error(`lab ${lab.name} did not settle (routes, BGP sessions${bfd ? ", BFD" : ""}) within 240 s`);
  await sleep(1000);
}

/** The faults, in the order they run (kill -9 last: watchfrr waits longer before restarting a daemon twice). */
function faults(lab) {
  const ns = lab.nodeNs(VICTIM);
  const uplink = lab.node(VICTIM).uplink;
  const sig = (pid, s) => {
    try {
      process.kill(pid, s);
    } catch {
      /* gone (watchfrr may have replaced it) */
    }
  };
  let pid;
  const ipInet = async (...args) => {
    const r = await run(["ip", "-n", lab.inet, ...args]);
    if (r.code !== 0) throw new Error(`ip -n ${lab.inet} ${args.join(" ")}: ${r.stderr}`);
  };
  return [
    {
      fault: "hung",
      what: `bgpd hung (SIGSTOP) on ${VICTIM}`,
      repair: "SIGCONT",
      prepare: async () => {
        pid = await onePid(ns, "bgpd");
      },
      inject: async () => sig(pid, "SIGSTOP"),
      fix: async () => sig(pid, "SIGCONT"),
    },
    {
      fault: "link",
      what: `underlay link of ${VICTIM} cut (${uplink} down in the internet)`,
      repair: "link up",
      inject: () => ipInet("link", "set", uplink, "down"),
      fix: () => ipInet("link", "set", uplink, "up"),
    },
    {
      fault: "wg",
      what: `wireguard-go killed (SIGKILL) on ${VICTIM}`,
      repair: "bin/ciab-up again",
      prepare: async () => {
        pid = await onePid(ns, "wireguard-go");
      },
      inject: async () => sig(pid, "SIGKILL"),
      fix: async () => {
        // The bundle's own ciab-up on the node, as an operator would run it; its output goes to a file so that the
        // daemons it starts do not hold our pipes.
        const logFile = join(lab.bundle(VICTIM), "..", "ciab-up-bench.log");
        const r = await onNode(lab, VICTIM, ["sh", "-c", 'exec sh "$1/bin/ciab-up" >"$2" 2>&1', "ciab-up", lab.bundle(VICTIM), logFile], 120_000);
        if (r.code !== 0) throw new Error(`bin/ciab-up on ${VICTIM} failed (${r.code}); see ${logFile}`);
      },
    },
    {
      fault: "kill9",
      what: `bgpd killed (kill -9) on ${VICTIM}`,
      repair: "none (watchfrr restarts bgpd)",
      recoveryFromFailure: true,
      prepare: async () => {
        pid = await onePid(ns, "bgpd");
      },
      inject: async () => sig(pid, "SIGKILL"),
      fix: async () => {},
    },
  ];
}

async function oneSetting(setting, reps) {
  const dir = mkdtempSync(join(tmpdir(), "ciab-bench-failover-"));
  try {
    const file = await meshFile(dir, setting);
    const name = labName("bfo");
    return await withLab(name, ["--mesh", file], async (lab) => {
      const timers = renderedTimers(lab.frrConf(VICTIM));
      const bfd = timers.bfd !== "off";
      const obs = lab.nodeNs(OBSERVER);
      const prefix = SUBNET(NODES.indexOf(VICTIM));
      const limitMs = (timers.hold + 60) * 1000;
      const rows = [];
      for (const f of faults(lab).filter((f) => !process.env.BENCH_FAILOVER_FAULTS || process.env.BENCH_FAILOVER_FAULTS.split(",").includes(f.fault))) {
        // kill -9 only once: a second restart within watchfrr's minimum restart interval waits for it.
        const n = f.fault === "kill9" ? 1 : reps;
        const gone = [];
        const back = [];
        for (let i = 0; i < n; i++) {
          await settle(lab, bfd);
          await f.prepare?.();
          const t0 = performance.now();
          await f.inject();
          const g = await pollUntil(async () => !(await routeAt(obs, prefix)), { t0, timeoutMs: limitMs });
          const t1 = performance.now();
          await f.fix();
          const b = await pollUntil(() => routeAt(obs, prefix), { t0: f.recoveryFromFailure ? t0 : t1, timeoutMs: limitMs });
          gone.push(g);
          back.push(b);
          log(
            `failover: ${setting.id}: ${f.what}: withdrawn at ${OBSERVER} after ${g === null ? `> ${limitMs / 1000}` : g.toFixed(2)} s; ${f.repair}: back after ${b === null ? `> ${limitMs / 1000}` : b.toFixed(2)} s`,
          );
        }
        const ok = (xs) => xs.filter((x) => x !== null);
        rows.push({
          timers: setting.label,
          bgp: `${timers.keepalive}/${timers.hold}${timers.explicit ? "" : " (FRR's)"}`,
          bfd: timers.bfd,
          fault: f.what,
          id: f.fault,
          holdS: timers.hold,
          keepaliveS: timers.keepalive,
          withdrawnS: round(median(ok(gone))),
          withdrawnRange: ok(gone).length > 1 ? `${round(Math.min(...ok(gone)))}-${round(Math.max(...ok(gone)))}` : "",
          repair: f.repair,
          recoveredS: round(median(ok(back))),
          recoveredRange: ok(back).length > 1 ? `${round(Math.min(...ok(back)))}-${round(Math.max(...ok(back)))}` : "",
          runs: n,
          timeouts: gone.length - ok(gone).length + back.length - ok(back).length,
        });
      }
      // The victim's daemons after the drills: watchfrr may have restarted some; the lab still must be whole.
      await settle(lab, bfd);
      const left = await pidsIn(lab.nodeNs(VICTIM), "bgpd");
      if (left.length !== 1) log(`failover: ${setting.id}: ${left.length} bgpd processes on ${VICTIM} after the drills`);
      return rows;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function failover() {
  needRoot("failover");
  const quick = process.env.BENCH_QUICK === "1";
  const reps = Number(process.env.BENCH_FAILOVER_REPS ?? 3);
  // BENCH_FAILOVER_SETTINGS=ciab and BENCH_FAILOVER_FAULTS=link,wg pick settings and faults (the CI smoke run: one each).
  const pick = (env, id) => !process.env[env] || process.env[env].split(",").includes(id);
  const rows = [];
  for (const s of SETTINGS) {
    if (!pick("BENCH_FAILOVER_SETTINGS", s.id)) continue;
    if (quick && s.slow) {
      log(`failover: --quick: leaving out ${s.label}`);
      continue;
    }
    // One run per fault with FRR's defaults: each silent failure takes the 180 s hold time.
    rows.push(...(await oneSetting(s, s.slow ? 1 : reps)));
  }
  const notes = [
    `Measured at ${OBSERVER} for ${VICTIM}'s subnet ${SUBNET(NODES.indexOf(VICTIM))} (${REFLECTOR} is the route reflector), polling \`ip -n NS route show proto bgp PREFIX\` every 50 ms: withdrawnS is from the fault to the first poll that no longer saw the route, recoveredS from the repair (for kill -9: from the kill) to the first poll that saw it again; both are upper bounds by up to one poll cycle (a poll took ${round(median(pollMs), 0)} ms median, ${round(quantile(pollMs, 0.95), 0)} ms at the 95th percentile, over ${pollMs.length} polls). Median of the runs (range beside it); ${reps} run(s) per fault with fast timers and ciab's defaults, one with FRR's defaults and for kill -9. Timers (bgp keepalive/hold, bfd) are read back from the rendered frr.conf.`,
  ];
  if (quick) notes.push("Quick run (--quick): the FRR-defaults setting (60/180, no BFD) was left out; the full run includes it.");
  const targets = [];
  for (const t of TARGETS) {
    const r = rows.find((x) => x.id === t.fault && x.timers === "ciab defaults");
    const v = r?.withdrawnS;
    const met = typeof v === "number" && v < t.limit && r.timeouts === 0;
    targets.push({
      what: t.what,
      target: `< ${t.limit} s`,
      value: v === null || v === undefined ? "not measured" : `${v} s${r.withdrawnRange ? ` (${r.withdrawnRange})` : ""}`,
      met,
    });
    if (r && !met) {
      const detect = t.fault === "hung" ? `the BGP hold time (${r.bgp.split("/")[1]} s)` : `BFD (${r.bfd}, ${bfdDetectMs(r.bfd)} ms to detect)`;
      notes.push(
        `Missed: ${t.what} took ${v ?? "more than the limit"} s${r.withdrawnRange ? ` (runs ${r.withdrawnRange})` : ""}; the detection itself is ${detect}, the rest is the reflector's update to ${OBSERVER}, zebra installing it and the 50 ms poll, all on a loaded 2-core machine.`,
      );
    }
  }
  // Detections by the hold timer: how long before the fault the victim's last message reached the reflector.
  const byHold = rows.filter((r) => typeof r.withdrawnS === "number" && (r.id === "hung" || ((r.id === "link" || r.id === "wg") && r.bfd === "off")));
  if (byHold.length) {
    const gaps = byHold.map((r) => r.holdS - r.withdrawnS);
    notes.push(
      `Hold-timer detections (bgpd hung; link cut and dead WireGuard without BFD) came ${round(Math.min(...gaps), 1)}-${round(Math.max(...gaps), 1)} s before the full hold time (${[...new Set(byHold.map((r) => r.bgp))].join(", ")}): the victim's last message had reached the reflector that long before the fault. Each fault follows the lab settling shortly after its sessions (re)established, so it lands at about the same point of the keepalive cycle every time and the figures are close to the worst case (the hold time); a fault at a random moment is found after hold minus 0 to one keepalive interval (${[...new Set(byHold.map((r) => `${r.holdS - r.keepaliveS}-${r.holdS} s with ${r.bgp}`))].join(", ")}).`,
    );
  }
  for (const r of rows)
    if (r.timeouts) notes.push(`${r.timers}, ${r.fault}: ${r.timeouts} measurement(s) timed out (route not withdrawn or not back within hold + 60 s).`);
  return { rows: rows.map(({ id, holdS, keepaliveS, ...r }) => r), notes, targets };
}

function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : null;
}

function bfdDetectMs(bfd) {
  const m = /(\d+) ms x (\d+)/.exec(bfd);
  return m ? Number(m[1]) * Number(m[2]) : "?";
}
