// Convergence: `ciab lab up` over sizes (3 to 50 nodes), route-reflector counts (1 to 3), underlays (IPv4, IPv6,
// dual) and one OSPF (BIRD) case; then, straight after `lab up` returns, the full `ciab lab test` (does it pass with
// no wait? target: every run), and an independent all-pairs container ping (bounded parallel). Reports the wall time
// to a full matrix, memory per node (RSS of every process in the lab's namespaces) and the pass fraction. Median of
// BENCH_RUNS runs (default 3; BENCH_SIZES=6x2x6,10x2x4 picks cases: nodes x reflectors x underlay). Every lab is
// torn down (try/finally).
import { readFileSync } from "node:fs";
import { bare, ciab, labName, log, median, needRoot, round, run, withLab } from "./lib/lab.mjs";

const ALL = [
  { nodes: 3, routing: "bgp", reflectors: 1, underlay: "4" },
  { nodes: 6, routing: "bgp", reflectors: 1, underlay: "4" },
  { nodes: 6, routing: "bgp", reflectors: 2, underlay: "4" },
  { nodes: 6, routing: "bgp", reflectors: 2, underlay: "6" },
  { nodes: 6, routing: "bgp", reflectors: 3, underlay: "dual" },
  { nodes: 10, routing: "bgp", reflectors: 1, underlay: "4" },
  { nodes: 10, routing: "bgp", reflectors: 2, underlay: "6" },
  { nodes: 20, routing: "bgp", reflectors: 2, underlay: "4" },
  { nodes: 20, routing: "bgp", reflectors: 3, underlay: "dual" },
  { nodes: 50, routing: "bgp", reflectors: 2, underlay: "4" },
  { nodes: 6, routing: "ospf", reflectors: 0, underlay: "4" },
];
const key = (s) => `${s.nodes}x${s.reflectors}x${s.underlay}${s.routing === "ospf" ? "ospf" : ""}`;
const SIZES = process.env.BENCH_SIZES ? ALL.filter((s) => process.env.BENCH_SIZES.split(",").includes(key(s))) : ALL;
const TARGET_NODES = 10;
const TARGET_S = 20;
const PARALLEL = 8;

// One shell per source container: ping every other container once (resending every 0.2 s for up to `wait` s).
const PINGS = `w=$1; shift; for a in "$@"; do if ping -n -q -c 1 -i 0.2 -w "$w" "$a" >/dev/null 2>&1; then echo "ok $a"; else echo "fail $a"; fi; done`;

/** Phases of `lab up` from its progress lines ("[  1.6s] node n3: ciab-up done …", "[  7.0s] routing converged …"). */
function phases(progress) {
  const at = (re) => [...progress.matchAll(re)].map((m) => Number(m[1]));
  const applied = at(/^\[\s*([\d.]+)s\] node \S+: ciab-up done/gm);
  const converged = at(/^\[\s*([\d.]+)s\] routing converged/gm)[0];
  const ready = at(/^\[\s*([\d.]+)s\] ready:/gm)[0];
  const applyStart = at(/^\[\s*([\d.]+)s\] applying bundles/gm)[0];
  const last = applied.length ? Math.max(...applied) : undefined;
  return {
    buildS: applyStart,
    applyS: last !== undefined && applyStart !== undefined ? last - applyStart : undefined,
    routingS: converged !== undefined && last !== undefined ? converged - last : undefined,
    readyS: ready !== undefined && converged !== undefined ? ready - converged : undefined,
  };
}

