// Data plane: in one 3-node lab (ciab's defaults), iperf3 TCP and ping RTT from n1 to n3 over four paths: the
// underlay (node to node through the internet namespace), WireGuard only (the nodes' WireGuard addresses, i.e. the
// VTEPs 169.254.x.y), VXLAN over WireGuard (overlay addresses) and container to container (c1 -> c3). Each as a
// ratio to WireGuard only. Every process runs inside the lab's namespaces; iperf3 servers are stopped by PID.
import { cpus } from "node:os";
import { fragCounter, ifAddress, inNs, iperf, labName, log, median, needRoot, pidsIn, ping, round, run, withLab } from "./lib/lab.mjs";

const TARGET_RATIO = 0.9;

/** The node's VTEP on its WireGuard interface: IPv4 (169.254/16, the default) or IPv6 link-local (as ADDR%IF). */
async function vtepAddress(ns, wgIf) {
  try {
    return await ifAddress(ns, wgIf, 4);
  } catch {
    const r = await run(["ip", "-n", ns, "-j", "-6", "addr", "show", "dev", wgIf]);
    const a = (JSON.parse(r.stdout || "[]")[0]?.addr_info ?? []).find((x) => x.scope === "link");
    if (!a) throw new Error(`${wgIf} in ${ns} has no VTEP address`);
    return `${a.local}%${wgIf}`;
  }
}

