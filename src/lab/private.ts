// Running a command "on" a lab node: inside the node's network namespace, with the node's own /run, /var/log,
// /etc/wireguard, /etc/frr and /etc/bird bind-mounted over the host's, and a throw-away /var/tmp (FRR's daemons
// leave /var/tmp/frr/<daemon>.<pid> behind). Pure: builds argv; nothing here runs anything.
// Why: wireguard-go's control socket path (/run/wireguard/<if>.sock) is global and FRR/BIRD use fixed paths, so
// without private directories a second node would talk to the first node's daemons (FINDINGS §3, §5 A).
// `ip netns exec` already unshares a mount namespace with slave propagation: the binds never reach the host and
// vanish with the last process that uses them. Daemons started through the wrapper keep it for their lifetime.
// A whole private /run (and /var/log) means no mount point has to be created on the host: a node sees a /run as
// fresh as a new host's, plus the lab's own directory (its bundle lives there) bound back in at the same path.

export interface PrivateDir {
  /** Path inside the node's private root. */
  dir: string;
  /** Owner: FRR's daemons run as frr and write sockets, pid files and logs in their directories. */
  owner: "root" | "frr" | "bird";
  mode: number;
}

/** Directories to create in a node's private root before anything runs on the node. */
export const PRIVATE_DIRS: readonly PrivateDir[] = [
  { dir: "run", owner: "root", mode: 0o755 },
  { dir: "run/wireguard", owner: "root", mode: 0o755 },
  { dir: "run/frr", owner: "frr", mode: 0o755 },
  { dir: "run/bird", owner: "bird", mode: 0o755 },
  { dir: "var-log", owner: "root", mode: 0o755 },
  { dir: "var-log/frr", owner: "frr", mode: 0o755 },
  { dir: "etc-wireguard", owner: "root", mode: 0o700 },
  { dir: "etc-frr", owner: "frr", mode: 0o750 },
  { dir: "etc-bird", owner: "bird", mode: 0o750 },
];

/** /etc directories replaced when the host has them (their packages create them; a missing one means no package). */
export const PRIVATE_ETC = ["wireguard", "frr", "bird"] as const;

/** Exit status of the wrapper when a bind mount fails (the command did not run). */
export const MOUNT_FAILED = 97;

/** Where the lab root must reappear inside the node's private /run ("" when the lab root is not under /run). */
export const runSubdir = (labRoot: string): string => (labRoot.startsWith("/run/") ? labRoot.slice("/run/".length) : "");

// $1: the node's private root, $2: the lab root, $3: the lab root relative to /run (or ""); the rest is the command,
// exec'd so its PID is the wrapper's. The lab root is bound into the private /run first, then /run is replaced
// (rbind carries that bind along), so paths under the lab root stay valid on the node.
const SCRIPT = `r=$1; l=$2; k=$3; shift 3
{ [ -z "$k" ] || mount --bind "$l" "$r/run/$k"; } &&
mount --rbind "$r/run" /run &&
mount --bind "$r/var-log" /var/log &&
mount -t tmpfs -o mode=1777 ciab-lab /var/tmp &&
${PRIVATE_ETC.map((e) => `{ [ ! -d /etc/${e} ] || mount --bind "$r/etc-${e}" /etc/${e}; }`).join(" &&\n")} ||
{ echo "ciab lab: private mounts failed" >&2; exit ${MOUNT_FAILED}; }
exec "$@"`;

/** argv that runs `argv` on the node whose namespace is `ns` and whose private root is `root`, in lab root `labRoot`. */
export const onNode = (ns: string, root: string, labRoot: string, argv: string[]): string[] => [
  "ip",
  "netns",
  "exec",
  ns,
  "sh",
  "-c",
  SCRIPT,
  "ciab-lab-node",
  root,
  labRoot,
  runSubdir(labRoot),
  ...argv,
];

/** argv that runs `argv` in a plain namespace (a container, the internet): no private mounts needed. */
export const inNs = (ns: string, argv: string[]): string[] => ["ip", "netns", "exec", ns, ...argv];
