#!/usr/bin/env bash
# `docker build` through the legacy builder (DOCKER_BUILDKIT=0), Berth next to Debian's dockerd 20.10 in one run, both
# driven by the same docker CLI 28: a 5-step Dockerfile (WORKDIR, a COPY of 1,000 small files, a RUN, CMD) on the
# seeds' busybox web app image, built cold (--no-cache) and fully cached; best of N runs each. Then the round trip:
# the image Berth built and saved is loaded into dockerd and run, and dockerd's saved image into Berth.
#
#   bash bench/build.sh [--runs N] [--berth-only] [--files N]
#
# Targets (issue 15): cold at most half of dockerd's time; a cached rebuild under 0.3 s.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS=3 BERTH_ONLY=0 FILES=1000
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="${2:?}"; shift ;;
    --berth-only) BERTH_ONLY=1 ;;
    --files) FILES="${2:?}"; shift ;;
    -h|--help) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done

source "$ROOT/bench/lib/engines.sh"
engines_begin "$BERTH_ONLY"
export DOCKER_BUILDKIT=0

# ---- the context: FILES files of 100 bytes in 10 directories, and the Dockerfile -----------------------------------
CTX="$BENCH_WORK/ctx"
mkdir -p "$CTX"
python3 - "$CTX/files" "$FILES" <<'PY'
import os, sys
root, files = sys.argv[1], int(sys.argv[2])
for i in range(files):
    d = os.path.join(root, "d%d" % (i % 10))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d.txt" % i), "w") as f:
        f.write(("%05d " % i) * 16 + "\n")
PY
cat >"$CTX/Dockerfile" <<'DF'
FROM bbuild-base:latest
WORKDIR /app
COPY files/ /app/files/
RUN find /app/files -type f | wc -l > /app/count && cat /app/count
CMD ["cat", "/app/count"]
DF
bash "$ROOT/scripts/make-webapp-rootfs.sh" "$BENCH_WORK/webapp.tar" >/dev/null
echo "context: $FILES files, $(du -sh "$CTX" | cut -f1)"

best() { python3 -c "import sys; print('%.3f' % min(float(x) for x in sys.argv[1:]))" "$@"; }

# measure CLI: prints "cold_s cached_s"; leaves the image bbuild:cached
measure() {
  local cli=$1 r t0 t1 colds=() cacheds=()
  "$cli" import "$BENCH_WORK/webapp.tar" bbuild-base:latest >/dev/null
  for r in $(seq 1 "$RUNS"); do
    t0=$(now_s); "$cli" build -q --no-cache -t "bbuild:cold$r" "$CTX" >/dev/null 2>&1; t1=$(now_s)
    colds+=("$(python3 -c "print($t1 - $t0)")")
  done
  "$cli" build -q -t bbuild:cached "$CTX" >/dev/null 2>&1   # the legacy builder's DEPRECATED notice
  for r in $(seq 1 "$RUNS"); do
    t0=$(now_s); "$cli" build -q -t bbuild:cached "$CTX" >/dev/null 2>&1; t1=$(now_s)
    cacheds+=("$(python3 -c "print($t1 - $t0)")")
  done
  [ "$("$cli" run --rm bbuild:cached)" = "$FILES" ] || { echo "the built image does not count $FILES files" >&2; exit 1; }
  echo "$(best "${colds[@]}") $(best "${cacheds[@]}")"
}

berth_start
read -r B_COLD B_CACHED < <(measure bk)
bk save -o "$BENCH_WORK/berth-built.tar" bbuild:cached
berth_stop

D_COLD="-" D_CACHED="-" TO_DOCKERD="not run" TO_BERTH="not run"
if [ "$BERTH_ONLY" = 0 ] && dockerd_start; then
  read -r D_COLD D_CACHED < <(measure dkd)
  dkd tag bbuild:cached bbuild-dockerd:latest
  dkd save -o "$BENCH_WORK/dockerd-built.tar" bbuild-dockerd:latest
  dkd rmi bbuild:cached >/dev/null
  dkd load -i "$BENCH_WORK/berth-built.tar" >/dev/null
  TO_DOCKERD=$([ "$(dkd run --rm bbuild:cached)" = "$FILES" ] && echo ok || echo FAILED)
  dockerd_stop
  berth_start
  bk load -i "$BENCH_WORK/dockerd-built.tar" >/dev/null
  TO_BERTH=$([ "$(bk run --rm bbuild-dockerd:latest)" = "$FILES" ] && echo ok || echo FAILED)
  berth_stop
fi

printf '\ndocker build (legacy builder), 5 steps, COPY of %s files, best of %s runs\n' "$FILES" "$RUNS"
printf '%-28s %12s %14s\n' "" "Berth" "dockerd 20.10"
printf '%-28s %12s %14s\n' "cold, --no-cache (s)" "$B_COLD" "$D_COLD"
printf '%-28s %12s %14s\n' "fully cached (s)" "$B_CACHED" "$D_CACHED"
[ "$D_COLD" = "-" ] || printf '%-28s %12s\n' "cold ratio Berth/dockerd" "$(python3 -c "print('%.2f' % ($B_COLD / $D_COLD))")"
printf 'Berth save -> dockerd load -> run: %s\n' "$TO_DOCKERD"
printf 'dockerd save -> Berth load -> run: %s\n' "$TO_BERTH"
