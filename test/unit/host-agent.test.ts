// The host agent with injected side effects: observation answered from the captured fixtures, a fake runner that
// records every command. A dry run runs only read commands; apply stops at the first failure and says what was
// applied; a bad bundle, a missing key file and an LXD socket that answers garbage stop before anything changes.

import { describe, expect, it } from "vitest";
import type { RunOptions, RunResult } from "../../src/adapters/exec.js";
import { loadDesired } from "../../src/agent/desired.js";
import { doctor } from "../../src/agent/doctor.js";
import type { HostDeps } from "../../src/agent/host.js";
import { applyActions, reconcile } from "../../src/agent/reconcile.js";
import { applySet } from "../../src/model/edit.js";
import { dumpToml } from "../../src/model/toml.js";
import { topology } from "../../src/model/topology.js";
import { sha256Hex } from "../../src/plan/plan.js";
import type { DesiredHost } from "../../src/plan/types.js";
import { renderBundle } from "../../src/render/bundle.js";
import { desiredOf, fx, linksJson, meshDoc, meshOf, NET, observedOf, random } from "../helpers/host.js";

const ok = (stdout = ""): RunResult => ({ code: 0, stdout, stderr: "" });

/** A host that looks like lab node n2 after ciab-up (the captured outputs), recording every command. */
function fakeHost(installed: DesiredHost, fail?: (argv: string[]) => RunResult | undefined) {
  const calls: string[][] = [];
  const o = observedOf("n2", installed);
  const files = new Map<string, string>();
  for (const f of installed.files) files.set(f.path, f.content);
  const r = installed.routing[0]!;
  if (r.daemon === "frr") {
    files.set("/etc/frr/frr.conf", r.frrConf);
    files.set("/etc/frr/daemons", r.daemons);
    files.set("/etc/frr/vtysh.conf", "service integrated-vtysh-config\n");
  }
  for (const [k, v] of Object.entries(o.sysctls)) files.set(`/proc/sys/${k}`, v ?? "");
  files.set("/usr/lib/frr/frrinit.sh", "");
  files.set("/usr/lib/frr/frr-reload.py", "");
  files.set("/run/frr/watchfrr.pid", "4242\n");
  files.set("/proc/4242/stat", "4242 (watchfrr) S 1");
  files.set("/proc/4242/cmdline", "/usr/lib/frr/watchfrr\0-d");
  const modes: Record<string, number> = { "/etc/frr/frr.conf": 0o640, "/etc/frr/daemons": 0o644, "/etc/frr/vtysh.conf": 0o644 };
  const deps: HostDeps = {
    run: async (argv: string[], _o?: RunOptions) => {
      calls.push(argv);
      const f = fail?.(argv);
      if (f) return f;
      const a = argv.join(" ");
      if (a === "ip -j -d link show") return ok(linksJson("n2"));
      if (a === "ip -j addr show") return ok(fx("n2.ip-addr.json"));
      if (a.startsWith("ip -j neigh show dev")) return ok(JSON.stringify(JSON.parse(fx("n2.ip-neigh.json")).filter((n: { dev: string }) => n.dev === argv[5])));
      if (a.startsWith("bridge -j fdb show dev"))
        return ok(JSON.stringify(JSON.parse(fx("n2.bridge-fdb.json")).filter((n: { ifname: string }) => n.ifname === argv[5])));
      if (a === `wg show ${NET} dump`) return ok(fx("n2.wg-dump.txt"));
      if (a.startsWith("nft list table")) return ok(fx("n2.nft-table.txt"));
      return ok();
    },
    readFile: (p) => files.get(p),
    fileMode: (p) => (files.has(p) ? (modes[p] ?? 0o600) : undefined),
    exists: (p) => files.has(p),
    now: () => 1795408300,
    env: {},
  };
  return { deps, calls };
}

const READS = /^(ip -j|bridge -j|wg show|nft list)/;
const base = meshOf(meshDoc());
const installed = desiredOf(base, "n2");

