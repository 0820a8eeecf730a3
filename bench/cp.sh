#!/usr/bin/env bash
# `docker cp` of a 100 MB directory of 10,000 files into and out of a running container, Berth next to Debian's
# dockerd 20.10 in one run, both driven by the same docker CLI 28. Prints the seconds of each copy (best of N runs)
# and the engine's RSS growth over the run.
#
#   bash bench/cp.sh [--runs N] [--berth-only] [--files N] [--size-kb K]
#
# Targets (issue 16): Berth at most half of dockerd's time; Berth's memory growth under 32 MB (archives streamed).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS=3 BERTH_ONLY=0 FILES=10000 SIZE_KB=10
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="${2:?}"; shift ;;
    --berth-only) BERTH_ONLY=1 ;;
    --files) FILES="${2:?}"; shift ;;
    --size-kb) SIZE_KB="${2:?}"; shift ;;
    -h|--help) sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done

source "$ROOT/bench/lib/engines.sh"
engines_begin "$BERTH_ONLY"

# ---- the data: FILES files of SIZE_KB KiB in 100 directories, random content (nothing compresses or dedups) ------
SRC="$BENCH_WORK/src/tree"
python3 - "$SRC" "$FILES" "$SIZE_KB" <<'PY'
import os, sys
root, files, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) * 1024
for i in range(files):
    d = os.path.join(root, "d%02d" % (i % 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d" % i), "wb") as f:
        f.write(os.urandom(size))
PY
echo "data: $(du -sh "$SRC" | cut -f1) in $FILES files"
bash "$ROOT/scripts/make-webapp-rootfs.sh" "$BENCH_WORK/webapp.tar" >/dev/null

# measure ENGINE_CLI PID: prints "in_s out_s rss_growth_kb"
measure() {
  local cli=$1 pid=$2 name="bcp-$BENCH_TAG" best_in=999999 best_out=999999 t0 t1 rss0 rss_max=0 r
  "$cli" import -c 'CMD ["/bin/sleep","3600"]' "$BENCH_WORK/webapp.tar" bcp:latest >/dev/null
  "$cli" run -d --name "$name" bcp:latest >/dev/null
  rss0=$(rss_kb "$pid")
  for r in $(seq 1 "$RUNS"); do
    "$cli" exec "$name" rm -rf /tmp/tree >/dev/null
    rm -rf "$BENCH_WORK/out"; mkdir -p "$BENCH_WORK/out"
    t0=$(now_s); "$cli" cp "$SRC" "$name:/tmp/" 2>/dev/null; t1=$(now_s)
    best_in=$(python3 -c "print(min($best_in, $t1 - $t0))")
    rss_max=$(( $(rss_kb "$pid") > rss_max ? $(rss_kb "$pid") : rss_max ))
    t0=$(now_s); "$cli" cp "$name:/tmp/tree" "$BENCH_WORK/out/" 2>/dev/null; t1=$(now_s)
    best_out=$(python3 -c "print(min($best_out, $t1 - $t0))")
    rss_max=$(( $(rss_kb "$pid") > rss_max ? $(rss_kb "$pid") : rss_max ))
    [ "$(find "$BENCH_WORK/out/tree" -type f | wc -l)" = "$FILES" ] || { echo "copy out incomplete" >&2; exit 1; }
  done
  "$cli" rm -f "$name" >/dev/null
  echo "$best_in $best_out $(( rss_max - rss0 ))"
}

berth_start
read -r B_IN B_OUT B_RSS < <(measure bk "$BERTH_PID")
berth_stop
D_IN="-" D_OUT="-" D_RSS="-"
if [ "$BERTH_ONLY" = 0 ] && dockerd_start; then
  read -r D_IN D_OUT D_RSS < <(measure dkd "$DOCKERD_PID")
  dockerd_stop
fi

printf '\ndocker cp, %s files of %s KiB, best of %s runs\n' "$FILES" "$SIZE_KB" "$RUNS"
printf '%-28s %12s %12s\n' "" "Berth" "dockerd 20.10"
seconds() { if [ "$1" = - ]; then echo -; else printf '%.2f' "$1"; fi; }
printf '%-28s %12s %12s\n' "into the container (s)" "$(seconds "$B_IN")" "$(seconds "$D_IN")"
printf '%-28s %12s %12s\n' "out of the container (s)" "$(seconds "$B_OUT")" "$(seconds "$D_OUT")"
printf '%-28s %12s %12s\n' "engine RSS growth (KiB)" "$B_RSS" "$D_RSS"
