// `ciab render` validates, then renders (cdk8s's validate() then synth()): a mesh with several problems reports every
// one of them, located, in one run, and writes nothing. And the bundles a worker thread writes are the same bytes.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EXIT } from "../../src/model/errors.js";
import { ciab, withFiles } from "../helpers/cli.js";
import { FIXTURES } from "../helpers/env.js";

const LAB = join(FIXTURES, "blacklist4", "lab.conf");

/** Every file under `dir` with its mode and content. */
function tree(dir: string, rel = ""): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    const st = statSync(join(dir, r));
    if (st.isDirectory()) Object.assign(out, tree(dir, r));
    else out[r] = `${(st.mode & 0o777).toString(8)} ${readFileSync(join(dir, r), "utf8")}`;
  }
  return out;
}

describe("render validates everything before it writes anything", () => {
  it("three problems are reported at once, each located; no output directory", () => {
    const dir = withFiles(LAB);
    // The fixture has one (a blacklist without reflectors; node c without endpoint is only a warning); two more
    // (node b keeps its endpoint with ListenPort 0, and BGP with BIRD):
    const file = join(dir, "lab.conf");
    writeFileSync(
      file,
      readFileSync(file, "utf8").replace("[Network]\n", '[Network]\nRoutingDaemon = "bird"\n').replace("ListenPort = 51821", "ListenPort = 0"),
    );
    const r = ciab(["render", "lab", "--out", "out"], { cwd: dir });
    expect(r.code).toBe(EXIT.invalid);
    expect(r.stderr).toMatch(/error: node 'b': ListenPort: is 0 but the node has an endpoint/);
    expect(r.stderr).toMatch(/also: .*RoutingDaemon "bird" is only supported with Routing = "ospf"/);
    expect(r.stderr).toMatch(/also: node 'a' is blacklisted with 'c' \(\[PeerBlacklist\] Blacklist\) but \[Network\] RouteReflectors is empty/);
    expect(r.stderr.match(/^ {2}also: /gm)).toHaveLength(2);
    expect(existsSync(join(dir, "out"))).toBe(false);
  });

  it("negative control: the repaired mesh renders", () => {
    const dir = withFiles(LAB);
    const file = join(dir, "lab.conf");
    const [head, c] = readFileSync(file, "utf8").replace("[Network]\n", '[Network]\nRouteReflectors = ["b"]\n').split("[Node.c]") as [string, string];
    writeFileSync(file, `${head}[Node.c]${c.replace("PersistentKeepalive = 0", "PersistentKeepalive = 25")}`);
    const r = ciab(["render", "lab", "--out", "out"], { cwd: dir });
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(readdirSync(join(dir, "out")).sort()).toEqual(["a", "b", "c", "d"]);
  });
});

describe("a second render thread", () => {
  it("writes byte-identical bundles with the same modes as one thread", () => {
    const dir = withFiles();
    const names = Array.from({ length: 9 }, (_, i) => `n${i + 1}`);
    expect(ciab(["add", "m", ...names], { cwd: dir }).code).toBe(0);
    const set = ["set", "m", "route-reflectors", "n1", "pool-ipv6", "fd42:1::/64"];
    names.forEach((n, i) => set.push("node", n, "endpoint", `198.18.0.${i + 1}:51820`, "subnets", `10.1.${i}.0/24,fd00:${i}::/64`));
    expect(ciab(set, { cwd: dir }).code).toBe(0);
    expect(ciab(["blacklist", "m", "add", "n2", "n3"], { cwd: dir }).code).toBe(0);
    const one = ciab(["render", "m", "--out", "one"], { cwd: dir, env: { CIAB_RENDER_THREADS: "1" } });
    const two = ciab(["render", "m", "--out", "two"], { cwd: dir, env: { CIAB_RENDER_THREADS: "2" } });
    expect([one.code, two.code], one.stderr + two.stderr).toEqual([0, 0]);
    const a = tree(join(dir, "one"));
    expect(Object.keys(a).length).toBe(9 * 12); // 9 nodes, 12 files each (desired.json, the secrets file, two systemd units)
    expect(tree(join(dir, "two"))).toEqual(a);
  });
});
