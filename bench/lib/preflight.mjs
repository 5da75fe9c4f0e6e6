// Before a part runs: the programs it drives must be there. A missing one is installed the way `.ci/run` installs
// everything (scripts/install-deps.sh, Debian, as root; BENCH_INSTALL=0 turns that off), and if it is still missing
// the bench stops naming the program and its package, instead of failing every run later with `exec … failed`.
import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { ROOT } from "./common.mjs";

/** Program -> Debian package (scripts/install-deps.sh installs them all). */
const PACKAGE = {
  ip: "iproute2",
  ss: "iproute2",
  nft: "nftables",
  ping: "iputils-ping",
  iperf3: "iperf3",
  ethtool: "ethtool",
  "wireguard-go": "wireguard-go",
  wg: "wireguard-tools",
  vtysh: "frr",
  etcd: "etcd-server",
  etcdctl: "etcd-client",
};
const LAB = ["ip", "ss", "nft", "ping", "wireguard-go", "wg", "vtysh"];
/** What each part runs besides node (the lab parts drive `ciab lab`, which runs the lab's programs). */
export const NEEDS = {
  render: [],
  convergence: LAB,
  failover: LAB,
  dataplane: [...LAB, "iperf3", "ethtool"],
  mtu: [...LAB, "iperf3"],
  control: ["etcd", "etcdctl"],
};

function onPath(prog) {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/sbin"];
  return dirs.some((d) => {
    try {
      accessSync(join(d, prog), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export const missingFor = (parts) => [...new Set(parts.flatMap((p) => NEEDS[p] ?? []))].filter((prog) => !onPath(prog));

/** Install what `parts` need and is missing (as root, unless BENCH_INSTALL=0); throw naming what is still missing. */
export function preflight(parts, log = (m) => process.stderr.write(`${m}\n`)) {
  let missing = missingFor(parts);
  if (!missing.length) return;
  const root = typeof process.getuid === "function" && process.getuid() === 0;
  if (root && process.env.BENCH_INSTALL !== "0" && onPath("apt-get")) {
    log(`bench: missing ${missing.join(", ")}: installing with scripts/install-deps.sh`);
    const r = spawnSync("bash", [join(ROOT, "scripts", "install-deps.sh")], { stdio: ["ignore", "inherit", "inherit"] });
    if (r.status !== 0) log(`bench: scripts/install-deps.sh failed (exit ${r.status})`);
    missing = missingFor(parts);
  }
  if (missing.length)
    throw new Error(
      `bench ${parts.join(", ")} needs ${missing.map((m) => `${m} (Debian package ${PACKAGE[m] ?? m})`).join(", ")}: run scripts/install-deps.sh as root${root ? "" : " (or the bench as root, which runs it)"}`,
    );
}
