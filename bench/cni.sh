#!/usr/bin/env bash
# berth-cni next to the reference CNI plugins a cluster uses for host ports (bridge + portmap, Debian's
# containernetworking-plugins), and berth-cni chained after the reference bridge (as a portmap replacement).
#
#   bash bench/cni.sh [--plugin PATH] [--runs N] [--portmap-rate-mappings N] [--portmap-sizes "1 100 1000"]
#                     [--rate-only] [--rate-rounds N] [--rate-connections C]
#
# ADD and DEL of one attachment with 1, 100 and 1000 port mappings (median of N runs; portmap's 1000 once: it takes
# tens of seconds), then the connection rate to 127.0.0.1 through one mapped port with it alone and as the last of
# 10,000 mappings (portmap: 100 by default; each of its mappings costs seconds to add), measured on two namespaces
# playing two nodes, one client alternating between them connection by connection (N rounds of C connections per
# node in each half, roles swapped halfway). Builds berth-cni with
# NativeAOT (scripts/install-cni.sh) unless --plugin names one. Everything it makes (namespaces, bridges, nft tables,
# portmap's iptables chains, files) is removed on exit, also on failure.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PLUGIN="" RUNS=5 PORTMAP_RATE=100 PORTMAP_SIZES="1 100 1000" RATE_ONLY=false RATE_ROUNDS=10 RATE_CONNECTIONS=2000
while [ $# -gt 0 ]; do
  case "$1" in
    --plugin) PLUGIN="$2"; shift ;;
    --runs) RUNS="$2"; shift ;;
    --portmap-rate-mappings) PORTMAP_RATE="$2"; shift ;;
    --portmap-sizes) PORTMAP_SIZES="$2"; shift ;;
    --rate-only) RATE_ONLY=true ;;
    --rate-rounds) RATE_ROUNDS="$2"; shift ;;
    --rate-connections) RATE_CONNECTIONS="$2"; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
[ -x /usr/lib/cni/portmap ] || { apt-get update -q >/dev/null; apt-get install -y -q containernetworking-plugins >/dev/null; }

