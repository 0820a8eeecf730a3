#!/usr/bin/env bash
# Published ports over IPv6 next to IPv4, Berth and dockerd 20.10, from a neighbour host (a namespace at 192.168.33.3
# and fd00:33::3 on a veth to the host's 192.168.33.2 and fd00:33::2): `docker run -d -p` until the port answers, new
# connections per second through a published port (bench/connrate.py), a 1000-port range (run until its first port
# answers, then `rm -f`), iperf3 through a published port. Both engines run with --ipv6 --fixed-cidr-v6, so
# default-bridge containers are dual-stack: Berth takes both families through the kernel, dockerd 20.10 takes IPv4
# through iptables and IPv6 through a docker-proxy per port. v4 and v6 runs alternate; medians are printed side by
# side with Berth's v6/v4 ratio (target: v6 within 5% of v4).
#
#   bash bench/ipv6.sh [--berth-only] [--runs N] [--iperf-secs S] [--conn-secs S]
#
# dockerd's 1000-port range is measured once per family (two thousand docker-proxy processes take minutes).
#
# The "kernel" rows are the reference for the ratio: iperf3 and new connections/s from the same neighbour, through the
# same host forwarding and a Linux bridge, to a namespace that is not Berth's (a plain bridge, no NAT, no Berth rule),
# measured between Berth's rounds. Berth's v6/v4 next to the kernel's v6/v4 shows what Berth's path adds.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS=5 IPERF_SECS=3 CONN_SECS=3 BERTH_ONLY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --berth-only) BERTH_ONLY=1 ;;
    --conn-secs) CONN_SECS="${2:?}"; shift ;;
    --runs) RUNS="${2:?}"; shift ;;
    --iperf-secs) IPERF_SECS="${2:?}"; shift ;;
    -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done
source "$ROOT/bench/lib/engines.sh"
NS="bbench6-nb-$BENCH_TAG" VETH_HOST="bb6h$BENCH_TAG" VETH_NS="bb6n$BENCH_TAG" NS_CREATED=0
HOST4=192.168.33.2 HOST6=fd00:33::2
REF_NS="bbench6-ref-$BENCH_TAG" REF_BRIDGE="bb6r$BENCH_TAG" REF_VETH="bb6rh$BENCH_TAG" REF_CREATED=0
cleanup() {
  engines_cleanup
  if [ "$NS_CREATED" = 1 ]; then ip netns del "$NS" 2>/dev/null || true; ip link del "$VETH_HOST" 2>/dev/null || true; fi
  if [ "$REF_CREATED" = 1 ]; then
    ip netns pids "$REF_NS" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$REF_NS" 2>/dev/null || true; ip link del "$REF_BRIDGE" 2>/dev/null || true
  fi
}
engines_begin "$BERTH_ONLY" iperf3
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

url() { if [ "$1" = v6 ]; then echo "http://[$HOST6]:$2/"; else echo "http://$HOST4:$2/"; fi; }
host_of() { if [ "$1" = v6 ]; then echo "$HOST6"; else echo "$HOST4"; fi; }
answer_s() {   # $1 = family, $2 = port, $3 = start time: seconds until the neighbour gets an answer (120 s at most)
  local deadline=$(( SECONDS + 120 ))
  until ip netns exec "$NS" curl -g -s -m 1 --noproxy '*' "$(url "$1" "$2")" 2>/dev/null | grep -q Hostname; do
    [ $SECONDS -lt $deadline ] || { echo "no answer on $1 port $2" >&2; echo nan; return; }
    sleep 0.01
  done
  python3 -c "import time;print(round(time.time()-$3,3))"
}
declare -A SAMPLES
add() { SAMPLES[$1]="${SAMPLES[$1]:-} $2"; }

