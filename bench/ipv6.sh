#!/usr/bin/env bash
# Published ports over IPv6 next to IPv4 on Berth, from a neighbour host (a namespace at 192.168.33.3 and fd00:33::3
# on a veth to the host's 192.168.33.2 and fd00:33::2): `docker run -d -p` until the port answers, a 1000-port range
# (run until its first port answers, then `rm -f`), iperf3 through a published port. Berth runs with --ipv6
# --fixed-cidr-v6, so default-bridge containers are dual-stack and both families go through the kernel. v4 and v6
# runs alternate, and the medians are printed side by side with their ratio (target: v6 within 5% of v4).
#
#   bash bench/ipv6.sh [--runs N] [--iperf-secs S]
#
# dockerd 20.10's column (its v6 path is docker-proxy) is not measured here yet: see bench/run.sh for v4.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS=5 IPERF_SECS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="${2:?}"; shift ;;
    --iperf-secs) IPERF_SECS="${2:?}"; shift ;;
    -h|--help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done
source "$ROOT/bench/lib/engines.sh"
NS="bbench6-nb-$BENCH_TAG" VETH_HOST="bb6h$BENCH_TAG" VETH_NS="bb6n$BENCH_TAG" NS_CREATED=0
HOST4=192.168.33.2 HOST6=fd00:33::2
cleanup() {
  engines_cleanup
  if [ "$NS_CREATED" = 1 ]; then ip netns del "$NS" 2>/dev/null || true; ip link del "$VETH_HOST" 2>/dev/null || true; fi
}
engines_begin 1 iperf3
trap cleanup EXIT   # after engines_begin, which sets its own: INT and TERM exit through it
bash "$ROOT/scripts/make-webapp-rootfs.sh" "$BENCH_WORK/webapp.tar"
dir="$BENCH_WORK/iperf-rootfs"; mkdir -p "$dir"; tar -C "$dir" -xf "$BENCH_WORK/webapp.tar"
for f in /usr/bin/iperf3 $(ldd /usr/bin/iperf3 | grep -o '/[^ ]*'); do mkdir -p "$dir$(dirname "$f")"; cp -L "$f" "$dir$f"; done
tar -C "$dir" -cf "$BENCH_WORK/iperf.tar" .

# The neighbour's addresses are one per machine: taken under the tests' lock.
exec 9>/run/berth-test-neighbour.lock
flock -w 600 9 || { echo "the neighbour lock stayed taken" >&2; exit 1; }
ip netns add "$NS"; NS_CREATED=1
ip link add "$VETH_HOST" type veth peer name "$VETH_NS" netns "$NS"
ip addr add "$HOST4/24" dev "$VETH_HOST"; ip addr add "$HOST6/64" dev "$VETH_HOST" nodad
ip link set "$VETH_HOST" up
ip -n "$NS" addr add 192.168.33.3/24 dev "$VETH_NS"; ip -n "$NS" addr add fd00:33::3/64 dev "$VETH_NS" nodad
ip -n "$NS" link set "$VETH_NS" up; ip -n "$NS" link set lo up

V6_SUBNET="fd00:b6:$(printf '%x' $((RANDOM % 65536)))::/64"
berth_start --ipv6 --fixed-cidr-v6 "$V6_SUBNET"
bk import -c 'CMD ["/bin/httpd","-f","-p","80","-h","/www"]' "$BENCH_WORK/webapp.tar" bench6:web >/dev/null
bk import -c 'CMD ["/usr/bin/iperf3","-s"]' "$BENCH_WORK/iperf.tar" bench6:iperf >/dev/null

url() { if [ "$1" = v6 ]; then echo "http://[$HOST6]:$2/"; else echo "http://$HOST4:$2/"; fi; }
answer_s() {   # $1 = family, $2 = port, $3 = start time: seconds until the neighbour gets an answer (60 s at most)
  local deadline=$(( SECONDS + 60 ))
  until ip netns exec "$NS" curl -g -s -m 1 --noproxy '*' "$(url "$1" "$2")" 2>/dev/null | grep -q Hostname; do
    [ $SECONDS -lt $deadline ] || { echo "no answer on $1 port $2" >&2; echo nan; return; }
    sleep 0.01
  done
  python3 -c "import time;print(round(time.time()-$3,3))"
}
declare -A SAMPLES
add() { SAMPLES[$1]="${SAMPLES[$1]:-} $2"; }
for run in $(seq 1 "$RUNS"); do
  for fam in v4 v6; do   # alternated, so drift on a shared machine hits both alike
    port=$(free_port_run 1) name="bb6-$BENCH_TAG-$run-$fam"
    t0=$(now_s); bk run -d --name "$name" -p "$port:80" bench6:web >/dev/null
    add "$fam.run_answer_s" "$(answer_s "$fam" "$port" "$t0")"; bk rm -f "$name" >/dev/null
    first=$(free_port_run 1000)
    t0=$(now_s); bk run -d --name "$name-r" -p "$first-$((first + 999)):80-1079" bench6:web >/dev/null
    add "$fam.range_answer_s" "$(answer_s "$fam" "$first" "$t0")"
    t0=$(now_s); bk rm -f "$name-r" >/dev/null; add "$fam.range_rm_s" "$(python3 -c "import time;print(round(time.time()-$t0,3))")"
  done
  echo "round $run: ${SAMPLES[v4.run_answer_s]##* } / ${SAMPLES[v6.run_answer_s]##* } s"
done
iport=$(free_port_run 1)
bk run -d --name "bb6-$BENCH_TAG-iperf" -p "$iport:5201" bench6:iperf >/dev/null
for _ in $(seq 100); do   # iperf3 says so once it listens (its output may be held in a buffer: 10 s at most)
  bk logs "bb6-$BENCH_TAG-iperf" 2>&1 | grep -q "Server listening" && break; sleep 0.1
done
for run in $(seq 1 "$RUNS"); do
  for fam in v4 v6; do
    host=$HOST4; [ "$fam" = v6 ] && host=$HOST6
    gbps=$(ip netns exec "$NS" iperf3 -c "$host" -p "$iport" -t "$IPERF_SECS" -J --connect-timeout 3000 2>/dev/null \
      | python3 -c "import json,sys;print(round(json.load(sys.stdin)['end']['sum_received']['bits_per_second']/1e9,2))" || echo nan)
    add "$fam.iperf_gbps" "$gbps"
  done
done
bk rm -f "bb6-$BENCH_TAG-iperf" >/dev/null

echo
echo "Berth, published port from the neighbour host, median of $RUNS (load: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-18s %10s %10s %8s\n' figure IPv4 IPv6 v6/v4
for fig in run_answer_s range_answer_s range_rm_s iperf_gbps; do
  python3 - "$fig" "${SAMPLES[v4.$fig]}" "${SAMPLES[v6.$fig]}" <<'PY'
import statistics, sys
fig, a, b = sys.argv[1], [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()]
m4, m6 = statistics.median(a), statistics.median(b)
print(f"{fig:<18} {m4:>10.3f} {m6:>10.3f} {m6 / m4 if m4 else float('nan'):>8.2f}")
PY
done
