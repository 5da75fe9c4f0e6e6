// The bundle's scripts: bin/ciab-up, bin/ciab-down, bin/ciab-status (POSIX sh). They replace the seed's
// wg-meshup / frr-start / bgp-restart family: idempotent, safe to re-run, and they need only iproute2,
// wireguard-tools (wg, wg-quick; wireguard-go when the kernel has no module) and the routing daemon.
// Pure: returns text; the values come from the same dataplane description as the WireGuard file.

import { waitsForPeer } from "../keys/contact.js";
import type { MeshNode } from "../model/mesh.js";
import type { Dataplane, NodeTopology } from "../model/topology.js";
import { DESIRED_FILE, vxlanFiles } from "../state/desired.js";
import { nftTable } from "./nft.js";
import { keyFilePath } from "./showconf.js";
import { fdbVia, vxlanCreate, vxlanSysctl } from "./wireguard.js";

export interface ScriptOptions {
  /** Which routing daemon files the bundle carries. */
  routing: "frr" | "bird" | "none";
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function common(nt: NodeTopology, name: string): string {
  const { node } = nt;
  const { mesh, wgIf, vxlanIf } = nt.topology;
  return `#!/bin/sh
# ${name} for node ${node.name} of network ${mesh.name}; rendered by ciab-mesh, do not edit. Safe to re-run.
# The prelude is shared by ciab-up/down/status, so not every script uses every helper:
# shellcheck disable=SC2034,SC2317
set -eu
B=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
NET=${q(mesh.name)}
WG=${q(wgIf)}
VX=${q(vxlanIf)}
say() { printf '%s: %s\\n' ${q(name)} "$*" >&2; }
die() { say "error: $*"; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }
need() { have "$1" || die "'$1' is missing; install $2"; }
[ "$(id -u)" = 0 ] || die "run me as root (sudo $0)"
has_systemd() { [ -d /run/systemd/system ] && have systemctl; }
link_exists() { ip link show dev "$1" >/dev/null 2>&1; }
# Ownership (plan/plan.ts ownerMark): ciab's interfaces of this network carry the alias ciab:NET.
MARK="ciab:$NET"
# The marked interfaces other than those named in $@ (ip -o puts the alias last: "\\    alias ciab:NET").
marked_except() {
  ip -o link show | awk -v m="$MARK" -v keep=" $* " '{ n = $2; sub(/:$/, "", n); sub(/@.*/, "", n)
    if ($NF == m && $(NF-1) == "alias" && index(keep, " " n " ") == 0) print n }'
}
`;
}

function frrStart(): string {
  return `frr_running() {
  if has_systemd; then systemctl is-active --quiet frr; else /usr/lib/frr/frrinit.sh status >/dev/null 2>&1; fi
}
install_frr() {
  [ -x /usr/lib/frr/frrinit.sh ] || have vtysh || die "FRR is missing; install the 'frr' package"
  # FRR applies whatever lines it understands and ignores the rest: refuse a broken file before touching anything.
  vtysh --dryrun -f "$B/frr/frr.conf" >/dev/null 2>&1 || die "FRR refuses $B/frr/frr.conf (check it with: vtysh --dryrun -f $B/frr/frr.conf)"
  mkdir -p /etc/frr
  for f in frr.conf daemons; do
    # Keep the host's own file once, so ciab-down can put it back.
    if [ -f "/etc/frr/$f" ] && ! grep -q 'rendered by ciab' "/etc/frr/$f" && [ ! -f "/etc/frr/$f.ciab-orig" ]; then
      cp -p "/etc/frr/$f" "/etc/frr/$f.ciab-orig"
    fi
  done
  restart=no
  cmp -s "$B/frr/daemons" /etc/frr/daemons || restart=yes
  changed=no
  cmp -s "$B/frr/frr.conf" /etc/frr/frr.conf || changed=yes
  cp "$B/frr/daemons" /etc/frr/daemons.ciab-new && mv /etc/frr/daemons.ciab-new /etc/frr/daemons
  cp "$B/frr/frr.conf" /etc/frr/frr.conf.ciab-new && mv /etc/frr/frr.conf.ciab-new /etc/frr/frr.conf
  if id frr >/dev/null 2>&1; then chown frr:frr /etc/frr /etc/frr/frr.conf /etc/frr/daemons; chmod 640 /etc/frr/frr.conf; fi
  # One integrated frr.conf for all daemons (vtysh warns and misbehaves without this).
  [ -f /etc/frr/vtysh.conf ] || echo "service integrated-vtysh-config" > /etc/frr/vtysh.conf
  if ! frr_running; then
    say "starting FRR"
    if has_systemd; then systemctl enable --now frr >/dev/null 2>&1 || systemctl start frr; else /usr/lib/frr/frrinit.sh start >/dev/null; fi
  elif [ "$restart" = yes ]; then
    # As \`ciab up\` does (plan/plan.ts): with frr-reload.py, \`frrinit.sh reload\` restarts only watchfrr, starts
    # newly enabled daemons and applies frr.conf as deltas (bgpd keeps its sessions); without it, a restart.
    if [ -x /usr/lib/frr/frr-reload.py ]; then
      say "FRR daemons changed: reloading FRR (sessions stay up)"
      if has_systemd; then systemctl reload frr; else /usr/lib/frr/frrinit.sh reload >/dev/null; fi
    else
      say "FRR daemons changed: restarting FRR (no frr-reload.py: install frr-pythontools)"
      if has_systemd; then systemctl restart frr; else /usr/lib/frr/frrinit.sh restart >/dev/null; fi
    fi
  elif [ "$changed" = yes ]; then
    say "reloading FRR configuration (sessions stay up)"
    if [ -x /usr/lib/frr/frr-reload.py ]; then
      /usr/lib/frr/frr-reload.py --reload /etc/frr/frr.conf >/dev/null || die "FRR refused the new configuration (see /var/log/frr)"
    else
      vtysh -f /etc/frr/frr.conf >/dev/null || die "FRR refused the new configuration"
    fi
  fi
}
`;
}

function birdStart(): string {
  return `bird_running() { [ -S /run/bird/bird.ctl ] && birdc -s /run/bird/bird.ctl show status >/dev/null 2>&1; }
install_bird() {
  need bird "the 'bird2' package"; need birdc "the 'bird2' package"
  bird -p -c "$B/bird/bird.conf" || die "BIRD refuses $B/bird/bird.conf"
  mkdir -p /etc/bird /run/bird
  if [ -f /etc/bird/bird.conf ] && ! grep -q 'rendered by ciab' /etc/bird/bird.conf && [ ! -f /etc/bird/bird.conf.ciab-orig ]; then
    cp -p /etc/bird/bird.conf /etc/bird/bird.conf.ciab-orig
  fi
  cp "$B/bird/bird.conf" /etc/bird/bird.conf.ciab-new && mv /etc/bird/bird.conf.ciab-new /etc/bird/bird.conf
  if bird_running; then
    say "reloading BIRD configuration"
    birdc -s /run/bird/bird.ctl configure >/dev/null || die "BIRD refused the new configuration"
  elif has_systemd; then
    systemctl enable --now bird >/dev/null 2>&1 || systemctl restart bird
  else
    say "starting BIRD"
    bird -c /etc/bird/bird.conf -s /run/bird/bird.ctl -P /run/bird/bird.pid
  fi
}
`;
}

// Converging the VXLAN forwarding table on a re-run, in one pass: desired entries (the bundle's fdb batch file,
// first input) against what the kernel has (`bridge fdb show`, second input); prints bridge batch commands.
const FDB_DIFF = `FNR==NR { if ($3=="00:00:00:00:00:00") wf[$7]=1; else wu[$3]=$7; next }
$1=="00:00:00:00:00:00" && $2=="dst" { hf[$3]=1; if (!($3 in wf)) print "fdb del 00:00:00:00:00:00 dev " vx " dst " $3; next }
$2=="dst" && !($1 in wu) { print "fdb del " $1 " dev " vx " self" }
END { for (d in wf) if (!(d in hf)) print "fdb append 00:00:00:00:00:00 dev " vx " dst " d via
      for (m in wu) print "fdb replace " m " dev " vx " dst " wu[m] via " self permanent" }`;

// The VXLAN batch files (state/desired.ts vxlanBatchFiles, byte for byte) from desired.json, whose VXLAN peers are
// one flat object per line, \`{"vtep":"V","mac":"M","ips":["A",…]}\` (render/desired.ts): split at the quotes, the
// VTEP is field 4, the MAC field 8, the addresses fields 12, 14, … Neighbours go to stdout (after the addresses),
// flood entries to the fdb file at once and known-unicast entries after them.
const VXLAN_BATCHES = `/^ *\\{"vtep":"/ { n = split($0, f, "\\""); for (i = 12; i < n; i += 2) print "neigh replace " f[i] " lladdr " f[8] " dev " vx " nud permanent"
  print "fdb append 00:00:00:00:00:00 dev " vx " dst " f[4] via > fdb; u[++m] = "fdb replace " f[8] " dev " vx " dst " f[4] via " self permanent" }
END { printf "" > fdb; for (i = 1; i <= m; i++) print u[i] > fdb }`;

// Stale static neighbours and addresses: in the kernel, not in the bundle's ip batch file.
const IP_DIFF = `FNR==NR { if ($1=="neigh") wn[$3]=1; if ($1=="address") wa[$3]=1; next }
$1=="neigh" && !($2 in wn) { print "neigh del " $2 " dev " vx }
$1=="addr" && !($2 in wa) && $2 !~ /^fe80:/ { print "address del " $2 " dev " vx }`;

/** Peers this node lets make the first handshake (keys/contact.ts): configured without their endpoint at first. */
export const waitingFor = (dp: Pick<Dataplane, "peers">, node: MeshNode): MeshNode[] => {
  const self = node.publicKey; // a getter (the key is derived once, on first use): read once, not per peer
  return dp.peers.filter((p) => p.endpoint && waitsForPeer(self, p.publicKey));
};

// The wg-quick file without the Endpoint lines of the peers whose public key sorts before \`self\` (keys/contact.ts;
// the rule, not a list of keys: the bundle would carry ~500 keys of a 1000-node mesh twice). Byte order in the C
// locale, as JavaScript compares; \`(x "")\` makes awk compare strings. PublicKey comes before Endpoint in every
// [Peer] section ciab renders.
const STRIP_ENDPOINTS = `/^\\[/ { s = $0; key = "" }
s == "[Peer]" && $1 == "PublicKey" { key = $3 }
s == "[Peer]" && $1 == "Endpoint" && (key "") < (self "") { next }
{ print }`;

/** The first \`wg-quick up\`: from a copy of the file without the endpoints of the peers that make first contact. */
function wgQuickUp(wait: MeshNode[], self: MeshNode): string {
  const fail = `{ wg-quick down "$NET" >/dev/null 2>&1 || true; die "wg-quick up $NET failed (see above)"; }`;
  if (wait.length === 0) return `  wg-quick up "$NET" || ${fail}\n`;
  return `  # First contact (keys/contact.ts): the peers whose public key sorts before this node's (${wait.length} of them) start
  # the handshake; until this script is done they are configured without an endpoint, so the two ends' initiations
  # cannot cross.
  up=$(mktemp -d)
  (umask 077; LC_ALL=C awk -v self=${q(self.publicKey)} '${STRIP_ENDPOINTS}' "/etc/wireguard/$NET.conf" > "$up/$NET.conf")
  wg-quick up "$up/$NET.conf" || { rm -rf "$up"; ${fail.slice(2)}
  rm -rf "$up"
`;
}

/** After a first bring-up: one packet to each peer this node makes first contact with starts the handshakes now. */
function firstContactKick(peers: MeshNode[], waiting: MeshNode[]): string {
  const wait = new Set(waiting);
  const vteps = peers.filter((p) => !wait.has(p)).map((p) => p.vtep);
  if (vteps.length === 0) return "";
  return `
# First contact: a packet to each peer's VTEP starts its handshake at once (not at the first routing packet).
if [ "\${fresh:-}" = yes ] && have ping; then
  # shellcheck disable=SC2043 # one peer is a list of one
  for v in ${vteps.join(" ")}; do ping -n -q -c 1 -W 1 "$v" >/dev/null 2>&1 & done
fi
`;
}

/** After a first bring-up: the peers that made first contact get their endpoints (a peer sync from the wg-quick file). */
function firstContactEndpoints(wait: MeshNode[]): string {
  if (wait.length === 0) return "";
  return `
# First contact is over: every peer gets its endpoint, as in the wg-quick file.
if [ "\${fresh:-}" = yes ]; then sync_peers; fi
`;
}

export function renderCiabUp(nt: NodeTopology, opts: ScriptOptions): string {
  const { node, peers } = nt;
  const mesh = nt.topology.mesh;
  const top = nt.topology;
  const dp = { wgIf: top.wgIf, vxlanIf: top.vxlanIf, vtep: node.vtep, vtepFamily: node.vtepFamily, mtu: nt.mtu };
  const wait = waitingFor(nt, node);
  const net = mesh.network;
  const files = vxlanFiles(mesh.name);
  const vxAddresses = [...node.address, ...(node.ipv6 ? [node.ipv6] : [])];
  return `${common(nt, "ciab-up")}
need ip "iproute2"; need bridge "iproute2"; need wg "wireguard-tools"; need wg-quick "wireguard-tools"
need bash "bash (wg-quick is a bash script)"; need awk "awk"
if [ ! -e /sys/module/wireguard ] && ! modprobe wireguard 2>/dev/null; then
  # wg-quick falls back to the userspace implementation when the kernel has no WireGuard module.
  need "\${WG_QUICK_USERSPACE_IMPLEMENTATION:-wireguard-go}" "wireguard-go (this kernel has no WireGuard module)"
fi
${opts.routing === "frr" ? frrStart() : ""}${opts.routing === "bird" ? birdStart() : ""}
need nft "nftables (the mesh's guard: only WireGuard may carry mesh traffic)"
${node.privateKey ? "" : `[ -s ${keyFilePath(mesh.name)} ] || die "no private key at ${keyFilePath(mesh.name)}; create it on this host with 'ciab key init ${mesh.name} ${node.name}'"\n`}
# 0. The guard first (nftables, ciab's own table, replaced in one transaction): forwarding, WireGuard and VXLAN
#    come up only behind it. VXLAN only through WireGuard, routing protocols and mesh addresses only on the mesh,
#    source validation on the overlay, TCP MSS clamping.
nft -f "$B/nft/ciab.nft" || die "nft refused $B/nft/ciab.nft"

# Forwarding: containers' traffic is routed through this host.
sysctl -q -w net.ipv4.ip_forward=1
${nt.topology.ipv6Forwarding ? "sysctl -q -w net.ipv6.conf.all.forwarding=1\n" : ""}
# 1. Files beside the WireGuard configuration: the wg-quick file, and the VXLAN batch files its hooks read, written
#    from desired.json's VXLAN peers (one line each: VTEP, MAC, overlay addresses), as \`ciab up\` writes them.
mkdir -p /etc/wireguard && chmod 700 /etc/wireguard
umask 077
cp "$B/wireguard/$NET.conf" "/etc/wireguard/$NET.conf.ciab-new" && mv "/etc/wireguard/$NET.conf.ciab-new" "/etc/wireguard/$NET.conf"
{ printf '%s\\n' ${[...vxAddresses.map((a) => `address replace ${a} dev ${dp.vxlanIf}`), `link set ${dp.vxlanIf} mtu ${dp.mtu.vxlan} up`].map(q).join(" ")}
  LC_ALL=C awk -v vx="$VX" -v via='${fdbVia(dp)}' -v fdb="${files.fdb}.ciab-new" '${VXLAN_BATCHES}' "$B/${DESIRED_FILE}"
} > "${files.ip}.ciab-new" || die "cannot write the VXLAN batch files from $B/${DESIRED_FILE}"
[ "$(($(wc -l < "${files.fdb}.ciab-new")))" -eq ${2 * peers.length} ] || die "$B/${DESIRED_FILE} does not list the ${peers.length} VXLAN peers one per line: render the bundle again"
mv "${files.ip}.ciab-new" "${files.ip}" && mv "${files.fdb}.ciab-new" "${files.fdb}"
umask 022

# 2. WireGuard: the first time wg-quick up (its hooks create the VXLAN device); later only a peer sync, which
#    keeps the existing sessions (no handshake, no restart).
sync_peers() {
  tmp=$(mktemp)
  if ! { wg-quick strip "$NET" > "$tmp" && wg syncconf "$WG" "$tmp"; }; then rm -f "$tmp"; die "wg syncconf $WG failed"; fi
  rm -f "$tmp"
}
if link_exists "$WG"; then
  sync_peers
  ip link set "$WG" mtu ${dp.mtu.wg}
else
  fresh=yes
  say "bringing up WireGuard interface $WG"
${wgQuickUp(wait, node)}fi

# 3. Interfaces of this network the bundle no longer lists (an older VXLAN device name) go first, then VXLAN:
#    recreated only if missing or its VNI/port changed; otherwise its entries converge without a flap.
for n in $(marked_except "$WG" "$VX"); do say "removing $n (ciab's, not in this bundle)"; ip link del dev "$n"; done
if ! ip -d link show dev "$VX" 2>/dev/null | grep -q "vxlan id ${net.vxlanId} .*dstport ${net.vxlanPort}"; then
  ip link del "$VX" 2>/dev/null || true
  ${vxlanCreate(dp, net.vxlanId, net.vxlanPort, node.mac)}
  ${vxlanSysctl(dp)}
  ip -batch ${files.ip}
  bridge -batch ${files.fdb}
else
  ip -batch ${files.ip}
  tmp=$(mktemp)
  { ip neigh show dev "$VX" nud permanent | sed 's/^/neigh /'; ip -o address show dev "$VX" | awk '{print "addr", $4}'; } \
    | awk -v vx="$VX" '${IP_DIFF}' ${files.ip} - > "$tmp"
  [ ! -s "$tmp" ] || ip -batch "$tmp"
  bridge fdb show dev "$VX" | awk -v vx="$VX" -v via='${fdbVia(dp)}' '${FDB_DIFF}' ${files.fdb} - > "$tmp"
  [ ! -s "$tmp" ] || bridge -batch "$tmp"
  rm -f "$tmp"
fi
ip link set dev "$WG" alias "$MARK"
ip link set dev "$VX" alias "$MARK"
${firstContactKick(peers, wait)}${opts.routing === "frr" ? "\n# 4. Routing: FRR\ninstall_frr\n" : ""}${opts.routing === "bird" ? "\n# 4. Routing: BIRD\ninstall_bird\n" : ""}${firstContactEndpoints(wait)}
say "node ${node.name} is up (WireGuard $WG, VXLAN $VX)"
`;
}

export function renderCiabDown(nt: NodeTopology, opts: ScriptOptions): string {
  const { node } = nt;
  const mesh = nt.topology.mesh;
  return `${common(nt, "ciab-down")}
# Removes what ciab-up created and nothing else; the host's private key file stays.
if link_exists "$WG"; then wg-quick down "$NET" >/dev/null 2>&1 || ip link del "$WG" 2>/dev/null || true; fi
ip link del "$VX" 2>/dev/null || true
for n in $(marked_except ""); do ip link del dev "$n" 2>/dev/null || true; done
rm -f "/etc/wireguard/$NET.conf" "/etc/wireguard/$NET.vxlan-ip" "/etc/wireguard/$NET.vxlan-fdb"
if have nft && nft list table inet ${nftTable(mesh)} >/dev/null 2>&1; then nft delete table inet ${nftTable(mesh)}; fi
${
  opts.routing === "frr"
    ? `if has_systemd; then systemctl stop frr 2>/dev/null || true; elif [ -x /usr/lib/frr/frrinit.sh ]; then /usr/lib/frr/frrinit.sh stop >/dev/null 2>&1 || true; fi
for f in frr.conf daemons; do
  if [ -f "/etc/frr/$f.ciab-orig" ]; then mv "/etc/frr/$f.ciab-orig" "/etc/frr/$f"; fi
done
`
    : ""
}${
  opts.routing === "bird"
    ? `if [ -S /run/bird/bird.ctl ]; then birdc -s /run/bird/bird.ctl down >/dev/null 2>&1 || true; fi
if [ -f /etc/bird/bird.conf.ciab-orig ]; then mv /etc/bird/bird.conf.ciab-orig /etc/bird/bird.conf; fi
`
    : ""
}say "node ${node.name} is down"
`;
}

export function renderCiabStatus(nt: NodeTopology, opts: ScriptOptions): string {
  return `${common(nt, "ciab-status")}
rc=0
if link_exists "$WG"; then echo "== WireGuard $WG"; wg show "$WG" | grep -v 'private key'; else echo "WireGuard interface $WG is missing"; rc=1; fi
if link_exists "$VX"; then echo "== VXLAN $VX"; ip -br address show dev "$VX"; bridge fdb show dev "$VX" | grep -c dst | sed 's/^/forwarding entries: /'; else echo "VXLAN device $VX is missing"; rc=1; fi
${
  opts.routing === "frr"
    ? `echo "== FRR"; vtysh -c 'show bgp summary' 2>/dev/null || vtysh -c 'show ip ospf neighbor' 2>/dev/null || { echo "FRR is not answering"; rc=1; }
echo "== routes learned"; ip route show proto bgp; ip route show proto ospf
`
    : ""
}${
  opts.routing === "bird"
    ? `echo "== BIRD"; birdc -s /run/bird/bird.ctl show protocols 2>/dev/null || { echo "BIRD is not answering"; rc=1; }
echo "== routes learned"; ip route show proto bird
`
    : ""
}exit $rc
`;
}
