// WireGuard: the parser of `wg show IF dump` and the two implementations behind one interface: the kernel module
// (`ip link add type wireguard`) and the userspace daemon wireguard-go (one process per interface, its PID tracked).
// Owns: which implementation this host has, the commands that create and remove an interface with it, reading an
// interface's state. Must not: keep, log or return a private key (the dump's first line carries it; the parser
// drops it on the spot), or decide what to change (the planner does; configuration goes through `wg syncconf`).
import { createHash } from "node:crypto";
import type { Command, ObservedWgPeer, ObservedWireguard, WgBackendCommands, WgBackendKind } from "../plan/types.js";
import type { Runner } from "./exec.js";
import type { Host } from "./host.js";
import { garbage } from "./iproute2.js";

const KEY = /^[A-Za-z0-9+/]{43}=$/;

/** Parse `wg show IF dump`. The private key in the first line is never stored. */
export function parseWgDump(text: string, ifname: string): ObservedWireguard {
  const command = `wg show ${ifname} dump`;
  const lines = text.split("\n").filter((l) => l !== "");
  const head = lines[0]?.split("\t");
  // Interface line: private-key public-key listen-port fwmark.
  if (!head || head.length !== 4) throw garbage(command, "a first line that is not 'private-key public-key listen-port fwmark'");
  const [, pub, port, mark] = head as [string, string, string, string];
  if (pub !== "(none)" && !KEY.test(pub)) throw garbage(command, "an interface public key that is not base64");
  const listenPort = Number(port);
  if (!Number.isInteger(listenPort)) throw garbage(command, `listen port '${port}' that is not a number`);
  const peers: ObservedWgPeer[] = lines.slice(1).map((l, i) => {
    const f = l.split("\t");
    // Peer lines: public-key preshared-key endpoint allowed-ips latest-handshake rx tx persistent-keepalive.
    if (f.length !== 8) throw garbage(command, `peer line #${i + 1} with ${f.length} fields instead of 8`);
    const [key, psk, endpoint, allowed, hs, rx, tx, ka] = f as [string, string, string, string, string, string, string, string];
    if (!KEY.test(key)) throw garbage(command, `peer line #${i + 1} without a public key`);
    const nums = [hs, rx, tx].map(Number);
    if (nums.some((n) => !Number.isFinite(n))) throw garbage(command, `peer line #${i + 1} with non-numeric handshake or transfer`);
    return {
      publicKey: key,
      presharedKey: psk !== "(none)",
      // Only a digest: enough to notice a changed key, useless to an eavesdropper of ciab's memory or output.
      ...(psk !== "(none)" ? { pskSha256: createHash("sha256").update(psk).digest("hex") } : {}),
      ...(endpoint !== "(none)" ? { endpoint } : {}),
      allowedIPs: allowed === "(none)" ? [] : allowed.split(","),
      latestHandshake: nums[0] as number,
      rxBytes: nums[1] as number,
      txBytes: nums[2] as number,
      keepalive: ka === "off" ? 0 : Number(ka),
    };
  });
  return { ifname, ...(pub !== "(none)" ? { publicKey: pub } : {}), listenPort, fwMark: mark === "off" ? 0 : Number(mark), peers };
}

/** The interface's state, or undefined when it does not exist or is not WireGuard (`wg show` fails). */
export async function observeWireguard(run: Runner, ifname: string): Promise<ObservedWireguard | undefined> {
  const r = await run(["wg", "show", ifname, "dump"], { timeoutMs: 10_000 });
  if (r.code === 127) return undefined; // no wireguard-tools: the agent reports it (doctor) and nothing exists
  if (r.code !== 0) return undefined;
  return parseWgDump(r.stdout, ifname);
}

// ------------------------------------------------------------------------------------------------- backends

/** What a backend may touch on the host (a part of the one Host), injectable for tests. */
export type WgHost = Pick<Host, "run" | "exists" | "readFile" | "env">;

export interface WgBackend extends WgBackendCommands {
  /** Whether this implementation works here; when not, why (for a skipped test or `ciab doctor`). */
  available(host: WgHost): Promise<{ ok: boolean; reason: string }>;
  /** PID of the process that implements the interface (userspace), when it runs. */
  daemonPid(host: WgHost, ifname: string): number | undefined;
}

/** Where ciab keeps wireguard-go's PID and log per interface (tmpfs: forgotten at reboot, like the interface). */
export const RUN_DIR = "/run/ciab";

export const kernelBackend: WgBackend = {
  kind: "kernel",
  create: (ifname) => [{ argv: ["ip", "link", "add", "dev", ifname, "type", "wireguard"] }],
  destroy: (ifname) => [{ argv: ["ip", "link", "del", "dev", ifname] }],
  async available(host) {
    if (host.exists("/sys/module/wireguard")) return { ok: true, reason: "the kernel has the wireguard module (/sys/module/wireguard)" };
    // Built as a module that is not loaded yet: modprobe loads it (and is harmless when it is missing).
    const m = await host.run(["modprobe", "wireguard"], { timeoutMs: 10_000 });
    if (m.code === 0 && host.exists("/sys/module/wireguard")) return { ok: true, reason: "modprobe wireguard loaded the module" };
    return { ok: false, reason: "this kernel has no WireGuard module (no /sys/module/wireguard; modprobe wireguard fails)" };
  },
  daemonPid: () => undefined,
};

const userspaceBin = (env: Record<string, string | undefined>) => env.WG_QUICK_USERSPACE_IMPLEMENTATION || "wireguard-go";

