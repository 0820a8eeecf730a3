#!/usr/bin/env bash
# `docker pull` of an image of 5 layers (~100 MB of random data, so gzip cannot shrink it) from Debian's
# docker-registry on a loopback port, Berth next to Debian's dockerd 20.10 in one run, both driven by the same docker
# CLI 28. Cold: no layer present. Warm: every layer present (a second image with the same layers and another config).
# Prints the seconds of each pull (best of N runs) and the engine's peak RSS growth during the cold pull
# (VmHWM, reset through /proc/PID/clear_refs before each pull).
#
#   bash bench/pull.sh [--runs N] [--berth-only] [--layers N] [--layer-mb M]
#
# Targets (issue 14): Berth's cold pull at most half of dockerd's time; Berth's memory growth under 64 MB.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS=3 BERTH_ONLY=0 LAYERS=5 LAYER_MB=20
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="${2:?}"; shift ;;
    --berth-only) BERTH_ONLY=1 ;;
    --layers) LAYERS="${2:?}"; shift ;;
    --layer-mb) LAYER_MB="${2:?}"; shift ;;
    -h|--help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done

source "$ROOT/bench/lib/engines.sh"
engines_begin "$BERTH_ONLY" docker-registry

# ---- the registry: loopback, a free port, storage in the bench's temp dir ------------------------------------------
REG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
REG="127.0.0.1:$REG_PORT"
mkdir -p "$BENCH_WORK/registry"
cat >"$BENCH_WORK/registry/config.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $BENCH_WORK/registry/data
http:
  addr: $REG
EOF
docker-registry serve "$BENCH_WORK/registry/config.yml" >"$BENCH_WORK/registry.log" 2>&1 &
REG_PID=$!
stop_registry() { alive "$REG_PID" && kill "$REG_PID" 2>/dev/null; wait "$REG_PID" 2>/dev/null || true; }
trap 'rc=$?; stop_registry; (exit $rc); engines_cleanup' EXIT
for _ in $(seq 100); do curl -sf "http://$REG/v2/" >/dev/null && break; sleep 0.1; done
curl -sf "http://$REG/v2/" >/dev/null || { echo "docker-registry did not start" >&2; cat "$BENCH_WORK/registry.log" >&2; exit 1; }

# ---- the images, pushed straight through the distribution API: LAYERS layers of one random file each (gzip level 1,
# which cannot shrink random bytes); bpull/cold and bpull/warm share every layer, their configs differ. --------------
python3 - "$REG" "$LAYERS" "$LAYER_MB" "$BENCH_WORK/layers" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile, urllib.request
reg, layers, mb, work = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
os.makedirs(work, exist_ok=True)

def request(method, url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(req) as r:
        return r.headers

def upload(repo, blob):
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    location = request("POST", f"http://{reg}/v2/{repo}/blobs/uploads/")["Location"]
    if location.startswith("/"): location = f"http://{reg}{location}"
    sep = "&" if "?" in location else "?"
    request("PUT", f"{location}{sep}digest={digest}", blob, {"Content-Type": "application/octet-stream"})
    return digest

descriptors, diff_ids = [], []
for i in range(layers):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo(f"layer{i}/data.bin"); info.size = mb * 1000 * 1000; info.mode = 0o644
        tar.addfile(info, io.BytesIO(os.urandom(info.size)))
    diff_ids.append("sha256:" + hashlib.sha256(raw.getvalue()).hexdigest())
    blob = gzip.compress(raw.getvalue(), compresslevel=1, mtime=0)
    for repo in ("bpull/cold", "bpull/warm"):
        digest = upload(repo, blob)
    descriptors.append({"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": len(blob), "digest": digest})
total = sum(d["size"] for d in descriptors)
for repo in ("bpull/cold", "bpull/warm"):
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Cmd": ["/bin/true"], "Labels": {"bench": repo}},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                           "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(config),
                                      "digest": upload(repo, config)},
                           "layers": descriptors}).encode()
    request("PUT", f"http://{reg}/v2/{repo}/manifests/v1", manifest,
            {"Content-Type": "application/vnd.docker.distribution.manifest.v2+json"})
print(f"image: {layers} layers, {total / 1e6:.1f} MB compressed, pushed to {reg}/bpull/cold:v1 and bpull/warm:v1")
PY

# measure ENGINE_CLI PID: prints "cold_s warm_s peak_growth_kb"
measure() {
  local cli=$1 pid=$2 best_cold=999999 best_warm=999999 t0 t1 rss0 hwm growth=0 r
  for r in $(seq 1 "$RUNS"); do
    "$cli" rmi -f "$REG/bpull/cold:v1" "$REG/bpull/warm:v1" >/dev/null 2>&1 || true
    sync
    rss0=$(rss_kb "$pid")
    echo 5 >"/proc/$pid/clear_refs"   # VmHWM := VmRSS, so VmHWM after the pull is the pull's peak
    t0=$(now_s); "$cli" pull -q "$REG/bpull/cold:v1" >/dev/null; t1=$(now_s)
    hwm=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
    best_cold=$(python3 -c "print(min($best_cold, $t1 - $t0))")
    growth=$(( hwm - rss0 > growth ? hwm - rss0 : growth ))
    t0=$(now_s); "$cli" pull -q "$REG/bpull/warm:v1" >/dev/null; t1=$(now_s)
    best_warm=$(python3 -c "print(min($best_warm, $t1 - $t0))")
    [ "$("$cli" image inspect -f '{{len .RootFS.Layers}}' "$REG/bpull/warm:v1")" = "$LAYERS" ] \
      || { echo "pulled image has the wrong layers" >&2; exit 1; }
  done
  "$cli" rmi -f "$REG/bpull/cold:v1" "$REG/bpull/warm:v1" >/dev/null 2>&1 || true
  printf '%.2f %.2f %s\n' "$best_cold" "$best_warm" "$growth"
}

berth_start
read -r B_COLD B_WARM B_RSS < <(measure bk "$BERTH_PID")
berth_stop
D_COLD="-" D_WARM="-" D_RSS="-"
if [ "$BERTH_ONLY" = 0 ] && dockerd_start; then
  read -r D_COLD D_WARM D_RSS < <(measure dkd "$DOCKERD_PID")
  dockerd_stop
fi

printf '\ndocker pull from a loopback registry, %s layers of %s MB (random), best of %s runs\n' "$LAYERS" "$LAYER_MB" "$RUNS"
printf '%-34s %12s %14s\n' "" "Berth" "dockerd 20.10"
printf '%-34s %12s %14s\n' "cold pull (s)" "$B_COLD" "$D_COLD"
printf '%-34s %12s %14s\n' "warm pull, layers present (s)" "$B_WARM" "$D_WARM"
printf '%-34s %12s %14s\n' "engine peak RSS growth (KiB)" "$B_RSS" "$D_RSS"
if [ "$D_COLD" != "-" ]; then
  python3 -c "print(f'cold pull ratio Berth/dockerd: {$B_COLD / $D_COLD:.2f} (target <= 0.5)')"
fi
