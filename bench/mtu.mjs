// MTU: for an IPv4 and an IPv6 underlay (`ciab lab up --underlay 4|6`), between the containers of two nodes:
// 1. the largest IPv4 packet that passes end to end with DF set (binary search with `ping -M do -s`) equals the
//    rendered container MTU (manifest.json mtu.container), one byte more is refused;
// 2. the same search after raising both containers' links to 1500 (as a default bridge would have): what the mesh
//    itself carries, so a too-large VXLAN/WireGuard MTU would show up as a black hole instead of the container's
//    own limit; a probe above it must get an answer (ICMP "fragmentation needed"), not silence;
// 3. TCP with large writes (iperf3 -l 64K) completes with non-zero throughput, at the rendered MTU and with 1500-byte
//    container links, where the MSS the sender uses shows the clamp (manifest mtu.mss4) at work;
// 4. the internet's fragment-drop counter stays 0 through all of it.
// All inside the lab's namespaces; the lab is torn down afterwards (changing its links needs no undo).
import { fragCounter, iperf, labName, log, needRoot, ping, run, withLab, withoutGuard } from "./lib/lab.mjs";

const IPV4_ICMP = 28;

/** Largest ICMP payload (ping -s) from namespace `ns` to `dst` with DF set that gets a reply, in [lo, hi]. */
async function largestPayload(ns, dst, lo = 64, hi = 9000) {
  const passes = async (s) => (await ping(ns, dst, ["-c", "1", "-w", "2", "-M", "do", "-s", String(s)])).ok;
  if (!(await passes(lo))) return null;
  if (await passes(hi)) return hi;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (await passes(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** iperf3 run length (BENCH_MTU_SECONDS, default 5; the CI smoke run uses 1). */
const SECONDS = Number(process.env.BENCH_MTU_SECONDS ?? 5);

async function setMtu(ns, dev, mtu) {
  const r = await run(["ip", "-n", ns, "link", "set", "dev", dev, "mtu", String(mtu)]);
  if (r.code !== 0) throw new Error(`ip -n ${ns} link set ${dev} mtu ${mtu}: ${r.stderr}`);
}

async function oneUnderlay(underlay) {
  const name = labName("bmt");
  return withLab(name, ["--nodes", "2", "--underlay", underlay], async (lab) => {
    const [a, b] = ["n1", "n2"];
    const m = lab.manifest(a).mtu;
    const ca = lab.node(a).containers[0];
    const cb = lab.node(b).containers[0];
    const dst = cb.addresses.find((x) => !x.includes(":")).split("/")[0];
    const frags0 = await fragCounter(lab);
    await ping(ca.ns, dst, ["-c", "3", "-i", "0.2", "-w", "5"]);

    // 1. At the rendered MTU.
    const payload = await largestPayload(ca.ns, dst);
    const largest = payload === null ? null : payload + IPV4_ICMP;
    const over = await ping(ca.ns, dst, ["-c", "1", "-w", "2", "-M", "do", "-s", String(m.container - IPV4_ICMP + 1)]);
    const tcp = await iperf(cb.ns, ca.ns, dst, { seconds: SECONDS, extra: ["-l", "64K"] });
    log(
      `mtu: underlay IPv${underlay}: container MTU ${m.container}, largest packet ${largest}; iperf3 -l 64K ${tcp.ok ? `${tcp.mbps.toFixed(0)} Mbit/s` : `FAILED ${tcp.error}`}`,
    );

    // 2-3. Container links at 1500 on both sides (container end and the node's bridge port; the bridge follows).
    await setMtu(ca.ns, "eth0", 1500);
    await setMtu(lab.nodeNs(a), ca.hostIf, 1500);
    await setMtu(cb.ns, "eth0", 1500);
    await setMtu(lab.nodeNs(b), cb.hostIf, 1500);
    // TCP first, before anything teaches c1 the path MTU: the MSS it starts with then comes from the SYN-ACK alone,
    // i.e. from c2's 1500-byte link unless the nodes clamp it.
    const tcp1500 = await iperf(cb.ns, ca.ns, dst, { seconds: SECONDS, extra: ["-l", "64K"] });
    // Control: the same without the clamp (the bundle's nft table removed on both nodes, loaded again afterwards), so
    // the MSS above is shown to come from the clamp. This run also lets c1 learn the path MTU (PMTUD).
    const noClamp = await withoutGuard(lab, [a, b], () => iperf(cb.ns, ca.ns, dst, { seconds: SECONDS, extra: ["-l", "64K"] }));
    // A 1500-byte DF probe: the node must answer "fragmentation needed" (ICMP), which the container's kernel keeps as
    // the path MTU of that destination (`ip route get` shows "cache … mtu N"). Silence would be a black hole.
    await ping(ca.ns, dst, ["-c", "1", "-w", "2", "-M", "do", "-s", String(1500 - IPV4_ICMP)]);
    const signal = /\bmtu (\d+)/.exec((await run(["ip", "-n", ca.ns, "route", "get", dst])).stdout);
    const payload1500 = await largestPayload(ca.ns, dst);
    const largest1500 = payload1500 === null ? null : payload1500 + IPV4_ICMP;
    const frags = (await fragCounter(lab)) - frags0;
    log(
      `mtu: underlay IPv${underlay}, container links at 1500: largest packet ${largest1500}, probe above: ${signal ? `told mtu ${signal[1]}` : "no answer"}; iperf3 -l 64K ${tcp1500.ok ? `${tcp1500.mbps.toFixed(0)} Mbit/s, MSS ${tcp1500.mss}` : `FAILED ${tcp1500.error}`}; fragments dropped ${frags}`,
    );
    return {
      underlay: `IPv${underlay}`,
      wgMtu: m.wg,
      vxlanMtu: m.vxlan,
      containerMtu: m.container,
      largestPacket: largest,
      oneMoreRefused: !over.ok,
      tcp64kMbps: tcp.ok ? Math.round(tcp.mbps) : 0,
      tcp64kMss: tcp.mss,
      largestAt1500: largest1500,
      pmtuAnswer: signal ? Number(signal[1]) : "none",
      tcp64kAt1500Mbps: tcp1500.ok ? Math.round(tcp1500.mbps) : 0,
      mssAt1500: tcp1500.mss,
      mssNoClamp: noClamp.ok ? noClamp.mss : "failed",
      tcpNoClampMbps: noClamp.ok ? Math.round(noClamp.mbps) : 0,
      mss4: m.mss4,
      fragmentsDropped: frags,
      errors: [tcp.error, tcp1500.error, noClamp.error].filter(Boolean).join("; ") || "",
    };
  });
}

export async function mtu() {
  needRoot("mtu");
  const rows = [];
  // BENCH_MTU_UNDERLAYS=4 picks the underlays (the CI smoke run: one).
  for (const u of (process.env.BENCH_MTU_UNDERLAYS ?? "4,6").split(",")) rows.push(await oneUnderlay(u));
  const targets = [];
  const notes = [
    `largestPacket: largest IPv4 packet (ping -M do -s N, N + 28 bytes) from c1 to c2 with the rendered MTUs; oneMoreRefused: containerMtu + 1 bytes is refused. largestAt1500: the same after raising both containers' links (container eth0 and the node's bridge port) to 1500, so the limit is the mesh's own (VXLAN device) and not the container link; pmtuAnswer: the path MTU c1's kernel learnt from ICMP "fragmentation needed" answers (to the unclamped TCP run's and a 1500-byte DF ping's oversized packets; \`ip route get\` shows it; silence would be a black hole). tcp64k*: iperf3 -l 64K for ${SECONDS} s c1 -> c2; mssAt1500: the sender's TCP MSS (iperf3 tcp_mss_default, timestamps excluded) with 1500-byte container links; mssNoClamp / tcpNoClampMbps: the same run with the bundle's nft table (the clamp) removed from both nodes for the run (then loaded again), the control; mss4: the rendered clamp (manifest mtu.mss4). fragmentsDropped: the internet's fragment-drop counter over the whole run. Containers have IPv4 subnets only, so the inner traffic is IPv4 over both underlays.`,
  ];
  for (const r of rows) {
    const u = r.underlay;
    targets.push(
      {
        what: `${u} underlay: largest unfragmented packet c1 -> c2 = rendered container MTU`,
        target: `= ${r.containerMtu}`,
        value: `${r.largestPacket}`,
        met: r.largestPacket === r.containerMtu && r.oneMoreRefused,
      },
      {
        what: `${u} underlay, container links at 1500: largest packet the mesh carries`,
        target: `= ${r.containerMtu}`,
        value: `${r.largestAt1500} (PMTU answer: ${r.pmtuAnswer})`,
        met: r.largestAt1500 === r.containerMtu && r.pmtuAnswer === r.containerMtu,
      },
      { what: `${u} underlay: IP fragments dropped by the internet`, target: "0", value: `${r.fragmentsDropped}`, met: r.fragmentsDropped === 0 },
      {
        what: `${u} underlay: TCP, 64 KiB writes, completes (rendered MTU / 1500-byte links)`,
        target: "> 0 Mbit/s",
        value: `${r.tcp64kMbps} / ${r.tcp64kAt1500Mbps} Mbit/s`,
        met: r.tcp64kMbps > 0 && r.tcp64kAt1500Mbps > 0,
      },
      {
        what: `${u} underlay: MSS with 1500-byte container links is clamped (control: clamp removed)`,
        target: `<= ${r.mss4} (control > ${r.mss4})`,
        value: `${r.mssAt1500} (control ${r.mssNoClamp})`,
        met: typeof r.mssAt1500 === "number" && r.mssAt1500 <= r.mss4 && typeof r.mssNoClamp === "number" && r.mssNoClamp > r.mss4,
      },
    );
    if (r.largestPacket !== r.containerMtu)
      notes.push(`Missed (${u}): the largest packet that passed was ${r.largestPacket} bytes, the rendered container MTU is ${r.containerMtu}.`);
    if (r.largestAt1500 !== r.containerMtu)
      notes.push(
        `Missed (${u}): with 1500-byte container links the mesh carried ${r.largestAt1500}-byte packets, the rendered container MTU is ${r.containerMtu}${r.largestAt1500 !== null && r.largestAt1500 > r.containerMtu ? ": packets larger than the container MTU got through, so the VXLAN device's MTU is not the container MTU" : ""}.`,
      );
    if (r.fragmentsDropped !== 0)
      notes.push(`Missed (${u}): the internet dropped ${r.fragmentsDropped} fragment(s): some WireGuard packets were larger than the underlay MTU.`);
    if (r.errors) notes.push(`${u}: iperf3: ${r.errors}`);
  }
  return { rows, notes, targets };
}