describe("host agent with a fake host", () => {
  it("equal state: zero actions and only read commands", async () => {
    const h = fakeHost(installed);
    const r = await reconcile(installed, h.deps);
    expect(r.actions).toEqual([]);
    expect(h.calls.map((c) => c.join(" ")).filter((c) => !READS.test(c))).toEqual([]);
  });

  it("dry run of a change: the plan, but no command that writes", async () => {
    const doc = meshDoc();
    applySet(doc, NET, ["underlay-mtu", "1400"], { random: random() });
    const h = fakeHost(installed);
    const r = await reconcile(desiredOf(meshOf(doc), "n2"), h.deps, { dryRun: true });
    expect(r.actions.length).toBeGreaterThan(0);
    expect(r.result).toBeUndefined();
    expect(h.calls.map((c) => c.join(" ")).filter((c) => !READS.test(c))).toEqual([]);
  });

  it("apply stops at the first failure and reports what was applied and what was not attempted", async () => {
    const doc = meshDoc();
    applySet(doc, NET, ["underlay-mtu", "1400"], { random: random() });
    const d = desiredOf(meshOf(doc), "n2");
    const h = fakeHost(installed, (argv) =>
      argv.join(" ") === `ip link set dev ${NET} mtu 1340` ? { code: 2, stdout: "", stderr: "Error: mtu greater than device maximum." } : undefined,
    );
    const r = await reconcile(d, h.deps);
    const f = r.result!.failed!;
    expect(f.action.reason).toBe(`${NET} mtu 1440 != 1340`);
    expect(f.output).toMatch(/exited with 2: Error: mtu greater than device maximum/);
    // the wg-quick file and the ip batch file carry the MTU; the FDB batch file does not change
    expect(r.result!.applied.map((a) => a.subject)).toEqual([`/etc/wireguard/${NET}.conf`, `/etc/wireguard/${NET}.vxlan-ip`]);
    expect(r.result!.skipped.map((a) => a.reason)).toEqual([`vxlan mtu 1390 != 1290`]);
    // nothing after the failed command ran
    expect(h.calls.some((c) => c.join(" ").includes(`v${NET} mtu 1290`))).toBe(false);
  });

  it("a daemon that refuses the configuration: the staged file is checked first, nothing is reloaded", async () => {
    const doc = meshDoc();
    applySet(doc, NET, ["bgp-hold", "30"], { random: random() });
    const d = desiredOf(meshOf(doc), "n2");
    const h = fakeHost(installed, (argv) =>
      argv[2]?.includes("vtysh --dryrun")
        ? { code: 1, stdout: "", stderr: "line 3: % Unknown command\nthe frr configuration checker refused it (exit 1)" }
        : undefined,
    );
    const r = await reconcile(d, h.deps);
    expect(r.result!.failed!.action.kind).toBe("frr-reload");
    expect(r.result!.failed!.step).toBe(1);
    expect(r.result!.failed!.output).toMatch(/checker refused it/);
    expect(h.calls.some((c) => c[0] === "/usr/lib/frr/frr-reload.py")).toBe(false);
  });

  it("applyActions never puts a secret input into its report", async () => {
    const r = await applyActions(
      [
        {
          kind: "wg-sync",
          subject: "x",
          reason: "r",
          commands: [{ argv: ["wg"], input: "PrivateKey = SECRET", secret: true, display: "wg syncconf x < (secret)" }],
        },
      ],
      { run: async () => ({ code: 1, stdout: "", stderr: "nope" }) },
    );
    expect(JSON.stringify(r)).not.toContain('SECRET"}');
    expect(r.failed!.command).toBe("wg syncconf x < (secret)");
  });
});

