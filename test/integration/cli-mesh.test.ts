// The mesh file through the real CLI: lossless round trip, modes, locking under real concurrency, outputs.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ciab, digest, tempDir, withFiles } from "../helpers/cli.js";
import { CLI, FIXTURES, hasTool, ROOT } from "../helpers/env.js";

const BASIC = join(FIXTURES, "basic3", "ciabmesh.conf");

describe("mesh file", () => {
  it.each([
    ["add with no new node", ["add", "ciabmesh"]],
    ["blacklist del of an absent pair", ["blacklist", "ciabmesh", "del", "node1", "node2"]],
    ["set a value to what it is", ["set", "ciabmesh", "vxlan-port", "4789"]],
  ])("%s leaves a vwgen file byte-identical", (_n, args) => {
    const dir = withFiles(BASIC);
    const before = digest(join(dir, "ciabmesh.conf"));
    const r = ciab(args, { cwd: dir });
    expect(r.stderr).toBe(`${join(dir, "ciabmesh.conf")}: unchanged (it already holds these values)\n`);
    expect(r.code).toBe(0);
    expect(digest(join(dir, "ciabmesh.conf"))).toBe(before);
  });

  it("creates the file 0600 because it holds private keys", () => {
    const dir = tempDir();
    expect(ciab(["add", "m", "a"], { cwd: dir }).code).toBe(0);
    expect(statSync(join(dir, "m.conf")).mode & 0o777).toBe(0o600);
  });

  it("two writers racing from two shells both land", async () => {
    const dir = tempDir();
    expect(ciab(["add", "race", ...Array.from({ length: 8 }, (_, i) => `n${i}`)], { cwd: dir }).code).toBe(0);
    const runs = Array.from(
      { length: 8 },
      (_, i) =>
        new Promise<number>((resolve) => {
          const p = spawn(process.execPath, [CLI, "set", "race", "node", `n${i}`, "listen-port", String(41000 + i)], { cwd: dir, stdio: "ignore" });
          p.on("exit", (code) => resolve(code ?? -1));
        }),
    );
    expect(await Promise.all(runs)).toEqual(new Array(8).fill(0));
    const text = readFileSync(join(dir, "race.conf"), "utf8");
    for (let i = 0; i < 8; i++) expect(text).toContain(`ListenPort = ${41000 + i}`);
  });

  it("show --json hides private keys unless asked", () => {
    const dir = withFiles(BASIC);
    const doc = JSON.parse(ciab(["show", "ciabmesh", "--json"], { cwd: dir }).stdout);
    expect(doc).toMatchObject({ schema: "ciab/show/v1", ok: true });
    const shown = doc.networks[0];
    expect(doc.networks).toHaveLength(1);
    expect(shown.nodes).toHaveLength(3);
    expect(shown.nodes[0]).toMatchObject({
      name: "node1",
      publicKey: "63Ii0Vbwcp4YQ+twKiXE7io2AgLbnSHSQts8LhdWrX4=",
      mac: "3e:2e:17:56:ad:7e",
      vtep: "169.254.187.149",
    });
    expect(JSON.stringify(shown)).not.toContain("8IAwa1Q70d1sjnefunzxYCB2mh3c3f8jcUQnJdKKEEM=");
    expect(ciab(["show", "ciabmesh"], { cwd: dir }).stdout).not.toContain("8IAwa1Q70d1sjnefunzxYCB2mh3c3f8jcUQnJdKKEEM=");
    expect(ciab(["show", "ciabmesh", "--show-keys"], { cwd: dir }).stdout).toContain("8IAwa1Q70d1sjnefunzxYCB2mh3c3f8jcUQnJdKKEEM=");
  });

  it("answers to vwgen's command lines as `vwgen`", () => {
    const dir = withFiles(BASIC);
    const r = spawnSync(join(ROOT, "bin", "vwgen"), ["showconf", "ciabmesh", "node1"], { cwd: dir, encoding: "utf8" });
    expect(r.stdout).toBe(readFileSync(join(FIXTURES, "basic3", "showconf-node1.conf"), "utf8"));
  });

  it("keys that stay on the host: key init, public-key, and a bundle without the private key", () => {
    const dir = withFiles(BASIC);
    const keys = tempDir();
    const init = ciab(["key", "init", "ciabmesh", "node2", "--key-dir", keys, "--json"], { cwd: dir });
    expect(init.code).toBe(0);
    const { publicKey, keyFile } = JSON.parse(init.stdout);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(JSON.parse(ciab(["key", "init", "ciabmesh", "node2", "--key-dir", keys, "--json"], { cwd: dir }).stdout)).toMatchObject({
      created: false,
      publicKey,
    });
    expect(ciab(["set", "ciabmesh", "node", "node2", "public-key", publicKey], { cwd: dir }).code).toBe(0);
    const conf = readFileSync(join(dir, "ciabmesh.conf"), "utf8");
    expect(conf).not.toContain("qMqhUxGu+Xo5EBxjlEQjdotj+6m95RmTyeGRLIVbAXQ=");
    const sc = ciab(["showconf", "ciabmesh", "node2"], { cwd: dir }).stdout;
    expect(sc).not.toMatch(/PrivateKey/);
    expect(sc).toContain("PostUp = wg set %i private-key /etc/wireguard/ciabmesh.key");
    expect(ciab(["showconf", "ciabmesh", "node1"], { cwd: dir }).stdout).toContain(`PublicKey = ${publicKey}`);
  });

  it("pre-shared keys: the same key on both ends of each pair, in the bundles", () => {
    const dir = tempDir();
    const env = { CIAB_INSECURE_TEST_SEED: "psk" };
    expect(ciab(["add", "p", "a", "b", "c"], { cwd: dir, env }).code).toBe(0);
    expect(
      ciab(
        [
          "set",
          "p",
          "psk",
          "on",
          "node",
          "a",
          "endpoint",
          "198.51.100.1:1",
          "node",
          "b",
          "endpoint",
          "198.51.100.2:1",
          "node",
          "c",
          "endpoint",
          "198.51.100.3:1",
        ],
        { cwd: dir, env },
      ).code,
    ).toBe(0);
    expect(ciab(["render", "p", "--out", "out"], { cwd: dir }).code).toBe(0);
    const psks = (n: string) => [...readFileSync(join(dir, "out", n, "wireguard", "p.conf"), "utf8").matchAll(/PresharedKey = (\S+)/g)].map((m) => m[1]);
    const [a, b, c] = [psks("a"), psks("b"), psks("c")];
    expect(a).toHaveLength(2);
    expect(a[0]).toBe(b[0]); // a-b
    expect(a[1]).toBe(c[0]); // a-c
    expect(b[1]).toBe(c[1]); // b-c
    expect(new Set([...a, ...b, ...c]).size).toBe(3);
    expect(statSync(join(dir, "out", "a", "wireguard", "p.conf")).mode & 0o777).toBe(0o600);
  });
});

