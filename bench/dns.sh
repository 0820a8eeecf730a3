#!/usr/bin/env bash
# The embedded resolver side by side with dockerd 20.10's (Debian's docker.io) and Debian's aardvark-dns (Podman's,
# started on its own config for the same names), with Debian's dnsperf:
#
#   bash bench/dns.sh [--containers N] [--aliases M] [--seconds S] [--berth-only] [--no-memory] [--memory-only]
#
# Each engine: N containers on one user network with M --network-alias each (N*M names, default 50*20 = 1000);
# dnsperf and a sequential latency probe run inside a client container's namespace against 127.0.0.11, for
# container names and for forwarded names (the containers' --dns is an upstream this script runs on the network's
# gateway address, tests/Berth.EndToEnd.Tests/py/fake_dns.py: no traffic leaves the machine). aardvark-dns answers
# the same names in a namespace made for it (container names only). Then: how soon a new container's name resolves after `docker run -d`
# returns (5 samples), and Berth's memory for the names alone (N containers with the aliases minus N without, in a
# Berth of its own with a small GC budget so RSS follows live data). Everything it creates goes on exit.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N=50 M=20 SECS=10 BERTH_ONLY=0 MEMORY=1 MEMORY_ONLY=0 NEW_SAMPLES=5
while [ $# -gt 0 ]; do
  case "$1" in
    --containers) N="$2"; shift ;;
    --aliases) M="$2"; shift ;;
    --seconds) SECS="$2"; shift ;;
    --berth-only) BERTH_ONLY=1 ;;
    --no-memory) MEMORY=0 ;;
    --memory-only) MEMORY_ONLY=1 BERTH_ONLY=1 ;;
    *) sed -n '2,13p' "${BASH_SOURCE[0]}"; exit 2 ;;
  esac
  shift
done
source "$ROOT/bench/lib/engines.sh"
UPSTREAM_PID="" ARD_NS="bdns-ard-$BENCH_TAG" ARD_DIR="$BENCH_WORK/aardvark"
upstream_stop() {
  if [ -n "$UPSTREAM_PID" ]; then kill "$UPSTREAM_PID" 2>/dev/null || true; wait "$UPSTREAM_PID" 2>/dev/null || true; fi
  UPSTREAM_PID=""
}
dns_cleanup() {
  local rc=$?
  set +e   # every step runs, whatever the one before found
  upstream_stop
  # aardvark-dns daemonizes: its process is found through its namespace.
  ip netns pids "$ARD_NS" 2>/dev/null | xargs -r kill 2>/dev/null
  ip netns del "$ARD_NS" 2>/dev/null
  (exit "$rc"); engines_cleanup
}
trap dns_cleanup EXIT; trap 'exit 130' INT; trap 'exit 143' TERM
if [ "$BERTH_ONLY" = 1 ]; then engines_install --no-dockerd dnsperf aardvark-dns; else engines_install dnsperf aardvark-dns; fi
PROBE="$ROOT/bench/dns_latency.py"

upstream_start() {   # $1 = address: answers every A query with 192.0.2.55, TTL 60
  python3 "$ROOT/tests/Berth.EndToEnd.Tests/py/fake_dns.py" "$1" >"$BENCH_WORK/upstream.log" 2>&1 &
  UPSTREAM_PID=$!
  for _ in $(seq 100); do grep -q ready "$BENCH_WORK/upstream.log" && return 0; sleep 0.1; done
  echo "the upstream did not start on $1:" >&2; cat "$BENCH_WORK/upstream.log" >&2; return 1
}

for i in $(seq 1000); do echo "f$i.forwarded.test A"; done > "$BENCH_WORK/forwarded.txt"
for i in $(seq "$N"); do for j in $(seq "$M"); do echo "n$i-$j A"; done; done > "$BENCH_WORK/names.txt"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # user + system time of a process, in clock ticks
cpu_us_per_query() {   # $1 = ticks before, $2 = ticks after, $3 = queries/s over $SECS seconds
  awk -v b="$1" -v a="$2" -v q="$3" -v s="$SECS" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", (a - b) * 1e6 / hz / (q * s)}'
}

dnsperf_qps() {  # $1 = names file, then the command prefix entering the namespace; prints queries/s
  local names=$1; shift
  "$@" dnsperf -s 127.0.0.11 -d "$names" -l "$SECS" -c 4 -Q 200000 2>&1 | tee -a "$BENCH_WORK/dnsperf.log" \
    | awk '/Queries per second/{print $4}'
}

