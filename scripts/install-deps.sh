#!/usr/bin/env bash
# Installs what Berth needs on Debian 12, as root. Idempotent: apt only runs when something is missing.
set -euo pipefail
packages=(runc crun conmon nftables libnftables1 iptables busybox-static iperf3 conntrack socat iproute2 curl procps python3)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! dotnet --version 2>/dev/null | grep -q '^10\.'; then
  echo "error: the .NET 10 SDK is required (dotnet --version must print 10.x)" >&2
  exit 1
fi
if ! python3 -c 'import docker' 2>/dev/null; then
  apt-get install -y -q python3-docker >/dev/null || echo "warning: docker-py is missing; its tests will fail" >&2
fi
[ -x /usr/local/bin/docker ] || command -v docker >/dev/null || echo "warning: the docker CLI is missing; end-to-end tests need it" >&2
