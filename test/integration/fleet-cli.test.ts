// `ciab token create`, `ciab join`, `ciab agent`, `ciab status --state-dir` as a user runs them (issue 12 parts
// 4-6), against a real etcd with auth on. Sealed: everything runs in its own PID, mount and network namespaces
// (`unshare`), with throw-away /etc/wireguard, /etc/frr, /run, /var/lib …; etcd listens on that namespace's loopback,
// and the agent's real apply (wireguard-go, VXLAN, nft) happens there too. Everything dies with the namespace.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { EXIT } from "../../src/model/errors.js";
import { tempDir } from "../helpers/cli.js";
import { CLI, hasTool, isRoot } from "../helpers/env.js";
import { oneDocument } from "../helpers/json-contract.js";

const can = isRoot && hasTool("unshare") && hasTool("etcd") && hasTool("etcdctl") && hasTool("wireguard-go");

const SCRIPT = String.raw`
set -u
for d in /etc/wireguard /etc/frr /etc/bird /run /var/log /var/tmp /var/lib; do mkdir -p $d; mount -t tmpfs tmpfs $d; done
ip link set lo up
cd "$RES"
E="etcdctl --endpoints=127.0.0.1:2379 --command-timeout=3s"
etcd --data-dir /var/tmp/etcd --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --log-level error >/var/log/etcd.log 2>&1 &
i=0; until $E endpoint health >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 100 ] || { echo "etcd did not start" >&2; exit 1; }; sleep 0.1; done
$E user add root:rootpw >/dev/null && $E role add root >/dev/null 2>&1; $E user grant-role root root >/dev/null && $E auth enable >/dev/null
URL=etcd://127.0.0.1:2379/ciab
admin() { CIAB_REGISTRY_PASSWORD=rootpw $CIAB --registry $URL --registry-user root "$@"; }
asnode() { env -u CIAB_REGISTRY_PASSWORD $CIAB "$@"; }

admin token create m > token-nonode.out 2> token-nonode.err; echo $? > token-nonode.code
admin token create m --node a > token-a.out 2> token-a.err; echo $? > token-a.code
TOKEN=$(tail -1 token-a.out)
admin set m routing none > set.out 2>&1 || { cat set.out >&2; exit 1; }
asnode join $URL "$TOKEN" --endpoint 198.18.0.1:51820 --subnets 10.99.1.0/24 --no-agent --state-dir /var/lib/ciab/m --json > join.json 2> join.err; echo $? > join.code
stat -c '%a %n' /etc/wireguard/m.key /etc/wireguard/m.join.json > modes
asnode join $URL "$TOKEN" --no-agent > rejoin.out 2> rejoin.err; echo $? > rejoin.code
asnode agent m a --once --json --state-dir /var/lib/ciab/m > once.jsonl 2> once.err; echo $? > once.code
wg show all dump > wg-once 2>&1
asnode status m a --state-dir /var/lib/ciab/m --json > status.json 2> status.err; echo $? > status.code
env -u CIAB_REGISTRY_PASSWORD $CIAB agent m a --json --state-dir /var/lib/ciab/m > loop.jsonl 2> loop.err &
AGENT=$!
i=0; until grep -q '"event":"started"' loop.jsonl; do i=$((i+1)); [ $i -lt 100 ] || break; sleep 0.1; done
$E --user root:rootpw get ciab/m/nodes/a/record -w json > record-lease.json
admin token create m --node b > token-b.out 2> token-b.err
i=0; until [ $(grep -c '"event":"applied"' loop.jsonl) -ge 2 ]; do i=$((i+1)); [ $i -lt 100 ] || break; sleep 0.1; done
wg show all dump > wg-loop 2>&1
admin show m --json > show-b.json 2>/dev/null
kill -TERM $AGENT; wait $AGENT; echo $? > loop.code
$E --user root:rootpw get ciab/m/nodes/a/record --print-value-only > record-after-stop
USER=$(sed -n 's/.*"user": "\(.*\)".*/\1/p' /etc/wireguard/m.join.json)
PW=$(sed -n 's/.*"password": "\(.*\)".*/\1/p' /etc/wireguard/m.join.json)
REC='{"version":1,"node":"b","updatedAt":"2026-01-01T00:00:00Z"}'
$E --user "$USER:$PW" put ciab/m/nodes/b/record "$REC" > steal.out 2>&1; echo $? > steal.code
$E --user "$USER:$PW" put ciab/m/mesh x > mesh.out 2>&1; echo $? > mesh.code
$E --user "$USER:$PW" put ciab/m/nodes/a/record "$(echo "$REC" | sed 's/"b"/"a"/')" > own.out 2>&1; echo $? > own.code
$E --user root:rootpw put ciab/m/nodes/b/record "$REC" > rootput.out 2>&1; echo $? > rootput.code
`;

