#!/usr/bin/env bash
# The embedded resolver side by side with Debian's aardvark-dns (Podman's resolver, started on its own config for the
# same names), with Debian's dnsperf:
#
#   bash bench/dns.sh [--containers N] [--aliases M] [--seconds S]
#
# Berth: N containers on one user network with M --network-alias each (N*M names, default 50*20 = 1000); dnsperf and
# a latency probe run inside a client container's namespace against 127.0.0.11. aardvark-dns: the same names in its
# config, listening in a namespace made for it. Prints queries/s, p50/p99, Berth's memory growth with the names
# and how soon a new container's name resolves after `docker run -d` returns. Everything it creates goes on exit.
# Not measured here: dockerd 20.10's resolver and forwarded names (needs an upstream); see bench/README.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N=50 M=20 SECS=10
while [ $# -gt 0 ]; do
  case "$1" in
    --containers) N="$2"; shift ;;
    --aliases) M="$2"; shift ;;
    --seconds) SECS="$2"; shift ;;
    *) sed -n '2,12p' "${BASH_SOURCE[0]}"; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
for tool in dnsperf /usr/lib/podman/aardvark-dns nsenter; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install dnsperf aardvark-dns" >&2; exit 1; }
done

TAG=$(printf '%04x' $(( $$ % 65536 )))
WORK=$(mktemp -d "/tmp/berth-dnsbench-$TAG.XXXXXX")
SOCK="$WORK/berth.sock" BRIDGE="bdn$TAG" PREFIX="bdns$TAG" NET="bdns$TAG-net"
A=$(( RANDOM % 100 + 120 )) B=$(( RANDOM % 250 + 1 ))
BIP="10.$A.$B.1/24" SUBNET="10.$(( A + 1 )).$B.0/22" ARD_IP="10.$(( A + 2 )).$B.1"
ARD_NS="bdns-ard-$TAG" ARD_DIR="$WORK/aardvark"
DOCKER_CLI=/usr/local/bin/docker; [ -x "$DOCKER_CLI" ] || DOCKER_CLI=$(command -v docker)
dk() { DOCKER_HOST="unix://$SOCK" "$DOCKER_CLI" "$@"; }
BERTH_PID=""

