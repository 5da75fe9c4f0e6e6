// Bad input through the real CLI: every case names what is wrong, exits with the documented code, and leaves the
// mesh file byte-identical.
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EXIT } from "../../src/model/errors.js";
import { ciab, digest, withFiles } from "../helpers/cli.js";
import { FIXTURES, isRoot } from "../helpers/env.js";

const BASIC = join(FIXTURES, "basic3", "ciabmesh.conf");
const LAB = join(FIXTURES, "blacklist4", "lab.conf");
const KEY = "8IAwa1Q70d1sjnefunzxYCB2mh3c3f8jcUQnJdKKEEM=";

interface Case {
  name: string;
  args: string[];
  code: number;
  message: RegExp;
  /** Edit the file before the command (to make it broken). */
  file?: (text: string) => string;
  input?: string;
}

const { usage, notFound, invalid, conflict } = EXIT;
const set = (...a: string[]) => ["set", "ciabmesh", ...a];

const CASES: Case[] = [
  // CIDRs and pools
  {
    name: "bad IPv4 pool",
    args: set("pool-ipv4", "10.0.0.300/24"),
    code: invalid,
    message: /pool-ipv4 '10\.0\.0\.300' is not a valid IPv4 or IPv6 address/,
  },
  { name: "prefix too long", args: set("pool-ipv4", "10.0.0.0/33"), code: invalid, message: /prefix length 33 is longer than 32 bits/ },
  { name: "IPv6 prefix as IPv4 pool", args: set("pool-ipv4", "2001:db8::/64"), code: invalid, message: /pool-ipv4: '2001:db8::\/64' is not an IPv4 prefix/ },
  { name: "IPv4 prefix as IPv6 pool", args: set("pool-ipv6", "10.0.0.0/24"), code: invalid, message: /pool-ipv6: '10\.0\.0\.0\/24' is not an IPv6 prefix/ },
  // Issue 10: a /31 holds two hosts (RFC 3021) and renders; a /32 does not.
  { name: "pool too small", args: set("pool-ipv4", "10.0.0.0/32"), code: invalid, message: /AddressPoolIPv4: pool 10\.0\.0\.0\/32 is too small/ },
  {
    name: "address without length",
    args: set("node", "node1", "addr", "10.0.0.1"),
    code: invalid,
    message: /addr '10\.0\.0\.1' has no prefix length(.|\n)*hint: .*10\.0\.0\.1\/32/,
  },
  {
    name: "subnets overlapping between nodes",
    args: set("node", "node1", "subnets", "10.0.1.0/24", "node", "node2", "subnets", "10.0.1.128/25"),
    code: invalid,
    message: /\[Node\.node2\] Subnets: 10\.0\.1\.128\/25 overlaps 10\.0\.1\.0\/24 of node 'node1'/,
  },
  {
    name: "subnet overlapping the pool",
    args: set("node", "node1", "subnets", "172.20.10.0/25"),
    code: invalid,
    message: /\[Node\.node1\] Subnets: 172\.20\.10\.0\/25 overlaps the overlay pool 172\.20\.10\.0\/24/,
  },
  { name: "bad subnet", args: set("node", "node1", "subnets", "10.0.1.0/24,bogus"), code: invalid, message: /subnets 'bogus'/ },
  // numbers and ranges
  // VNI 0 and listen port 0 are values like others (the file renders them; README "Coming from vwgen")
  { name: "VNI too large", args: set("vxlan-id", "16777216"), code: invalid, message: /vxlan-id: 16777216 is out of range/ },
  { name: "VNI not a number", args: set("vxlan-id", "abc"), code: invalid, message: /vxlan-id: 'abc' is not an integer/ },
  { name: "VXLAN port out of range", args: set("vxlan-port", "70000"), code: invalid, message: /vxlan-port: 70000 is out of range 1-65535/ },
  { name: "listen port too large", args: set("node", "node1", "listen-port", "65536"), code: invalid, message: /listen-port: 65536 is out of range/ },
  {
    name: "negative keepalive",
    args: set("node", "node1", "persistent-keepalive", "-1"),
    code: invalid,
    message: /persistent-keepalive: '-1' is not an integer/,
  },
  { name: "bad fwmark", args: set("node", "node1", "fwmark", "0xZZ"), code: invalid, message: /fwmark: '0xZZ' is not an integer/ },
  { name: "VXLAN MTU too small", args: set("vxlan-mtu", "10"), code: invalid, message: /vxlan-mtu: 10 is out of range 68-65485/ },
  { name: "underlay MTU too small", args: set("underlay-mtu", "1000"), code: invalid, message: /underlay-mtu: 1000 is out of range 1280-65535/ },
  { name: "ASN zero", args: set("asn", "0"), code: invalid, message: /asn: 0 is out of range 1-4294967294/ },
  { name: "ASN reserved", args: set("asn", "4294967295"), code: invalid, message: /asn: 4294967295 is out of range/ },
  { name: "hold below 3 x keepalive", args: set("bgp-hold", "5"), code: invalid, message: /BGPHold: 5 must be at least 3 x BGPKeepalive \(9\)/ },
  { name: "unknown routing", args: set("routing", "rip"), code: invalid, message: /routing: 'rip' must be one of bgp, ospf, none/ },
  { name: "unknown MTU mode", args: set("mtu-mode", "jumbo"), code: invalid, message: /mtu-mode: 'jumbo' must be one of auto, fragment/ },
  { name: "on/off expected", args: set("bfd", "maybe"), code: invalid, message: /bfd: 'maybe' must be on or off/ },
  {
    name: "reflector that is not a node",
    args: set("route-reflectors", "node9"),
    code: invalid,
    message: /RouteReflectors: 'node9' is not a node of this network/,
  },
  // endpoints
  {
    name: "endpoint port out of range",
    args: set("node", "node1", "endpoint", "198.51.100.1:99999"),
    code: invalid,
    message: /endpoint '198\.51\.100\.1:99999' is invalid: port 99999 is out of range/,
  },
  { name: "endpoint unclosed bracket", args: set("node", "node1", "endpoint", "[2001:db8::1:51820"), code: invalid, message: /endpoint .* is invalid/ },
  {
    name: "endpoint bad host",
    args: set("node", "node1", "endpoint", "bad_host!:80"),
    code: invalid,
    message: /'bad_host!' is neither an IP address nor a host name/,
  },
  // keys
  {
    name: "invalid private key",
    args: set("node", "node1", "private-key", "notakey"),
    code: invalid,
    message: /private-key of node 'node1' is neither a valid WireGuard key \(got 7 characters.*\) nor a readable key file \(ENOENT\)/,
  },
  {
    name: "invalid public key",
    args: set("node", "node1", "public-key", "AAAA"),
    code: invalid,
    message: /public-key of node 'node1' is not a valid WireGuard key/,
  },
  {
    name: "same key on two nodes",
    args: set("node", "node2", "private-key", KEY),
    code: invalid,
    message: /\[Node\.node2\] PrivateKey: public key .* is also used by node 'node1'/,
  },
  // names and directives
  { name: "unknown node", args: set("node", "node9", "endpoint", "198.51.100.1:1"), code: notFound, message: /network 'ciabmesh' has no node 'node9'/ },
  { name: "node directive missing", args: set("endpoint", "198.51.100.1:1"), code: usage, message: /'endpoint' must be used after a 'node <name>' directive/ },
  { name: "unknown directive", args: set("frobnicate", "1"), code: usage, message: /invalid directive 'frobnicate'/ },
  { name: "directive without value", args: set("pool-ipv4"), code: usage, message: /'pool-ipv4' needs a value/ },
  { name: "node without name", args: set("node"), code: usage, message: /'node' needs a node name/ },
  { name: "duplicate node", args: ["add", "ciabmesh", "node1"], code: conflict, message: /network 'ciabmesh' already has node 'node1'/ },
  // Issue 10: add applies the valid part as vwgen (vwgen-files.test.ts); a node that exists changes nothing.
  { name: "existing node", args: ["add", "ciabmesh", "node1"], code: conflict, message: /already has node 'node1'/ },
  { name: "invalid node name", args: ["add", "ciabmesh", "bad name"], code: invalid, message: /node name 'bad name' is invalid/ },
  { name: "node name too long", args: ["add", "ciabmesh", "n".repeat(64)], code: invalid, message: /node name 'n{64}' is invalid/ },
  // Issue 10: a network name too long for an interface gets a short device name (vwgen-files.test.ts).
  { name: "network name with a newline", args: ["add", "a\nb", "n1"], code: invalid, message: /network name is empty or holds a control character/ },
  { name: "delete unknown node", args: ["del", "ciabmesh", "node9"], code: notFound, message: /has no node 'node9'/ },
  { name: "showconf of unknown node", args: ["showconf", "ciabmesh", "node9"], code: notFound, message: /has no node 'node9'.*|nodes: node1, node2, node3/ },
  { name: "missing mesh file", args: ["showconf", "nosuchnet", "node1"], code: notFound, message: /unable to find mesh file '.*nosuchnet\.conf'/ },
  { name: "blacklist unknown node", args: ["blacklist", "ciabmesh", "add", "node1", "node9"], code: notFound, message: /has no node 'node9'/ },
  { name: "blacklist bad operation", args: ["blacklist", "ciabmesh", "frob", "node1", "node2"], code: usage, message: /invalid blacklist operation 'frob'/ },
  { name: "unknown command", args: ["frobnicate"], code: usage, message: /unknown command 'frobnicate'/ },
  { name: "zone with bad domain", args: ["zone", "ciabmesh", "bad domain!"], code: invalid, message: /zone domain 'bad domain!' is not a valid DNS name/ },
  {
    name: "zone with bad serial",
    args: ["zone", "ciabmesh", "mesh.example.com", "--serial", "x1"],
    code: invalid,
    message: /--serial 'x1' must be a whole number/,
  },
  {
    name: "garbage on pubkey's stdin",
    args: ["pubkey"],
    input: "hello\n",
    code: invalid,
    message: /private key on standard input is not a valid WireGuard key/,
  },
  // broken files
  {
    name: "truncated TOML",
    args: ["show", "ciabmesh"],
    file: (t) => t.slice(0, t.indexOf("PrivateKey") + 16),
    code: invalid,
    message: /ciabmesh\.conf:\d+:\d+: malformed TOML/,
  },
  {
    name: "wrong type in [Network]",
    args: ["show", "ciabmesh"],
    file: (t) => t.replace("VxlanID = 1363491", 'VxlanID = "abc"'),
    code: invalid,
    message: /ciabmesh\.conf:4:11: \[Network\] VxlanID: must be a TOML integer, got a string/,
  },
  {
    name: "wrong type in a node",
    args: ["showconf", "ciabmesh", "node1"],
    file: (t) => t.replace('Address = [ "172.20.10.93/24",]', 'Address = "172.20.10.93/24"'),
    code: invalid,
    message: /ciabmesh\.conf:12:11: \[Node\.node1\] Address: must be an array of strings, got a string/,
  },
  {
    name: "bad private key in file",
    // Issue 10: reads warn (vwgen writes these); render refuses.
    args: ["render", "ciabmesh", "--out", "out"],
    file: (t) => t.replace(KEY, "short="),
    code: invalid,
    message: /\[Node\.node1\] PrivateKey: is not a valid WireGuard key/,
  },
  {
    name: "VTEP in the metadata range (render refuses it; showconf only warns, see hostile-input.test.ts)",
    args: ["render", "ciabmesh", "--out", "out"],
    file: (t) => t.replaceAll("169.254.142.131", "169.254.169.10"),
    code: invalid,
    message: /\[Node\.node2\] LinkLayerAddress: 169\.254\.169\.10\/16 is in 169\.254\.169\.0\/24, the cloud metadata range/,
  },
  {
    name: "duplicate overlay address in file",
    // Issue 10: reads warn (vwgen writes these); render refuses.
    args: ["render", "ciabmesh", "--out", "out"],
    file: (t) => t.replace("172.20.10.178/24", "172.20.10.93/24"),
    code: invalid,
    message: /\[Node\.node2\] Address: address 172\.20\.10\.93 is also used by node 'node1'/,
  },
  {
    name: "duplicate VTEP in file",
    // Issue 10: reads warn (vwgen writes these); render refuses.
    args: ["render", "ciabmesh", "--out", "out"],
    file: (t) => t.replaceAll("169.254.142.131", "169.254.187.149"),
    code: invalid,
    message: /VTEP 169\.254\.187\.149 is also used by node 'node1'/,
  },
  { name: "missing [Network]", args: ["show", "ciabmesh"], file: (t) => t.replace(/\[Network\][^[]*/, ""), code: invalid, message: /\[Network\]: is missing/ },
  {
    name: "node table is not a table",
    args: ["show", "ciabmesh"],
    file: (t) => t.replace(/\[Node\.node3\][\s\S]*$/, "[Node]\nnode4 = 1\n"),
    code: invalid,
    message: /ciabmesh\.conf:\d+:\d+: \[Node\] node4: must be a table \[Node\.node4\], got an integer/,
  },
];

describe("bad input: message, exit code, file unchanged", () => {
  it.each(CASES)("$name", (c) => {
    const dir = withFiles(BASIC);
    const file = join(dir, "ciabmesh.conf");
    if (c.file) {
      writeFileSync(file, c.file(readFileSync(file, "utf8")));
    }
    const before = digest(file);
    const r = ciab(c.args, { cwd: dir, input: c.input });
    expect(r.stderr).toMatch(c.message);
    expect(r.stderr).toMatch(/^ciab: error: |error: unknown command/m);
    expect(r.code).toBe(c.code);
    expect(digest(file)).toBe(before);
    expect(readdirSync(dir).filter((f) => f !== "ciabmesh.conf")).toEqual([]); // no temp or lock file left
  });

  it("refuses an exhausted pool", () => {
    const dir = withFiles(BASIC);
    expect(ciab(["add", "tiny", "a", "b"], { cwd: dir }).code).toBe(0);
    expect(ciab(["set", "tiny", "pool-ipv4", "10.9.0.0/30"], { cwd: dir }).code).toBe(0);
    // the /30 has two hosts; a and b keep their old addresses outside it, so c and d take both and e finds none
    expect(ciab(["add", "tiny", "c", "d"], { cwd: dir }).code).toBe(0);
    const before = digest(join(dir, "tiny.conf"));
    const r = ciab(["add", "tiny", "e"], { cwd: dir });
    expect(r.stderr).toMatch(/IPv4 address pool 10\.9\.0\.0\/30 is exhausted/);
    expect(r.code).toBe(conflict);
    expect(digest(join(dir, "tiny.conf"))).toBe(before);
  });

  // Issue 10: vwgen's own README example has such a node; it reaches the others, and is reached once it has spoken.
  // (The README example that renders with the warning: vwgen-files.test.ts.)
  it("a node without endpoint and keepalive is no refusal any more; the file's blacklist without reflector is, writing nothing", () => {
    const dir = withFiles(LAB);
    const r = ciab(["render", "lab", "--out", "out"], { cwd: dir });
    expect(r.stderr).not.toMatch(/no peer can ever reach it/);
    expect(r.stderr).toMatch(/RouteReflectors is empty/);
    expect(r.code).toBe(invalid);
    expect(existsSync(join(dir, "out"))).toBe(false);
  });

  it("refuses a read-only mesh file", () => {
    const dir = withFiles(BASIC);
    const file = join(dir, "ciabmesh.conf");
    chmodSync(file, 0o400);
    const before = digest(file);
    const r = ciab(set("vxlan-port", "4790"), { cwd: dir });
    expect(r.stderr).toMatch(/ciabmesh\.conf is read-only \(mode 0400\); it was left unchanged/);
    expect(r.code).toBe(EXIT.io);
    expect(digest(file)).toBe(before);
  });

  it("waits for a concurrent writer, then gives up naming it", () => {
    const dir = withFiles(BASIC);
    const file = join(dir, "ciabmesh.conf");
    writeFileSync(`${file}.lock`, `${process.pid}\n`); // a live process holds the lock
    const before = digest(file);
    const t0 = Date.now();
    const r = ciab(["--lock-timeout", "300", ...set("vxlan-port", "4790")], { cwd: dir });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect(r.stderr).toMatch(new RegExp(`ciabmesh\\.conf is locked by another process \\(pid ${process.pid}\\)`));
    expect(r.code).toBe(EXIT.locked);
    expect(digest(file)).toBe(before);
  });

  it.skipIf(!isRoot)("refuses a read-only directory (EROFS) and leaves the file as it was", () => {
    const dir = withFiles(BASIC);
    const file = join(dir, "ciabmesh.conf");
    const before = digest(file);
    // A read-only bind mount of the directory, in a private mount namespace: real EROFS even for root.
    const script = `mount --bind "${dir}" "${dir}" && mount -o remount,bind,ro "${dir}" && cd "${dir}" && exec "${process.execPath}" "${join(__dirname, "../../dist/ciab.mjs")}" set ciabmesh vxlan-port 4790`;
    const r = spawnSync("unshare", ["-m", "--propagation", "private", "sh", "-c", script], { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
    expect(r.stderr).toMatch(/cannot create lock file .*ciabmesh\.conf\.lock \(is the directory writable\?\): EROFS/);
    expect(r.status).toBe(EXIT.io);
    expect(digest(file)).toBe(before);
  });
});