describe("loading the desired state", () => {
  const bundle = () => new Map(renderBundle(topology(base).node(base.nodes[1]!), "d").map((f) => [`/b/${f.path}`, f.content]));
  const deps = (files: Map<string, string>, extra: Partial<HostDeps> = {}): HostDeps => ({
    run: async () => ok(),
    readFile: (p) => files.get(p),
    fileMode: () => 0o600,
    exists: (p) => files.has(p),
    now: () => 0,
    env: {},
    ...extra,
  });

  it("a bundle with a key file that stays on the host: the key must exist and match the mesh", async () => {
    const files = bundle();
    await expect(loadDesired({ bundle: "/b" }, deps(files))).rejects.toThrow(`no private key at /etc/wireguard/${NET}.key`);
    files.set(`/etc/wireguard/${NET}.key`, "aCUhqETvsCktM41hioAZ1czINugQ58TTGs68U9TO0kw=\n");
    await expect(loadDesired({ bundle: "/b" }, deps(files))).rejects.toThrow(/is not the one the mesh has for node n2/);
  });

  it("a broken bundle: refused, naming the file", async () => {
    const files = bundle();
    files.set("/b/wireguard/upc3194.conf", "garbage\n");
    await expect(loadDesired({ bundle: "/b" }, deps(files))).rejects.toThrow(/wireguard\/upc3194.conf does not match its SHA-256/);
    await expect(loadDesired({ bundle: "/nowhere" }, deps(files))).rejects.toThrow(/no manifest.json/);
  });

  it("DiscoverLXD with an LXD socket that answers garbage: an external error before anything is observed", async () => {
    const doc = meshDoc();
    applySet(doc, NET, ["node", "n2", "subnets", "10.2.0.0/16", "discover-lxd", "on"], { random: random() });
    const m = meshOf(doc);
    const files = new Map(renderBundle(topology(m).node(m.nodes[1]!), sha256Hex(dumpToml(doc))).map((f) => [`/b/${f.path}`, f.content]));
    const run = async () => ok();
    const lxd = { socket: "/lxd.sock", isSocket: () => true, transport: async () => ({ status: 200, body: "<html>not lxd</html>" }) };
    await expect(loadDesired({ bundle: "/b" }, deps(files, { run, lxd }))).rejects.toThrow(
      /LXD at \/lxd.sock: GET \/1.0\/networks\?recursion=1 answered HTTP 200 with a body that is not JSON/,
    );
    const timeout = { ...lxd, transport: async () => Promise.reject(Object.assign(new Error("no complete reply within 5000 ms"), { name: "TimeoutError" })) };
    await expect(loadDesired({ bundle: "/b" }, deps(files, { run, lxd: timeout }))).rejects.toThrow(/LXD at \/lxd.sock/);
  });

  it("DiscoverLXD: bridges inside the Subnets are announced, others refused with a warning", async () => {
    const doc = meshDoc();
    // a private key in the mesh, so the bundle needs no key file on the host
    applySet(doc, NET, ["node", "n2", "private-key", "aCUhqETvsCktM41hioAZ1czINugQ58TTGs68U9TO0kw=", "subnets", "10.2.0.0/16", "discover-lxd", "on"], {
      random: random(),
    });
    const m = meshOf(doc);
    const files = new Map(renderBundle(topology(m).node(m.nodes[1]!), "d").map((f) => [`/b/${f.path}`, f.content]));
    const body = JSON.stringify({
      type: "sync",
      status: "Success",
      status_code: 200,
      metadata: [
        { name: "lxdbr0", type: "bridge", managed: true, config: { "ipv4.address": "10.2.5.1/24", "ipv6.address": "none" } },
        { name: "lxdbr9", type: "bridge", managed: true, config: { "ipv4.address": "10.9.0.1/24" } },
        { name: "eth0", type: "physical", managed: false, config: {} },
      ],
    });
    const lxd = { socket: "/lxd.sock", isSocket: () => true, transport: async () => ({ status: 200, body }) };
    const l = await loadDesired({ bundle: "/b" }, deps(files, { lxd }));
    expect(l.desired.announce).toEqual(["10.2.5.0/24"]);
    expect(l.warnings).toEqual([
      "LXD bridge lxdbr9 10.9.0.0/24 is not announced: outside the node's Subnets (10.2.0.0/16) (peers only accept prefixes inside a node's Subnets)",
    ]);
    const r = l.desired.routing[0]!;
    const frr = r.daemon === "frr" ? r.frrConf : "";
    expect(frr).toContain("  network 10.2.5.0/24");
    expect(frr).not.toContain("  network 10.2.0.0/16");
  });
});

describe("doctor: the mesh's guard", () => {
  const guard = async (answer: (a: string) => RunResult | undefined, up = true) => {
    const h = fakeHost(installed, (argv) => answer(argv.join(" ")));
    const deps: HostDeps = { ...h.deps, exists: (p) => (p === `/sys/class/net/${NET}` ? up : h.deps.exists(p)) };
    return (await doctor(installed, deps))
      .filter((c) => ["tool nft", "guard", "host firewall"].includes(c.name))
      .map((c) => `${c.name} ${c.status}: ${c.detail}`);
  };
  it("loaded and current, no dropping host chain: ok", async () => {
    expect(
      await guard((a) =>
        a.startsWith("nft -j list chains")
          ? ok('{"nftables":[{"chain":{"family":"inet","table":"ciab_upc3194","name":"input","hook":"input","policy":"accept"}}]}')
          : undefined,
      ),
    ).toEqual([
      "tool nft ok: installed",
      `guard ok: nft table inet ciab_${NET} loaded and current`,
      "host firewall ok: no base chain of another table drops forward or input traffic by default",
    ]);
  });
  it("nft missing fails; the guard missing while WireGuard is up fails; a changed table warns; a dropping host chain warns", async () => {
    expect(await guard((a) => (a.startsWith("sh -c command -v") && a.endsWith(" nft") ? { code: 1, stdout: "", stderr: "" } : undefined))).toEqual([
      expect.stringMatching(/^tool nft fail: missing: the mesh's guard .* cannot be installed/),
    ]);
    expect(
      await guard((a) => (a.startsWith("nft list table") ? { code: 1, stdout: "", stderr: "Error: No such file or directory" } : undefined)),
    ).toContainEqual(expect.stringMatching(/^guard fail: .* is not loaded while upc3194 is up: the underlay can reach the containers/));
    expect(await guard((a) => (a.startsWith("nft list table") ? ok(fx("n2.nft-table.txt").replace(/^.*tcp dport 179.*\n/m, "")) : undefined))).toContainEqual(
      expect.stringMatching(/^guard warn: .* differs from the bundle's/),
    );
    expect(
      await guard((a) =>
        a.startsWith("nft -j list chains")
          ? ok('{"nftables":[{"chain":{"family":"ip","table":"filter","name":"FORWARD","hook":"forward","policy":"drop"}}]}')
          : undefined,
      ),
    ).toContainEqual(expect.stringMatching(/^host firewall warn: ip filter chain FORWARD \(hook forward\) drops by default/));
  });
});
