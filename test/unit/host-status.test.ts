// `ciab status` and `ciab up --wait` on captured host state (test/fixtures/host, node n1 of a 3-node lab): a peer
// that never completed a WireGuard handshake is degraded even when nothing else says so (issue 19), and the wait
// says what it waits for and names what is still missing at its deadline.
import { describe, expect, it } from "vitest";
import type { RunResult } from "../../src/adapters/exec.js";
import type { HostDeps } from "../../src/agent/host.js";
import { hostStatus } from "../../src/agent/status.js";
import { waitHealthy } from "../../src/agent/wait.js";
import { desiredOf, fx, meshDoc, meshOf } from "../helpers/host.js";

const d = desiredOf(meshOf(meshDoc()), "n1");
const ok = (stdout = ""): RunResult => ({ code: 0, stdout, stderr: "" });

/** n1's captured host; `wgDump` replaces `wg show … dump`, `pingOk` decides each overlay ping. */
function host(wgDump: () => string, pingOk = () => true): HostDeps {
  return {
    run: async (argv) => {
      const a = argv.join(" ");
      if (a === "ip -j -d link show") return ok(fx("n1.ip-link.json"));
      if (a === "ip -j addr show") return ok(fx("n1.ip-addr.json"));
      if (a.startsWith("ip -j neigh show")) return ok(fx("n1.ip-neigh.json"));
      if (a.startsWith("bridge -j fdb show")) return ok(fx("n1.bridge-fdb.json"));
      if (a.startsWith("wg show")) return ok(wgDump());
      if (a.startsWith("vtysh")) return ok(fx("n1.bgp-summary.json"));
      if (argv[0] === "ping") return pingOk() ? ok("64 bytes from x: icmp_seq=1 ttl=64 time=0.5 ms\n") : { code: 1, stdout: "", stderr: "" };
      if (a.startsWith("ip -j")) return ok("[]");
      return ok();
    },
    readFile: () => undefined,
    fileMode: () => undefined,
    exists: () => false,
    now: () => 1795408300,
    env: {},
  };
}
const captured = fx("n1.wg-dump.txt");
/** The captured dump with the second peer's latest handshake set to 0 ("never"). */
const neverSecond = captured
  .split("\n")
  .map((l, i) =>
    i === 2
      ? l
          .split("\t")
          .map((f, j) => (j === 4 ? "0" : f))
          .join("\t")
      : l,
  )
  .join("\n");

describe("ciab status: handshakes", () => {
  it("the captured healthy host is ok", async () => {
    const s = await hostStatus(
      d,
      host(() => captured),
    );
    expect(s.problems).toEqual([]);
    expect(s.ok).toBe(true);
  });

  it("a peer that never handshook is down, although its ping 'answers' and its session is up", async () => {
    const s = await hostStatus(
      d,
      host(() => neverSecond),
    );
    expect(s.ok).toBe(false);
    const down = s.peers.filter((p) => !p.up);
    expect(down.map((p) => [p.handshakeAgeSeconds, p.problems])).toEqual([[null, ["never completed a WireGuard handshake"]]]);
    expect(s.problems).toEqual([`peer ${down[0]?.name} is down: never completed a WireGuard handshake`]);
  });
});

describe("ciab status: where each endpoint came from (issue 13 part 6)", () => {
  it("static as configured, stun when desired.json says the peer's STUN mapping, roamed when wg shows another address", async () => {
    const [first, second] = d.wireguard[0]!.peers as [(typeof d.wireguard)[0]["peers"][number], (typeof d.wireguard)[0]["peers"][number]];
    const withStun = {
      ...d,
      wireguard: [
        {
          ...d.wireguard[0]!,
          peers: d.wireguard[0]!.peers.map((p) => (p === second ? { ...p, endpointSource: "stun" as const, nat: "endpoint-independent" as const } : p)),
        },
      ],
    };
    const same = await hostStatus(
      withStun,
      host(() => captured),
    );
    expect(same.peers.map((p) => [p.name, p.path, p.endpointSource, p.nat])).toEqual([
      [first.name, "direct", "static", undefined],
      [second.name, "direct", "stun", "endpoint-independent"],
    ]);
    // WireGuard learned another address for the second peer from a handshake: roamed, whatever was configured
    const roamed = captured.replace(second.endpoint as string, "198.18.99.7:40001");
    const r = await hostStatus(
      withStun,
      host(() => roamed),
    );
    expect(r.peers.map((p) => [p.endpointSource, p.endpoint])).toEqual([
      ["static", first.endpoint],
      ["roamed", "198.18.99.7:40001"],
    ]);
  });
});

describe("ciab status: a probed pair (issue 13 part 5)", () => {
  it("is relayed via its relay while its direct peer probes: its failing handshake is no problem; the relay being down is", async () => {
    const [first, second] = d.wireguard[0]!.peers as [(typeof d.wireguard)[0]["peers"][number], (typeof d.wireguard)[0]["peers"][number]];
    const probed = {
      ...d,
      wireguard: [{ ...d.wireguard[0]!, relayed: [{ name: second.name, via: first.name, probe: true as const, subnets: [] }] }],
    };
    const s = await hostStatus(
      probed,
      host(() => neverSecond),
    );
    expect(s.peers.map((p) => [p.name, p.path, p.via, p.probing, p.handshakeAgeSeconds, p.up])).toEqual([
      [first.name, "direct", undefined, undefined, expect.any(Number), true],
      [second.name, "relayed", first.name, true, null, true],
    ]);
    expect(s.ok).toBe(true);
    // negative control: the relay's ping fails, so the relay and its probed partner are down
    const down = await hostStatus(
      probed,
      host(
        () => neverSecond,
        () => false,
      ),
    );
    expect(down.peers.map((p) => [p.name, p.up])).toEqual([
      [first.name, false],
      [second.name, false],
    ]);
    expect(down.peers[1]?.problems).toEqual([`its relay ${first.name} is down`]);
  });
});

describe("ciab up --wait", () => {
  const clock = () => {
    let t = 0;
    return {
      clock: () => t,
      sleep: async (ms: number) => {
        t += ms;
      },
    };
  };

  it("waits until the handshake comes, saying what it waits for", async () => {
    let calls = 0;
    const said: string[] = [];
    const s = await waitHealthy(
      d,
      host(() => (++calls < 3 ? neverSecond : captured)),
      { timeoutMs: 10_000, progress: (m) => said.push(m), ...clock() },
    );
    expect(s.ok).toBe(true);
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/^waiting for: peer \S+ is down: never completed a WireGuard handshake$/);
  });

  it("at the deadline: a degraded error (exit 9) naming what is missing", async () => {
    const err = await waitHealthy(
      d,
      host(
        () => neverSecond,
        () => false,
      ),
      { timeoutMs: 3000, ...clock() },
    ).then(
      () => ({ code: "none", message: "it resolved" }),
      (e: unknown) => e as { code: string; message: string },
    );
    expect(err.code).toBe("degraded");
    expect(err.message).toMatch(
      /^node n1 is not ready after 3 s: peer n2 is down: overlay ping to \S+ failed; peer n3 is down: never completed a WireGuard handshake; overlay ping to \S+ failed$/,
    );
  });
});
