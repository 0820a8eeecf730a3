#!/usr/bin/env bash
# Installs what Berth needs on Debian 12, as root. Idempotent: apt only runs when something is missing.
set -euo pipefail
packages=(runc crun conmon nftables libnftables1 iptables busybox-static iperf3 conntrack socat iproute2 curl procps python3
          golang-github-containers-common apparmor gcc libc6-dev docker-compose containerd containernetworking-plugins tini
          docker-registry apache2-utils openssl xz-utils bzip2 git)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
# Docker's default seccomp profile. Debian ships it as a file only inside golang-github-docker-docker-dev, whose
# dependencies are the whole Go toolchain: take the one file from the package. (containers-common's
# /usr/share/containers/seccomp.json, installed above, is Podman's profile: Berth falls back to it.)
seccomp_profile=/usr/share/berth/seccomp/default.json
if [ ! -s "$seccomp_profile" ]; then
  work=$(mktemp -d)
  chmod 755 "$work"   # apt's _apt user downloads into it
  fetch_profile() { (cd "$work" && apt-get -o DPkg::Lock::Timeout=600 download -q golang-github-docker-docker-dev >/dev/null 2>&1); }
  if fetch_profile || { apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null && fetch_profile; }; then
    dpkg-deb -x "$work"/golang-github-docker-docker-dev_*.deb "$work/x"
    install -D -m 0644 "$work/x/usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json" "$seccomp_profile"
  else
    echo "warning: could not fetch Docker's seccomp profile; containers fall back to containers-common's" >&2
  fi
  rm -rf "$work"
fi
if ! dotnet --version 2>/dev/null | grep -q '^10\.'; then
  echo "error: the .NET 10 SDK is required (dotnet --version must print 10.x)" >&2
  exit 1
fi
if ! python3 -c 'import docker' 2>/dev/null; then
  apt-get -o DPkg::Lock::Timeout=600 install -y -q python3-docker >/dev/null || echo "warning: docker-py is missing; its tests will fail" >&2
fi
[ -x /usr/local/bin/docker ] || command -v docker >/dev/null || echo "warning: the docker CLI is missing; end-to-end tests need it" >&2
