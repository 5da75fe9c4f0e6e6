// The STUN adapter (adapters/stun.ts) on real UDP sockets on loopback: a scripted responder for what a real server
// never sends (late, wrong source, errors, silence), then the REAL coturn (`turnserver`, started here on 127.0.0.1,
// 127.0.0.2 and ::1, stopped by its PID): IPv4 and IPv6 bindings work, both servers agree on loopback (no NAT).
import { type ChildProcess, spawn } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { learnMapping, StunSocket } from "../../src/adapters/stun.js";
import { seededRandom } from "../../src/keys/random.js";
import { addNodes, applySet, ensureNetwork } from "../../src/model/edit.js";
import { meshFromDoc } from "../../src/model/mesh.js";
import type { TomlTable } from "../../src/model/toml.js";
import { topology } from "../../src/model/topology.js";
import { decodeBindingResponse, encodeBindingSuccess, encodeMessage, METHOD, StunError } from "../../src/nat/stun.js";
import { nftFingerprint } from "../../src/plan/plan.js";
import { renderNft } from "../../src/render/nft.js";
import { hasTool, isRoot, ROOT } from "../helpers/env.js";
import { withNetns } from "../helpers/netns.js";

type Script = (req: Buffer, from: { address: string; port: number }, n: number, srv: Socket, other: Socket) => void;

/** A responder on 127.0.0.1 whose answer to the n-th request is `script`'s; `other` is a second socket (another port). */
async function responder(script: Script): Promise<{ port: number; requests: number; close: () => void }> {
  const srv = createSocket("udp4");
  const other = createSocket("udp4");
  await Promise.all([new Promise<void>((r) => srv.bind(0, "127.0.0.1", r)), new Promise<void>((r) => other.bind(0, "127.0.0.1", r))]);
  const state = {
    port: srv.address().port,
    requests: 0,
    close: () => {
      srv.close();
      other.close();
    },
  };
  srv.on("message", (req, rinfo) => script(req, rinfo, ++state.requests, srv, other));
  return state;
}

const tidOf = (req: Buffer) => Uint8Array.from(req.subarray(8, 20));
const answer = (req: Buffer, from: { address: string; port: number }) =>
  encodeBindingSuccess(tidOf(req), { family: 4, address: from.address, port: from.port });
const fast = { rtoMs: 50, rc: 7, rm: 4 };

async function refusal(p: Promise<unknown>): Promise<StunError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof StunError) return e;
    throw e;
  }
  throw new Error("accepted");
}

