// Convergence: `ciab lab up` of 3, 6 and 10 nodes (BGP, one route reflector) and one OSPF (BIRD) size, then an
// all-pairs ping matrix between the containers; wall time from starting `lab up` to the moment every container
// reaches every other one. Median of BENCH_RUNS runs (default 3). Every lab is torn down (try/finally).
import { bare, labName, log, median, needRoot, round, run, withLab } from "./lib/lab.mjs";

const SIZES = [
  { nodes: 3, routing: "bgp" },
  { nodes: 6, routing: "bgp" },
  { nodes: 10, routing: "bgp" },
  { nodes: 6, routing: "ospf" },
];
const TARGET_NODES = 10;
const TARGET_S = 20;

// One shell per source container: ping every other container once (resending every 0.2 s for up to `wait` s).
const PINGS = `w=$1; shift; for a in "$@"; do if ping -n -q -c 1 -i 0.2 -w "$w" "$a" >/dev/null 2>&1; then echo "ok $a"; else echo "fail $a"; fi; done`;

/** Phases of `lab up` from its progress lines ("[  1.6s] node n3: ciab-up done …", "[  7.0s] routing converged …"). */
function phases(progress) {
  const at = (re) => [...progress.matchAll(re)].map((m) => Number(m[1]));
  const applied = at(/^\[\s*([\d.]+)s\] node \S+: ciab-up done/gm);
  const converged = at(/^\[\s*([\d.]+)s\] routing converged/gm)[0];
  const applyStart = at(/^\[\s*([\d.]+)s\] applying bundles/gm)[0];
  const last = applied.length ? Math.max(...applied) : undefined;
  return {
    buildS: applyStart,
    applyS: last !== undefined && applyStart !== undefined ? last - applyStart : undefined,
    routingS: converged !== undefined && last !== undefined ? converged - last : undefined,
  };
}

/** All-pairs matrix, retried for the failing pairs until all pass or `deadlineS`; resolves {ok, pairs, seconds, rounds}. */
async function matrix(state, deadlineS = 30) {
  const cs = state.containers.map((c) => ({ ...c, v4: c.addresses.filter((a) => !a.includes(":")).map(bare)[0] })).filter((c) => c.v4);
  let todo = cs.map((a) => ({ a, dsts: cs.filter((b) => b !== a).map((b) => b.v4) }));
  const pairs = todo.reduce((n, t) => n + t.dsts.length, 0);
  const t0 = performance.now();
  let rounds = 0;
  while (todo.length) {
    rounds++;
    const results = await Promise.all(
      todo.map(async (t) => {
        const r = await run([...t.a.exec, "sh", "-c", PINGS, "pings", "5", ...t.dsts], { timeoutMs: 120_000 });
        const failed = t.dsts.filter((d) => !r.stdout.includes(`ok ${d}\n`));
        return { a: t.a, dsts: failed };
      }),
    );
    todo = results.filter((t) => t.dsts.length);
    if (todo.length && (performance.now() - t0) / 1000 > deadlineS) {
      const failed = todo.flatMap((t) => t.dsts.map((d) => `${t.a.name}->${d}`));
      return { ok: false, pairs, failed, seconds: (performance.now() - t0) / 1000, rounds };
    }
  }
  return { ok: true, pairs, failed: [], seconds: (performance.now() - t0) / 1000, rounds };
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
      const args = ["--nodes", String(size.nodes), "--routing", size.routing];
      await withLab(name, args, async (lab) => {
        const m = await matrix(lab.state);
        const ph = phases(lab.log);
        const s = {
          ...ph,
          upS: lab.upMs / 1000,
          labUpS: lab.state.upSeconds,
          matrixS: m.seconds,
          totalS: lab.upMs / 1000 + m.seconds,
          ok: m.ok,
          pairs: m.pairs,
          rounds: m.rounds,
        };
        if (!m.ok) notes.push(`${size.nodes} nodes ${size.routing}, run ${i + 1}: pairs still failing after 30 s: ${m.failed.slice(0, 8).join(", ")}`);
        log(
          `convergence: ${size.nodes} nodes ${size.routing} run ${i + 1}/${runs}: lab up ${s.upS.toFixed(1)} s (ciab: ${s.labUpS} s), matrix ${m.ok ? "complete" : "INCOMPLETE"} after ${s.matrixS.toFixed(1)} s more`,
        );
        samples.push(s);
      });
    }
    const ok = samples.filter((s) => s.ok);
    rows.push({
      nodes: size.nodes,
      routing: `${size.routing}${size.routing === "bgp" ? " (1 reflector)" : " (BIRD)"}`,
      runs: samples.length,
      complete: ok.length,
      pairs: samples[0]?.pairs ?? 0,
      labUpS: round(median(samples.map((s) => s.upS))),
      ciabUpSeconds: round(median(samples.map((s) => s.labUpS))),
      buildS: round(median(samples.map((s) => s.buildS))),
      applyS: round(median(samples.map((s) => s.applyS))),
      routingS: round(median(samples.map((s) => s.routingS))),
      matrixS: round(median(samples.map((s) => s.matrixS))),
      totalS: round(median(ok.map((s) => s.totalS))),
      minTotalS: round(Math.min(...ok.map((s) => s.totalS))),
      maxTotalS: round(Math.max(...ok.map((s) => s.totalS))),
    });
  }
  const big = rows.find((r) => r.nodes === TARGET_NODES && r.routing.startsWith("bgp"));
  const value = big?.totalS;
  const met = value !== null && value !== undefined && big.complete === big.runs && value < TARGET_S;
  notes.unshift(
    "labUpS: wall time of `ciab lab up` (namespaces, containers, every bundle's bin/ciab-up, until every node has every other node's subnets from the routing daemon); ciabUpSeconds: what `lab up` itself reports, split (from its progress lines) into buildS (namespaces, links, containers), applyS (every node's bin/ciab-up, run in parallel) and routingS (from the last ciab-up to every route installed); matrixS: the all-pairs container ping after that (every container pings every other once, resending every 0.2 s); totalS = labUpS + matrixS (median of the complete runs).",
  );
  if (big && !met) {
    const frac = big.ciabUpSeconds && big.labUpS ? big.ciabUpSeconds / big.labUpS : null;
    notes.push(
      `Missed: ${TARGET_NODES} nodes took ${value ?? "(no complete run)"} s to a full matrix (${big.complete}/${big.runs} runs complete); \`lab up\` accounts for ${big.labUpS} s of it${frac ? ` (${(frac * 100).toFixed(0)}% of which inside ciab's own timer)` : ""} and the matrix for ${big.matrixS} s. On a loaded 2-core machine ${TARGET_NODES} wireguard-go and FRR instances start at once and compete for CPU.`,
    );
  }
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
    ],
  };
}
