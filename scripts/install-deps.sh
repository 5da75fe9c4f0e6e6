#!/usr/bin/env bash
# Installs what ciab's tests and lab need on Debian 12, then the npm packages. Idempotent; run as root.
# --no-install-recommends matters: wireguard-tools otherwise pulls in a kernel image (../shared/lab/FINDINGS.md §1).
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS=(wireguard-go wireguard-tools frr frr-pythontools bird2 nftables iproute2 iputils-ping traceroute tcpdump
      iperf3 ethtool bind9-utils graphviz busybox-static lxd lxd-client dnsmasq-base procps psmisc util-linux kmod shellcheck
      python3-toml python3-nacl etcd-server etcd-client zsh fish coturn conntrack)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The tests start their own coturn on loopback or in lab namespaces: the package's service (every interface)
  # must not run on a test machine with systemd.
  if [ -d /run/systemd/system ]; then systemctl disable --now coturn >/dev/null 2>&1 || true; fi
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