# run_names CLI PREFIX NET DNS WITH_ALIASES: N containers on NET (with the M aliases each when WITH_ALIASES=1)
run_names() {
  local cli=$1 prefix=$2 net=$3 dns=$4 with=$5 i j aliases
  for i in $(seq "$N"); do
    aliases=()
    if [ "$with" = 1 ]; then for j in $(seq "$M"); do aliases+=(--network-alias "n$i-$j"); done; fi
    "$cli" run -d --name "$prefix-c$i" --network "$net" --dns "$dns" "${aliases[@]}" webapp:noexpose >/dev/null
  done
}

# new_name_ms CLI ENGINE NET SANDBOX: for each sample, a probe already polling a name that does not exist yet, then
# `docker run -d` with that alias; prints the milliseconds from the CLI returning to the first answer (a negative
# figure would mean the name answered before the CLI returned).
new_name_ms() {
  local cli=$1 engine=$2 net=$3 sandbox=$4 k out pid returned answered samples=()
  for k in $(seq "$NEW_SAMPLES"); do
    out="$BENCH_WORK/watch-$engine-$k"
    nsenter --net="$sandbox" python3 "$PROBE" watch 127.0.0.11 "fresh$k" 20 >"$out" 2>&1 &
    pid=$!
    for _ in $(seq 200); do grep -q ready "$out" && break; sleep 0.05; done
    "$cli" run -d --name "$engine-new$k" --network "$net" --network-alias "fresh$k" webapp:noexpose >/dev/null
    returned=$(now_s)
    wait "$pid" || true
    answered=$(tail -1 "$out")
    if [ "$answered" = timeout ]; then samples+=(timeout); continue; fi
    samples+=("$(awk -v a="$answered" -v r="$returned" 'BEGIN{printf "%.1f", (a - r) * 1000}')")
  done
  echo "${samples[*]}"
}

# measure CLI ENGINE PREFIX PID: prints
# "engine|names_qps|names_latency|forwarded_qps|forwarded_latency|new_name_ms|cpu_us_per_name_query"
measure() {
  local cli=$1 engine=$2 prefix=$3 pid=$4 net="bdns$BENCH_TAG-net" sandbox qn ln qf lf new cpu0 cpu1 gateway="$3.1"
  "$cli" network create --subnet "$prefix.0/24" --gateway "$gateway" "$net" >/dev/null
  "$cli" run -d --name "$engine-client" --network "$net" --dns "$gateway" webapp:noexpose >/dev/null
  sandbox=$("$cli" inspect -f '{{.NetworkSettings.SandboxKey}}' "$engine-client")
  upstream_start "$gateway"
  run_names "$cli" "$engine" "$net" "$gateway" 1
  cpu0=$(cpu_ticks "$pid")
  qn=$(dnsperf_qps "$BENCH_WORK/names.txt" nsenter --net="$sandbox")
  cpu1=$(cpu_ticks "$pid")
  ln=$(nsenter --net="$sandbox" python3 "$PROBE" latency 127.0.0.11 "$BENCH_WORK/names.txt" 5000)
  qf=$(dnsperf_qps "$BENCH_WORK/forwarded.txt" nsenter --net="$sandbox")
  lf=$(nsenter --net="$sandbox" python3 "$PROBE" latency 127.0.0.11 "$BENCH_WORK/forwarded.txt" 5000)
  upstream_stop
  new=$(new_name_ms "$cli" "$engine" "$net" "$sandbox")
  echo "$engine|$qn|$ln|$qf|$lf|$new|$(cpu_us_per_query "$cpu0" "$cpu1" "$qn")"
}

# berth_memory PREFIX: Berth's RSS for the names alone, printed as a sentence (a Berth of its own: see the top)
berth_memory() {
  local prefix=$1 net="bdns$BENCH_TAG-mem" sandbox r0 r1 r2
  bk network create --subnet "$prefix.0/24" "$net" >/dev/null
  bk run -d --name mem-client --network "$net" webapp:noexpose >/dev/null
  sandbox=$(bk inspect -f '{{.NetworkSettings.SandboxKey}}' mem-client)
  # Each step is measured after queries for every name went through (the resolver's index is built on use).
  settle() { nsenter --net="$sandbox" dnsperf -s 127.0.0.11 -d "$BENCH_WORK/names.txt" -l 2 -Q 2000 >/dev/null 2>&1; sleep 2; rss_kb "$BERTH_PID"; }
  # A first batch warms the engine up (JIT, pools, threads): only the two batches after it are compared.
  run_names bk mem-warm "$net" "$prefix.1" 0; r0=$(settle)
  run_names bk mem-plain "$net" "$prefix.1" 0; r1=$(settle)
  run_names bk mem-named "$net" "$prefix.1" 1; r2=$(settle)
  echo "Berth RSS after $N warm-up containers: $r0 kB; $r1 kB with $N more plain ones (+$(( r1 - r0 )) kB); $r2 kB" \
    "with $N more holding $(( N * M )) aliases (+$(( r2 - r1 )) kB): the names alone $(( (r2 - r1) - (r1 - r0) )) kB" \
    "(DOTNET_GCgen0size=$GEN0 DOTNET_GCgen0MaxBudget=$GEN0)"
}