// $1 interface, $2 binary, $3 run dir. `-f` keeps the daemon in the foreground so `$!` is its PID (FINDINGS §3:
// daemonizing hides it); `setsid` takes it out of ciab's process group, so Ctrl-C of `ciab up --watch` leaves it
// running; its output goes to a log file, not to ciab's pipes. Ready when its UAPI socket exists.
const USERSPACE_UP = `set -u
ifn=$1; bin=$2; dir=$3
mkdir -p "$dir"
log="$dir/$ifn.wireguard-go.log"; pf="$dir/$ifn.wireguard-go.pid"
command -v "$bin" >/dev/null 2>&1 || { echo "$bin is not installed (apt-get install wireguard-go)" >&2; exit 127; }
setsid "$bin" -f "$ifn" </dev/null >>"$log" 2>&1 &
pid=$!
echo "$pid" > "$pf"
i=0
while [ ! -S "/run/wireguard/$ifn.sock" ]; do
  st=$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null || echo gone)
  if [ "$st" = Z ] || [ "$st" = gone ]; then rm -f "$pf"; echo "$bin $ifn exited at start:" >&2; tail -n 5 "$log" >&2; exit 1; fi
  i=$((i + 1))
  if [ "$i" -gt 100 ]; then kill "$pid"; rm -f "$pf"; echo "$bin $ifn did not open /run/wireguard/$ifn.sock within 10 s" >&2; exit 1; fi
  sleep 0.1
done`;

// $1 interface, $2 run dir. Deleting the tun device makes wireguard-go exit (as wg-quick down relies on); the PID
// file only makes sure it did, and the PID is re-checked against its command line before any signal (PID reuse).
const USERSPACE_DOWN = `set -u
ifn=$1; pf="$2/$ifn.wireguard-go.pid"
ip link del dev "$ifn" 2>/dev/null || true
[ -f "$pf" ] || exit 0
pid=$(cat "$pf")
ours() { st=$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null) && [ "$st" != Z ] && tr '\\0' ' ' < "/proc/$pid/cmdline" | grep -q "wireguard-go.* $ifn"; }
i=0
while ours; do
  i=$((i + 1))
  [ "$i" = 20 ] && kill "$pid" 2>/dev/null
  [ "$i" = 40 ] && kill -9 "$pid" 2>/dev/null
  [ "$i" -gt 50 ] && { echo "wireguard-go (PID $pid) of $ifn does not exit" >&2; exit 1; }
  sleep 0.1
done
rm -f "$pf"`;

export function userspaceBackend(env: Record<string, string | undefined> = process.env, runDir = RUN_DIR): WgBackend {
  const bin = userspaceBin(env);
  return {
    kind: "userspace",
    create: (ifname): Command[] => [
      {
        argv: ["sh", "-c", USERSPACE_UP, "ciab-wireguard-go", ifname, bin, runDir],
        display: `setsid ${bin} -f ${ifname} & (PID in ${runDir}/${ifname}.wireguard-go.pid; wait for /run/wireguard/${ifname}.sock)`,
      },
    ],
    destroy: (ifname): Command[] => [
      {
        argv: ["sh", "-c", USERSPACE_DOWN, "ciab-wireguard-go-down", ifname, runDir],
        display: `ip link del dev ${ifname} (wireguard-go exits; PID ${runDir}/${ifname}.wireguard-go.pid checked)`,
      },
    ],
    async available(host) {
      const r = await host.run(["sh", "-c", 'command -v "$1"', "sh", bin], { timeoutMs: 5000 });
      if (r.code !== 0) return { ok: false, reason: `${bin} is not installed (apt-get install wireguard-go)` };
      if (!host.exists("/dev/net/tun")) return { ok: false, reason: "/dev/net/tun is missing (wireguard-go needs TUN)" };
      return { ok: true, reason: `userspace implementation ${r.stdout.trim()}` };
    },
    daemonPid(host, ifname) {
      const text = host.readFile(`${runDir}/${ifname}.wireguard-go.pid`);
      const pid = Number(text?.trim());
      if (!Number.isInteger(pid) || pid <= 0) return undefined;
      const cmdline = host.readFile(`/proc/${pid}/cmdline`);
      return cmdline?.includes("wireguard-go") ? pid : undefined;
    },
  };
}

/**
 * The implementation `ciab up` uses: CIAB_WG_BACKEND (kernel|userspace) when set, else the kernel module when the
 * kernel has one, else wireguard-go when installed; undefined when neither exists.
 */
export async function chooseBackend(host: WgHost, runDir = RUN_DIR): Promise<{ backend?: WgBackend; why: string }> {
  const userspace = userspaceBackend(host.env, runDir);
  const forced = host.env.CIAB_WG_BACKEND;
  if (forced === "kernel" || forced === "userspace") {
    const b = forced === "kernel" ? kernelBackend : userspace;
    const a = await b.available(host);
    return a.ok ? { backend: b, why: `CIAB_WG_BACKEND=${forced}: ${a.reason}` } : { why: `CIAB_WG_BACKEND=${forced}, but ${a.reason}` };
  }
  const k = await kernelBackend.available(host);
  if (k.ok) return { backend: kernelBackend, why: k.reason };
  const u = await userspace.available(host);
  if (u.ok) return { backend: userspace, why: `${k.reason}: ${u.reason}` };
  return { why: `${k.reason}, and ${u.reason}` };
}

export const backendKinds: readonly WgBackendKind[] = ["kernel", "userspace"];
