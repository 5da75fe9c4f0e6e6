// Data plane: in one 3-node lab (ciab's defaults), iperf3 TCP and ping RTT from n1 to n3 over four paths: the
// underlay (node to node through the internet namespace), WireGuard only (the nodes' WireGuard addresses, i.e. the
// VTEPs 169.254.x.y), VXLAN over WireGuard (overlay addresses) and container to container (c1 -> c3). Each as a
// ratio to WireGuard only. Every process runs inside the lab's namespaces; iperf3 servers are stopped by PID.
// Layer by layer: two half-way paths (node -> remote container, container -> remote node) split the container hop
// into its receiving and sending side, and comparison runs take one layer away for that run only (the bundle's nft
// table removed, then loaded again; GRO on the container veths switched on, then off again) to price it.
import { cpus, loadavg } from "node:os";
import {
  fragCounter,
  ifAddress,
  inNs,
  iperf,
  labName,
  log,
  median,
  needRoot,
  pidsIn,
  ping,
  round,
  run,
  udpRcvbufErrors,
  withLab,
  withoutGuard,
} from "./lib/lab.mjs";

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
    const nsCA = lab.node(a).containers[0].ns;
    const nsCB = lab.node(b).containers[0].ns;
    const cbAddr = cB.addresses.find((x) => !x.includes(":")).split("/")[0];
    const vxB = await ifAddress(nsB, lab.vxIf, 4);
    const paths = [
      { path: "underlay", what: `${a} -> ${b} eth0, through the internet namespace`, server: nsB, client: nsA, address: lab.node(b).underlay.endpointHost },
      { path: "wireguard", what: `${a} -> ${b} WireGuard interface (VTEP addresses)`, server: nsB, client: nsA, address: await vtepAddress(nsB, lab.wgIf) },
      { path: "vxlan", what: `${a} -> ${b} VXLAN device (overlay addresses)`, server: nsB, client: nsA, address: vxB },
      { path: "node-container", what: `${a} -> ${cB.name} (${b} forwards into its bridge and ${cB.name}'s veth)`, server: nsCB, client: nsA, address: cbAddr },
      {
        path: "container-node",
        what: `${cA.name} -> ${b} overlay address (${a} forwards from ${cA.name}'s veth and bridge)`,
        server: nsB,
        client: nsCA,
        address: vxB,
      },
      { path: "container", what: `${cA.name} -> ${cB.name}`, server: nsCB, client: nsCA, address: cbAddr },
    ];
    const byPath = Object.fromEntries(paths.map((p) => [p.path, p]));
    // Comparisons: one layer taken away (or an offload switched on) for that run only, then put back.
    const vethEnds = [
      [lab.node(a).containers[0].ns, "eth0"],
      [lab.node(b).containers[0].ns, "eth0"],
      [nsA, lab.node(a).containers[0].hostIf],
      [nsB, lab.node(b).containers[0].hostIf],
    ];
    const gro = async (on) => {
      for (const [ns, dev] of vethEnds) {
        const r = await run(inNs(ns, ["ethtool", "-K", dev, "gro", on ? "on" : "off"]));
        if (r.code !== 0) throw new Error(`ethtool -K ${dev} gro in ${ns}: ${r.stderr}`);
      }
    };
    const variants = [
      {
        path: "wireguard, no guard",
        base: "wireguard",
        what: "WireGuard only, the bundle's nft table removed on both nodes (comparison)",
        around: (fn) => withoutGuard(lab, [a, b], fn),
      },
      {
        path: "container, no guard",
        base: "container",
        what: "container to container, the bundle's nft table removed on both nodes (comparison)",
        around: (fn) => withoutGuard(lab, [a, b], fn),
      },
      {
        path: "container, veth GRO",
        base: "container",
        what: "container to container, GRO on both ends of both container veths (comparison)",
        around: async (fn) => {
          await gro(true);
          try {
            return await fn();
          } finally {
            await gro(false);
          }
        },
      },
    ];
    const all = [...paths.map((p) => ({ ...p, around: (fn) => fn() })), ...variants.map((v) => ({ ...byPath[v.base], ...v }))];
    // Warm up: handshakes, ARP/neighbour entries, so the first measurement does not pay for them.
    for (const p of paths) await ping(p.client, p.address, ["-c", "3", "-i", "0.2", "-w", "5"]);
    const samples = Object.fromEntries(all.map((p) => [p.path, []]));
    const rtts = Object.fromEntries(paths.map((p) => [p.path, []]));
    const loads = [loadavg()[0]];
    // Round-robin over the paths, so the machine's load (shared, 2 cores) spreads over all of them alike.
    for (let i = 0; i < reps; i++) {
      for (const p of all) {
        // Datagrams the receiving node's full UDP sockets refused during the run: wireguard-go's (the VXLAN socket
        // is the kernel's and is not charged to a buffer the same way).
        const before = await udpRcvbufErrors(p.server === nsCB ? nsB : p.server);
        const r = await p.around(() => iperf(p.server, p.client, p.address, { seconds }));
        r.udpDrops = (await udpRcvbufErrors(p.server === nsCB ? nsB : p.server)) - before;
        if (!r.ok) log(`dataplane: ${p.path} run ${i + 1}: iperf3 failed: ${r.error}`);
        samples[p.path].push(r);
        log(
          `dataplane: ${p.path} run ${i + 1}/${reps}: ${r.ok ? `${r.mbps.toFixed(0)} Mbit/s, ${r.retransmits} retransmits, ${r.udpDrops} UDP receive-buffer drops` : "FAILED"}`,
        );
      }
      for (const p of paths) {
        const r = await ping(p.client, p.address, ["-c", "20", "-i", "0.05", "-w", "10"]);
        rtts[p.path].push(r.avgMs);
      }
      loads.push(loadavg()[0]);
    }
    const frags = await fragCounter(lab);
    const userspace = (await pidsIn(nsB, "wireguard-go")).length > 0;
    const wgVersion = userspace ? /v[\d.]+/.exec((await run(inNs(nsB, ["wireguard-go", "--version"]))).stdout)?.[0] : undefined;
    const mbps = (p) => median(samples[p].filter((r) => r.ok).map((r) => r.mbps));
    const rtt = (p) => median(rtts[p]);
    const wg = mbps("wireguard");
    const wgRtt = rtt("wireguard");
    const rttRatio = (p) => round(median(rtts[p].map((v, i) => (v && rtts.wireguard[i] ? v / rtts.wireguard[i] : null))));
    // Ratios are paired per round (two paths measured seconds apart, under the same load), then the median.
    const step = (to, from) => round(median(samples[to].map((r, i) => (r.ok && samples[from][i]?.ok ? r.mbps / samples[from][i].mbps : null))));
    const ok = (p) => samples[p].filter((r) => r.ok);
    const rows = all.map((p) => ({
      path: p.path,
      between: p.what,
      address: p.address,
      mbps: round(mbps(p.path), 0),
      minMbps: round(Math.min(...ok(p.path).map((r) => r.mbps)), 0),
      maxMbps: round(Math.max(...ok(p.path).map((r) => r.mbps)), 0),
      ratioToWg: step(p.path, "wireguard"),
      retransmits: median(ok(p.path).map((r) => r.retransmits)),
      udpDrops: median(ok(p.path).map((r) => r.udpDrops)),
      rttMs: rtts[p.path] ? round(rtt(p.path), 3) : "",
      rttRatioToWg: rtts[p.path] ? rttRatio(p.path) : "",
      runs: ok(p.path).length,
    }));
    const layers = [
      {
        layer: "VXLAN over WireGuard (encapsulation, 50 bytes per packet, a second UDP stack pass)",
        path: "vxlan",
        relativeTo: "wireguard",
        ratio: step("vxlan", "wireguard"),
      },
      {
        layer: "receiving side: forwarding, bridge and veth into the container",
        path: "node-container",
        relativeTo: "vxlan",
        ratio: step("node-container", "vxlan"),
      },
      {
        layer: "sending side: the container's veth, bridge and forwarding",
        path: "container-node",
        relativeTo: "vxlan",
        ratio: step("container-node", "vxlan"),
      },
      { layer: "container to container (every layer)", path: "container", relativeTo: "wireguard", ratio: step("container", "wireguard") },
      {
        layer: "nft guard and MSS clamp, on WireGuard only (removed = 1 / ratio)",
        path: "wireguard",
        relativeTo: "wireguard, no guard",
        ratio: step("wireguard", "wireguard, no guard"),
      },
      {
        layer: "nft guard and MSS clamp, on the container path",
        path: "container",
        relativeTo: "container, no guard",
        ratio: step("container", "container, no guard"),
      },
      {
        layer: "GRO on the container veths (> 1: it helps)",
        path: "container, veth GRO",
        relativeTo: "container",
        ratio: step("container, veth GRO", "container"),
      },
    ];
    const ct = rows.find((r) => r.path === "container");
    const vx = rows.find((r) => r.path === "vxlan");
    const met = ct.ratioToWg !== null && ct.ratioToWg >= TARGET_RATIO;
    // The WireGuard interface's offloads: wireguard-go opens its TUN device with or without a virtio-net header
    // (`ip -d link`: vnet_hdr on/off); without it there is no TSO/GRO on the device, so every packet is one syscall.
    const tunInfo = (await run(["ip", "-d", "-n", nsB, "link", "show", "dev", lab.wgIf])).stdout;
    const vnetHdr = /vnet_hdr (on|off)/.exec(tunInfo)?.[1] ?? "?";
    const tunTso = /tcp-segmentation-offload: (\S+)/.exec((await run(inNs(nsB, ["ethtool", "-k", lab.wgIf]))).stdout)?.[1] ?? "?";
    const mss = (p) => median(ok(p).map((r) => r.mss));
    const payloadCeiling = mss("container") && mss("wireguard") ? round(mss("container") / mss("wireguard")) : null;
    const loss = (r) => (r === null ? "?" : `${Math.round((1 - r) * 100)}%`);
    const L = Object.fromEntries(
      layers.map((l) => [l.relativeTo === "wireguard, no guard" ? "guardWg" : l.relativeTo === "container, no guard" ? "guardCt" : l.path, l.ratio]),
    );
    const notes = [
      `iperf3 TCP, ${seconds} s per run, ${reps} run(s) per path, round-robin; mbps is the sender's rate, median of the runs (min/max beside it); ratioToWg is the median of the per-round ratios (each path against the WireGuard run of the same round). udpDrops: datagrams the receiving node's full UDP sockets refused during the run (/proc/net/snmp RcvbufErrors; wireguard-go's socket), each one a TCP retransmit after the sending side did all its work. RTT: ping -c 20 -i 0.05 after each round, median of the per-round averages (ratio paired the same way). The internet's fragment-drop counter after all runs: ${frags}. Load average (1 min) over the rounds: ${loads.map((x) => x.toFixed(1)).join(", ")} on ${cpus().length} cores (the machine is shared).`,
      `Layers (table 2): each ratio is the median of per-round ratios of two paths of the same round. The WireGuard interface: wireguard-go ${wgVersion ?? "(kernel)"}, TUN vnet_hdr ${vnetHdr}, tcp-segmentation-offload ${tunTso} (ethtool -k): ${vnetHdr === "off" ? "every packet is one read or write system call and one crypto operation, so its cost is per packet" : "segmentation offload on the TUN device"}. TCP MSS: ${mss("wireguard")} bytes over WireGuard only, ${mss("container")} container to container (the VXLAN header and inner Ethernet header take 50 bytes of the WireGuard MTU): when the cost is per packet, the container path can reach at most ${payloadCeiling ?? "?"} of WireGuard only.`,
      "Applied: the guard does not track VXLAN frames (raw-priority notrack for the VXLAN port on the WireGuard interface, src/render/nft.ts): without it every frame on the container path paid a third connection-tracking lookup (WireGuard's UDP and the inner flow are the other two, as on the WireGuard-only path).",
    ];
    if (!met) {
      notes.push(
        `Missed: container to container reaches ${ct.ratioToWg} of WireGuard only (${ct.mbps} vs ${wg ? round(wg, 0) : "?"} Mbit/s). Where it goes (table 2): VXLAN ${loss(L.vxlan)}, the receiving node's forwarding/bridge/veth ${loss(L["node-container"])} and the sending node's ${loss(L["container-node"])} (each against VXLAN), the guard ${loss(L.guardCt)} of the container path (${loss(L.guardWg)} of WireGuard only); GRO on the container veths: ${L["container, veth GRO"] ?? "?"}x. ${
          userspace
            ? `WireGuard runs as wireguard-go ${wgVersion ?? ""} (userspace; this kernel has no WireGuard module) and is CPU-bound on ${cpus().length} shared cores: every layer the container path adds runs on the same CPUs and takes cycles from it. What would change it: a wireguard-go with TUN segmentation offload (vnet_hdr on: 0.0.20230223 or later) or kernel WireGuard, which both move the baseline, so the ratio must be measured again; more cores than the lab's nodes share.`
            : "WireGuard runs in the kernel here; look at the retransmits and the machine's load before trusting the ratio."
        }`,
      );
    }
    return {
      rows,
      tables: [{ title: "Layer by layer", rows: layers }],
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