measure() {   # $1 = engine name, $2 = CLI function, $3 = rounds with a 1000-port range
  local e=$1 cli=$2 range_runs=$3 run fam port cport name first t0 iport host gbps
  "$cli" import -c 'CMD ["/bin/httpd","-f","-p","80","-h","/www"]' "$BENCH_WORK/webapp.tar" bench6:web >/dev/null
  "$cli" import -c 'CMD ["/usr/bin/iperf3","-s"]' "$BENCH_WORK/iperf.tar" bench6:iperf >/dev/null
  for run in $(seq 1 "$RUNS"); do
    for fam in v4 v6; do   # alternated, so drift on a shared machine hits both alike
      port=$(free_port_run 1) name="bb6-$BENCH_TAG-$e-$run-$fam"
      cport=$(free_port_run 1)
      t0=$(now_s); "$cli" run -d --name "$name" -p "$port:80" -p "$cport:81" bench6:web >/dev/null
      add "$e.$fam.run_answer_s" "$(answer_s "$fam" "$port" "$t0")"
      start_acceptor "$cli" "$name" 81
      ip netns exec "$NS" bash -c "$(declare -f wait_connect); wait_connect $(host_of "$fam") $cport" || true
      add "$e.$fam.conn_per_s" "$(ip netns exec "$NS" python3 "$ROOT/bench/connrate.py" "$(host_of "$fam")" "$cport" "$CONN_SECS" 2 || echo nan)"
      stop_acceptors
      "$cli" rm -f "$name" >/dev/null
      [ "$run" -le "$range_runs" ] || continue
      first=$(free_port_run 1000)
      t0=$(now_s); "$cli" run -d --name "$name-r" -p "$first-$((first + 999)):80-1079" bench6:web >/dev/null
      add "$e.$fam.range_answer_s" "$(answer_s "$fam" "$first" "$t0")"
      t0=$(now_s); "$cli" rm -f "$name-r" >/dev/null; add "$e.$fam.range_rm_s" "$(python3 -c "import time;print(round(time.time()-$t0,3))")"
    done
    echo "$e round $run: run->answer ${SAMPLES[$e.v4.run_answer_s]##* } / ${SAMPLES[$e.v6.run_answer_s]##* } s," \
      "${SAMPLES[$e.v4.conn_per_s]##* } / ${SAMPLES[$e.v6.conn_per_s]##* } conn/s (v4 / v6)"
  done
  iport=$(free_port_run 1)
  "$cli" run -d --name "bb6-$BENCH_TAG-$e-iperf" -p "$iport:5201" bench6:iperf >/dev/null
  for _ in $(seq 100); do   # iperf3 says so once it listens (its output may be held in a buffer: 10 s at most)
    "$cli" logs "bb6-$BENCH_TAG-$e-iperf" 2>&1 | grep -q "Server listening" && break; sleep 0.1
  done
  for run in $(seq 1 "$RUNS"); do
    for fam in v4 v6; do
      host=$(host_of "$fam")
      gbps=$(ip netns exec "$NS" iperf3 -c "$host" -p "$iport" -t "$IPERF_SECS" -J --connect-timeout 3000 2>/dev/null \
        | python3 -c "import json,sys;print(round(json.load(sys.stdin)['end']['sum_received']['bits_per_second']/1e9,2))" || echo nan)
      add "$e.$fam.iperf_gbps" "$gbps"
    done
  done
  "$cli" rm -f "bb6-$BENCH_TAG-$e-iperf" >/dev/null
}

