#!/usr/bin/env bash
# The embedded resolver side by side with dockerd 20.10's (Debian's docker.io) and Debian's aardvark-dns (Podman's,
# started on its own config for the same names), with Debian's dnsperf:
#
#   bash bench/dns.sh [--containers N] [--aliases M] [--seconds S] [--berth-only]
#
# Each engine: N containers on one user network with M --network-alias each (N*M names, default 50*20 = 1000);
# dnsperf and a sequential latency probe run inside a client container's namespace against 127.0.0.11, for
# container names and for forwarded names (the containers' --dns is an upstream this script runs on a host loopback
# address, 127.0.0.x: no traffic leaves the machine). aardvark-dns answers the same names in a namespace made for it
# (container names only). Also: Berth's memory for the names alone (N containers with the aliases minus N without),
# and how soon a new container's name resolves after `docker run -d` returns. Everything it creates goes on exit.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N=50 M=20 SECS=10 BERTH_ONLY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --containers) N="$2"; shift ;;
    --aliases) M="$2"; shift ;;
    --seconds) SECS="$2"; shift ;;
    --berth-only) BERTH_ONLY=1 ;;
    *) sed -n '2,13p' "${BASH_SOURCE[0]}"; exit 2 ;;
  esac
  shift
done
source "$ROOT/bench/lib/engines.sh"
UPSTREAM_PID="" ARD_PID=""
ARD_NS="bdns-ard-$BENCH_TAG" ARD_DIR="$BENCH_WORK/aardvark"
dns_cleanup() {
  local rc=$?
  [ -n "$UPSTREAM_PID" ] && kill "$UPSTREAM_PID" 2>/dev/null
  [ -n "$ARD_PID" ] && kill "$ARD_PID" 2>/dev/null
  ip netns pids "$ARD_NS" 2>/dev/null | xargs -r kill 2>/dev/null
  ip netns del "$ARD_NS" 2>/dev/null
  (exit "$rc"); engines_cleanup
}
trap dns_cleanup EXIT; trap 'exit 130' INT; trap 'exit 143' TERM
if [ "$BERTH_ONLY" = 1 ]; then engines_install --no-dockerd dnsperf aardvark-dns; else engines_install dnsperf aardvark-dns; fi
PROBE="$ROOT/bench/dns_latency.py"

# ---- the upstream: answers every A query (192.0.2.55, TTL 60) on a free host loopback address --------------------
UPSTREAM=""
for i in $(seq 2 250); do
  a="127.0.$(( $$ % 200 + 20 )).$i"
  ss -Hlun "src $a:53" | grep -q . && continue
  UPSTREAM=$a; break
done
python3 "$ROOT/tests/Berth.EndToEnd.Tests/py/fake_dns.py" "$UPSTREAM" >"$BENCH_WORK/upstream.log" 2>&1 &
UPSTREAM_PID=$!
for _ in $(seq 50); do grep -q ready "$BENCH_WORK/upstream.log" && break; sleep 0.1; done
for i in $(seq 1000); do echo "f$i.forwarded.test A"; done > "$BENCH_WORK/forwarded.txt"
: > "$BENCH_WORK/names.txt"
for i in $(seq "$N"); do for j in $(seq "$M"); do echo "n$i-$j A"; done; done >> "$BENCH_WORK/names.txt"

dnsperf_qps() {  # $1 = names file, then the command prefix entering the namespace; prints queries/s
  local names=$1; shift
  "$@" dnsperf -s 127.0.0.11 -d "$names" -l "$SECS" -c 4 -Q 200000 2>&1 | tee -a "$BENCH_WORK/dnsperf.log" \
    | awk '/Queries per second/{print $4}'
}

# run_names CLI PREFIX NET WITH_ALIASES: N containers on NET (with the M aliases each when WITH_ALIASES=1)
run_names() {
  local cli=$1 prefix=$2 net=$3 with=$4 i j aliases
  for i in $(seq "$N"); do
    aliases=()
    if [ "$with" = 1 ]; then for j in $(seq "$M"); do aliases+=(--network-alias "n$i-$j"); done; fi
    "$cli" run -d --name "$prefix-c$i" --network "$net" --dns "$UPSTREAM" "${aliases[@]}" webapp:noexpose >/dev/null
  done
}

