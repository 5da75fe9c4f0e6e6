// `ciab doctor`: the host's prerequisites, each with what to do about it. Owns: the checks and their fixes. Must
// not: change anything (a check only reads; the fixes are text for people), or print (cli/ does).

import { parseLinks } from "../adapters/iproute2.js";
import { chooseBackend, RUN_DIR } from "../adapters/wireguard.js";
import { IFNAME } from "../model/mesh.js";
import { WG_OVERHEAD } from "../model/mtu.js";
import { FRR_INIT, nftFingerprint } from "../plan/plan.js";
import type { DesiredHost, DesiredWireguard, ObservedLink } from "../plan/types.js";
import type { HostDeps } from "./host.js";

export interface Check {
  name: string;
  status: "ok" | "warn" | "fail";
  detail: string;
  /** What to do when it is not ok. */
  fix?: string;
}

const ok = (name: string, detail: string): Check => ({ name, status: "ok", detail });
const warn = (name: string, detail: string, fix: string): Check => ({ name, status: "warn", detail, fix });
const fail = (name: string, detail: string, fix: string): Check => ({ name, status: "fail", detail, fix });

async function have(deps: HostDeps, tool: string): Promise<boolean> {
  return (await deps.run(["sh", "-c", 'command -v "$1" >/dev/null', "sh", tool], { timeoutMs: 5000 })).code === 0;
}

export async function doctor(d: DesiredHost | undefined, deps: HostDeps): Promise<Check[]> {
  const checks: Check[] = [];
  const sys = (k: string) => deps.readFile(`/proc/sys/${k}`)?.trim();

  const fwd = sys("net/ipv4/ip_forward");
  checks.push(
    fwd === "1"
      ? ok("ip_forward", "net.ipv4.ip_forward = 1")
      : warn(
          "ip_forward",
          `net.ipv4.ip_forward = ${fwd ?? "?"}: containers' traffic is not routed`,
          "ciab up sets it; to keep it across reboots: echo net.ipv4.ip_forward=1 > /etc/sysctl.d/90-ciab.conf",
        ),
  );

  // The kernel uses the larger of conf/all and conf/<dev> (ip-sysctl.rst); strict (1) drops packets that arrive
  // on another interface than the route back, which happens to traffic relayed for a blacklisted pair.
  const rpAll = Number(sys("net/ipv4/conf/all/rp_filter") ?? 0);
  const rpDefault = Number(sys("net/ipv4/conf/default/rp_filter") ?? 0);
  const rpDev = Math.max(rpDefault, ...(d?.vxlan ?? []).map((x) => Number(sys(`net/ipv4/conf/${x.ifname}/rp_filter`) ?? rpDefault)));
  const rp = Math.max(rpAll, rpDev);
  checks.push(
    rp === 1
      ? warn(
          "rp_filter",
          "strict reverse-path filtering (1): asymmetric transit through a relay node is dropped",
          "sysctl -w net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.default.rp_filter=2 (loose)",
        )
      : ok("rp_filter", `rp_filter ${rp} (${rp === 0 ? "off" : "loose"})`),
  );

  const wg = await chooseBackend({ run: deps.run, exists: deps.exists, readFile: deps.readFile, env: deps.env }, deps.runDir ?? RUN_DIR);
  checks.push(
    wg.backend
      ? ok("wireguard", `${wg.backend.kind}: ${wg.why}`)
      : fail("wireguard", wg.why, "apt-get install --no-install-recommends wireguard-go (or use a kernel with WireGuard, Linux >= 5.6)"),
  );

  for (const [tool, pkg] of [
    ["wg", "wireguard-tools"],
    ["wg-quick", "wireguard-tools"],
    ["ip", "iproute2"],
    ["bridge", "iproute2"],
  ] as const) {
    checks.push((await have(deps, tool)) ? ok(`tool ${tool}`, "installed") : fail(`tool ${tool}`, "missing", `apt-get install --no-install-recommends ${pkg}`));
  }
  if (d?.nft) checks.push(...(await guardChecks(d, d.nft, deps)));

  for (const r of d?.routing ?? []) {
    if (r.daemon !== "frr") continue;
    if (!deps.exists(FRR_INIT)) checks.push(fail("frr", "FRR is not installed", "apt-get install --no-install-recommends frr frr-pythontools"));
    else {
      checks.push(ok("frr", "installed"));
      const want = [...r.daemons.matchAll(/^(\w+d)=yes$/gm)].map((m) => m[1] as string);
      const installed = deps.readFile("/etc/frr/daemons") ?? "";
      const off = want.filter((x) => !new RegExp(`^${x}=yes`, "m").test(installed));
      checks.push(
        off.length === 0
          ? ok("frr daemons", `${want.join(", ")} enabled in /etc/frr/daemons`)
          : warn(
              "frr daemons",
              `not enabled in /etc/frr/daemons: ${off.join(", ")}`,
              "ciab up installs the rendered daemons file (and starts them without restarting bgpd)",
            ),
      );
      checks.push(
        deps.exists("/usr/lib/frr/frr-reload.py")
          ? ok("frr reload", "frr-reload.py present: configuration changes apply as deltas")
          : warn(
              "frr reload",
              "frr-reload.py missing: removed configuration stays active until FRR restarts",
              "apt-get install --no-install-recommends frr-pythontools",
            ),
      );
    }
  }
  if (d?.routing.some((r) => r.daemon === "bird"))
    checks.push(
      (await have(deps, "bird")) && (await have(deps, "birdc"))
        ? ok("bird", "installed")
        : fail("bird", "BIRD is not installed", "apt-get install --no-install-recommends bird2"),
    );

  if (d) {
    const names = [...d.wireguard, ...d.vxlan].map((x) => x.ifname);
    const bad = names.filter((n) => !IFNAME.test(n));
    checks.push(
      bad.length === 0
        ? ok("interface names", `${names.join(", ")} (<= 15 bytes)`)
        : fail("interface names", `${bad.join(" / ")} exceed Linux's 15 bytes`, "use a network name of at most 14 characters"),
    );
    const links = parseLinks((await deps.run(["ip", "-j", "-d", "link", "show"])).stdout || "[]");
    for (const w of d.wireguard) checks.push(...(await wgChecks(d, w, links, deps)));
  }

  // WireGuard handshakes carry a timestamp that must increase (TAI64N, replay protection): a clock set far back
  // makes peers ignore this host's handshakes until it catches up.
  const now = deps.now();
  const year = new Date(now * 1000).getUTCFullYear();
  checks.push(
    year >= 2024 && year < 2100
      ? ok("clock", `${new Date(now * 1000).toISOString()}`)
      : fail("clock", `the system clock says ${new Date(now * 1000).toISOString()}`, "set the clock (NTP: apt-get install systemd-timesyncd or chrony)"),
  );
  return checks;
}

