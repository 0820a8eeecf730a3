#!/usr/bin/env bash
# Engine CPU for a container writing its log at full speed: `yes LINE | head -c N MiB` (100-byte lines) with the
# json-file driver (max-size=20m, max-file=5, the same options for both), Berth next to Debian's dockerd 20.10 in one
# run, both driven by the same docker CLI 28. The daemon's CPU (utime+stime from /proc) is taken from before `run`
# until `docker logs --tail 1` shows the last line (for Berth: the spool is drained). Also prints the wall time.
#
#   bash bench/logs.sh [--mb N] [--berth-only]
#
# Target (issue 12): Berth's drain costs no more than dockerd's own log copying.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MB=100 BERTH_ONLY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --mb) MB="${2:?}"; shift ;;
    --berth-only) BERTH_ONLY=1 ;;
    -h|--help) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done

source "$ROOT/bench/lib/engines.sh"
engines_begin "$BERTH_ONLY"
bash "$ROOT/scripts/make-webapp-rootfs.sh" "$BENCH_WORK/webapp.tar" >/dev/null

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# measure ENGINE_CLI PID: prints "cpu_seconds wall_seconds"
measure() {
  local cli=$1 pid=$2 name="blog-$BENCH_TAG" c0 c1 t0 t1 line
  line=$(printf '%099d' 0)
  "$cli" import -c 'CMD ["/bin/sleep","3600"]' "$BENCH_WORK/webapp.tar" blog:latest >/dev/null
  "$cli" run --rm blog:latest true >/dev/null # warm: the first container's setup is not part of the figure
  c0=$(cpu_ticks "$pid"); t0=$(now_s)
  "$cli" run -d --name "$name" --log-driver json-file --log-opt max-size=20m --log-opt max-file=5 blog:latest \
    sh -c "yes $line | head -c $((MB * 1024 * 1024)); echo the-end" >/dev/null
  "$cli" wait "$name" >/dev/null
  until [ "$("$cli" logs --tail 1 "$name" 2>/dev/null)" = "the-end" ]; do sleep 0.05; done
  c1=$(cpu_ticks "$pid"); t1=$(now_s)
  "$cli" rm -f "$name" >/dev/null
  python3 -c "print(($c1 - $c0) / $(getconf CLK_TCK), $t1 - $t0)"
}

berth_start
read -r B_CPU B_WALL < <(measure bk "$BERTH_PID")
berth_stop
D_CPU="-" D_WALL="-"
if [ "$BERTH_ONLY" = 0 ] && dockerd_start; then
  read -r D_CPU D_WALL < <(measure dkd "$DOCKERD_PID")
  dockerd_stop
fi

printf '\n%s MiB of 100-byte lines through json-file (max-size=20m, max-file=5); load %s\n' "$MB" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-30s %12s %14s\n' "" "Berth" "dockerd 20.10"
printf '%-30s %12s %14s\n' "engine CPU (s)" "$B_CPU" "$D_CPU"
printf '%-30s %12s %14s\n' "run to last line logged (s)" "$B_WALL" "$D_WALL"
