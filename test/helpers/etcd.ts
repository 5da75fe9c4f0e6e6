// A throw-away etcd for tests: the Debian etcd-server on 127.0.0.1 (free ports), its data in a temp directory;
// stopped by its PID and the directory removed, even when the test failed (call stop() in afterAll).
// With `auth`, a root user (password returned) is created and authentication enabled, as ETCD-FINDINGS.md shows.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hasTool } from "./env.js";

export const etcdMissing = !hasTool("etcd") || !hasTool("etcdctl") ? "etcd-server/etcd-client are not installed (scripts/install-deps.sh)" : undefined;

export interface TestEtcd {
  /** host:port */
  host: string;
  endpoint: string;
  pid: number;
  rootPassword?: string;
  /** etcdctl with the endpoint (and root's credentials when auth is on). */
  ctl(args: string[], user?: string): { code: number; stdout: string; stderr: string };
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start it again after kill(): the same data and ports. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startEtcd(opts: { auth?: boolean } = {}): Promise<TestEtcd> {
  const dir = mkdtempSync(join(tmpdir(), "ciab-test-etcd-"));
  const [client, peer] = [await freePort(), await freePort()];
  const c = `http://127.0.0.1:${client}`;
  const p = `http://127.0.0.1:${peer}`;
  const argv = [
    "--name",
    "t",
    "--data-dir",
    join(dir, "data"),
    "--listen-client-urls",
    c,
    "--advertise-client-urls",
    c,
    "--listen-peer-urls",
    p,
    "--initial-advertise-peer-urls",
    p,
    "--initial-cluster",
    `t=${p}`,
    "--log-level",
    "error",
  ];
  let child: ChildProcess = spawn("etcd", argv, { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  const attach = (ch: ChildProcess) =>
    ch.stderr?.on("data", (b: Buffer) => {
      err = (err + b.toString()).slice(-4000);
    });
  attach(child);
  const rootPassword = opts.auth ? `root-${Math.random().toString(36).slice(2)}` : undefined;
  const ctl = (args: string[], user?: string) => {
    const auth = user ?? (rootPassword && !args.includes("--user") ? `root:${rootPassword}` : undefined);
    const r = spawnSync("etcdctl", [`--endpoints=${c}`, "--command-timeout=3s", ...(auth ? [`--user=${auth}`] : []), ...args], { encoding: "utf8" });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  const waitHealthy = async () => {
    for (let i = 0; ; i++) {
      if (spawnSync("etcdctl", [`--endpoints=${c}`, "--command-timeout=1s", "endpoint", "health"], { encoding: "utf8" }).status === 0) return;
      if (child.exitCode !== null || i > 100) throw new Error(`etcd did not start: ${err}`);
      await sleep(100);
    }
  };
  const kill = async (signal: NodeJS.Signals = "SIGKILL") => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once("exit", r));
      child.kill(signal);
      await gone;
    }
  };
  try {
    await waitHealthy();
    if (rootPassword) {
      for (const a of [
        ["user", "add", "root", `--new-user-password=${rootPassword}`],
        ["user", "grant-role", "root", "root"],
        ["auth", "enable"],
      ]) {
        const r = ctl(a, "");
        if (r.code !== 0) throw new Error(`etcdctl ${a[0]} ${a[1]} failed: ${r.stderr}`);
      }
    }
  } catch (e) {
    await kill();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const self: TestEtcd = {
    host: `127.0.0.1:${client}`,
    endpoint: c,
    pid: child.pid as number,
    rootPassword,
    ctl,
    kill,
    restart: async () => {
      child = spawn("etcd", argv, { stdio: ["ignore", "ignore", "pipe"] });
      attach(child);
      self.pid = child.pid as number;
      await waitHealthy();
    },
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return self;
}
