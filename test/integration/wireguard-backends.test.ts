// One conformance suite for both WireGuard implementations behind adapters/wireguard.ts (kernel module, userspace
// wireguard-go), run against each one this machine has, in a private network namespace (ciabt-wg-<pid>-<n>) with a
// private /run (a bind of a temp directory), removed with every process in it even on failure. A backend this
// machine lacks is skipped with the reason its own availability check gives, never faked.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Runner } from "../../src/adapters/exec.js";
import { spawnRunner } from "../../src/adapters/exec.js";
import { kernelBackend, observeWireguard, userspaceBackend, type WgBackend, type WgHost } from "../../src/adapters/wireguard.js";
import { genkey, pubkey } from "../../src/keys/x25519.js";
import { syncconfCommand } from "../../src/plan/commands.js";
import type { DesiredWireguard } from "../../src/plan/types.js";
import { hasTool, isRoot } from "../helpers/env.js";
import { alive } from "../helpers/lab.js";

const ready = isRoot && hasTool("wg") && hasTool("ip");
let seq = 0;

/** A namespace whose commands all see one private /run (so wireguard-go's socket and PID file stay in it). */
function sandbox() {
  const name = `ciabt-wg-${process.pid}-${seq++}`;
  const run = mkdtempSync(join(tmpdir(), "ciabt-wg-run-"));
  const runner: Runner = (argv, opts) =>
    spawnRunner(["ip", "netns", "exec", name, "sh", "-c", 'mount --bind "$1" /run && shift && exec "$@"', "ciabt", run, ...argv], opts);
  return {
    name,
    run,
    runner,
    async create() {
      expect((await spawnRunner(["ip", "netns", "add", name])).code).toBe(0);
      await spawnRunner(["ip", "-n", name, "link", "set", "lo", "up"]);
    },
    async destroy() {
      for (const p of (await spawnRunner(["ip", "netns", "pids", name])).stdout.split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(p), "SIGKILL");
        } catch {
          /* gone */
        }
      }
      await spawnRunner(["ip", "netns", "del", name]);
      rmSync(run, { recursive: true, force: true });
    },
  };
}

const host = (run: Runner): WgHost => ({ run, exists: () => false, readFile: () => undefined, env: {} });

async function runAll(run: Runner, cmds: { argv: string[]; input?: string }[]) {
  for (const c of cmds) {
    const r = await run(c.argv, c.input === undefined ? {} : { input: c.input });
    expect(r.code, `${c.argv.join(" ")}: ${r.stderr}`).toBe(0);
  }
}

function conformance(label: string, make: (runDir: string) => WgBackend) {
  describe(`WireGuard backend conformance: ${label}`, () => {
    const sb = sandbox();
    let backend: WgBackend;
    let skip = "";
    beforeAll(async () => {
      await sb.create();
      backend = make("/run/ciab");
      // the kernel check reads /sys/module (not namespaced) and tries modprobe; probe the real thing in the namespace
      const probe = label === "kernel" ? await sb.runner(["ip", "link", "add", "dev", "ciabprobe", "type", "wireguard"]) : undefined;
      if (probe && probe.code !== 0) skip = `this kernel has no WireGuard module: 'ip link add type wireguard' says ${probe.stderr.trim()}`;
      const a = await backend.available({
        ...host(sb.runner),
        exists: (p) => p === "/dev/net/tun" || (label === "kernel" && !skip && p === "/sys/module/wireguard"),
      });
      if (!skip && !a.ok) skip = a.reason;
    }, 60_000);
    afterAll(() => sb.destroy(), 60_000);

    const key = genkey();
    const peerA = pubkey(genkey());
    const peerB = pubkey(genkey());
    const wg = (peers: DesiredWireguard["peers"]): DesiredWireguard => ({
      ifname: "ciabt0",
      listenPort: 51999,
      fwMark: 0,
      publicKey: pubkey(key),
      privateKey: { inline: key },
      mtu: 1420,
      addresses: [],
      peers,
    });

    it("creates an interface that `wg show` reads; syncconf sets key, port and peers", async (ctx) => {
      if (skip) ctx.skip(skip);
      await runAll(sb.runner, backend.create("ciabt0"));
      await runAll(sb.runner, [
        syncconfCommand(wg([{ name: "a", publicKey: peerA, allowedIPs: ["169.254.9.1/32"], endpoint: "198.18.9.1:51820", keepalive: 0 }]), "1 peer"),
      ]);
      const o = await observeWireguard(sb.runner, "ciabt0");
      expect(o).toMatchObject({ publicKey: pubkey(key), listenPort: 51999, fwMark: 0 });
      expect(o!.peers.map((p) => [p.publicKey, p.endpoint, p.allowedIPs])).toEqual([[peerA, "198.18.9.1:51820", ["169.254.9.1/32"]]]);
      expect(JSON.stringify(o)).not.toContain(key);
    }, 30_000);

    it("syncconf adds and removes peers and keeps the key and the port", async (ctx) => {
      if (skip) ctx.skip(skip);
      await runAll(sb.runner, [syncconfCommand(wg([{ name: "b", publicKey: peerB, allowedIPs: ["169.254.9.2/32"], keepalive: 25 }]), "1 peer")]);
      const o = await observeWireguard(sb.runner, "ciabt0");
      expect(o).toMatchObject({ publicKey: pubkey(key), listenPort: 51999 });
      expect(o!.peers.map((p) => [p.publicKey, p.keepalive])).toEqual([[peerB, 25]]);
    }, 30_000);

    it("tracks its daemon (userspace) and destroy leaves no interface and no process", async (ctx) => {
      if (skip) ctx.skip(skip);
      const pid = backend.daemonPid(
        {
          ...host(sb.runner),
          readFile: (p) => {
            try {
              return readFileSync(p.startsWith("/run/") ? join(sb.run, p.slice(5)) : p, "utf8");
            } catch {
              return undefined;
            }
          },
        },
        "ciabt0",
      );
      if (backend.kind === "userspace") expect(pid).toBeGreaterThan(0);
      else expect(pid).toBeUndefined();
      await runAll(sb.runner, backend.destroy("ciabt0"));
      expect(await observeWireguard(sb.runner, "ciabt0")).toBeUndefined();
      expect((await sb.runner(["ip", "link", "show", "dev", "ciabt0"])).code).not.toBe(0);
      // zombies wait for this machine's lazy PID 1 to reap them (FINDINGS §7): only live processes count
      const left = (await spawnRunner(["ip", "netns", "pids", sb.name])).stdout.split(/\s+/).filter(Boolean).map(Number).filter(alive);
      expect(left).toEqual([]);
    }, 30_000);
  });
}

describe.skipIf(!ready)("WireGuard backends", () => {
  conformance("kernel", () => kernelBackend);
  conformance("userspace", (runDir) => userspaceBackend({}, runDir));
});
