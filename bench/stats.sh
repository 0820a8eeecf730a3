#!/usr/bin/env bash
# Engine CPU while `docker stats` streams for 20 containers: Berth next to Debian's dockerd 20.10, same docker CLI.
#
#   bash bench/stats.sh [--berth-only] [--containers N] [--seconds S] [--warmup W]
#
# Per engine: N busybox containers sleeping, then `docker stats` (streaming, all of them): W seconds of warm-up
# (the first rounds open every stream and, for Berth, pay the JIT), then the engine's CPU time over the next S
# seconds from /proc/PID/stat (utime+stime, children not included), and over the same window with the streams
# closed (idle), so the figure that is the streams' own is the difference. For dockerd the
# figure is given for dockerd alone and with containerd and its shims, which serve dockerd's stats. Target: Berth
# at most half of dockerd's CPU. Everything it creates is removed on exit (bench/lib/engines.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BERTH_ONLY=0 COUNT=20 SECONDS_WINDOW=20 WARMUP=20
while [ $# -gt 0 ]; do
  case "$1" in
    --berth-only) BERTH_ONLY=1 ;;
    --containers) COUNT="${2:?}"; shift ;;
    --seconds) SECONDS_WINDOW="${2:?}"; shift ;;
    --warmup) WARMUP="${2:?}"; shift ;;
    -h|--help) sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done

source "$ROOT/bench/lib/engines.sh"
engines_begin "$BERTH_ONLY"
IMAGE="bstats:$BENCH_TAG"
TICKS=$(getconf CLK_TCK)

# A rootfs of busybox alone: sleep is all the containers do.
mkdir -p "$BENCH_WORK/rootfs/bin"
cp /bin/busybox "$BENCH_WORK/rootfs/bin/busybox"
ln -s busybox "$BENCH_WORK/rootfs/bin/sleep"
ln -s busybox "$BENCH_WORK/rootfs/bin/sh"
tar -C "$BENCH_WORK/rootfs" -cf "$BENCH_WORK/rootfs.tar" .

cpu_ticks() {   # utime + stime of each pid given, summed (fields 14 and 15 of /proc/PID/stat, after the comm)
  local total=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    total=$((total + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$total"
}

# Percent of one core used by each group of pids over SECONDS_WINDOW. $@ = the pid lists, one word per group.
window() {
  local pids=("$@") before=() after=() i
  for i in "${!pids[@]}"; do before+=("$(cpu_ticks ${pids[$i]})"); done
  local t0; t0=$(now_s)
  sleep "$SECONDS_WINDOW"
  for i in "${!pids[@]}"; do after+=("$(cpu_ticks ${pids[$i]})"); done
  local t1; t1=$(now_s)
  for i in "${!pids[@]}"; do
    python3 -c "print(round(($((after[i] - before[i]))/$TICKS)/($t1-$t0)*100, 2))"
  done
}

# $1 = CLI function (bk/dkd); then the groups to measure, each "label:command printing its pids" (run once the
# containers are up: containerd's shims exist only then). Prints "label streaming idle" per group.
measure() {
  local cli="$1"; shift
  local i
  "$cli" import "$BENCH_WORK/rootfs.tar" "$IMAGE" >/dev/null
  for i in $(seq 1 "$COUNT"); do
    "$cli" run -d --name "bstats-$BENCH_TAG-$i" "$IMAGE" sleep 3600 >/dev/null
  done
  # The docker CLI itself in the background (exec'd, not in a subshell), so that killing it closes the streams.
  local host=$BERTH_SOCK; [ "$cli" = dkd ] && host=$DOCKERD_SOCK
  ( DOCKER_HOST="unix://$host" exec "$DOCKER_CLI" stats >/dev/null 2>&1 ) &
  local stats_pid=$!
  sleep "$WARMUP"
  local groups=("$@") pids=() g
  for g in "${groups[@]}"; do pids+=("$(eval "${g#*:}" | tr '\n' ' ')"); done
  local streaming idle
  mapfile -t streaming < <(window "${pids[@]}")
  kill "$stats_pid" 2>/dev/null || true
  wait "$stats_pid" 2>/dev/null || true
  sleep 2   # the streams close
  mapfile -t idle < <(window "${pids[@]}")
  for i in "${!groups[@]}"; do echo "${groups[$i]%%:*} ${streaming[$i]} ${idle[$i]}"; done
}

berth_start
BERTH_RESULT=$(measure bk "berth:echo $BERTH_PID")
berth_stop
echo "$BERTH_RESULT"
DOCKERD_RESULT=""
if [ "$BERTH_ONLY" = 0 ]; then
  dockerd_start
  DOCKERD_RESULT=$(measure dkd "dockerd:echo $DOCKERD_PID" \
    "dockerd+containerd+shims:echo $DOCKERD_PID; pgrep -x containerd; pgrep -f containerd-shim")
  dockerd_stop
fi
printf '\nEngine CPU while `docker stats` streams %s containers (%s s window after %s s warm-up, %% of one core)\n' \
  "$COUNT" "$SECONDS_WINDOW" "$WARMUP"
printf '%-30s %10s %10s\n' "" streaming idle
{ echo "$BERTH_RESULT"; [ -n "$DOCKERD_RESULT" ] && echo "$DOCKERD_RESULT"; } | while read -r label busy quiet; do
  case "$label" in
    berth) label=Berth ;; dockerd) label="dockerd 20.10" ;; dockerd+containerd+shims) label="dockerd + containerd + shims" ;;
  esac
  printf '%-30s %10s %10s\n' "$label" "$busy" "$quiet"
done
exit 0