/** One WireGuard interface: its listen port is free or its own; each peer's underlay carries its packets unfragmented. */
async function wgChecks(d: DesiredHost, w: DesiredWireguard, links: ObservedLink[], deps: HostDeps): Promise<Check[]> {
  const checks: Check[] = [];
  const wgIf = w.ifname;
  // The listen port: free, or held by our own interface.
  const ours = links.some((l) => l.name === wgIf);
  const ss = await deps.run(["ss", "-H", "-u", "-l", "-n"], { timeoutMs: 5000 });
  const port = w.listenPort;
  const taken = ss.code === 0 && ss.stdout.split("\n").some((l) => new RegExp(`[:\\]]${port}\\s`).test(`${l.trim().split(/\s+/)[3] ?? ""} `));
  if (port === 0) checks.push(ok("listen port", "0 (random)"));
  else if (ss.code !== 0) checks.push(warn("listen port", `cannot check UDP ${port}: ss failed`, "apt-get install iproute2"));
  else if (taken && !ours)
    checks.push(
      fail(
        "listen port",
        `UDP ${port} is in use by another program`,
        `free it, or give the node another port: ciab set ${d.network} node ${d.node} listen-port N`,
      ),
    );
  else checks.push(ok("listen port", `UDP ${port} ${ours ? `held by ${wgIf}` : "free"}`));

  // MTU: the route to each peer's endpoint must carry a WireGuard packet of the rendered size unfragmented.
  const seen = new Set<string>();
  for (const p of w.peers) {
    const host = p.endpoint?.replace(/^\[(.*)\]:\d+$/, "$1").replace(/^([\d.]+):\d+$/, "$1");
    if (!host || !/^[\d.]+$|:/.test(host) || seen.has(host)) continue;
    seen.add(host);
    const r = await deps.run(["ip", "-j", "route", "get", host], { timeoutMs: 5000 });
    let dev: string | undefined;
    let routeMtu: number | undefined;
    try {
      const j = JSON.parse(r.stdout) as { dev?: string; metrics?: { mtu?: number }[] }[];
      dev = j[0]?.dev;
      routeMtu = j[0]?.metrics?.find((m) => m.mtu)?.mtu;
    } catch {
      /* no route */
    }
    if (!dev) {
      checks.push(fail(`underlay to ${p.name}`, `no route to ${host}`, "check the host's default route"));
      continue;
    }
    const mtu = routeMtu ?? links.find((l) => l.name === dev)?.mtu ?? 1500;
    const need = w.mtu + (host.includes(":") ? WG_OVERHEAD[6] : WG_OVERHEAD[4]);
    checks.push(
      need <= mtu
        ? ok(`underlay MTU to ${p.name}`, `${dev} mtu ${mtu} carries WireGuard ${w.mtu} + overhead = ${need}`)
        : fail(
            `underlay MTU to ${p.name}`,
            `${dev} mtu ${mtu} < ${need} (WireGuard ${w.mtu} + overhead): packets would be fragmented or dropped`,
            `ciab set ${d.network} underlay-mtu ${mtu}, then render and ciab up again`,
          ),
    );
  }
  return checks;
}

