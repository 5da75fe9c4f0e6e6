#!/usr/bin/env bash
# The demo: a sample mesh with the vwgen-compatible CLI, rendered into bundles.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ciab() { node "$PWD/dist/ciab.mjs" -C "$work" "$@"; }
set -x
ciab add demo node1 node2 node3
ciab set demo pool-ipv4 172.20.10.0/24 pool-ipv6 2001:db8:42::/64 route-reflectors node1 \
  node node1 endpoint 198.51.100.1:51820 listen-port 51820 subnets 10.0.1.0/24 \
  node node2 endpoint 198.51.100.2:51820 listen-port 51820 subnets 10.0.2.0/24 \
  node node3 endpoint 198.51.100.3:51820 listen-port 51820 subnets 10.0.3.0/24
ciab show demo
ciab showconf demo node1
ciab render demo --out bundles
find "$work/bundles/node1" -type f | sort
