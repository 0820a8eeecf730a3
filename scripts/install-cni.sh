#!/usr/bin/env bash
# Builds berth-cni with NativeAOT (a CNI plugin is exec'd once per call: ~20 ms to start instead of ~100+ ms with the
# JIT) and installs it into a CNI plugin directory, /opt/cni/bin by default (containerd's and the kubelet's).
#
#   bash scripts/install-cni.sh [DIR]
#
# Falls back to a framework-dependent ReadyToRun build (needs the .NET 10 runtime on the node) when the AOT
# toolchain (clang or gcc, and the ILCompiler package) is missing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${1:-/opt/cni/bin}"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
if dotnet publish "$ROOT/src/Berth.Cni" -c Release -r linux-x64 -p:PublishAot=true -o "$OUT/aot" -v q --nologo >"$OUT/log" 2>&1; then
  install -D -m 0755 "$OUT/aot/berth-cni" "$DEST/berth-cni"
  echo "installed $DEST/berth-cni (NativeAOT)"
else
  echo "NativeAOT publish failed (see below); installing a ReadyToRun build instead" >&2
  tail -5 "$OUT/log" >&2
  dotnet publish "$ROOT/src/Berth.Cni" -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=true \
    -o "$DEST/berth-cni.d" -v q --nologo
  ln -sf "berth-cni.d/berth-cni" "$DEST/berth-cni"
  echo "installed $DEST/berth-cni (ReadyToRun, framework-dependent)"
fi