# The kernel's reference: a namespace behind a plain bridge, routed from the neighbour with no NAT (see the top).
reference() {
  local p4 p6 run fam addr
  p4=$(free_prefix 10.217) p6="fd00:b7:$(printf '%x' $((RANDOM % 65536)))"
  ip netns add "$REF_NS"; REF_CREATED=1
  ip link add "$REF_BRIDGE" type bridge; ip link set "$REF_BRIDGE" up
  ip addr add "$p4.1/24" dev "$REF_BRIDGE"; ip addr add "$p6::1/64" dev "$REF_BRIDGE" nodad
  ip link add "$REF_VETH" type veth peer name eth0 netns "$REF_NS"; ip link set "$REF_VETH" master "$REF_BRIDGE" up
  ip -n "$REF_NS" addr add "$p4.2/24" dev eth0; ip -n "$REF_NS" addr add "$p6::2/64" dev eth0 nodad
  ip -n "$REF_NS" link set eth0 up; ip -n "$REF_NS" link set lo up
  ip -n "$REF_NS" route add default via "$p4.1"; ip -n "$REF_NS" -6 route add default via "$p6::1"
  ip -n "$NS" route add "$p4.0/24" via "$HOST4"; ip -n "$NS" -6 route add "$p6::/64" via "$HOST6"
  ip netns exec "$REF_NS" iperf3 -s -D >/dev/null 2>&1
  ip netns exec "$REF_NS" python3 "$ROOT/bench/acceptor.py" 81 >/dev/null 2>&1 &
  for run in $(seq 1 "$RUNS"); do
    for fam in v4 v6; do
      addr="$p4.2"; [ "$fam" = v6 ] && addr="$p6::2"
      ip netns exec "$NS" bash -c "$(declare -f wait_connect); wait_connect $addr 81" || true
      add "kernel.$fam.conn_per_s" "$(ip netns exec "$NS" python3 "$ROOT/bench/connrate.py" "$addr" 81 "$CONN_SECS" 2 || echo nan)"
      add "kernel.$fam.iperf_gbps" "$(ip netns exec "$NS" iperf3 -c "$addr" -t "$IPERF_SECS" -J --connect-timeout 3000 2>/dev/null \
        | python3 -c "import json,sys;print(round(json.load(sys.stdin)['end']['sum_received']['bits_per_second']/1e9,2))" || echo nan)"
    done
  done
}

V6_SUBNET="fd00:b6:$(printf '%x' $((RANDOM % 65536)))::/64"
berth_start --ipv6 --fixed-cidr-v6 "$V6_SUBNET"
measure berth bk "$RUNS"
reference   # while Berth's table (and so conntrack) is in place, as for Berth's rounds
berth_stop
engines=(berth)
if [ "$BERTH_ONLY" = 0 ] && dockerd_start --ipv6 --fixed-cidr-v6 "fd00:d6:$(printf '%x' $((RANDOM % 65536)))::/64"; then
  measure dockerd dkd 1
  dockerd_stop
  engines+=(dockerd)
fi

echo
echo "published port from the neighbour host, median of $RUNS (load: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-16s %10s %10s %7s' figure "Berth v4" "Berth v6" "v6/v4"
[ ${#engines[@]} = 1 ] || printf ' %11s %11s' "dockerd v4" "dockerd v6"
echo
for fig in run_answer_s conn_per_s range_answer_s range_rm_s iperf_gbps; do
  python3 - "$fig" "${engines[@]/#/}" <<PY
import math, statistics, sys
samples = {$(for e in "${engines[@]}"; do for f in v4 v6; do printf '"%s.%s": "%s", ' "$e" "$f" "${SAMPLES[$e.$f.$fig]:-}"; done; done)}
def med(key):
    values = [float(x) for x in samples.get(key, "").split() if x != "nan"]
    return statistics.median(values) if values else float("nan")
fig = sys.argv[1]
b4, b6 = med("berth.v4"), med("berth.v6")
line = f"{fig:<16} {b4:>10.3f} {b6:>10.3f} {b6 / b4 if b4 else float('nan'):>7.2f}"
if "dockerd" in sys.argv[2:]:
    line += f" {med('dockerd.v4'):>11.3f} {med('dockerd.v6'):>11.3f}"
print(line)
PY
done
echo
echo "the kernel's own path, same neighbour, a plain bridge, no NAT (median of $RUNS)"
for fig in conn_per_s iperf_gbps; do
  python3 - "$fig" <<PY
import statistics, sys
samples = {"v4": "${SAMPLES[kernel.v4.$fig]:-}", "v6": "${SAMPLES[kernel.v6.$fig]:-}"}
def med(f):
    values = [float(x) for x in samples[f].split() if x != "nan"]
    return statistics.median(values) if values else float("nan")
k4, k6 = med("v4"), med("v6")
print(f"{sys.argv[1]:<16} {k4:>10.3f} {k6:>10.3f} {k6 / k4 if k4 else float('nan'):>7.2f}")
PY
done
