#!/usr/bin/env bash
# Time from a container's exit to its restart under --restart always: Berth vs Debian's dockerd 20.10, side by side.
#
#   bash bench/restart.sh [--berth-only] [--runs N]
#
# Each sample is a fresh container (Docker's backoff doubles per restart and only resets after 10 s up, so reusing
# one container would measure the backoff): it appends a line to a bind-mounted file when it starts, waits for a
# file the bench creates, and exits 1. The figure is the time from creating that file to the next line appearing,
# i.e. exit -> engine notices -> backoff (100 ms in both) -> new start, as a user sees it. Median and min/max.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BERTH_ONLY=0 RUNS=7
while [ $# -gt 0 ]; do
  case "$1" in
    --berth-only) BERTH_ONLY=1 ;;
    --runs) RUNS="${2:?--runs needs a number}"; shift ;;
    -h|--help) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }

# shellcheck source=lib/engines.sh
source "$ROOT/bench/lib/engines.sh"
engines_begin "$BERTH_ONLY"

IMAGE=webapp:noexpose
bash "$ROOT/scripts/make-webapp-rootfs.sh" "$BENCH_WORK/webapp.tar"

# Prints one latency in ms. $1 = the docker CLI function (bk or dkd), $2 = sample number.
sample() {
  local cli=$1 n=$2 dir="$BENCH_WORK/out-$1-$2" name="rbench-$BENCH_TAG-$1-$2"
  mkdir -p "$dir"
  "$cli" run -d --name "$name" --restart always -v "$dir:/out" "$IMAGE" \
    sh -c 'echo up >> /out/starts; while [ ! -e /out/go ]; do sleep 0.005; done; rm /out/go; exit 1' >/dev/null
  python3 - "$dir" <<'PY'
import os, sys, time
d = sys.argv[1]
starts = os.path.join(d, "starts")
def count():
    try:
        with open(starts) as f: return sum(1 for _ in f)
    except FileNotFoundError: return 0
deadline = time.time() + 60
while count() < 1:
    if time.time() > deadline: sys.exit("the container never started")
    time.sleep(0.002)
time.sleep(0.3)  # let the first start settle (the engine's own bookkeeping after start)
t0 = time.time()
open(os.path.join(d, "go"), "w").close()
while count() < 2:
    if time.time() - t0 > 60: sys.exit("no restart within 60 s")
    time.sleep(0.001)
print(round((time.time() - t0) * 1000, 1))
PY
  "$cli" rm -f "$name" >/dev/null
}

measure() {   # $1 = bk or dkd; prints "median min max"
  local cli=$1 i values=()
  "$cli" import -c 'CMD ["/bin/httpd","-f","-p","80","-h","/www"]' "$BENCH_WORK/webapp.tar" "$IMAGE" >/dev/null
  for i in $(seq 1 "$RUNS"); do values+=("$(sample "$cli" "$i")"); done
  echo "  $cli samples (ms): ${values[*]}" >&2
  printf '%s\n' "${values[@]}" | sort -n | awk '{v[NR]=$1} END {printf "%s %s %s\n", v[int((NR+1)/2)], v[1], v[NR]}'
}

berth_start
read -r b_med b_min b_max < <(measure bk)
berth_stop || true
d_med="-" d_min="-" d_max="-"
if [ "$BERTH_ONLY" = 0 ]; then
  if dockerd_start; then
    read -r d_med d_min d_max < <(measure dkd)
    dockerd_stop || true
  else
    echo "dockerd could not start; Berth's figure only" >&2
  fi
fi

echo
echo "exit -> restart under --restart always, $RUNS samples each (ms)"
printf '%-22s %10s %10s %10s\n' "" median min max
printf '%-22s %10s %10s %10s\n' "Berth" "$b_med" "$b_min" "$b_max"
printf '%-22s %10s %10s %10s\n' "dockerd 20.10" "$d_med" "$d_min" "$d_max"