describe.skipIf(!hasTool("dot"))("graph", () => {
  it("draws the mesh as SVG with Graphviz, blacklisted pairs dashed", () => {
    const dir = withFiles(join(FIXTURES, "blacklist4", "lab.conf"));
    const r = ciab(["graph", "lab", "--out", "mesh.svg"], { cwd: dir });
    expect(r.code).toBe(0);
    const svg = readFileSync(join(dir, "mesh.svg"), "utf8");
    expect(svg).toMatch(/<svg/);
    expect(svg).toContain("blacklisted");
    expect(ciab(["graph", "lab"], { cwd: dir }).stdout).toMatch(/^graph "lab" \{/);
  });
});

describe("lock file", () => {
  it("takes over a lock left by a process that died", () => {
    const dir = withFiles(BASIC);
    const file = join(dir, "ciabmesh.conf");
    writeFileSync(`${file}.lock`, "999999999\n"); // no such process
    const r = ciab(["set", "ciabmesh", "vxlan-port", "4790"], { cwd: dir });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(readFileSync(file, "utf8")).toContain("VxlanPort = 4790");
    expect(existsSync(`${file}.lock`)).toBe(false);
  });
});

describe("render output directory", () => {
  it("re-rendering replaces bundles, removes those of deleted nodes, and leaves other files alone", () => {
    const dir = tempDir();
    const env = { CIAB_INSECURE_TEST_SEED: "render" };
    expect(ciab(["add", "r", "a", "b", "c"], { cwd: dir, env }).code).toBe(0);
    expect(
      ciab(["set", "r", "node", "a", "endpoint", "198.51.100.1:1", "node", "b", "endpoint", "198.51.100.2:1", "node", "c", "endpoint", "198.51.100.3:1"], {
        cwd: dir,
      }).code,
    ).toBe(0);
    expect(ciab(["render", "r", "--out", "out"], { cwd: dir }).code).toBe(0);
    writeFileSync(join(dir, "out", "notes.txt"), "mine");
    expect(ciab(["del", "r", "c"], { cwd: dir }).code).toBe(0);
    const r = ciab(["render", "r", "--out", "out", "--json"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).removed).toEqual(["c"]);
    expect(readdirSync(join(dir, "out")).sort()).toEqual(["a", "b", "notes.txt"]);
    expect(readFileSync(join(dir, "out", "a", "wireguard", "r.conf"), "utf8")).not.toContain("Peer node c");
  });
});

describe("a vwgen mesh without an IPv4 pool", () => {
  it("loads and shows as in vwgen; only render, which needs router ids, refuses it", () => {
    const dir = withFiles(BASIC);
    const file = join(dir, "ciabmesh.conf");
    writeFileSync(
      file,
      readFileSync(file, "utf8")
        .replace(/AddressPoolIPv4 = .*\n/, "")
        .replace(/Address = \[ "172\.20\.10\.\d+\/24",\]/g, "Address = []"),
    );
    const sc = ciab(["showconf", "ciabmesh", "node1"], { cwd: dir });
    // One warning per node, naming the command that will refuse it (issue 10: reads work, render refuses).
    expect(sc.stderr.trim().split("\n")).toHaveLength(3);
    expect(sc.stderr).toMatch(/^ciab: warning: node 'node1': .*router-id \('ciab render' and 'ciab up' refuse this(; fix: .*)?\)$/m);
    expect(sc.code).toBe(0);
    expect(sc.stdout).not.toContain("172.20.10.");
    const r = ciab(["render", "ciabmesh", "--out", "out"], { cwd: dir });
    expect(r.stderr).toMatch(/node 'node1': \[Node\.node1\] Address has no IPv4 overlay address, which BGP needs as router-id/);
    expect(r.code).toBe(4);
    expect(existsSync(join(dir, "out"))).toBe(false);
  });
});
