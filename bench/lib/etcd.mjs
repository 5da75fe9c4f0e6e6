// A throw-away etcd for the bench (the bench's copy of test/helpers/etcd.ts): the Debian etcd-server on 127.0.0.1
// (free ports), its data in a temp directory; stopped by its PID and the directory removed (call stop(), also
// after a failure). Listens on loopback only.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** etcd on 127.0.0.1: { host: "127.0.0.1:PORT", endpoint, pid, child, dir, stop() }. */
export async function startEtcd() {
  const dir = mkdtempSync(join(tmpdir(), "ciab-bench-etcd-"));
  const [client, peer] = [await freePort(), await freePort()];
  const c = `http://127.0.0.1:${client}`;
  const p = `http://127.0.0.1:${peer}`;
  const argv = ["--name", "b", "--data-dir", join(dir, "data"), "--listen-client-urls", c, "--advertise-client-urls", c];
  argv.push("--listen-peer-urls", p, "--initial-advertise-peer-urls", p, "--initial-cluster", `b=${p}`, "--log-level", "error");
  const child = spawn("etcd", argv, { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr.on("data", (b) => {
    err = (err + b.toString()).slice(-4000);
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; ; i++) {
      if (spawnSync("etcdctl", [`--endpoints=${c}`, "--command-timeout=1s", "endpoint", "health"], { encoding: "utf8" }).status === 0) break;
      if (child.exitCode !== null || i > 100) throw new Error(`etcd did not start: ${err}`);
      await sleep(100);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { host: `127.0.0.1:${client}`, endpoint: c, pid: child.pid, child, dir, stop };
}
