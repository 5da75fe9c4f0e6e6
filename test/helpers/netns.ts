// A throw-away network namespace for integration tests, removed (with every process in it) even on failure.
// Commands run with a private tmpfs on /run, so daemons such as wireguard-go never touch the host's /run.
import { spawnSync } from "node:child_process";

let counter = 0;

export interface Netns {
  name: string;
  /** Run a shell script inside the namespace with a private /run. */
  sh(script: string, input?: string): { code: number; stdout: string; stderr: string };
}

const run = (argv: string[], input?: string) => {
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: "utf8", input, timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
};

export function withNetns<T>(tag: string, fn: (ns: Netns) => T): T {
  const name = `ciabt-${tag}-${process.pid}-${counter++}`;
  const made = run(["ip", "netns", "add", name]);
  if (made.code !== 0) throw new Error(`ip netns add ${name}: ${made.stderr}`);
  try {
    run(["ip", "-n", name, "link", "set", "lo", "up"]);
    return fn({
      name,
      sh: (script, input) => run(["ip", "netns", "exec", name, "sh", "-c", `mount -t tmpfs ciabt /run && ${script}`], input),
    });
  } finally {
    for (const pid of run(["ip", "netns", "pids", name]).stdout.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        /* already gone */
      }
    }
    run(["ip", "netns", "del", name]);
  }
}