async function mapLimit(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** All-pairs matrix (one round, bounded parallel); resolves {ok, pairs, failed, seconds}. */
async function matrix(state) {
  const cs = state.containers.map((c) => ({ ...c, v4: c.addresses.filter((a) => !a.includes(":")).map(bare)[0] })).filter((c) => c.v4);
  const todo = cs.map((a) => ({ a, dsts: cs.filter((b) => b !== a).map((b) => b.v4) }));
  const pairs = todo.reduce((n, t) => n + t.dsts.length, 0);
  const t0 = performance.now();
  const results = await mapLimit(todo, PARALLEL, async (t) => {
    const r = await run([...t.a.exec, "sh", "-c", PINGS, "pings", "2", ...t.dsts], { timeoutMs: 300_000 });
    return t.dsts.filter((d) => !r.stdout.includes(`ok ${d}\n`)).map((d) => `${t.a.name}->${d}`);
  });
  const failed = results.flat();
  return { ok: failed.length === 0, pairs, failed, seconds: (performance.now() - t0) / 1000 };
}

/** RSS (MiB) of every process in the lab's namespaces, per node (nodes' daemons and their containers). */
async function memoryPerNode(state) {
  let kib = 0;
  for (const ns of state.namespaces) {
    const r = await run(["ip", "netns", "pids", ns]);
    for (const pid of r.stdout.split("\n").filter(Boolean)) {
      try {
        const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
        if (m) kib += Number(m[1]);
      } catch {}
    }
  }
  return kib / 1024 / state.plan.nodes.length;
}

export async function convergence() {
  needRoot("convergence");
  const runs = Number(process.env.BENCH_RUNS ?? 3);
  const rows = [];
  const notes = [];
  for (const size of SIZES) {
    const samples = [];
    for (let i = 0; i < runs; i++) {
      const name = labName("bcv");
      const args = ["--nodes", String(size.nodes), "--routing", size.routing, "--underlay", size.underlay];
      if (size.routing === "bgp") args.push("--reflectors", String(size.reflectors));
      const label = `${size.nodes} nodes ${size.routing}${size.routing === "bgp" ? ` ${size.reflectors} RR` : ""} underlay ${size.underlay}`;
      await withLab(name, args, async (lab) => {
        const mem = await memoryPerNode(lab.state);
        // Straight after `lab up`: the full test, as a user following the "Next:" line would.
        const t0 = performance.now();
        const test = await ciab(["lab", "test", "--name", name, "--json"], { timeoutMs: 900_000 });
        const testS = (performance.now() - t0) / 1000;
        let report;
        try {
          report = JSON.parse(`${test.stdout.split("\n}\n")[0]}\n}`);
        } catch {
          report = { ok: false, checks: [{ name: "lab test", status: "fail", detail: test.stderr.trim().slice(0, 300) }] };
        }
        const failedChecks = (report.checks ?? []).filter((c) => c.status === "fail");
        const m = await matrix(lab.state);
        const ph = phases(lab.log);
        const s = {
          ...ph,
          upS: lab.upMs / 1000,
          labUpS: lab.state.upSeconds,
          testS,
          testOk: test.code === 0,
          matrixS: m.seconds,
          ok: m.ok,
          pairs: m.pairs,
          mem,
        };
        if (!s.testOk)
          notes.push(
            `${label}, run ${i + 1}: lab test failed straight after lab up: ${failedChecks
              .map((c) => `${c.name}: ${c.detail}`)
              .join("; ")
              .slice(0, 400)}`,
          );
        if (!m.ok) notes.push(`${label}, run ${i + 1}: pairs failing after lab up: ${m.failed.slice(0, 8).join(", ")}`);
        log(
          `convergence: ${label} run ${i + 1}/${runs}: lab up ${s.upS.toFixed(1)} s (ciab: ${s.labUpS} s), lab test ${s.testOk ? "passed" : "FAILED"} (${testS.toFixed(1)} s), matrix ${m.ok ? "complete" : "INCOMPLETE"} (${m.seconds.toFixed(1)} s), ${mem.toFixed(0)} MiB/node`,
        );
        samples.push(s);
      });
    }
    const ok = samples.filter((s) => s.ok);
    rows.push({
      nodes: size.nodes,
      routing: size.routing === "bgp" ? `bgp (${size.reflectors} RR)` : "ospf (BIRD)",
      underlay: size.underlay === "dual" ? "dual" : `IPv${size.underlay}`,
      runs: samples.length,
      testPassedAfterUp: `${samples.filter((s) => s.testOk).length}/${samples.length}`,
      pairs: samples[0]?.pairs ?? 0,
      fullMatrixS: round(median(ok.map((s) => s.upS))),
      maxFullMatrixS: round(Math.max(...ok.map((s) => s.upS))),
      buildS: round(median(samples.map((s) => s.buildS))),
      applyS: round(median(samples.map((s) => s.applyS))),
      routingS: round(median(samples.map((s) => s.routingS))),
      readyCheckS: round(median(samples.map((s) => s.readyS))),
      matrixAgainS: round(median(samples.map((s) => s.matrixS))),
      labTestS: round(median(samples.map((s) => s.testS))),
      mibPerNode: round(median(samples.map((s) => s.mem)), 0),
    });
  }
  const big = rows.find((r) => r.nodes === TARGET_NODES && r.routing.startsWith("bgp"));
  const value = big?.fullMatrixS;
  const passed = rows.reduce((n, r) => n + Number(r.testPassedAfterUp.split("/")[0]), 0);
  const total = rows.reduce((n, r) => n + r.runs, 0);
  const met = value !== null && value !== undefined && big.testPassedAfterUp.startsWith(`${big.runs}/`) && value < TARGET_S;
  notes.unshift(
    "fullMatrixS: wall time of `ciab lab up`, which now returns only when every pair has a WireGuard handshake, every routing session is established, every node has every other node's subnets and an all-pairs container ping succeeded (src/lab/ready.ts), so it is the time to a full matrix; split (from its progress lines) into buildS (namespaces, links, containers), applyS (every node's bin/ciab-up, in parallel), routingS (last ciab-up to every route installed) and readyCheckS (from there to the all-pairs ping done). testPassedAfterUp: runs in which the full `ciab lab test` passed straight after `lab up` returned (labTestS: its duration); matrixAgainS: an independent one-round all-pairs ping after that (8 sources at a time); mibPerNode: RSS of every process in the lab's namespaces (wireguard-go, FRR or BIRD, containers) divided by the nodes.",
  );
  return {
    rows,
    notes,
    targets: [
      {
        what: `${TARGET_NODES} nodes (BGP, 1 reflector): lab up to full reachability matrix, median of ${runs}`,
        target: `< ${TARGET_S} s`,
        value: `${value ?? "n/a"} s`,
        met,
      },
      {
        what: "`lab test` passes straight after `lab up` (all cases and runs)",
        target: "100 %",
        value: `${total ? Math.round((100 * passed) / total) : 0} % (${passed}/${total})`,
        met: passed === total && total > 0,
      },
    ],
  };
}
