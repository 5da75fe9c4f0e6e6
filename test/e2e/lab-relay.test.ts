// End to end, real daemons: two nodes that cannot connect directly (both NAT = "symmetric") go through the public
// reflector, by the blacklist's transit mechanism (issue 13 part 5). The static lab has no NAT routers (ciab lab up
// --nat has): what this proves with real packets is the relay's data path and control plane: no WireGuard peer
// between the pair, the full container matrix, traceroutes through the relay, `ciab status` saying so; and, as
// the control, a public pair's path has no third node.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { spawnRunner } from "../../src/adapters/exec.js";
import { seededRandom } from "../../src/keys/random.js";
import { labTest, traceHops } from "../../src/lab/checks.js";
import { execTarget, loadLabMesh } from "../../src/lab/lab.js";
import { LAB_ROOT, labPaths } from "../../src/lab/state.js";
import { addNodes, applySet, ensureNetwork } from "../../src/model/edit.js";
import { dumpToml, type TomlTable } from "../../src/model/toml.js";
import { ciabOn, deps, labReady, type RunningLab, startLab, stopLab } from "../helpers/lab.js";

describe.skipIf(!labReady())("ciab lab: a symmetric pair relayed through the public reflector", () => {
  let lab: RunningLab | undefined;
  const dir = mkdtempSync(join(tmpdir(), "ciab-relay-"));
  afterAll(async () => {
    await stopLab(lab);
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  const on = async (target: string, argv: string[]) => {
    if (!lab) throw new Error("no lab");
    const r = await spawnRunner(execTarget(LAB_ROOT, lab.state, target, argv).argv, { timeoutMs: 30_000 });
    expect(r.code, `${target}: ${argv.join(" ")}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };

  it("s1<->s2 go through rr (traceroute, no WireGuard peer between them), the matrix is full, status says relayed", async () => {
    const random = seededRandom("lab-relay");
    const doc: TomlTable = {};
    ensureNetwork(doc, random);
    addNodes(doc, "relay", ["p2", "rr", "s1", "s2"], random);
    applySet(
      doc,
      "relay",
      [
        ...["stun-servers", "198.18.0.10:3478,198.18.0.11:3478", "route-reflectors", "rr"],
        ...["node", "rr", "endpoint", "198.18.9.1:51820", "listen-port", "51820", "subnets", "10.30.1.0/24"],
        ...["node", "p2", "endpoint", "198.18.9.2:51820", "listen-port", "51820", "subnets", "10.30.2.0/24"],
        ...["node", "s1", "nat", "symmetric", "listen-port", "51820", "endpoint", "198.18.9.3:51820", "subnets", "10.30.3.0/24"],
        ...["node", "s2", "nat", "symmetric", "listen-port", "51820", "endpoint", "198.18.9.4:51820", "subnets", "10.30.4.0/24"],
      ],
      { random },
    );
    const file = join(dir, "relay.conf");
    writeFileSync(file, dumpToml(doc), { mode: 0o600 });
    lab = await startLab("rl", { nodes: undefined, mesh: file });
    const r = await labTest(lab.name, deps());
    console.log(r.checks.map((c) => `${c.status} ${c.name}: ${c.detail}`).join("\n"));
    expect(r.matrix.filter((p) => !p.ok)).toEqual([]);
    expect(r.matrix).toHaveLength(12);
    expect(r.checks.filter((c) => c.status === "fail")).toEqual([]);
    expect(r.checks.filter((c) => c.name.startsWith("relay transit")).map((c) => [c.name, c.status])).toEqual([
      ["relay transit s1->s2", "pass"],
      ["relay transit s2->s1", "pass"],
    ]);
    const mesh = loadLabMesh(lab.state);
    const key = (n: string) => mesh.nodes.find((x) => x.name === n)?.publicKey as string;
    // no WireGuard peer between the pair; the relay has both
    expect(await on("s1", ["wg", "show", lab.state.network, "peers"])).not.toContain(key("s2"));
    expect(await on("rr", ["wg", "show", lab.state.network, "peers"])).toContain(key("s2"));
    // control: s1 and p2 peer directly, their path has no third node
    const ov = (n: string) => mesh.nodes.find((x) => x.name === n)?.overlayIPv4 as string;
    const onS1 = `s1/${lab.state.containers.find((c) => c.node === "s1")?.name}`;
    const direct = traceHops(await on(onS1, ["traceroute", "-n", "-q", "1", "-w", "2", "-m", "8", "10.30.2.2"]));
    expect(direct).toEqual(["10.30.3.1", ov("p2"), "10.30.2.2"]);
    const relayed = traceHops(await on(onS1, ["traceroute", "-n", "-q", "1", "-w", "2", "-m", "8", "10.30.4.2"]));
    expect(relayed).toEqual(["10.30.3.1", ov("rr"), ov("s2"), "10.30.4.2"]);
    const st = await ciabOn(lab, "s1", ["status", "--bundle", labPaths(LAB_ROOT, lab.name).bundle("s1"), "--json"]);
    const peers = (JSON.parse(st.stdout) as { peers: { name: string; path: string; via?: string; nat?: string; up: boolean; routes: string[] }[] }).peers;
    expect(peers.map((p) => [p.name, p.path, p.via ?? null, p.nat ?? null, p.up])).toEqual([
      ["p2", "direct", null, null, true],
      ["rr", "direct", null, null, true],
      ["s2", "relayed", "rr", "symmetric", true],
    ]);
    expect(peers.find((p) => p.name === "s2")?.routes).toEqual(["10.30.4.0/24"]);
  }, 180_000);
});
