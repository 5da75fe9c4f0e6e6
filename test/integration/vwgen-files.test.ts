// Issue 10 (1-4): files written by the real vwgen (the oracle in ../shared/oracles/vwgen) load in ciab with no edit:
// read commands exit 0 with one warning per problem, render refuses with the fix, `ciab migrate` repairs, a second
// migrate changes nothing, and vwgen still reads the migrated file. Skips when python3 or the oracle is missing.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ciab, tempDir } from "../helpers/cli.js";
import { SHARED } from "../helpers/env.js";

const ORACLE = join(SHARED, "oracles", "vwgen");
const PY = "/usr/bin/python3";
const usable =
  existsSync(join(ORACLE, "vwgen", "__main__.py")) && existsSync(PY) && spawnSync(PY, ["-c", "import toml, nacl.bindings"], { encoding: "utf8" }).status === 0;

/** Runs the unmodified vwgen; `seed` fixes Python's random module (vwgen draws addresses and ports from it). */
function vwgen(cwd: string, args: string[], seed?: number) {
  const code = `import random, sys\n${seed === undefined ? "" : `random.seed(${seed})\n`}from vwgen import vwgen\nsys.exit(vwgen.main(["vwgen"] + sys.argv[1:]))`;
  const r = spawnSync(PY, ["-c", code, ...args], { cwd, encoding: "utf8", env: { ...process.env, PYTHONPATH: ORACLE } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The first seed whose first `vwgen add NET n` draws a VTEP in 169.254.169.0/24 (vwgen's metadata defect). */
function metadataSeed(): number {
  const code = `import random
for seed in range(100000):
    random.seed(seed)
    for lo, hi in ((2, 255), (0xfd00, 0xfdff), (0x1000, 0xffff), (0x1000, 0xffff), (1, 0xffffff), (1, 254)):
        random.randint(lo, hi)
    if 0xa9fea900 <= random.randint(0xa9fe0100, 0xa9fefeff) <= 0xa9fea9ff:
        print(seed)
        break`;
  return Number(spawnSync(PY, ["-c", code], { encoding: "utf8" }).stdout.trim());
}

// A ciab key vwgen never writes, put in by hand (the reflector case of the issue).
const RR = "RouteReflectors";

interface Case {
  name: string;
  net: string;
  /** vwgen command lines (each an argv without "vwgen"); a number first is the random seed of that call. */
  steps: (string[] | [number, ...string[]])[];
  /** What the read commands must warn about. */
  warning: RegExp;
  /** Whether render must refuse before migrate (false: ciab renders the value as it is). */
  refused: boolean;
}

const CASES: Case[] = [
  {
    name: "VTEP in the metadata range",
    net: "meta",
    steps: [
      [-1, "add", "meta", "m1"],
      ["add", "meta", "m2", "m3"],
    ],
    warning: /169\.254\.169\.0\/24/,
    refused: true,
  },
  {
    name: "addr/allowed-ips without prefix length",
    net: "pl",
    steps: [
      ["add", "pl", "a", "b"],
      ["set", "pl", "node", "a", "addr", "10.1.0.7", "allowed-ips", "10.3.0.1"],
    ],
    warning: /has no prefix length/,
    refused: true,
  },
  {
    name: "node names _gw, Node One, non-ASCII",
    net: "names",
    steps: [["add", "names", "_gw", "Node One", "nöde", "ok"]],
    warning: /node name '_gw' is invalid/,
    refused: true,
  },
  {
    name: "network name over 14 bytes",
    net: "my-company-mesh",
    steps: [["add", "my-company-mesh", "a", "b"]],
    warning: /ciab names the WireGuard interface 'my-co-/,
    refused: false,
  },
  {
    name: "IPv4 pool /31",
    net: "p31",
    steps: [
      ["add", "p31"],
      ["set", "p31", "pool-ipv4", "10.9.0.0/31"],
      ["add", "p31", "a", "b"],
    ],
    warning: /^$/,
    refused: false,
  },
  {
    name: "vxlan-id 0",
    net: "vni0",
    steps: [
      ["add", "vni0", "a", "b"],
      ["set", "vni0", "vxlan-id", "0"],
    ],
    warning: /^$/,
    refused: false,
  },
  {
    name: "vxlan-mtu 500 with an IPv6 pool",
    net: "mtu",
    steps: [
      ["add", "mtu", "a", "b"],
      ["set", "mtu", "vxlan-mtu", "500"],
    ],
    warning: /below IPv6's minimum of 1280/,
    refused: true,
  },
  {
    name: "endpoint host with '_'",
    net: "us",
    steps: [
      ["add", "us", "a", "b"],
      ["set", "us", "node", "a", "listen-port", "51820", "endpoint", "host_1.example:51820"],
    ],
    warning: /^$/,
    refused: false,
  },
  {
    name: "PrivateKey stored as a file path",
    net: "pk",
    steps: [
      ["add", "pk", "a", "b"],
      ["set", "pk", "node", "a", "private-key", "KEYFILE"],
    ],
    warning: /PrivateKey: is not a valid WireGuard key/,
    refused: true,
  },
  {
    name: "IPv6 endpoint without port",
    net: "v6",
    steps: [
      ["add", "v6", "a", "b"],
      ["set", "v6", "node", "a", "listen-port", "54557", "endpoint", "[2001:db8::6]"],
    ],
    warning: /repaired from vwgen's mangled IPv6 form/,
    refused: false,
  },
  {
    name: "mangled IPv6 endpoint with port",
    net: "v6p",
    steps: [
      ["add", "v6p", "a", "b"],
      ["set", "v6p", "node", "a", "endpoint", "[2001:db8::7]:51820"],
    ],
    warning: /repaired from vwgen's mangled IPv6 form/,
    refused: false,
  },
  {
    name: "one-way blacklist entry and a deleted node's entries",
    net: "bl",
    steps: [
      ["add", "bl", "a", "b", "c"],
      ["blacklist", "bl", "add", "a", "c"],
    ],
    warning: /is one-way/,
    refused: false,
  },
];

describe.skipIf(!usable)("files written by vwgen (issue 10)", () => {
  const seed = usable ? metadataSeed() : 0;

  it.each(CASES)("$name: reads work, render decides, migrate repairs, vwgen still reads it", (c) => {
    const dir = tempDir("ciab-vwgen-");
    writeFileSync(join(dir, "key"), `${ciab(["genkey"], { cwd: dir }).stdout.trim()}\n`, { mode: 0o600 });
    for (const step of c.steps) {
      const [first, ...rest] = step;
      const args = (typeof first === "number" ? rest : step).map((a) => (a === "KEYFILE" ? join(dir, "key") : String(a)));
      const r = vwgen(dir, args as string[], typeof first === "number" ? seed : undefined);
      expect(r.code, r.stderr).toBe(0);
    }
    const file = join(dir, `${c.net}.conf`);
    // Every node reachable (a pair without endpoints can never handshake: that is refused whatever vwgen wrote).
    const listed = [...readFileSync(file, "utf8").matchAll(/^\[Node\.("?)(.+)\1\]$/gm)].map((m) => m[2] as string);
    listed.forEach((n, i) => {
      if (!new RegExp(`\\[Node\\.("?)${n.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\1\\]\\n(?:(?!\\[)[^\\n]*\\n)*Endpoint = `).test(readFileSync(file, "utf8")))
        expect(vwgen(dir, ["set", c.net, "node", n, "endpoint", `198.18.0.${i + 1}:5182${i}`]).code).toBe(0);
    });
    if (c.name.startsWith("one-way")) {
      // One direction only (hand-edited or an older vwgen), plus an entry naming a node that no longer exists.
      // (A blacklist needs a route reflector in ciab: one that both reach, put in by hand as ciab's key.)
      writeFileSync(
        file,
        readFileSync(file, "utf8")
          .replace(/Blacklist = \[.*\]/, 'Blacklist = [ [ "a", "c",], [ "b", "gone",],]')
          .replace("[Network]\n", `[Network]\n${RR} = [ "b",]\n`),
      );
    }
    const nodes = [...readFileSync(file, "utf8").matchAll(/^\[Node\.("?)(.+)\1\]$/gm)].map((m) => m[2] as string);
    for (const args of [
      ["show", c.net],
      ["showconf", c.net, nodes[nodes.length - 1] as string],
      ["zone", c.net, "mesh.example"],
      ["graph", c.net],
    ]) {
      const r = ciab(args, { cwd: dir });
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
      if (c.warning.source !== "^$") expect(r.stderr).toMatch(c.warning);
    }
    const render = ciab(["render", c.net, "--out", "b"], { cwd: dir });
    if (c.refused) {
      expect(render.code, render.stderr).toBe(4);
      expect(render.stderr).toMatch(/hint: /);
    } else expect(render.code, `${render.stderr}\n${readFileSync(file, "utf8")}`).toBe(0);

    const before = readFileSync(file, "utf8");
    const dry = ciab(["migrate", c.net, "--dry-run"], { cwd: dir });
    expect(readFileSync(file, "utf8")).toBe(before); // --dry-run writes nothing
    const m = ciab(["migrate", c.net], { cwd: dir });
    const vtepsAway = (t: string) => t.replace(" (dry run: nothing written)", "").replace(/-> \["169\.254\.[\d.]+\/(16|32)"\]/g, "-> VTEP");
    expect(vtepsAway(m.stdout)).toBe(vtepsAway(dry.stdout));
    const again = ciab(["migrate", c.net, "--json"], { cwd: dir });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ ok: true, changes: [], written: false });
    expect(ciab(["migrate", c.net], { cwd: dir }).stdout).toMatch(/nothing to migrate/);
    expect(ciab(["render", c.net, "--out", "b2"], { cwd: dir }).code).toBe(0);
    // vwgen still reads what ciab wrote, for every node.
    const after = [...readFileSync(file, "utf8").matchAll(/^\[Node\.("?)(.+)\1\]$/gm)].map((x) => x[2] as string);
    for (const n of after) expect(vwgen(dir, ["showconf", c.net, n]).code).toBe(0);
  });

  it("migrate output names each change with before and after", () => {
    const dir = tempDir("ciab-vwgen-");
    vwgen(dir, ["add", "meta", "m1"], seed);
    vwgen(dir, ["add", "meta", "m2"]);
    const r = ciab(["migrate", "meta", "--json"], { cwd: dir });
    const j = JSON.parse(r.stdout);
    expect(j.changes.map((x: { key: string }) => x.key)).toEqual(["[Node.m1] LinkLayerAddress", "[Node.m1] AllowedIPs"]);
    expect(j.changes[0].before).toMatch(/169\.254\.169\./);
    expect(j.changes[0].after).not.toMatch(/169\.254\.169\./);
  });

  it("after vwgen del of a route reflector, every command still works; migrate drops the reference", () => {
    const dir = tempDir("ciab-vwgen-");
    vwgen(dir, ["add", "rr", "a", "b", "c"]);
    for (const n of ["a", "b", "c"]) vwgen(dir, ["set", "rr", "node", n, "endpoint", `198.18.0.9:${n === "a" ? 1 : n === "b" ? 2 : 3}000`]);
    const file = join(dir, "rr.conf");
    writeFileSync(file, readFileSync(file, "utf8").replace("[Network]\n", `[Network]\n${RR} = [ "a",]\n`));
    expect(vwgen(dir, ["del", "rr", "a"]).code).toBe(0);
    expect(ciab(["showconf", "rr", "b"], { cwd: dir }).code).toBe(0);
    expect(ciab(["render", "rr", "--out", "b"], { cwd: dir }).stderr).toMatch(/RouteReflectors: 'a' is not a node/);
    expect(ciab(["migrate", "rr"], { cwd: dir }).stdout).toMatch(/RouteReflectors: \["a"\] -> \[\]/);
    expect(ciab(["render", "rr", "--out", "b"], { cwd: dir }).code).toBe(0);
  });

  it("showconf follows vwgen for untouched nodes after a ciab edit, and for a one-way blacklist entry", () => {
    const dir = tempDir("ciab-vwgen-");
    vwgen(dir, ["add", "net", "a", "b", "c"]);
    const file = join(dir, "net.conf");
    writeFileSync(file, readFileSync(file, "utf8").replace(/Blacklist = \[.*\]/, 'Blacklist = [ [ "a", "c",],]'));
    for (const n of ["a", "c"])
      expect(ciab(["showconf", "net", n], { cwd: dir }).stdout.replace(/FwMark.*\n/, "")).toBe(vwgen(dir, ["showconf", "net", n]).stdout);
    expect(ciab(["set", "net", "node", "a", "listen-port", "5000"], { cwd: dir }).code).toBe(0);
    expect(ciab(["showconf", "net", "c"], { cwd: dir }).stdout).toBe(vwgen(dir, ["showconf", "net", "c"]).stdout);
  });

  it("the README example (a node without endpoint) renders with a warning", () => {
    const dir = tempDir("ciab-vwgen-");
    vwgen(dir, ["add", "wg-meshvpn"]);
    vwgen(dir, ["set", "wg-meshvpn", "pool-ipv4", "172.20.10.0/24", "pool-ipv6", "2001:db8:42::/64"]);
    vwgen(dir, ["add", "wg-meshvpn", "node1", "node2", "node3"]);
    vwgen(dir, ["set", "wg-meshvpn", "node", "node1", "endpoint", "[2001:db8:1::1]:1234", "listen-port", "1234"]);
    vwgen(dir, ["set", "wg-meshvpn", "node", "node2", "endpoint", "[2001:db8:2::1]:2345", "listen-port", "2345"]);
    vwgen(dir, ["set", "wg-meshvpn", "node", "node3", "listen-port", "3456"]);
    const r = ciab(["render", "wg-meshvpn", "--out", "b"], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/node 'node3' has no endpoint .*persistent-keepalive 25/);
  });

  it("zone takes vwgen's several NETWORK DOMAIN pairs and keeps the names' case", () => {
    const dir = tempDir("ciab-vwgen-");
    vwgen(dir, ["add", "one", "Alpha"]);
    vwgen(dir, ["add", "two", "beta"]);
    const r = ciab(["zone", "one", "one.example", "two", "x_y.example", "--serial", "1"], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Alpha\.one\.example\.\s+300\s+IN\s+A\s/m);
    expect(r.stdout).toMatch(/^beta\.x_y\.example\.\s+300\s+IN\s+A\s/m);
    expect(ciab(["zone", "one", "one.example", "two"], { cwd: dir }).code).toBe(2);
  });

  it("add, del and blacklist apply the valid part as vwgen does, and exit non-zero naming the rest", () => {
    const dir = tempDir("ciab-vwgen-");
    vwgen(dir, ["add", "net", "a"]);
    const add = ciab(["add", "net", "a", "b"], { cwd: dir });
    expect(add.code).toBe(5);
    expect(add.stderr).toMatch(/already has node 'a'/);
    expect(readFileSync(join(dir, "net.conf"), "utf8")).toMatch(/\[Node\.b\]/);
    const del = ciab(["del", "net", "ghost", "b"], { cwd: dir });
    expect(del.code).toBe(3);
    expect(readFileSync(join(dir, "net.conf"), "utf8")).not.toMatch(/\[Node\.b\]/);
    expect(ciab(["blacklist", "net", "del", "b", "ghost"], { cwd: dir }).code).toBe(3);
  });

  it("show --show-keys is vwgen's show line for line (ciab's extras only with --extra)", () => {
    const dir = tempDir("ciab-vwgen-");
    vwgen(dir, ["add", "net", "a", "b", "c"]);
    vwgen(dir, ["set", "net", "node", "a", "endpoint", "198.18.0.1:51820", "persistent-keepalive", "25"]);
    vwgen(dir, ["blacklist", "net", "add", "a", "c"]);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: vwgen colours its output
    const plain = (t: string) => t.replace(/\x1b\[[0-9;]*m/g, "");
    expect(ciab(["show", "net", "--show-keys"], { cwd: dir }).stdout).toBe(plain(vwgen(dir, ["show", "net"]).stdout));
    expect(ciab(["show", "net", "--extra"], { cwd: dir }).stdout).toMatch(/^ {2}routing: bgp/m);
  });

  it("showconf sub/inner prints vwgen's header; a long network name is created, rendered with a short device name", () => {
    const dir = tempDir("ciab-vwgen-");
    vwgen(dir, ["add", "my-company-mesh", "a", "b"]);
    expect(ciab(["showconf", "sub/../my-company-mesh", "a"], { cwd: dir }).stdout).toMatch(/^# Network sub\/\.\.\/my-company-mesh, generated/);
    expect(ciab(["showconf", "my-company-mesh", "a"], { cwd: dir }).stdout).toBe(vwgen(dir, ["showconf", "my-company-mesh", "a"]).stdout);
    const add = ciab(["add", "another-long-mesh", "x", "y"], { cwd: dir });
    expect(add.code, add.stderr).toBe(0);
    for (const n of ["x", "y"]) ciab(["set", "another-long-mesh", "node", n, "endpoint", `198.18.0.${n === "x" ? 1 : 2}:51820`], { cwd: dir });
    const r = ciab(["render", "another-long-mesh", "--out", "b", "--json"], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const dev = JSON.parse(r.stdout).network as string;
    expect(dev).toMatch(/^anoth-[a-z2-7]{8}$/);
    expect(existsSync(join(dir, "b", "x", "wireguard", `${dev}.conf`))).toBe(true); // wg-quick names the interface after the file
    expect(readFileSync(join(dir, "b", "x", "nft", "ciab.nft"), "utf8")).toContain(`iifname "v${dev}"`);
  });

  it("an unrelated ciab set stores vwgen's mangled endpoint repaired and says so; vwgen reads the result", () => {
    const dir = tempDir("ciab-vwgen-");
    vwgen(dir, ["add", "net", "a", "b"]);
    vwgen(dir, ["set", "net", "node", "a", "endpoint", "[2001:db8::7]:51820"]);
    const r = ciab(["set", "net", "node", "b", "listen-port", "5000"], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/node a: Endpoint "\[\[2001:db8::7\]:51820\]:\d+" stored as "\[2001:db8::7\]:51820"/);
    expect(vwgen(dir, ["showconf", "net", "b"]).stdout).toMatch(/^Endpoint = \[2001:db8::7\]:51820$/m);
  });

  it("the NAT keys (STUNServers, NAT, Relay) are unknown to vwgen: it reads the file, and its edits keep them", () => {
    const dir = tempDir("ciab-vwgen-");
    vwgen(dir, ["add", "net", "a", "b", "c"]);
    const set = ciab(
      [
        "set",
        "net",
        "stun-servers",
        "198.51.100.1:3478,[2001:db8::3]:3478",
        "node",
        "c",
        "endpoint",
        "198.51.100.3:5000",
        "listen-port",
        "5000",
        "node",
        "a",
        "nat",
        "auto",
        "relay",
        "c",
      ],
      { cwd: dir },
    );
    expect(set.code, set.stderr).toBe(0);
    const written = readFileSync(join(dir, "net.conf"), "utf8");
    expect(written).toContain('STUNServers = [ "198.51.100.1:3478", "[2001:db8::3]:3478",]');
    expect(written).toMatch(/^NAT = "auto"\nPersistentKeepalive/m); // sorted among vwgen's keys, in vwgen's layout
    expect(vwgen(dir, ["showconf", "net", "a"]).code).toBe(0);
    expect(vwgen(dir, ["showconf", "net", "a"]).stdout).toMatch(/^Endpoint = 198\.51\.100\.3:5000$/m);
    expect(vwgen(dir, ["set", "net", "node", "b", "persistent-keepalive", "25"]).code).toBe(0);
    const after = readFileSync(join(dir, "net.conf"), "utf8");
    expect(after.replace(/PersistentKeepalive = 25/, "PersistentKeepalive = 0")).toBe(written);
    expect(ciab(["show", "net"], { cwd: dir }).code).toBe(0);
  });

  it("warns once when an edit makes the mesh one vwgen cannot render (a public-key-only node, psk)", () => {
    const dir = tempDir("ciab-vwgen-");
    vwgen(dir, ["add", "net", "a", "b"]);
    const pub = ciab(["pubkey"], { cwd: dir, input: ciab(["genkey"], { cwd: dir }).stdout }).stdout.trim();
    const r = ciab(["set", "net", "node", "a", "public-key", pub], { cwd: dir });
    expect(r.stderr).toMatch(/vwgen can no longer render all of this mesh: node a holds only its public key/);
    expect(vwgen(dir, ["showconf", "net", "b"]).stdout).not.toMatch(/PublicKey/); // what the warning says
    expect(ciab(["set", "net", "vxlan-port", "4790"], { cwd: dir }).stderr).not.toMatch(/vwgen can no longer/);
  });

  it("usage on stdout: ciab alone, and set --help lists every directive", () => {
    const dir = tempDir("ciab-vwgen-");
    const bare = ciab([], { cwd: dir });
    expect(bare.code).toBe(0);
    expect(bare.stdout).toMatch(/^Usage: ciab/);
    expect(bare.stderr).toBe("");
    const help = ciab(["set", "--help"], { cwd: dir }).stdout;
    for (const d of ["pool-ipv4", "vxlan-id", "endpoint", "private-key", "noupnp", "route-reflectors", "discover-lxd"])
      expect(help).toMatch(new RegExp(`^  ${d} `, "m"));
  });

  // Beyond the issue's list: what vwgen's argument parsing takes (int() of anything, any text for addresses and
  // endpoints, any node name) loads; read commands exit 0 and warn.
  it.each([
    [["set", "odd", "vxlan-id", "99999999999999999999"], /VxlanID: .* is out of range/],
    [["set", "odd", "node", "a", "listen-port", "-5", "persistent-keepalive", "-1", "fwmark", "0xffffffffff"], /ListenPort: -5 is out of range/],
    [["set", "odd", "pool-ipv4", "0.0.0.0/0", "pool-ipv6", "::/128"], /AddressPoolIPv4: pool 0\.0\.0\.0\/0 overlaps/],
    [["set", "odd", "node", "a", "addr", "", "allowed-ips", "a, b"], /Address: value '' is not a valid/],
    [["set", "odd", "node", "a", "endpoint", "1.2.3.4:"], /Endpoint: Endpoint '1\.2\.3\.4:' is invalid/],
    [["set", "odd", "vxlan-port", "0", "vxlan-mtu", "-1"], /VxlanPort: 0 is out of range/],
    [["set", "odd", "node", "a", "ll-addr", "169.254.5.5/16"], /LinkLayerAddr: is written by vwgen's 'll-addr'/],
    [["add", "odd", "a.b", 'q"x', ""], /node name 'a\.b' is invalid/],
  ])("vwgen %j loads", (args, warning) => {
    const dir = tempDir("ciab-vwgen-");
    vwgen(dir, ["add", "odd", "a", "b"]);
    expect(vwgen(dir, args as string[]).code).toBe(0);
    for (const cmd of [
      ["show", "odd"],
      ["showconf", "odd", "b"],
      ["zone", "odd", "odd.example"],
      ["graph", "odd"],
    ]) {
      const r = ciab(cmd, { cwd: dir });
      expect(r.code, `${cmd.join(" ")}: ${r.stderr}`).toBe(0);
      expect(r.stderr).toMatch(warning);
    }
  });
});
