// Running a command "on" a lab node: inside the node's network namespace, with the node's private copies of the
// directories its daemons use bind-mounted over the default paths. Pure: builds argv; nothing here runs anything.
// Why: wireguard-go's control socket path (/run/wireguard/<if>.sock) is global and FRR/BIRD use fixed paths, so
// without private directories a second node would talk to the first node's daemons (FINDINGS §3, §5 A).
// `ip netns exec` already unshares a mount namespace with slave propagation: the binds never reach the host and
// vanish with the last process that uses them. Daemons started through the wrapper keep it for their lifetime.

export interface PrivateDir {
  /** The default path on every host. */
  path: string;
  /** Directory name inside the node's private root. */
  dir: string;
  /** Owner of the private copy: FRR's daemons run as frr and write their sockets and logs there. */
  owner: "root" | "frr" | "bird";
  mode: number;
}

const dir = (path: string, owner: PrivateDir["owner"], mode: number): PrivateDir => ({ path, dir: path.slice(1).replace(/\//g, "-"), owner, mode });

/** Every path a bundle's daemons use (WireGuard, FRR, BIRD). All are always mounted: it costs nothing. */
export const PRIVATE_DIRS: readonly PrivateDir[] = [
  dir("/etc/wireguard", "root", 0o700),
  dir("/run/wireguard", "root", 0o755),
  dir("/etc/frr", "frr", 0o750),
  dir("/run/frr", "frr", 0o755),
  dir("/var/log/frr", "frr", 0o755),
  dir("/etc/bird", "bird", 0o750),
  dir("/run/bird", "bird", 0o755),
];

/** Exit status of the wrapper when a bind mount fails (the command did not run). */
export const MOUNT_FAILED = 97;

// $1 is the node's private root; the rest is the command, exec'd so its PID is the wrapper's.
const SCRIPT = `r=$1; shift
${PRIVATE_DIRS.map((d) => `mount --bind "$r/${d.dir}" ${d.path}`).join(" &&\n")} || { echo "ciab lab: private mounts failed" >&2; exit ${MOUNT_FAILED}; }
exec "$@"`;

/** argv that runs `argv` on the node whose namespace is `ns` and whose private root is `root`. */
export const onNode = (ns: string, root: string, argv: string[]): string[] => ["ip", "netns", "exec", ns, "sh", "-c", SCRIPT, "ciab-lab-node", root, ...argv];

/** argv that runs `argv` in a plain namespace (a container, the internet): no private mounts needed. */
export const inNs = (ns: string, argv: string[]): string[] => ["ip", "netns", "exec", ns, ...argv];