export async function dataplane() {
  needRoot("dataplane");
  const reps = Number(process.env.BENCH_DP_REPS ?? 3);
  const seconds = Number(process.env.BENCH_DP_SECONDS ?? 5);
  const name = labName("bdp");
  return withLab(name, ["--nodes", "3"], async (lab) => {
    const [a, b] = ["n1", "n3"];
    const nsA = lab.nodeNs(a);
    const nsB = lab.nodeNs(b);
    const cA = lab.container(a);
    const cB = lab.container(b);
    const paths = [
      { path: "underlay", what: `${a} -> ${b} eth0, through the internet namespace`, server: nsB, client: nsA, address: lab.node(b).underlay.endpointHost },
      { path: "wireguard", what: `${a} -> ${b} WireGuard interface (VTEP addresses)`, server: nsB, client: nsA, address: await vtepAddress(nsB, lab.wgIf) },
      { path: "vxlan", what: `${a} -> ${b} VXLAN device (overlay addresses)`, server: nsB, client: nsA, address: await ifAddress(nsB, lab.vxIf, 4) },
      {
        path: "container",
        what: `${cA.name} -> ${cB.name}`,
        server: lab.node(b).containers[0].ns,
        client: lab.node(a).containers[0].ns,
        address: cB.addresses.find((x) => !x.includes(":")).split("/")[0],
      },
    ];
    // Warm up: handshakes, ARP/neighbour entries, so the first measurement does not pay for them.
    for (const p of paths) await ping(p.client, p.address, ["-c", "3", "-i", "0.2", "-w", "5"]);
    const samples = Object.fromEntries(paths.map((p) => [p.path, []]));
    const rtts = Object.fromEntries(paths.map((p) => [p.path, []]));
    // Round-robin over the paths, so the machine's load (shared, 2 cores) spreads over all of them alike.
    for (let i = 0; i < reps; i++) {
      for (const p of paths) {
        const r = await iperf(p.server, p.client, p.address, { seconds });
        if (!r.ok) log(`dataplane: ${p.path} run ${i + 1}: iperf3 failed: ${r.error}`);
        samples[p.path].push(r);
        log(`dataplane: ${p.path} run ${i + 1}/${reps}: ${r.ok ? `${r.mbps.toFixed(0)} Mbit/s, ${r.retransmits} retransmits` : "FAILED"}`);
      }
      for (const p of paths) {
        const r = await ping(p.client, p.address, ["-c", "20", "-i", "0.05", "-w", "10"]);
        rtts[p.path].push(r.avgMs);
      }
    }
    const frags = await fragCounter(lab);
    const userspace = (await pidsIn(nsB, "wireguard-go")).length > 0;
    const wgVersion = userspace ? /v[\d.]+/.exec((await run(inNs(nsB, ["wireguard-go", "--version"]))).stdout)?.[0] : undefined;
    const mbps = (p) => median(samples[p].filter((r) => r.ok).map((r) => r.mbps));
    const rtt = (p) => median(rtts[p]);
    const wg = mbps("wireguard");
    const wgRtt = rtt("wireguard");
    // Ratios are paired per round (path and WireGuard measured minutes apart, under the same load), then the median.
    const ratio = (p, get) => round(median(samples[p].map((r, i) => (r.ok && samples.wireguard[i]?.ok ? get(r) / get(samples.wireguard[i]) : null))));
    const rttRatio = (p) => round(median(rtts[p].map((v, i) => (v && rtts.wireguard[i] ? v / rtts.wireguard[i] : null))));
    const rows = paths.map((p) => ({
      path: p.path,
      between: p.what,
      address: p.address,
      mbps: round(mbps(p.path), 0),
      minMbps: round(Math.min(...samples[p.path].filter((r) => r.ok).map((r) => r.mbps)), 0),
      maxMbps: round(Math.max(...samples[p.path].filter((r) => r.ok).map((r) => r.mbps)), 0),
      ratioToWg: ratio(p.path, (r) => r.mbps),
      retransmits: median(samples[p.path].filter((r) => r.ok).map((r) => r.retransmits)),
      rttMs: round(rtt(p.path), 3),
      rttRatioToWg: rttRatio(p.path),
      runs: samples[p.path].filter((r) => r.ok).length,
    }));
    const ct = rows.find((r) => r.path === "container");
    const vx = rows.find((r) => r.path === "vxlan");
    const met = ct.ratioToWg !== null && ct.ratioToWg >= TARGET_RATIO;
    const notes = [
      `iperf3 TCP, ${seconds} s per run, ${reps} run(s) per path, round-robin; mbps is the sender's rate, median of the runs (min/max beside it); ratioToWg is the median of the per-round ratios (each path against the WireGuard run of the same round). RTT: ping -c 20 -i 0.05 after each round, median of the per-round averages (ratio paired the same way). The internet's fragment-drop counter after all runs: ${frags}.`,
    ];
    if (!met) {
      notes.push(
        `Missed: container to container reaches ${ct.ratioToWg} of WireGuard only (${ct.mbps} vs ${wg ? round(wg, 0) : "?"} Mbit/s; VXLAN over WireGuard between the nodes: ${vx.ratioToWg}). ${
          userspace
            ? `WireGuard runs as wireguard-go ${wgVersion ?? ""} (userspace, this kernel has no WireGuard module), which is CPU-bound on ${cpus().length} cores: every extra layer on the same CPUs (VXLAN encapsulation, the bridge and veth hop into the container, forwarding and the nft MSS clamp on both nodes) takes cycles from it, so the overlay loses ${(100 - ct.ratioToWg * 100).toFixed(0)}% against WireGuard alone (VXLAN between the nodes ${(100 - vx.ratioToWg * 100).toFixed(0)}%, the container hop the rest). What would change it: kernel WireGuard or a wireguard-go with TUN segmentation offload (both move the baseline, so the ratio must be measured again), or more cores than the lab's nodes share.`
            : "WireGuard runs in the kernel here; look at the retransmits and the machine's load before trusting the ratio."
        }`,
      );
    }
    return {
      rows,
      notes,
      targets: [
        {
          what: "container to container, ratio to WireGuard only (TCP)",
          target: `>= ${TARGET_RATIO}`,
          value: `${ct.ratioToWg} (${ct.mbps} / ${wg ? round(wg, 0) : "?"} Mbit/s)`,
          met,
        },
        { what: "VXLAN over WireGuard, ratio to WireGuard only", target: "(reference)", value: `${vx.ratioToWg}`, met: true },
        {
          what: "container-to-container RTT, ratio to WireGuard only",
          target: "(reference)",
          value: `${ct.rttRatioToWg} (${ct.rttMs} / ${round(wgRtt, 3)} ms)`,
          met: true,
        },
      ],
    };
  });
}