cleanup() {
  set +e
  if [ -n "$BERTH_PID" ]; then
    dk ps -aq | xargs -r -n 50 env DOCKER_HOST="unix://$SOCK" "$DOCKER_CLI" rm -f >/dev/null 2>&1
    dk network rm "$NET" >/dev/null 2>&1
    kill -TERM "$BERTH_PID" 2>/dev/null; wait "$BERTH_PID" 2>/dev/null
  fi
  [ -s "$ARD_DIR/config/aardvark.pid" ] && kill "$(cat "$ARD_DIR/config/aardvark.pid")" 2>/dev/null
  ip netns pids "$ARD_NS" 2>/dev/null | xargs -r kill 2>/dev/null
  ip netns del "$ARD_NS" 2>/dev/null
  ip link del "$BRIDGE" 2>/dev/null; nft delete table ip "berth_$BRIDGE" 2>/dev/null
  nft delete table ip "berth_${BRIDGE}_user" 2>/dev/null
  umount -R "$WORK" 2>/dev/null; rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
dnsperf_qps() {  # $@ = command prefix to enter the namespace; prints queries/s
  "$@" dnsperf -s "$SERVER" -d "$WORK/names.txt" -l "$SECS" -c 4 -Q 200000 2>&1 | tee -a "$WORK/dnsperf.log" \
    | awk '/Queries per second/{print $4}'
}

echo "== Berth: $N containers x $M aliases on $NET"
(cd "$ROOT" && ./berth --help >/dev/null)
bash "$ROOT/scripts/make-webapp-rootfs.sh" "$WORK/webapp.tar" >/dev/null
(cd "$ROOT" && setsid ./berth daemon --host "unix://$SOCK" --data-root "$WORK/data" --exec-root "$WORK/exec" \
  --bridge "$BRIDGE" --bip "$BIP" >"$WORK/berth.log" 2>&1) &
BERTH_PID=$!
for _ in $(seq 600); do curl -sf --unix-socket "$SOCK" http://x/_ping >/dev/null 2>&1 && break; sleep 0.1; done
DAEMON_PID=$(pgrep -f -- "--host unix://$SOCK" | while read -r p; do [ "$(readlink /proc/$p/exe)" != /usr/bin/bash ] && echo "$p"; done | tail -1)
dk import -c 'CMD ["/bin/httpd","-f","-p","80","-h","/www"]' "$WORK/webapp.tar" webapp:noexpose >/dev/null
dk network create --subnet "$SUBNET" "$NET" >/dev/null
CLIENT=$(dk run -d --name "$PREFIX-client" --network "$NET" webapp:noexpose)
SANDBOX=$(dk inspect -f '{{.NetworkSettings.SandboxKey}}' "$CLIENT")
RSS0=$(rss_kb "$DAEMON_PID")
: > "$WORK/names.txt"; : > "$ARD_DIR.entries"
for i in $(seq "$N"); do
  aliases=(); names="$PREFIX-c$i"
  for j in $(seq "$M"); do aliases+=(--network-alias "n$i-$j"); names="$names,n$i-$j"; echo "n$i-$j A" >> "$WORK/names.txt"; done
  id=$(dk run -d --name "$PREFIX-c$i" --network "$NET" "${aliases[@]}" webapp:noexpose)
  ip=$(dk inspect -f "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" "$id")
  echo "$id 10.$(( A + 2 )).$B.$(( i + 1 ))  $names" >> "$ARD_DIR.entries"
done
RSS1=$(rss_kb "$DAEMON_PID")
SERVER=127.0.0.11
BERTH_QPS=$(dnsperf_qps nsenter --net="$SANDBOX")
BERTH_LAT=$(nsenter --net="$SANDBOX" python3 "$ROOT/bench/dns_latency.py" latency "$SERVER" "$WORK/names.txt" 5000)
RSS2=$(rss_kb "$DAEMON_PID")
dk run -d --name "$PREFIX-new" --network "$NET" --network-alias brandnew webapp:noexpose >/dev/null
NEW_NAME_S=$(nsenter --net="$SANDBOX" python3 "$ROOT/bench/dns_latency.py" until "$SERVER" brandnew 5)

echo "== aardvark-dns $(dpkg-query -W -f='${Version}' aardvark-dns) on the same names"
mkdir -p "$ARD_DIR/config"
{ echo "$ARD_IP"; cat "$ARD_DIR.entries"; } > "$ARD_DIR/config/$NET"
ip netns add "$ARD_NS"
ip -n "$ARD_NS" link set lo up
ip -n "$ARD_NS" addr add "$ARD_IP/24" dev lo
ip netns exec "$ARD_NS" /usr/lib/podman/aardvark-dns --config "$ARD_DIR/config" -p 53 run >"$WORK/aardvark.log" 2>&1 &
for _ in $(seq 100); do
  ip netns exec "$ARD_NS" python3 "$ROOT/bench/dns_latency.py" until "$ARD_IP" "n1-1" 0.1 | grep -qv timeout && break
  sleep 0.1
done
SERVER=$ARD_IP
ARD_QPS=$(dnsperf_qps ip netns exec "$ARD_NS")
ARD_LAT=$(ip netns exec "$ARD_NS" python3 "$ROOT/bench/dns_latency.py" latency "$SERVER" "$WORK/names.txt" 5000)

echo
printf '%-14s %12s  %s\n' engine "queries/s" "sequential latency (python client)"
printf '%-14s %12s  %s\n' berth "$BERTH_QPS" "$BERTH_LAT"
printf '%-14s %12s  %s\n' aardvark-dns "$ARD_QPS" "$ARD_LAT"
echo "names: $(( N * M )) aliases + $N container names; dnsperf -c 4 -l $SECS over UDP"
echo "Berth RSS: $RSS0 kB with the client only, $RSS1 kB with the names ($(( (RSS1 - RSS0) / 1024 )) MB, includes the"
echo "  containers' own bookkeeping), $RSS2 kB after the queries"
echo "new name resolvable after docker run -d returned: ${NEW_NAME_S} s"
mkdir -p "$ROOT/bench/results"
cat > "$ROOT/bench/results/dns-latest.json" <<JSON
{"names": $(( N * M )), "containers": $N, "seconds": $SECS,
 "berth": {"qps": ${BERTH_QPS:-null}, "latency": ${BERTH_LAT:-null}, "rss_kb": [$RSS0, $RSS1, $RSS2],
           "new_name_s": "$NEW_NAME_S"},
 "aardvark": {"qps": ${ARD_QPS:-null}, "latency": ${ARD_LAT:-null}}}
JSON
