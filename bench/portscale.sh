#!/usr/bin/env bash
# New connections per second through one published port, with no other port published and then with N (10,000)
# other ports published by a second container: the cost of a packet must not grow with the number of publications
# (Berth: one nftables map lookup; dockerd 20.10: one iptables rule and one docker-proxy per port).
#
#   bash bench/portscale.sh [--berth-only] [--ports N] [--seconds S] [--runs R]
#
# Prints per engine the median rate without and with the N ports and their ratio (target for Berth: >= 0.95).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BERTH_ONLY=0 PORTS=10000 SECONDS_EACH=5 RUNS=5
while [ $# -gt 0 ]; do
  case "$1" in
    --berth-only) BERTH_ONLY=1 ;;
    --ports) PORTS="${2:?}"; shift ;;
    --seconds) SECONDS_EACH="${2:?}"; shift ;;
    --runs) RUNS="${2:?}"; shift ;;
    -h|--help) sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done
source "$ROOT/bench/lib/engines.sh"
engines_begin "$BERTH_ONLY"
bash "$ROOT/scripts/make-webapp-rootfs.sh" "$BENCH_WORK/webapp.tar"

median() { python3 -c 'import sys,statistics; print(round(statistics.median(float(x) for x in sys.argv[1:])))' "$@"; }

rates() {   # $1 = port: RUNS measurements of SECONDS_EACH
  local i out=()
  for i in $(seq "$RUNS"); do out+=("$(python3 "$ROOT/bench/connrate.py" 127.0.0.1 "$1" "$SECONDS_EACH" 2)"); done
  median "${out[@]}"
}

measure() {   # $1 = engine name, $2 = CLI function
  local name=$1 cli=$2 port base none many t0 t1
  "$cli" import -c 'CMD ["/bin/httpd","-f","-p","80","-h","/www"]' "$BENCH_WORK/webapp.tar" webapp:noexpose >/dev/null
  port=$(free_port_run 1)
  "$cli" run -d --name "scale-one-$BENCH_TAG" -p "$port:80" webapp:noexpose >/dev/null
  wait_answer "$port"
  none=$(rates "$port")
  base=$(free_port_run "$PORTS")
  t0=$(now_s)
  "$cli" run -d --name "scale-many-$BENCH_TAG" -p "$base-$((base + PORTS - 1)):80-$((80 + PORTS - 1))" webapp:noexpose >/dev/null
  wait_answer "$base"
  t1=$(now_s)
  many=$(rates "$port")
  printf '%-8s %12s %18s %8s   (publishing %d ports took %.1f s)\n' "$name" "$none" "$many" \
    "$(python3 -c "print(f'{$many/$none:.3f}')")" "$PORTS" "$(python3 -c "print($t1-$t0)")"
  "$cli" rm -f "scale-one-$BENCH_TAG" "scale-many-$BENCH_TAG" >/dev/null
}

echo "new connections/s from loopback through one published port; median of $RUNS x ${SECONDS_EACH}s"
printf '%-8s %12s %18s %8s\n' engine "alone" "+$PORTS published" ratio
berth_start
measure berth bk
berth_stop
if [ "$BERTH_ONLY" = 0 ]; then
  if dockerd_start; then measure dockerd dkd; dockerd_stop; fi
fi
