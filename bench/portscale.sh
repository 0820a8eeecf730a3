#!/usr/bin/env bash
# New connections per second through one published port, with no other port published and then with N (10,000)
# other ports published by a second container: the cost of a packet must not grow with the number of publications
# (Berth: one nftables map lookup; dockerd 20.10: one iptables rule and one docker-proxy per port). dockerd gets M
# (1,000) ports: 10,000 would be 10,000 docker-proxy processes, gigabytes on this machine.
#
#   bash bench/portscale.sh [--berth-only] [--ports N] [--dockerd-ports M] [--seconds S] [--runs R]
#
# Prints per engine the median rate without and with the ports and their ratio (target for Berth: >= 0.95). The
# rates alternate (alone, with, alone, ...: the second container is stopped and started between them), so drift on
# a shared machine falls on both alike.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BERTH_ONLY=0 PORTS=10000 DOCKERD_PORTS=1000 SECONDS_EACH=5 RUNS=5
while [ $# -gt 0 ]; do
  case "$1" in
    --berth-only) BERTH_ONLY=1 ;;
    --ports) PORTS="${2:?}"; shift ;;
    --dockerd-ports) DOCKERD_PORTS="${2:?}"; shift ;;
    --seconds) SECONDS_EACH="${2:?}"; shift ;;
    --runs) RUNS="${2:?}"; shift ;;
    -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done
source "$ROOT/bench/lib/engines.sh"
engines_begin "$BERTH_ONLY"
bash "$ROOT/scripts/make-webapp-rootfs.sh" "$BENCH_WORK/webapp.tar"

median() { python3 -c 'import sys,statistics; print(round(statistics.median(float(x) for x in sys.argv[1:] if x != "nan")))' "$@"; }

rate() { python3 "$ROOT/bench/connrate.py" 127.0.0.1 "$1" "$SECONDS_EACH" 2 || echo nan; }

measure() {   # $1 = engine name, $2 = CLI function, $3 = how many other ports
  local name=$1 cli=$2 count=$3 port base none=() many=() took=() t0 i
  "$cli" import -c 'CMD ["/bin/httpd","-f","-p","80","-h","/www"]' "$BENCH_WORK/webapp.tar" webapp:noexpose >/dev/null
  base=$(free_port_run "$count")   # the long run first: a single port taken at random would likely split it
  port=$(free_port_run 1)
  while [ "$port" -ge "$base" ] && [ "$port" -lt $((base + count)) ]; do port=$(free_port_run 1); done
  "$cli" run -d --name "scale-one-$BENCH_TAG" -p "$port:81" webapp:noexpose >/dev/null
  start_acceptor "$cli" "scale-one-$BENCH_TAG" 81
  wait_connect 127.0.0.1 "$port"
  "$cli" create --name "scale-many-$BENCH_TAG" -p "$base-$((base + count - 1)):80-$((80 + count - 1))" webapp:noexpose >/dev/null
  for i in $(seq "$RUNS"); do
    none+=("$(rate "$port")")
    t0=$(now_s)
    "$cli" start "scale-many-$BENCH_TAG" >/dev/null
    wait_answer "$base"
    took+=("$(python3 -c "print($(now_s) - $t0)")")
    many+=("$(rate "$port")")
    "$cli" stop -t 0 "scale-many-$BENCH_TAG" >/dev/null
    echo "  $name run $i: alone ${none[-1]}/s, with $count ${many[-1]}/s"
  done
  local m0 m1; m0=$(median "${none[@]}") m1=$(median "${many[@]}")
  RESULTS+=("$(printf '%-8s %8s %12s %18s %8s   (starting the %d ports took %.1f s)' "$name" "$count" "$m0" "$m1" \
    "$(python3 -c "print(f'{$m1/$m0:.3f}')")" "$count" "$(python3 -c 'import sys,statistics; print(statistics.median(float(x) for x in sys.argv[1:]))' "${took[@]}")")")
  stop_acceptors
  "$cli" rm -f "scale-one-$BENCH_TAG" "scale-many-$BENCH_TAG" >/dev/null
}

RESULTS=()
berth_start
measure berth bk "$PORTS"
berth_stop
if [ "$BERTH_ONLY" = 0 ] && dockerd_start; then
  measure dockerd dkd "$DOCKERD_PORTS"
  dockerd_stop
fi
echo
echo "new connections/s from loopback through one published port, median of $RUNS x ${SECONDS_EACH}s (load: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-8s %8s %12s %18s %8s\n' engine others alone "others published" ratio
printf '%s\n' "${RESULTS[@]}"
