// End to end, real daemons: prefix ownership (ARCHITECTURE "Prefix ownership"). In a 3-node lab (BGP, reflector
// n1), client n3 edits its frr.conf to announce what it does not own — n2's subnet, a more specific of it, and an
// unrelated prefix — and applies it with its bundle's own ciab-up, as an operator would. n3 does send them, the
// reflector filters all three (filtered-routes, the DENIED log lines), no other node's BGP or kernel table gets any
// of them, n2's subnet still routes to n2, and traffic between the other nodes' containers is untouched.
// Skips unless root with wireguard-go and FRR.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { spawnRunner } from "../../src/adapters/exec.js";
import { labTest } from "../../src/lab/checks.js";
import { execTarget, loadLabMesh } from "../../src/lab/lab.js";
import { LAB_ROOT, labPaths } from "../../src/lab/state.js";
import { deps, labReady, type RunningLab, startLab, stopLab } from "../helpers/lab.js";

const FOREIGN = ["10.0.2.0/24", "10.0.2.128/25", "10.99.0.0/24"]; // n2's subnet, a more specific of it, nobody's

describe.skipIf(!labReady())("ciab lab: a node announcing prefixes it does not own", () => {
  let lab: RunningLab | undefined;
  afterAll(() => stopLab(lab), 120_000);

  const on = async (target: string, argv: string[]) => {
    if (!lab) throw new Error("no lab");
    const r = await spawnRunner(execTarget(LAB_ROOT, lab.state, target, argv).argv, { timeoutMs: 30_000 });
    expect(r.code, `${target}: ${argv.join(" ")}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  const vtyshJson = async <T>(node: string, cmd: string): Promise<T> => JSON.parse(await on(node, ["vtysh", "-c", `${cmd} json`])) as T;
  const kernel = async (node: string) =>
    JSON.parse(await on(node, ["ip", "-j", "-4", "route", "show"])) as { dst: string; gateway?: string; dev: string; protocol?: string }[];

  it("n3 announces n2's subnet, a more specific and an unrelated prefix: filtered by the reflector, in no other table", async () => {
    lab = await startLab("ep", { nodes: 3 });
    const mesh = loadLabMesh(lab.state);
    const ov = (n: string) => mesh.nodes.find((x) => x.name === n)?.overlayIPv4 as string;
    const routeTo = async (node: string, dst: string) => (await kernel(node)).find((r) => r.dst === dst);
    const before = { n1: await routeTo("n1", "10.0.2.0/24"), n2: await routeTo("n2", "10.0.2.0/24") };
    expect(before.n1).toMatchObject({ gateway: ov("n2"), protocol: "bgp" });
    expect(before.n2).toMatchObject({ dev: "br0", protocol: "kernel" });

    // The rogue: extra `network` lines, and no import-check (it has no such routes to check against).
    const bundle = labPaths(LAB_ROOT, lab.name).bundle("n3");
    const file = join(bundle, "frr", "frr.conf");
    const conf = readFileSync(file, "utf8");
    const rogue = conf
      .replace(/^ bgp network import-check$/m, " no bgp network import-check")
      .replace(/^( {2}network 10\.0\.3\.0\/24)$/m, `$1\n${FOREIGN.map((p) => `  network ${p}`).join("\n")}`);
    expect(rogue.match(/^ {2}network /gm)).toHaveLength(4);
    writeFileSync(file, rogue);
    const t0 = Date.now();
    const up = await spawnRunner(execTarget(LAB_ROOT, lab.state, "n3", ["sh", join(bundle, "bin", "ciab-up")]).argv, { timeoutMs: 60_000 });
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr).toContain("reloading FRR configuration"); // frr-reload.py: n3's sessions stay up

    // n3 really sends them to the reflector …
    const advertised = await vtyshJson<{ advertisedRoutes?: Record<string, unknown> }>("n3", `show bgp ipv4 unicast neighbors ${ov("n1")} advertised-routes`);
    expect(Object.keys(advertised.advertisedRoutes ?? {})).toEqual(expect.arrayContaining(FOREIGN));
    // … which receives and filters all three (soft-reconfiguration inbound keeps what the policy denied).
    let filtered: string[] = [];
    for (let i = 0; i < 100 && !FOREIGN.every((p) => filtered.includes(p)); i++) {
      if (i) await new Promise((r) => setTimeout(r, 200));
      filtered = Object.keys(
        (await vtyshJson<{ receivedRoutes?: Record<string, unknown> }>("n1", `show bgp ipv4 unicast neighbors ${ov("n3")} filtered-routes`)).receivedRoutes ??
          {},
      );
    }
    const seen = (Date.now() - t0) / 1000;
    expect(filtered.sort()).toEqual([...FOREIGN].sort());
    const log = readFileSync(join(labPaths(LAB_ROOT, lab.name).privateRoot("n1"), "var-log", "frr", "frr.log"), "utf8");
    for (const p of FOREIGN) expect(log).toContain(`rcvd UPDATE about ${p} IPv4 unicast -- DENIED due to: route-map`);

    // No other node's BGP table or kernel has any of them; n2's subnet still belongs to n2 everywhere.
    for (const n of ["n1", "n2"]) {
      const bgp = await vtyshJson<{ routes: Record<string, { nexthops: { ip: string }[] }[]> }>(n, "show bgp ipv4 unicast");
      expect(Object.keys(bgp.routes).filter((p) => FOREIGN.includes(p) && p !== "10.0.2.0/24")).toEqual([]);
      const dsts = (await kernel(n)).map((r) => r.dst);
      expect(dsts).not.toContain("10.0.2.128/25");
      expect(dsts).not.toContain("10.99.0.0/24");
    }
    const n1Paths = (await vtyshJson<{ paths: { nexthops: { ip: string }[] }[] }>("n1", "show bgp ipv4 unicast 10.0.2.0/24")).paths;
    expect(n1Paths.map((p) => p.nexthops.map((h) => h.ip))).toEqual([[ov("n2")]]);
    expect(await routeTo("n1", "10.0.2.0/24")).toEqual(before.n1);
    expect(await routeTo("n2", "10.0.2.0/24")).toEqual(before.n2);
    // An address in the more specific goes to n2, not to n3.
    expect(await on("n1", ["ip", "route", "get", "10.0.2.130"])).toMatch(new RegExp(`via ${ov("n2").replaceAll(".", "\\.")} `));

    // The generic checks agree, and only the rogue hurt itself: its own announcement of 10.0.2.0/24 beats the
    // real one in its own table, so c3 and c2 lose each other; every other pair still works.
    const r = await labTest(lab.name, deps());
    console.log(`filtered at the reflector ${seen.toFixed(1)} s after n3's ciab-up\n${r.checks.map((c) => `${c.status} ${c.name}: ${c.detail}`).join("\n")}`);
    expect(r.checks.find((c) => c.name === "route ownership")?.status).toBe("pass");
    expect(r.matrix.filter((p) => !p.ok).map((p) => `${p.from}->${p.to}`)).toEqual(["c2->c3", "c3->c2"]);
  }, 150_000);
});
