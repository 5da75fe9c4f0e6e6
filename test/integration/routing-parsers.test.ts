// Every rendered routing file goes through the real tool's own checker, with zero errors and zero warnings:
// FRR (`vtysh --dryrun` plus each enabled daemon's `-C` dry run), BIRD (`bird -p`), nftables (`nft -c`).
// Each checker is also shown a broken file and must reject it, so a checker that accepts anything fails here.
// FRR runs in a private mount namespace with tmpfs over /etc/frr, /run/frr, /var/log/frr and /var/tmp/frr: a dry run
// honours `log file` and would otherwise write to the host's, and each daemon leaves a /var/tmp/frr/<daemon>.<pid>
// directory behind, which made a later run with a reused PID fail. nft runs in a private network namespace.
// Skips itself when not root or when a tool is missing.

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { topology } from "../../src/model/topology.js";
import { renderNft } from "../../src/render/nft.js";
import { hasTool, isRoot } from "../helpers/env.js";
import { buildMesh } from "../helpers/meshes.js";
import { allRoutingOutputs, filesNamed } from "../helpers/routing.js";

const tmp = mkdtempSync(join(tmpdir(), "ciab-routing-parsers-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let seq = 0;
function tmpFile(name: string, text: string): string {
  const file = join(tmp, `${seq++}-${name}`);
  writeFileSync(file, text);
  return file;
}

function run(cmd: string, args: string[]): { code: number; out: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 20_000 });
  return { code: r.status ?? -1, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

// ---------------------------------------------------------------- FRR

const FRR_LIB = "/usr/lib/frr";
const haveFrr = isRoot && hasTool("vtysh") && hasTool("unshare") && existsSync(`${FRR_LIB}/bgpd`);

// Inside `unshare -m`: private tmpfs over FRR's directories, the file installed where FRR reads it, then the
// integrated check (vtysh) and each daemon's dry run, separated by "@@" markers.
const FRR_SANDBOX = `set -e
mkdir -p /var/tmp/frr
for d in /etc/frr /run/frr /var/log/frr /var/tmp/frr; do mount -t tmpfs -o mode=0755 tmpfs "$d"; done
cp "$1" /etc/frr/frr.conf
echo "service integrated-vtysh-config" > /etc/frr/vtysh.conf
chown -R frr:frr /etc/frr /run/frr /var/log/frr /var/tmp/frr
shift
set +e
echo "@@ vtysh"; vtysh --dryrun -f /etc/frr/frr.conf 2>&1; echo "@@rc $?"
for d in "$@"; do echo "@@ $d"; ${FRR_LIB}/$d -C -f /etc/frr/frr.conf --log stdout --log-level warnings 2>&1; echo "@@rc $?"; done
`;

// Start-up messages of a dry run, not config problems: this kernel has no MPLS; `bgpd -C` has no zebra to register
// next hops with; ospf6d logs the sequence number it persists for its authentication trailer (RFC 7166) at each start.
const FRR_ARTEFACTS = [
  /ZEBRA: .*Disabling MPLS support \(no kernel support\)$/,
  /BGP: .*sendmsg_nexthop: zclient_send_message\(\) failed$/,
  /OSPF6: .*Higher order sequence number \d+ update for default process$/,
];
const NO_SUCH = /No such command on config line (\d+):/;

interface FrrResult {
  /** Every problem found; empty means the file is clean. */
  problems: string[];
  /** vtysh's own verdict alone (syntax against every daemon's commands). */
  vtyshClean: boolean;
}

/** Check an integrated frr.conf with vtysh and with the dry run of every daemon that will read it. */
function checkFrr(conf: string, daemons: string[]): FrrResult {
  const r = run("unshare", ["-m", "--propagation", "private", "sh", "-c", FRR_SANDBOX, "sh", tmpFile("frr.conf", conf), ...daemons]);
  const problems: string[] = [];
  if (r.code !== 0) problems.push(`sandbox exited ${r.code}: ${r.out}`);
  const sections = r.out.split(/^@@ /m).slice(1);
  let vtyshClean = false;
  // A daemon reading the integrated file reports the other daemons' lines as "No such command" (FINDINGS §5 C):
  // such a line is fine when another daemon took it; a line no daemon takes is a problem.
  const rejected = new Map<string, Set<string>>();
  for (const s of sections) {
    const [head = "", ...rest] = s.split("\n");
    const rc = rest.find((l) => l.startsWith("@@rc "));
    const lines = [...new Set(rest.filter((l) => l.trim() !== "" && !l.startsWith("@@rc ")))];
    if (rc !== "@@rc 0") problems.push(`${head}: ${rc ?? "no exit code"}`);
    if (head === "vtysh") {
      vtyshClean = rc === "@@rc 0" && lines.length === 0;
      problems.push(...lines.map((l) => `vtysh: ${l}`));
      continue;
    }
    const mine = new Set<string>();
    for (const l of lines) {
      const m = NO_SUCH.exec(l);
      if (m) mine.add(`${m[1]}: ${l.slice(l.indexOf(m[0]) + m[0].length).trim()}`);
      else if (!FRR_ARTEFACTS.some((a) => a.test(l))) problems.push(`${head}: ${l}`);
    }
    rejected.set(head, mine);
  }
  if (sections.length !== daemons.length + 1) problems.push(`expected ${daemons.length + 1} checks, got ${sections.length}: ${r.out}`);
  for (const [d, lines] of rejected) {
    for (const line of lines) {
      if ([...rejected].every(([, other]) => other.has(line))) problems.push(`no daemon accepts config line ${line} (${d})`);
    }
  }
  return { problems, vtyshClean };
}

/** Daemons frrinit.sh starts for a daemons file: zebra and staticd always, plus every "<d>=yes". */
const daemonsOf = (daemonsFile: string): string[] => ["zebra", "staticd", ...[...daemonsFile.matchAll(/^([a-z0-9]+d)=yes$/gm)].map((m) => m[1] as string)];

const frrNodes = allRoutingOutputs().filter((o) => o.files["frr.conf"] !== undefined);

describe.skipIf(!haveFrr)("FRR checks every rendered frr.conf (vtysh --dryrun and daemon -C)", () => {
  it("covers BGP and OSPF files", () => {
    expect(frrNodes.length).toBeGreaterThanOrEqual(14);
  });

  it.each(frrNodes.map((o) => [`${o.mesh}/${o.node}`, o] as const))("%s: zero errors, zero warnings", (_, o) => {
    const daemons = daemonsOf(o.files.daemons as string);
    expect(daemons).toContain(o.mesh.startsWith("ospf") ? "ospfd" : "bgpd");
    expect(checkFrr(o.files["frr.conf"] as string, daemons).problems).toEqual([]);
  });

  const rr3 = frrNodes.find((o) => o.mesh === "rr3" && o.node === "n1");
  const ospf = frrNodes.find((o) => o.mesh === "ospf3-frr" && o.node === "f1");

  it("rejects a misspelt command (vtysh)", () => {
    const conf = (rr3?.files["frr.conf"] as string).replace(
      "  neighbor 172.20.10.2 activate",
      "  neighbor 172.20.10.2 activate\n  neighbor 172.20.10.2 route-reflector-clint",
    );
    const r = checkFrr(conf, ["zebra", "bgpd"]);
    expect(r.vtyshClean).toBe(false);
    expect(r.problems.join("\n")).toContain("route-reflector-clint");
  });

  it("rejects a neighbor option without its remote-as (bgpd -C only)", () => {
    const conf = (rr3?.files["frr.conf"] as string).replace(" neighbor 172.20.10.2 remote-as 64512\n", "");
    const r = checkFrr(conf, ["zebra", "bgpd", "bfdd"]);
    expect(r.vtyshClean).toBe(true);
    expect(r.problems.join("\n")).toMatch(/Specify remote-as or peer-group commands first/);
  });

  it("rejects a BFD profile before `ip ospf bfd` (ospfd -C only: vtysh accepts it)", () => {
    const conf = (ospf?.files["frr.conf"] as string).replace(" ip ospf bfd\n", "");
    const r = checkFrr(conf, ["zebra", "ospfd", "ospf6d", "bfdd"]);
    expect(r.vtyshClean).toBe(true);
    expect(r.problems).toContain("ospfd: ip ospf bfd has not been set");
  });
});

// ---------------------------------------------------------------- BIRD

const birdFiles = filesNamed("bird.conf");
const checkBird = (text: string) => run("bird", ["-p", "-c", tmpFile("bird.conf", text)]);

describe.skipIf(!hasTool("bird"))("BIRD parses every rendered bird.conf (bird -p)", () => {
  it.each(birdFiles)("%s", (_, text) => {
    expect(checkBird(text)).toEqual({ code: 0, out: "" });
  });

  it("has files to check and rejects a broken one", () => {
    expect(birdFiles.length).toBe(4);
    const r = checkBird((birdFiles[0]?.[1] as string).replace("ospf_router_id", "ospf_routerid"));
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/bird\.conf:\d+:\d+ syntax error/);
  });
});

// ---------------------------------------------------------------- nftables

const nftFiles = filesNamed("mss-clamp.nft");
const inNetns = (script: string, file: string) => run("unshare", ["-n", "sh", "-c", script, "sh", file]);

describe.skipIf(!(isRoot && hasTool("nft") && hasTool("unshare")))("nft checks every rendered nft file (nft -c, private netns)", () => {
  it.each(nftFiles)("%s", (_, text) => {
    expect(inNetns('nft -c -f "$1"', tmpFile("mss.nft", text))).toEqual({ code: 0, out: "" });
  });

  it("loads twice into a fresh namespace and ends with one table of two rules", () => {
    const [, text] = nftFiles[0] as [string, string];
    const table = /^table inet (\S+) \{$/m.exec(text)?.[1] as string;
    const r = inNetns(`nft -f "$1" && nft -f "$1" && nft list table inet ${table}`, tmpFile("mss.nft", text));
    expect(r.code).toBe(0);
    expect(r.out.match(/maxseg size set rt mtu/g)).toHaveLength(2);
  });

  it("has files to check and rejects a broken one", () => {
    expect(nftFiles.length).toBe(18); // every node of every fixture mesh: the guard is always rendered
    const r = inNetns('nft -c -f "$1"', tmpFile("mss.nft", (nftFiles[0]?.[1] as string).replace("maxseg size", "maxsegs size")));
    expect(r.code).not.toBe(0);
  });
});

describe.skipIf(!(isRoot && hasTool("nft") && hasTool("unshare")))("the guard with nested prefixes (nft refuses overlapping intervals)", () => {
  it("a node whose Subnets nest, inside the overlay pool: the rendered file loads", () => {
    const m = buildMesh("nest", { nodes: ["a", "b"], network: {} });
    const a = m.nodes.find((n) => n.name === "a") as (typeof m.nodes)[number];
    const b = m.nodes.find((n) => n.name === "b") as (typeof m.nodes)[number];
    const nested = {
      ...m,
      nodes: [
        { ...a, subnets: ["10.70.0.0/16", "10.70.1.0/24"] },
        { ...b, subnets: ["10.71.0.0/24", "10.71.0.128/25"] },
      ],
    };
    const text = renderNft(topology(nested).node(nested.nodes[0] as (typeof m.nodes)[number]));
    expect(inNetns('nft -c -f "$1"', tmpFile("nested.nft", text))).toEqual({ code: 0, out: "" });
  });
});
