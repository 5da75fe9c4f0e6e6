#!/usr/bin/env bash
# The demo: a real 3-node mesh on this machine (WireGuard via wireguard-go, VXLAN, FRR BGP with a route reflector,
# one container per node), built from rendered bundles applied with their own bin/ciab-up, then tested: every
# container pings every other one. Everything lives in network namespaces and is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo: run as root (it creates network namespaces)" >&2; exit 1; }
bash scripts/install-deps.sh
[ -f dist/ciab.mjs ] || npm run build --silent
ciab() { node "$PWD/dist/ciab.mjs" "$@"; }
lab=demo$$
trap 'ciab lab down --name "$lab" >/dev/null 2>&1 || true' EXIT
echo "== ciab lab up -v --nodes 3 --reflectors 1" >&2
ciab lab up -v --name "$lab" --nodes 3 --reflectors 1
echo "== ciab lab test" >&2
ciab lab test --name "$lab"
echo "== ciab lab exec n1 -- vtysh -c 'show bgp summary'" >&2
ciab lab exec --name "$lab" n1 -- vtysh -c "show bgp summary"
echo "== ciab lab down" >&2
ciab lab down --name "$lab"
trap - EXIT