# measure CLI ENGINE: prints "engine names_qps names_latency forwarded_qps forwarded_latency new_name_s"
measure() {
  local cli=$1 engine=$2 net="bdns$BENCH_TAG-net" sandbox qn ln qf lf new
  "$cli" network create --subnet "$3" "$net" >/dev/null
  "$cli" run -d --name "$engine-client" --network "$net" --dns "$UPSTREAM" webapp:noexpose >/dev/null
  sandbox=$("$cli" inspect -f '{{.NetworkSettings.SandboxKey}}' "$engine-client")
  if [ "$engine" = berth ]; then
    # Memory for the names alone: N containers without aliases, then N with them; the names' share is the
    # second growth minus the first (both batches hold the same containers' bookkeeping).
    # (./berth execs the daemon: BERTH_PID is the daemon itself.)
    local r0 r1 r2
    sleep 2; r0=$(rss_kb "$BERTH_PID")
    run_names "$cli" "$engine-plain" "$net" 0; sleep 2; r1=$(rss_kb "$BERTH_PID")
    run_names "$cli" "$engine" "$net" 1; sleep 2; r2=$(rss_kb "$BERTH_PID")
    echo "Berth RSS: $r0 kB with the client, $r1 kB with $N plain containers (+$(( r1 - r0 )) kB), $r2 kB with $N" \
      "more holding $(( N * M )) aliases (+$(( r2 - r1 )) kB): the names alone $(( (r2 - r1) - (r1 - r0) )) kB" \
      > "$BENCH_WORK/memory.txt"
  else
    run_names "$cli" "$engine" "$net" 1
  fi
  qn=$(dnsperf_qps "$BENCH_WORK/names.txt" nsenter --net="$sandbox")
  ln=$(nsenter --net="$sandbox" python3 "$PROBE" latency 127.0.0.11 "$BENCH_WORK/names.txt" 5000)
  qf=$(dnsperf_qps "$BENCH_WORK/forwarded.txt" nsenter --net="$sandbox")
  lf=$(nsenter --net="$sandbox" python3 "$PROBE" latency 127.0.0.11 "$BENCH_WORK/forwarded.txt" 5000)
  "$cli" run -d --name "$engine-new" --network "$net" --network-alias brandnew webapp:noexpose >/dev/null
  new=$(nsenter --net="$sandbox" python3 "$PROBE" until 127.0.0.11 brandnew 5)
  echo "$engine|$qn|$ln|$qf|$lf|$new"
}

bash "$ROOT/scripts/make-webapp-rootfs.sh" "$BENCH_WORK/webapp.tar" >/dev/null
IMPORT_CMD='CMD ["/bin/httpd","-f","-p","80","-h","/www"]'
RESULTS=()

echo "== Berth: $N containers x $M aliases (and $N without), upstream $UPSTREAM"
berth_start
bk import -c "$IMPORT_CMD" "$BENCH_WORK/webapp.tar" webapp:noexpose >/dev/null
RESULTS+=("$(measure bk berth "$(free_prefix 10.216).0/24")")
berth_stop

if [ "$BERTH_ONLY" = 0 ] && dockerd_start; then
  echo "== dockerd $(dockerd --version | awk '{print $3}' | tr -d ,): the same names"
  dkd import -c "$IMPORT_CMD" "$BENCH_WORK/webapp.tar" webapp:noexpose >/dev/null
  RESULTS+=("$(measure dkd dockerd "$(free_prefix 10.217).0/24")")
  dockerd_stop
fi

echo "== aardvark-dns $(dpkg-query -W -f='${Version}' aardvark-dns) on the same names"
ARD_IP="$(free_prefix 10.218).1"
mkdir -p "$ARD_DIR/config"
{
  echo "$ARD_IP"
  for i in $(seq "$N"); do
    names="ard-c$i"; for j in $(seq "$M"); do names="$names,n$i-$j"; done
    printf '%064x %s.%s  %s\n' "$i" "${ARD_IP%.*}" $(( i + 1 )) "$names"
  done
} > "$ARD_DIR/config/bdns-net"
ip netns add "$ARD_NS"
ip -n "$ARD_NS" link set lo up
ip -n "$ARD_NS" addr add "$ARD_IP/24" dev lo
ip netns exec "$ARD_NS" /usr/lib/podman/aardvark-dns --config "$ARD_DIR/config" -p 53 run >"$BENCH_WORK/aardvark.log" 2>&1 &
ARD_PID=$!
for _ in $(seq 100); do
  ip netns exec "$ARD_NS" python3 "$PROBE" until "$ARD_IP" "n1-1" 0.1 | grep -qv timeout && break
  sleep 0.1
done
ARD_QPS=$(ip netns exec "$ARD_NS" dnsperf -s "$ARD_IP" -d "$BENCH_WORK/names.txt" -l "$SECS" -c 4 -Q 200000 2>&1 \
  | awk '/Queries per second/{print $4}')
ARD_LAT=$(ip netns exec "$ARD_NS" python3 "$PROBE" latency "$ARD_IP" "$BENCH_WORK/names.txt" 5000)
RESULTS+=("aardvark-dns|$ARD_QPS|$ARD_LAT|-|-|-")

echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
printf '%-13s %11s  %-58s %11s  %s\n' engine "names q/s" "names latency (sequential python client)" "fwd q/s" "forwarded latency"
for r in "${RESULTS[@]}"; do
  IFS='|' read -r e qn ln qf lf new <<<"$r"
  printf '%-13s %11s  %-58s %11s  %s\n' "$e" "$qn" "$ln" "$qf" "$lf"
done
for r in "${RESULTS[@]}"; do
  IFS='|' read -r e _ _ _ _ new <<<"$r"
  [ "$new" = - ] || echo "$e: new name resolvable ${new} s after docker run -d returned"
done
echo "names: $(( N * M )) aliases + $N container names; forwarded: 1000 names to one upstream at $UPSTREAM"
echo "(Berth caches forwarded answers within their TTL; dockerd 20.10 and aardvark-dns do not); dnsperf -c 4 -l $SECS, UDP"
cat "$BENCH_WORK/memory.txt"