let res = "";
let script = { code: -1, stderr: "" };
const read = (f: string) => readFileSync(join(res, f), "utf8");
const lines = (f: string) =>
  read(f)
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe.skipIf(!can)("fleet commands against etcd with auth (sealed namespaces)", () => {
  beforeAll(() => {
    res = tempDir("ciab-fleet-");
    const r = spawnSync(
      "timeout",
      ["-s", "KILL", "90", "unshare", "--fork", "--kill-child", "--pid", "--mount-proc", "-m", "-n", "--propagation", "private", "bash", "-c", SCRIPT],
      { encoding: "utf8", env: { ...process.env, NO_COLOR: "1", RES: res, CIAB: `${process.execPath} ${CLI}` }, timeout: 100_000 },
    );
    script = { code: r.status ?? -1, stderr: r.stderr };
  }, 120_000);

  it("the sealed run completed", () => {
    expect(script.code, script.stderr).toBe(0);
  });

  it("token create: a node is allocated, the token is the last line; with auth a token must name its node", () => {
    expect(read("token-a.code").trim(), read("token-a.err")).toBe("0");
    expect(read("token-a.out")).toMatch(/^node a of m: address \S+, vtep \S+, port \d+$/m);
    expect(read("token-a.out").trim().split("\n").at(-1)).toMatch(/^ciab1\.[A-Za-z0-9_-]+$/);
    expect(Number(read("token-nonode.code"))).toBe(EXIT.usage);
    expect(read("token-nonode.err")).toMatch(/give --node NAME/);
  });

  it("join: key made on the host (0600), state 0600, a reused token is refused with its reason", () => {
    expect(read("join.code").trim(), read("join.err")).toBe("0");
    const j = JSON.parse(read("join.json"));
    expect(j).toMatchObject({ ok: true, net: "m", node: "a", agent: null, keyFile: "/etc/wireguard/m.key" });
    expect(JSON.stringify(j)).not.toMatch(/password/);
    expect(read("modes").trim().split("\n")).toEqual(["600 /etc/wireguard/m.key", "600 /etc/wireguard/m.join.json"]);
    expect(Number(read("rejoin.code"))).toBe(EXIT.conflict);
    expect(read("rejoin.err")).toMatch(/token/i);
  });

  it("the --json documents of join, agent (one per line), status and show match their schemas", () => {
    expect(oneDocument(read("join.json"), "ciab/join/v1").node).toBe("a");
    for (const f of ["once.jsonl", "loop.jsonl"]) {
      const docs = read(f).split("\n").filter(Boolean);
      expect(docs.length).toBeGreaterThan(1);
      for (const line of docs) oneDocument(line, "ciab/agent/v1");
    }
    oneDocument(read("status.json"), "ciab/status/v1");
    oneDocument(read("show-b.json"), "ciab/show/v1");
  });

  it("agent --once applies for real through the planner: the WireGuard interface carries the joined key", () => {
    expect(read("once.code").trim(), read("once.err")).toBe("0");
    const ev = lines("once.jsonl");
    expect(ev.find((e) => e.event === "applied")?.actions).not.toEqual([]);
    expect(ev.find((e) => e.event === "status")).toMatchObject({ reachable: true, node: "a" });
    const pub = JSON.parse(read("join.json")).publicKey as string;
    // wg show all dump: the interface line holds its private key: compare only the public one, never print it.
    expect(read("wg-once").split("\n")[0]?.split("\t")[2]).toBe(pub);
    const st = JSON.parse(read("status.json"));
    expect(st.agent).toMatchObject({ reachable: true, node: "a" });
  });

  it("the agent publishes under a lease, follows a mesh change (a new node becomes a peer), revokes on SIGTERM", () => {
    const rec = JSON.parse(read("record-lease.json"));
    expect(Number(rec.kvs?.[0]?.lease ?? 0)).toBeGreaterThan(0);
    const applied = lines("loop.jsonl").filter((e) => e.event === "applied");
    expect(applied.length, read("loop.jsonl")).toBeGreaterThanOrEqual(2);
    expect(lines("loop.jsonl").filter((e) => /failed/.test(String(e.message)))).toEqual([]);
    expect(applied[0]?.revision).not.toBe(applied.at(-1)?.revision);
    const b = (JSON.parse(read("show-b.json")) as { networks: { nodes: { name: string; publicKey: string }[] }[] }).networks[0]?.nodes.find(
      (n) => n.name === "b",
    );
    expect(b).toBeDefined();
    const peers = read("wg-loop")
      .split("\n")
      .slice(1)
      .map((l) => l.split("\t")[1]);
    expect(peers).toContain(b?.publicKey);
    expect(read("loop.code").trim()).toBe("0");
    expect(read("record-after-stop").trim()).toBe("");
  });

  it("a node's credentials write only its own record: etcd refuses another node's (root's same write succeeds)", () => {
    expect(read("steal.code").trim()).not.toBe("0");
    expect(read("steal.out")).toMatch(/permission denied/);
    expect(read("mesh.code").trim()).not.toBe("0");
    expect(read("mesh.out")).toMatch(/permission denied/);
    expect(read("own.code").trim(), read("own.out")).toBe("0");
    expect(read("rootput.code").trim(), read("rootput.out")).toBe("0");
  });
});