TAG=$(printf '%04x' $(( $$ % 65536 )))
WORK=$(mktemp -d "/tmp/berth-cni-bench-$TAG.XXXXXX")
NAMESPACES=("bbcn-b-$TAG" "bbcn-c-$TAG" "bbcn-r-$TAG" "bbcn-rb-$TAG" "bbcn-rc-$TAG" "bbcn-rr-$TAG")
# the rate measurement: two namespaces playing two nodes, each with a pod and a resident pod (deleting a node's
# namespace takes its bridges, nft tables and portmap's iptables rules with it)
NODES=("bbcn-na-$TAG" "bbcn-nb-$TAG") NODE_PODS=("bbcn-pa-$TAG" "bbcn-pb-$TAG") NODE_RESIDENTS=("bbcn-qa-$TAG" "bbcn-qb-$TAG")
NAMESPACES+=("${NODE_PODS[@]}" "${NODE_RESIDENTS[@]}" "${NODES[@]}")
BERTH_BRIDGE="bbcb$TAG" REF_BRIDGE="bbcr$TAG" CHAIN_NET="bbcn-chain-$TAG"
BENCH_PID=""
# portmap's iptables (iptables-nft) makes the ip and ip6 "nat" tables on this host; when they were not here before,
# they go at the end unless something else put rules in them meanwhile.
NAT_BEFORE=$(nft list tables 2>/dev/null | grep -E '^table ip6? nat$' || true)
cleanup() {
  set +e
  if [ -n "$BENCH_PID" ]; then kill -TERM "$BENCH_PID" 2>/dev/null; wait "$BENCH_PID" 2>/dev/null; fi
  for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null; done
  ip link del "$BERTH_BRIDGE" 2>/dev/null; ip link del "$REF_BRIDGE" 2>/dev/null
  for t in $(nft list tables 2>/dev/null | awk -v tag="$TAG" '$3 ~ "^berth_cni_bbcn_.*" tag {print $3}'); do nft delete table ip "$t"; done
  # portmap leaves its top chains (and their jumps) behind once empty: take them away when nothing else uses them.
  if ! iptables -w -t nat -S 2>/dev/null | grep -q -- '-A CNI-DN-'; then
    for hook in PREROUTING OUTPUT; do iptables -w -t nat -D "$hook" -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT 2>/dev/null; done
    iptables -w -t nat -D POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ 2>/dev/null
    for c in CNI-HOSTPORT-DNAT CNI-HOSTPORT-SETMARK CNI-HOSTPORT-MASQ; do
      iptables -w -t nat -F "$c" 2>/dev/null; iptables -w -t nat -X "$c" 2>/dev/null
    done
  fi
  for family in ip ip6; do
    if ! grep -qx "table $family nat" <<<"$NAT_BEFORE" && nft list table "$family" nat >/dev/null 2>&1 \
       && ! nft list table "$family" nat | grep -qvE '^\s*(table|chain|type|\}|$)'; then
      nft delete table "$family" nat
    fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

if [ -z "$PLUGIN" ]; then
  echo "building berth-cni (NativeAOT) ..."
  bash "$ROOT/scripts/install-cni.sh" "$WORK/bin" >/dev/null
  PLUGIN="$WORK/bin/berth-cni"
fi

# Two free 10.x subnets (none of the host's routes), host ports below the ephemeral range and the tests' port blocks.
pick_subnet() {
  local routes; routes=$(ip -4 route)
  while true; do
    local a=$((RANDOM % 150 + 100)) b=$((RANDOM % 249 + 1))
    grep -q "10\.$a\." <<<"$routes" || { echo "10.$a.$b.0/24"; return; }
  done
}
BERTH_SUBNET=$(pick_subnet) REF_SUBNET=$(pick_subnet)
PORT_BASE=10001
if ss -ltnH | awk '{print $4}' | grep -Eq ":(1[0-9]{4}|20001)$"; then
  echo "a host process listens in ${PORT_BASE}-20001: the mappings would shadow it; stop it or change PORT_BASE" >&2
  exit 1
fi
for ns in "${NAMESPACES[@]}"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done

startup() {  # median wall time of 21 VERSION calls: what every ADD/DEL pays before it does anything
  python3 - "$1" <<'PY'
import statistics, subprocess, sys, time, os
env = dict(os.environ, CNI_COMMAND="VERSION")
t = []
for _ in range(21):
    t0 = time.perf_counter(); subprocess.run([sys.argv[1]], input=b'{"cniVersion":"1.0.0"}', env=env, capture_output=True); t.append(time.perf_counter() - t0)
print(f"{statistics.median(t) * 1000:.1f} ms")
PY
}
echo "start-up (VERSION): berth-cni $(startup "$PLUGIN"), portmap $(startup /usr/lib/cni/portmap), bridge $(startup /usr/lib/cni/bridge)"
export PLUGIN WORK TAG BERTH_BRIDGE REF_BRIDGE BERTH_SUBNET REF_SUBNET CHAIN_NET RUNS PORT_BASE PORTMAP_RATE PORTMAP_SIZES
export RATE_ONLY RATE_ROUNDS RATE_CONNECTIONS
export NAMESPACES_LIST="${NAMESPACES[*]}" NODES_LIST="${NODES[*]}" NODE_PODS_LIST="${NODE_PODS[*]}"
export NODE_RESIDENTS_LIST="${NODE_RESIDENTS[*]}"
ARGS=$(python3 - <<'PY'
import json, os
e = os.environ
print(json.dumps(dict(
    plugin=e["PLUGIN"], work=e["WORK"], berth_net="bbcn-berth-" + e["TAG"], ref_net=e["CHAIN_NET"],
    berth_bridge=e["BERTH_BRIDGE"], ref_bridge=e["REF_BRIDGE"], berth_subnet=e["BERTH_SUBNET"],
    ref_subnet=e["REF_SUBNET"], namespaces=e["NAMESPACES_LIST"].split(), sizes=[1, 100, 1000], runs=int(e["RUNS"]),
    port_base=int(e["PORT_BASE"]), rate_mappings=10000, portmap_rate_mappings=int(e["PORTMAP_RATE"]),
    portmap_sizes=[int(x) for x in e["PORTMAP_SIZES"].split()], rate_connections=int(e["RATE_CONNECTIONS"]),
    rate_rounds=int(e["RATE_ROUNDS"]), rate_only=e["RATE_ONLY"] == "true", nodes=e["NODES_LIST"].split(),
    node_pods=e["NODE_PODS_LIST"].split(), node_residents=e["NODE_RESIDENTS_LIST"].split())))
PY
)
echo "ADD and DEL of one attachment (median), then connections/s to 127.0.0.1 through one mapped port (load $(cut -d' ' -f1-3 /proc/loadavg)):"
python3 "$ROOT/bench/cni_bench.py" "$ARGS" &
BENCH_PID=$!
wait "$BENCH_PID"
BENCH_PID=""