interface NftChain {
  family?: string;
  table?: string;
  name?: string;
  hook?: string;
  policy?: string;
}

/**
 * The mesh's guard (issue 20): nft present, ciab's table loaded and current, and no host base chain that drops by
 * default what the mesh needs (forwarded container traffic, the WireGuard port).
 */
async function guardChecks(d: DesiredHost, nft: { table: string; content: string }, deps: HostDeps): Promise<Check[]> {
  if (!(await have(deps, "nft")))
    return [
      fail("tool nft", "missing: the mesh's guard (only WireGuard carries mesh traffic) cannot be installed; ciab up refuses", "apt-get install nftables"),
    ];
  const out: Check[] = [ok("tool nft", "installed")];
  const listed = await deps.run(["nft", "list", "table", "inet", nft.table], { timeoutMs: 10_000 });
  const up = d.wireguard.filter((w) => deps.exists(`/sys/class/net/${w.ifname}`)).map((w) => w.ifname);
  const wgUp = up.length > 0;
  if (listed.code !== 0)
    out.push(
      wgUp
        ? fail(
            "guard",
            `nft table inet ${nft.table} is not loaded while ${up.join(", ")} ${up.length > 1 ? "are" : "is"} up: the underlay can reach the containers and the VXLAN socket`,
            "ciab up (it loads the guard first)",
          )
        : ok("guard", `nft table inet ${nft.table} is loaded by ciab up, before the mesh comes up`),
    );
  else if (nftFingerprint(listed.stdout) !== nftFingerprint(nft.content))
    out.push(
      warn(
        "guard",
        `nft table inet ${nft.table} differs from the bundle's (a rule changed or an older bundle)`,
        "ciab up (it replaces the table in one transaction)",
      ),
    );
  else out.push(ok("guard", `nft table inet ${nft.table} loaded and current`));

  // Another table's base chain with policy drop decides too: an accept in ciab's table does not override it.
  const ruleset = await deps.run(["nft", "-j", "list", "chains"], { timeoutMs: 10_000 });
  let chains: NftChain[] = [];
  try {
    const j = JSON.parse(ruleset.stdout) as { nftables?: { chain?: NftChain }[] };
    chains = (j.nftables ?? []).flatMap((x) => (x.chain ? [x.chain] : []));
  } catch {
    /* an nft without JSON output: nothing to say */
  }
  const dropping = chains.filter((c) => c.table !== nft.table && c.policy === "drop" && (c.hook === "forward" || c.hook === "input"));
  const ports = d.wireguard.map((w) => w.listenPort).join(", ");
  const ifs = [...d.wireguard, ...d.vxlan].map((x) => `"${x.ifname}"`).join(", ");
  for (const c of dropping) {
    const what = c.hook === "forward" ? "forwarded container traffic over the mesh" : `the WireGuard port ${ports}/udp`;
    const rule =
      c.hook === "forward"
        ? `nft add rule ${c.family} ${c.table} ${c.name} iifname { ${ifs} } accept; and the same with oifname`
        : `nft add rule ${c.family} ${c.table} ${c.name} udp dport { ${ports} } accept`;
    out.push(warn("host firewall", `${c.family} ${c.table} chain ${c.name} (hook ${c.hook}) drops by default: it may drop ${what}`, `allow it, e.g. ${rule}`));
  }
  if (dropping.length === 0) out.push(ok("host firewall", "no base chain of another table drops forward or input traffic by default"));
  return out;
}
