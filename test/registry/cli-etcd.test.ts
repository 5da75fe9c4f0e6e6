// Every mesh command against a real etcd (--registry / CIAB_REGISTRY): import and export byte for byte, reads equal
// to the file's, edits by compare-and-swap (20 racing `ciab add` processes never share an address, VTEP, port or
// name), and bad registries get clear errors with documented exit codes.
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseToml, type TomlTable } from "../../src/model/toml.js";
import { ciab, tempDir } from "../helpers/cli.js";
import { CLI, FIXTURES } from "../helpers/env.js";
import { etcdMissing, startEtcd, type TestEtcd } from "../helpers/etcd.js";

const dir = tempDir("ciab-registry-cli-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const VWGEN_FILE = join(FIXTURES, "blacklist4", "lab.conf");

/** Everything `add` allocates, per kind: a value held by two nodes is a collision. */
function collisions(doc: TomlTable): string[] {
  const seen = new Map<string, string>();
  const out: string[] = [];
  for (const [name, n] of Object.entries((doc.Node ?? {}) as Record<string, TomlTable>)) {
    const vals = [
      ...((n.Address as string[] | undefined) ?? []).map((a) => `address ${a.split("/")[0]}`),
      ...((n.AllowedIPs as string[] | undefined) ?? []).map((a) => `vtep ${a}`),
      `port ${n.ListenPort}`,
      `key ${n.PrivateKey}`,
    ];
    for (const v of vals) {
      const other = seen.get(v);
      if (other !== undefined) out.push(`${v}: ${other} and ${name}`);
      seen.set(v, name);
    }
  }
  return out;
}

function race(args: (i: number) => string[], env: Record<string, string>, n: number): Promise<{ code: number; stderr: string }[]> {
  return Promise.all(
    Array.from(
      { length: n },
      (_, i) =>
        new Promise<{ code: number; stderr: string }>((resolve) => {
          const p = spawn(process.execPath, [CLI, ...args(i)], { cwd: dir, env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
          let stderr = "";
          p.stderr.on("data", (b: Buffer) => {
            stderr += b.toString();
          });
          p.on("exit", (code) => resolve({ code: code ?? -1, stderr }));
        }),
    ),
  );
}

describe("the collision check used below", () => {
  it("finds a shared value (negative control)", () => {
    const doc = parseToml(readFileSync(VWGEN_FILE, "utf8"), "x");
    expect(collisions(doc)).toEqual([]);
    const nodes = doc.Node as Record<string, TomlTable>;
    const [a, b] = Object.values(nodes) as [TomlTable, TomlTable];
    b.ListenPort = a.ListenPort ?? 0;
    expect(collisions(doc)).toHaveLength(1);
  });
});

describe.skipIf(etcdMissing !== undefined)(`mesh commands against etcd${etcdMissing ? ` — skipped: ${etcdMissing}` : ""}`, () => {
  let etcd: TestEtcd;
  let url: string;
  beforeAll(async () => {
    etcd = await startEtcd();
    url = `etcd://${etcd.host}/clitest`;
  });
  afterAll(async () => etcd?.stop());
  const reg = (args: string[], env: Record<string, string> = {}) => ciab([...args, "--registry", url], { cwd: dir, env });

  it("import and export move a vwgen file byte for byte; reads equal the file's", () => {
    copyFileSync(VWGEN_FILE, join(dir, "lab.conf"));
    const original = readFileSync(VWGEN_FILE, "utf8");
    const imp = reg(["registry", "import", "lab", VWGEN_FILE]);
    expect(imp.stderr).toMatch(/imported into etcd:\/\//);
    expect(imp.code).toBe(0);
    expect(reg(["registry", "export", "lab"]).stdout).toBe(original);
    for (const args of [
      ["show", "lab"],
      ["showconf", "lab", "a"],
      ["zone", "lab", "example.org", "--serial", "1"],
    ]) {
      const fromFile = ciab(args, { cwd: dir });
      expect(fromFile.code).toBe(0);
      const fromEtcd = reg(args);
      expect(fromEtcd.stdout).toBe(fromFile.stdout);
      // the same warnings, naming where the mesh is
      expect(fromEtcd.stderr).toBe(fromFile.stderr.replaceAll(join(dir, "lab.conf"), `${url}/lab`));
    }
    // CIAB_REGISTRY does the same as --registry
    expect(ciab(["registry", "export", "lab"], { cwd: dir, env: { CIAB_REGISTRY: url } }).stdout).toBe(original);
    // importing over it needs --replace
    const again = reg(["registry", "import", "lab", VWGEN_FILE]);
    expect(again.code).toBe(5);
    expect(again.stderr).toMatch(/already exists.*\n.*--replace/);
  });

  it("edits land in etcd, and the file in the directory is untouched", () => {
    const before = readFileSync(join(dir, "lab.conf"), "utf8");
    expect(reg(["set", "lab", "node", "a", "endpoint", "198.18.0.9:51820"]).code).toBe(0);
    expect(reg(["show", "lab"]).stdout).toMatch(/public ip: 198\.18\.0\.9:51820/);
    expect(readFileSync(join(dir, "lab.conf"), "utf8")).toBe(before);
    expect(reg(["del", "lab", "nosuch"]).code).toBe(3);
  });

  it("20 racing `ciab add` processes all land, and never share an address, VTEP, port or name", async () => {
    expect(reg(["add", "race"]).code).toBe(0);
    const results = await race((i) => ["add", "race", `n${i}`, "--registry", url], {}, 20);
    expect(results.filter((r) => r.code !== 0).map((r) => r.stderr)).toEqual([]);
    const doc = parseToml(reg(["registry", "export", "race"]).stdout, "race");
    expect(Object.keys(doc.Node as TomlTable).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `n${i}`).sort());
    expect(collisions(doc)).toEqual([]);
  }, 180_000); // 20 processes, each loading etcd3's gRPC client (~0.6 s of CPU) on 2 cores

  it("the same race against the file registry (a directory as --registry)", async () => {
    const fdir = join(dir, "filereg");
    mkdirSync(fdir);
    expect(ciab(["add", "race", "--registry", fdir], { cwd: dir }).code).toBe(0);
    const results = await race((i) => ["add", "race", `n${i}`, "--registry", fdir], {}, 20);
    expect(results.filter((r) => r.code !== 0).map((r) => r.stderr)).toEqual([]);
    const doc = parseToml(readFileSync(join(fdir, "race.conf"), "utf8"), "race");
    expect(Object.keys(doc.Node as TomlTable)).toHaveLength(20);
    expect(collisions(doc)).toEqual([]);
  });

  it("bad registries: a clear error, a documented exit code, no secret", () => {
    const gone = ciab(["show", "lab", "--registry", "etcd://127.0.0.1:9/x"], { cwd: dir });
    expect(gone.code).toBe(8);
    expect(gone.stderr).toMatch(/etcd etcd:\/\/127\.0\.0\.1:9\/x could not read network 'lab'.*\n\s+hint: check that etcd is running/);
    expect(ciab(["show", "lab", "--registry", "etcd://user:pw@127.0.0.1:9/x"], { cwd: dir }).code).toBe(2);
    expect(ciab(["show", "lab", "--registry", "ftp://x/y"], { cwd: dir }).code).toBe(2);
    expect(ciab(["show", "lab", "--registry", "etcd:///x"], { cwd: dir }).code).toBe(2);
    // garbage stored under the mesh key: named, exit 4
    expect(etcd.ctl(["put", "clitest/junk/mesh", "[[[ not toml"]).code).toBe(0);
    const junk = reg(["show", "junk"]);
    expect(junk.code).toBe(4);
    expect(junk.stderr).toMatch(/clitest\/junk.*malformed TOML/);
    expect(reg(["show", "absent"]).code).toBe(3);
  });
});
