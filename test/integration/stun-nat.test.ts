// STUN through a real Linux NAT (NAT-FINDINGS §2-§4), in three private network namespaces joined by veths (nothing
// in the root namespace): "inet" runs the real coturn on 198.18.0.10 and 198.18.0.11; "nat" is an nftables
// masquerade router; "host" sits behind it with the node's rendered nft table (NAT = "auto", ListenPort 51820).
// learnMapping from the fixed STUN port: plain masquerade = endpoint-independent, advertised as the NAT's address
// and WireGuard's port; `masquerade random` = symmetric, not advertised. Each namespace and process is removed by
// name and PID at the end.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededRandom } from "../../src/keys/random.js";
import { addNodes, applySet, ensureNetwork } from "../../src/model/edit.js";
import { meshFromDoc } from "../../src/model/mesh.js";
import type { TomlTable } from "../../src/model/toml.js";
import { topology } from "../../src/model/topology.js";
import { renderNft } from "../../src/render/nft.js";
import { hasTool, isRoot, ROOT } from "../helpers/env.js";

const ready = isRoot && ["ip", "nft", "conntrack", "turnserver"].every(hasTool);
const P = `cstun${process.pid % 100000}`;
const NS = { inet: `${P}-inet`, nat: `${P}-nat`, host: `${P}-host` };

const sh = (ns: string, script: string) => {
  const r = spawnSync("ip", ["netns", "exec", ns, "sh", "-ec", script], { encoding: "utf8", timeout: 30_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
};
const ok = (ns: string, script: string) => {
  const r = sh(ns, script);
  if (r.code !== 0) throw new Error(`${ns}: ${script}: ${r.stderr}`);
  return r.stdout;
};

const natRules = (mode: "" | "random") => `table ip cstun {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr 100.64.1.0/24 oifname "wan0" masquerade ${mode}
	}
}
`;

describe.skipIf(!ready)("STUN through a real nftables NAT (coturn, scoped SNAT)", () => {
  let dir = "";
  let probe = "";
  let turnPid = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "ciab-stun-nat-"));
    const entry = join(dir, "probe.ts");
    writeFileSync(
      entry,
      `import { forgetStunFlows, learnMapping } from ${JSON.stringify(join(ROOT, "src/adapters/stun.ts"))};
import { spawnRunner } from ${JSON.stringify(join(ROOT, "src/adapters/exec.ts"))};
await forgetStunFlows(spawnRunner, 51899);
const c = await learnMapping({ servers: ["198.18.0.10:3478", "198.18.0.11:3478"], port: 51899, method: "scoped-snat", mappedPort: 51820,
  localAddresses: ["100.64.1.2"], deadlineMs: 5000 });
console.log(JSON.stringify({ kind: c.kind, advertise: c.advertise, mapped: c.answers.map((a) => (a.result.ok ? a.result.mapped.address + ":" + a.result.mapped.port : a.result.error.reason)), reason: c.reason }));
`,
    );
    probe = join(dir, "probe.mjs");
    await build({ entryPoints: [entry], outfile: probe, bundle: true, platform: "node", format: "esm", target: "node20", logLevel: "silent" });

    for (const ns of Object.values(NS)) {
      const r = spawnSync("ip", ["netns", "add", ns], { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`ip netns add ${ns}: ${r.stderr}`);
      ok(ns, "ip link set lo up");
    }
    // veths are created inside one namespace with the peer moved straight into the other (never in the root one)
    ok(
      NS.inet,
      `ip link add to-nat type veth peer name wan0 netns ${NS.nat}
ip addr add 198.18.0.10/32 dev lo
ip addr add 198.18.0.11/32 dev lo
ip addr add 198.18.1.254/24 dev to-nat
ip link set to-nat up`,
    );
    ok(
      NS.nat,
      `ip link add lan0 type veth peer name eth0 netns ${NS.host}
sysctl -qw net.ipv4.ip_forward=1
ip addr add 198.18.1.1/24 dev wan0
ip link set wan0 up
ip route add 198.18.0.0/24 via 198.18.1.254
ip addr add 100.64.1.1/24 dev lan0
ip link set lan0 up`,
    );
    ok(
      NS.host,
      `ip addr add 100.64.1.2/24 dev eth0
ip link set eth0 up
ip route add default via 100.64.1.1`,
    );

    // the node's own rendered table: the guard plus the scoped STUN SNAT
    const doc: TomlTable = {};
    const random = seededRandom("stun-nat");
    ensureNetwork(doc, random);
    addNodes(doc, "m", ["a", "p"], random);
    applySet(
      doc,
      "m",
      ["stun-servers", "198.18.0.10:3478,198.18.0.11:3478", "node", "p", "endpoint", "198.51.100.9:51820", "node", "a", "nat", "auto", "listen-port", "51820"],
      { random },
    );
    const m = meshFromDoc("m", doc, { file: "m.conf" });
    const nft = join(dir, "a.nft");
    writeFileSync(nft, renderNft(topology(m).node(m.nodes.find((n) => n.name === "a") as (typeof m.nodes)[number])));
    ok(NS.host, `nft -f ${nft}`);

    // coturn started directly (not through a shell function) so the PID is turnserver's own (NAT-FINDINGS §7.10)
    const out = ok(
      NS.inet,
      `turnserver -n --stun-only --no-cli --no-tcp --no-tls --no-dtls -L 198.18.0.10 -L 198.18.0.11 --listening-port 3478 --log-file stdout --simple-log --db ${dir}/turndb --pidfile ${dir}/turn.pid >${dir}/turn.log 2>&1 </dev/null &
echo $!`,
    );
    turnPid = Number(out.trim());
  }, 30000);

  afterAll(() => {
    if (turnPid > 0) {
      try {
        process.kill(turnPid, "SIGTERM");
      } catch {
        /* gone */
      }
    }
    for (const ns of Object.values(NS)) {
      const pids = spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8" }).stdout.split(/\s+/).filter(Boolean);
      for (const pid of pids) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {
          /* gone */
        }
      }
      spawnSync("ip", ["netns", "del", ns]);
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const learn = () =>
    JSON.parse(ok(NS.host, `node ${probe}`).trim()) as { kind: string; advertise?: { address: string; port: number }; mapped: string[]; reason: string };
  const natMode = (mode: "" | "random") => {
    const f = join(dir, `nat-${mode || "cone"}.nft`);
    writeFileSync(f, natRules(mode));
    ok(
      NS.nat,
      `nft delete table ip cstun 2>/dev/null || true
nft -f ${f}
conntrack -F 2>/dev/null || true`,
    );
  };

  it("plain masquerade: both servers see the NAT's address and WireGuard's port, endpoint-independent, advertised", () => {
    natMode("");
    const r = learn();
    expect(r.mapped).toEqual(["198.18.1.1:51820", "198.18.1.1:51820"]);
    expect(r.kind).toBe("endpoint-independent");
    expect(r.advertise).toEqual({ address: "198.18.1.1", port: 51820 });
    expect(r.reason).toMatch(/same mapping 198\.18\.1\.1:51820/);
  });

  it("masquerade random: the servers see different ports, symmetric, not advertised", () => {
    natMode("random");
    const r = learn();
    expect(r.mapped.every((x) => x.startsWith("198.18.1.1:"))).toBe(true);
    // a random port per destination: equal by chance once in ~64k runs
    expect(new Set(r.mapped).size).toBe(2);
    expect(r.kind).toBe("symmetric");
    expect(r.advertise).toBeUndefined();
  });
});