bash "$ROOT/scripts/make-webapp-rootfs.sh" "$BENCH_WORK/webapp.tar" >/dev/null
IMPORT_CMD='CMD ["/bin/httpd","-f","-p","80","-h","/www"]'
RESULTS=() MEMORY_LINE=""

if [ "$MEMORY_ONLY" = 0 ]; then
  echo "== Berth: $N containers x $M aliases"
  berth_start
  bk import -c "$IMPORT_CMD" "$BENCH_WORK/webapp.tar" webapp:noexpose >/dev/null
  RESULTS+=("$(measure bk berth "$(free_prefix 10.216)" "$BERTH_PID")")
  berth_stop
fi

if [ "$MEMORY" = 1 ]; then
  # A small gen0 budget makes the GC collect often, so RSS follows what is alive rather than when the last GC ran
  # (with the default budget two readings of the same state differ by several MB).
  GEN0=0x100000
  echo "== Berth's memory for $(( N * M )) names"
  DOTNET_GCgen0size=$GEN0 DOTNET_GCgen0MaxBudget=$GEN0 berth_start
  bk import -c "$IMPORT_CMD" "$BENCH_WORK/webapp.tar" webapp:noexpose >/dev/null
  MEMORY_LINE=$(berth_memory "$(free_prefix 10.216)")
  berth_stop
fi

if [ "$BERTH_ONLY" = 0 ] && dockerd_start; then
  echo "== dockerd $(dockerd --version | awk '{print $3}' | tr -d ,): the same names"
  dkd import -c "$IMPORT_CMD" "$BENCH_WORK/webapp.tar" webapp:noexpose >/dev/null
  RESULTS+=("$(measure dkd dockerd "$(free_prefix 10.217)" "$DOCKERD_PID")")
  dockerd_stop
fi

if [ "$MEMORY_ONLY" = 1 ]; then echo "$MEMORY_LINE"; exit 0; fi
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
for _ in $(seq 100); do
  ip netns exec "$ARD_NS" python3 "$PROBE" latency "$ARD_IP" "$BENCH_WORK/names.txt" 1 2>/dev/null | grep -q p50 && break
  sleep 0.1
done
ARD_PID=$(ip netns pids "$ARD_NS" | head -1)
cpu0=$(cpu_ticks "$ARD_PID")
ARD_QPS=$(ip netns exec "$ARD_NS" dnsperf -s "$ARD_IP" -d "$BENCH_WORK/names.txt" -l "$SECS" -c 4 -Q 200000 2>&1 \
  | awk '/Queries per second/{print $4}')
ARD_CPU=$(cpu_us_per_query "$cpu0" "$(cpu_ticks "$ARD_PID")" "$ARD_QPS")
ARD_LAT=$(ip netns exec "$ARD_NS" python3 "$PROBE" latency "$ARD_IP" "$BENCH_WORK/names.txt" 5000)
RESULTS+=("aardvark-dns|$ARD_QPS|$ARD_LAT|-|-|-|$ARD_CPU")

echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
printf '%-13s %10s  %-62s %10s  %s\n' engine "names q/s" "names latency (sequential python client)" "fwd q/s" \
  "forwarded latency"
for r in "${RESULTS[@]}"; do
  IFS='|' read -r e qn ln qf lf _ <<<"$r"
  printf '%-13s %10.0f  %-62s %10s  %s\n' "$e" "$qn" "$ln" "$qf" "$lf"
done
for r in "${RESULTS[@]}"; do
  IFS='|' read -r e _ _ _ _ new cpu <<<"$r"
  echo "$e: $cpu us of CPU per container-name query during dnsperf (the server process's user+system time)"
  [ "$new" = - ] || echo "$e: a new name answered [$new] ms after docker run -d returned (one per sample)"
done
echo "names: $(( N * M )) aliases + $N container names; forwarded: 1000 names to one upstream on the network's gateway"
echo "(Berth caches forwarded answers within their TTL; dockerd 20.10 and aardvark-dns do not); dnsperf -c 4 -l $SECS, UDP"
[ -z "$MEMORY_LINE" ] || echo "$MEMORY_LINE"
