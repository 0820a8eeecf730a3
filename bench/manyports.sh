#!/usr/bin/env bash
# One container publishing many ports (`docker run -d -p A-B:80-...`): how long `run` and `rm -f` take, how much the
# engine grows, how many descriptors it holds. Berth with 10,000 ports; dockerd 20.10 with 1,000 by default, since it
# starts one docker-proxy process per port and family (10,000 ports would be 20,000 processes on this machine).
#
#   bash bench/manyports.sh [--berth-only] [--ports N] [--dockerd-ports M] [--runs R]
#
# Each run starts a fresh daemon (RSS growth is measured from an engine that has published and removed one port).
# Prints the median of R runs per engine (dockerd: one run unless --runs is given), and per published port.
# BERTH_CMD=/path/to/other/berth compares another build in the same conditions (see bench/lib/engines.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BERTH_ONLY=0 PORTS=10000 DOCKERD_PORTS=1000 RUNS=3 DOCKERD_RUNS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --berth-only) BERTH_ONLY=1 ;;
    --ports) PORTS="${2:?}"; shift ;;
    --dockerd-ports) DOCKERD_PORTS="${2:?}"; shift ;;
    --runs) RUNS="${2:?}"; DOCKERD_RUNS="$RUNS"; shift ;;
    -h|--help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done
source "$ROOT/bench/lib/engines.sh"
engines_begin "$BERTH_ONLY"
bash "$ROOT/scripts/make-webapp-rootfs.sh" "$BENCH_WORK/webapp.tar"

engine_kb() {   # $1 = daemon pid: its RSS plus its docker-proxy children's (dockerd's per-port cost lives there)
  local total p
  total=$(rss_kb "$1")
  for p in $(pgrep -P "$1" -x docker-proxy || true); do total=$(( total + $(rss_kb "$p" 2>/dev/null || echo 0) )); done
  echo "$total"
}
sockets() { find "/proc/$1/fd" -lname 'socket:*' 2>/dev/null | wc -l; }
processes() { echo $(( 1 + $(pgrep -P "$1" | wc -l) )); }
elapsed() { python3 -c "print(round($(now_s) - $1, 3))"; }

declare -A SAMPLES
add() { SAMPLES[$1]="${SAMPLES[$1]:-} $2"; }

measure() {   # $1 = engine name, $2 = CLI function, $3 = daemon pid, $4 = port count
  local name=$1 cli=$2 pid=$3 count=$4 base t0 kb0 fd0 warm
  "$cli" import -c 'CMD ["/bin/httpd","-f","-p","80","-h","/www"]' "$BENCH_WORK/webapp.tar" webapp:noexpose >/dev/null
  warm=$(free_port_run 1)   # one publication first: the code paths are loaded before the baseline
  "$cli" run -d --name "many-warm-$BENCH_TAG" -p "$warm:80" webapp:noexpose >/dev/null
  wait_answer "$warm"
  "$cli" rm -f "many-warm-$BENCH_TAG" >/dev/null
  sleep 2
  kb0=$(engine_kb "$pid") fd0=$(sockets "$pid")
  base=$(free_port_run "$count")
  t0=$(now_s)
  "$cli" run -d --name "many-$BENCH_TAG" -p "$base-$((base + count - 1)):80-$((80 + count - 1))" webapp:noexpose >/dev/null
  add "$name.run_s" "$(elapsed "$t0")"
  wait_answer "$base"
  add "$name.answer_s" "$(elapsed "$t0")"
  sleep 2
  add "$name.rss_growth_mb" "$(( ($(engine_kb "$pid") - kb0) / 1024 ))"
  add "$name.sockets" "$(( $(sockets "$pid") - fd0 ))"
  add "$name.processes" "$(processes "$pid")"
  t0=$(now_s); "$cli" inspect "many-$BENCH_TAG" >/dev/null; add "$name.inspect_s" "$(elapsed "$t0")"
  t0=$(now_s); "$cli" ps >/dev/null; add "$name.ps_s" "$(elapsed "$t0")"
  t0=$(now_s); "$cli" rm -f "many-$BENCH_TAG" >/dev/null; add "$name.rm_s" "$(elapsed "$t0")"
  sleep 2
  add "$name.after_rm_mb" "$(( ($(engine_kb "$pid") - kb0) / 1024 ))"
  echo "$name run $(( $(wc -w <<<"${SAMPLES[$name.run_s]}") )): run ${SAMPLES[$name.run_s]##* } s," \
    "rm ${SAMPLES[$name.rm_s]##* } s, +${SAMPLES[$name.rss_growth_mb]##* } MB"
}

for run in $(seq "$RUNS"); do berth_start; measure berth bk "$BERTH_PID" "$PORTS"; berth_stop; done
if [ "$BERTH_ONLY" = 0 ] && dockerd_start; then
  for run in $(seq "$DOCKERD_RUNS"); do measure dockerd dkd "$DOCKERD_PID" "$DOCKERD_PORTS"; done
  dockerd_stop
else
  BERTH_ONLY=1
fi

echo
echo "one container publishing many ports, median of runs (load: $(cut -d' ' -f1-3 /proc/loadavg))"
engines=(berth); counts=("$PORTS"); [ "$BERTH_ONLY" = 1 ] || { engines+=(dockerd); counts+=("$DOCKERD_PORTS"); }
printf '%-26s' figure; for i in "${!engines[@]}"; do printf '%20s' "${engines[$i]} (${counts[$i]})"; done; echo
for fig in run_s answer_s rm_s rss_growth_mb after_rm_mb sockets processes inspect_s ps_s; do
  printf '%-26s' "$fig"
  for e in "${engines[@]}"; do
    printf '%20s' "$(python3 -c 'import sys,statistics; print(statistics.median(float(x) for x in sys.argv[1:]))' ${SAMPLES[$e.$fig]})"
  done
  echo
done
printf '%-26s' "KB per port (RSS growth)"
for i in "${!engines[@]}"; do
  printf '%20s' "$(python3 -c 'import sys,statistics; print(round(statistics.median(float(x) for x in sys.argv[2:]) * 1024 / int(sys.argv[1]), 1))' \
    "${counts[$i]}" ${SAMPLES[${engines[$i]}.rss_growth_mb]})"
done
echo