describe("STUN adapter against a scripted responder on loopback", () => {
  it("a good reply: the mapping is the socket's own address and port", async () => {
    const r = await responder((req, from, _n, srv) => srv.send(answer(req, from), from.port, from.address));
    const s = await StunSocket.open({ port: 0, address: "127.0.0.1" });
    try {
      const got = await s.binding({ host: "127.0.0.1", port: r.port }, { deadlineMs: 2000 });
      expect(got.mapped).toEqual({ family: 4, address: "127.0.0.1", port: s.local.port, attribute: "xor-mapped" });
      expect(got.tries).toBe(1);
    } finally {
      s.close();
      r.close();
    }
  });

  it("retransmits with the same transaction id until answered (first two requests lost)", async () => {
    const tids: string[] = [];
    const r = await responder((req, from, n, srv) => {
      tids.push(req.subarray(8, 20).toString("hex"));
      if (n >= 3) srv.send(answer(req, from), from.port, from.address);
    });
    const s = await StunSocket.open({ port: 0, address: "127.0.0.1" });
    try {
      const got = await s.binding({ host: "127.0.0.1", port: r.port }, { deadlineMs: 5000, retransmit: fast });
      expect(got.tries).toBe(3);
      expect(new Set(tids).size).toBe(1);
      expect(got.rttMs).toBeGreaterThanOrEqual(140); // sent at 0, 50, 150 ms
    } finally {
      s.close();
      r.close();
    }
  });

  it("transaction ids are 96 random bits, a new one per transaction", async () => {
    const tids: string[] = [];
    const r = await responder((req, from, _n, srv) => {
      tids.push(req.subarray(8, 20).toString("hex"));
      srv.send(answer(req, from), from.port, from.address);
    });
    const s = await StunSocket.open({ port: 0, address: "127.0.0.1" });
    try {
      for (let i = 0; i < 5; i++) await s.binding({ host: "127.0.0.1", port: r.port }, { deadlineMs: 2000 });
      expect(new Set(tids).size).toBe(5);
      expect(tids.every((t) => /^[0-9a-f]{24}$/.test(t))).toBe(true);
    } finally {
      s.close();
      r.close();
    }
  });

  it.each<[string, Script, string, RegExp]>([
    [
      "a reply from another port of the server's address",
      (req, from, _n, _srv, other) => other.send(answer(req, from), from.port, from.address),
      "source",
      /only replies from 127\.0\.0\.1:\d+, not from the server/,
    ],
    [
      "a reply for another transaction id, then silence",
      (req, from, _n, srv) => {
        const t = tidOf(req);
        t[0] = (t[0] as number) ^ 1;
        srv.send(encodeBindingSuccess(t, { family: 4, address: from.address, port: from.port }), from.port, from.address);
      },
      "timeout",
      /no reply from 127\.0\.0\.1:\d+ after 6 requests in 1750 ms/,
    ],
    [
      "an error response",
      (req, from, _n, srv) => srv.send(encodeMessage(METHOD.bindingError, tidOf(req), []), from.port, from.address),
      "not-success",
      /error/,
    ],
    [
      "a success without an address",
      (req, from, _n, srv) => srv.send(encodeMessage(METHOD.bindingSuccess, tidOf(req), []), from.port, from.address),
      "no-address",
      /neither/,
    ],
    ["silence", () => {}, "timeout", /no reply/],
  ])("%s is refused", async (_n, script, reason, text) => {
    const r = await responder(script);
    const s = await StunSocket.open({ port: 0, address: "127.0.0.1" });
    try {
      const e = await refusal(s.binding({ host: "127.0.0.1", port: r.port }, { deadlineMs: 3000, retransmit: fast }));
      expect(e.reason).toBe(reason);
      expect(e.message).toMatch(text);
    } finally {
      s.close();
      r.close();
    }
  });

  it("the caller's deadline cuts RFC 8489's 39.5 s schedule", async () => {
    const r = await responder(() => {});
    const s = await StunSocket.open({ port: 0, address: "127.0.0.1" });
    try {
      const t0 = performance.now();
      const e = await refusal(s.binding({ host: "127.0.0.1", port: r.port }, { deadlineMs: 1200 }));
      const took = performance.now() - t0;
      expect(e.reason).toBe("timeout");
      expect(took).toBeGreaterThanOrEqual(1150);
      expect(took).toBeLessThan(2500);
      expect(r.requests).toBe(2); // sent at 0 and 500 ms; the next (1500 ms) is past the deadline
    } finally {
      s.close();
      r.close();
    }
  });

  it("an IPv4 socket refuses an IPv6 server address", async () => {
    const s = await StunSocket.open({ port: 0, address: "127.0.0.1" });
    try {
      expect((await refusal(s.binding({ host: "::1", port: 3478 }, { deadlineMs: 100 }))).reason).toBe("family");
    } finally {
      s.close();
    }
  });

  it("two responders that see different ports: symmetric", async () => {
    // what a symmetric NAT looks like from inside: each server reports another port
    const a = await responder((req, from, _n, srv) =>
      srv.send(encodeBindingSuccess(tidOf(req), { family: 4, address: "198.18.1.1", port: 40001 }), from.port, from.address),
    );
    const b = await responder((req, from, _n, srv) =>
      srv.send(encodeBindingSuccess(tidOf(req), { family: 4, address: "198.18.1.1", port: 40002 }), from.port, from.address),
    );
    try {
      const c = await learnMapping({
        servers: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`],
        port: 0,
        address: "127.0.0.1",
        method: "direct",
        mappedPort: 0,
        localAddresses: [],
        deadlineMs: 2000,
      });
      expect(c.kind).toBe("symmetric");
      expect(c.advertise).toBeUndefined();
    } finally {
      a.close();
      b.close();
    }
  });
});

const haveCoturn = hasTool("turnserver");

describe.skipIf(!haveCoturn)("STUN against the real coturn on 127.0.0.1, 127.0.0.2 and ::1", () => {
  let dir = "";
  let turn: ChildProcess | undefined;
  const port = 34000 + Math.floor(Math.random() * 2000) * 2;
  const servers = [`127.0.0.1:${port}`, `127.0.0.2:${port}`];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "ciab-stun-"));
    // -n: no config file; --db: a private file, not the host's /var/lib/turn/turndb (NAT-FINDINGS §2)
    turn = spawn(
      "turnserver",
      [
        "-n",
        "--stun-only",
        "--no-cli",
        "--no-tcp",
        "--no-tls",
        "--no-dtls",
        "-L",
        "127.0.0.1",
        "-L",
        "127.0.0.2",
        "-L",
        "::1",
        "--listening-port",
        String(port),
        "--log-file",
        "stdout",
        "--simple-log",
        "--db",
        join(dir, "turndb"),
        "--pidfile",
        join(dir, "turnserver.pid"),
      ],
      { stdio: "ignore" },
    );
    // ready when both addresses answer
    const until = Date.now() + 10000;
    for (;;) {
      const s = await StunSocket.open({ port: 0, address: "127.0.0.1" });
      try {
        await s.binding({ host: "127.0.0.1", port }, { deadlineMs: 300 });
        await s.binding({ host: "127.0.0.2", port }, { deadlineMs: 300 });
        break;
      } catch (e) {
        if (Date.now() > until) throw e;
      } finally {
        s.close();
      }
    }
  }, 15000);

  afterAll(async () => {
    if (turn?.pid !== undefined && turn.exitCode === null) {
      const gone = new Promise((r) => turn?.once("exit", r));
      process.kill(turn.pid, "SIGTERM");
      await gone;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("a binding returns the socket's own address and port, with coturn's SOFTWARE", async () => {
    const s = await StunSocket.open({ port: 0, address: "127.0.0.1" });
    try {
      const r = await s.binding({ host: "127.0.0.1", port }, { deadlineMs: 3000 });
      expect(r.mapped).toEqual({ family: 4, address: "127.0.0.1", port: s.local.port, attribute: "xor-mapped" });
      expect(r.software).toMatch(/^Coturn/);
      expect(r.server).toEqual({ address: "127.0.0.1", port });
    } finally {
      s.close();
    }
  });

  it("IPv6: a binding over udp6 to [::1] maps to the socket's ::1 address and port (XOR with the transaction id)", async () => {
    const s = await StunSocket.open({ port: 0, address: "::1" });
    try {
      const r = await s.binding({ host: "::1", port }, { deadlineMs: 3000 });
      expect(r.mapped).toEqual({ family: 6, address: "::1", port: s.local.port, attribute: "xor-mapped" });
    } finally {
      s.close();
    }
  });

  it("both servers agree from one port on loopback: no NAT, advertised, method direct", async () => {
    const probe = await StunSocket.open({ port: 0, address: "127.0.0.1" });
    const local = probe.local.port;
    probe.close();
    const c = await learnMapping({
      servers,
      port: local,
      address: "127.0.0.1",
      method: "direct",
      mappedPort: local,
      localAddresses: ["127.0.0.1"],
      deadlineMs: 3000,
    });
    expect(c.kind).toBe("none");
    expect(c.advertise).toEqual({ address: "127.0.0.1", port: local });
    expect(c.method).toBe("direct");
    expect(c.answers.map((a) => a.result.ok)).toEqual([true, true]);
    expect(c.reason).toMatch(/2 servers saw the host's own address/);
  });

  it("a server that does not run: one answer, unknown, not advertised", async () => {
    const c = await learnMapping({
      servers: [servers[0] as string, "127.0.0.1:9"],
      port: 0,
      address: "127.0.0.1",
      method: "direct",
      mappedPort: 0,
      localAddresses: ["127.0.0.1"],
      deadlineMs: 800,
    });
    expect(c.kind).toBe("unknown");
    expect(c.advertise).toBeUndefined();
    expect(c.reason).toMatch(/only 127\.0\.0\.1:\d+ answered/);
  });

  it("coturn's reply decodes with the pure decoder too (bytes from the wire)", async () => {
    const s = createSocket("udp4");
    await new Promise<void>((r) => s.bind(0, "127.0.0.1", r));
    try {
      const tid = Uint8Array.from({ length: 12 }, (_, i) => i + 1);
      const got = new Promise<Buffer>((r) => s.once("message", r));
      s.send(encodeMessage(METHOD.bindingRequest, tid, []), port, "127.0.0.2");
      const reply = await got;
      expect(decodeBindingResponse(reply, tid).mapped.port).toBe(s.address().port);
    } finally {
      s.close();
    }
  });
});

// The scoped-SNAT method for real (NAT-FINDINGS §3a): in a private network namespace, the node's rendered nft table
// (NAT = "auto", ListenPort 51820) and coturn on 127.0.0.1/127.0.0.2:3478. A socket on the fixed STUN port learns the
// mapping of port 51820, which nothing listens on. After the listen port changes, the live conntrack entry still
// rewrites to the old port until forgetStunFlows removes it.
const haveNetnsTools = isRoot && haveCoturn && hasTool("nft") && hasTool("conntrack");

describe.skipIf(!haveNetnsTools)("scoped SNAT: STUN learns the WireGuard port's mapping (netns, nft, coturn)", () => {
  it("the servers see port 51820; after a port change, the old one until the conntrack entry is forgotten", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ciab-stun-snat-"));
    try {
      const entry = join(dir, "probe.ts");
      writeFileSync(
        entry,
        `import { forgetStunFlows, learnMapping } from ${JSON.stringify(join(ROOT, "src/adapters/stun.ts"))};
import { spawnRunner } from ${JSON.stringify(join(ROOT, "src/adapters/exec.ts"))};
const [cmd, wg] = process.argv.slice(2);
if (cmd === "forget") await forgetStunFlows(spawnRunner, 51899);
const c = await learnMapping({ servers: ["127.0.0.1:3478", "127.0.0.2:3478"], port: 51899, address: "127.0.0.1", method: "scoped-snat",
  mappedPort: Number(wg), localAddresses: ["127.0.0.1"], deadlineMs: cmd === "wait" ? 5000 : 2000 });
console.log(JSON.stringify({ kind: c.kind, advertise: c.advertise, ports: c.answers.map((a) => (a.result.ok ? a.result.mapped.port : a.result.error.reason)) }));
`,
      );
      const js = join(dir, "probe.mjs");
      await build({ entryPoints: [entry], outfile: js, bundle: true, platform: "node", format: "esm", target: "node20", logLevel: "silent" });
      const nftFor = (port: number) => {
        const doc: TomlTable = {};
        const random = seededRandom("stun-snat");
        ensureNetwork(doc, random);
        addNodes(doc, "m", ["a", "p"], random);
        applySet(
          doc,
          "m",
          [
            "stun-servers",
            "127.0.0.1:3478,127.0.0.2:3478",
            "node",
            "p",
            "endpoint",
            "198.51.100.9:51820",
            "node",
            "a",
            "nat",
            "auto",
            "listen-port",
            String(port),
          ],
          { random },
        );
        const m = meshFromDoc("m", doc, { file: "m.conf" });
        const file = join(dir, `a-${port}.nft`);
        writeFileSync(file, renderNft(topology(m).node(m.nodes.find((n) => n.name === "a") as (typeof m.nodes)[number])));
        return file;
      };
      const [n1, n2] = [nftFor(51820), nftFor(51830)];
      const out = withNetns("stun", (ns) =>
        ns.sh(`set -u
nft -f ${n1} || exit 90
turnserver -n --stun-only --no-cli --no-tcp --no-tls --no-dtls -L 127.0.0.1 -L 127.0.0.2 --listening-port 3478 --log-file stdout --simple-log --db ${dir}/turndb --pidfile ${dir}/turn.pid >${dir}/turn.log 2>&1 &
T=$!
node ${js} wait 51820
node ${js} again 51820
nft -f ${n2} || exit 91
node ${js} stale 51830
node ${js} forget 51830
echo "@@list"; nft list table inet ciab_m
kill $T; wait $T 2>/dev/null; exit 0`),
      );
      expect(out.code, out.stderr).toBe(0);
      const [json, listed] = out.stdout.split("@@list\n") as [string, string];
      // `ciab up` compares the loaded table by fingerprint: the nat chain must not make it differ at every run
      expect(nftFingerprint(listed)).toBe(nftFingerprint(readFileSync(n2, "utf8")));
      expect(listed).toMatch(/udp sport 51899 udp dport 3478 snat (ip )?to :51830/);
      const lines = json
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      // 1. scoped SNAT: both servers saw WireGuard's port, not the socket's 51899; loopback is no NAT
      expect(lines[0]).toEqual({ kind: "none", advertise: { address: "127.0.0.1", port: 51820 }, ports: [51820, 51820] });
      // 2. a second run from the same fixed port works (the ephemeral-port variant is dropped: insert_failed)
      expect(lines[1]).toEqual(lines[0]);
      // 3. the rule now says 51830, but the live conntrack entry keeps rewriting to 51820 (NAT-FINDINGS §3a)
      expect(lines[2].ports).toEqual([51820, 51820]);
      expect(lines[2].kind).toBe("endpoint-independent"); // a mapping, but not of the port asked for
      // 4. forgetStunFlows (conntrack -D) and the new port is seen
      expect(lines[3]).toEqual({ kind: "none", advertise: { address: "127.0.0.1", port: 51830 }, ports: [51830, 51830] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60000);
});
