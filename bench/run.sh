#!/usr/bin/env bash
# Side-by-side benchmark of Berth against Debian's dockerd 20.10, driven by the same docker CLI.
#
#   bash bench/run.sh [--quick] [--berth-only] [--no-forward-drop] [--runs N]
#
# Measures per engine: `docker run -d -p` until the published port answers; a 1000-port range (time to answer,
# daemon memory growth, time of `docker rm -f`); iperf3 through a published port vs straight to the container,
# from the host (loopback) and from a neighbour host (a network namespace on a veth). Prints a table, writes
# bench/results/latest.json. Everything this run creates (daemons, containers, mounts, namespaces, links, firewall
# state, files) is removed on exit, also on failure or Ctrl-C: the machine is shared with tests. See bench/README.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
MEASURE=(python3 "$BENCH/measure.py")
export PYTHONUNBUFFERED=1   # keep its progress lines in order with ours when the output goes to a file

# ---- options ----------------------------------------------------------------------------------------------------
QUICK=0 BERTH_ONLY=0 FORWARD_DROP=1 RUNS=""
usage() { sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --berth-only) BERTH_ONLY=1 ;;
    --no-forward-drop) FORWARD_DROP=0 ;;
    --runs) RUNS="${2:?--runs needs a number}"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
if [ "$QUICK" = 1 ]; then
  RUNS="${RUNS:-3}" IPERF_SECS=3 IPERF_REPS=1
else
  RUNS="${RUNS:-9}" IPERF_SECS=5 IPERF_REPS=5
fi
BERTH_RANGE_TIMEOUT=60      # Berth's target is < 1 s; a minute means it is broken
DOCKERD_RANGE_TIMEOUT=600   # dockerd needed 44 s to publish 1000 ports and 87 s to remove them before

# ---- names unique to this run: several runs and the project's tests may share the machine ----------------------
# bench/lib/engines.sh: the two daemons, the dockerd lock and the cleanup of what dockerd leaves on the host.
source "$BENCH/lib/engines.sh"
TAG=$BENCH_TAG WORK=$BENCH_WORK
RESULTS_DIR="$BENCH/results"
RESULTS="$RESULTS_DIR/latest.json"
LOGS="$RESULTS_DIR/last-run"
PREFIX="bbench-$TAG"                       # container names
NS="bbench-nb-$TAG"                        # the neighbour host
VETH_HOST="bbnh$TAG" VETH_NS="bbnn$TAG"
NB_HOST_IP=192.168.33.2 NB_IP=192.168.33.3  # 192.168.33.0/24 is reserved for the neighbour, nothing else
WEBAPP_IMAGE=webapp:noexpose
IPERF_IMAGE="bbench-iperf:$TAG"

# State the cleanup needs; empty/0 = nothing to undo.
DOCKERD_UP=0 NS_CREATED=0 CLEANED=0
NEIGHBOUR_ERROR=""

log() { printf '\n== %s\n' "$*"; }
dk() { local host="$1"; shift; DOCKER_HOST="unix://$host" "$DOCKER_CLI" "$@"; }
note() { "${MEASURE[@]}" note --out "$RESULTS" "$*"; echo "note: $*"; }

install_deps() {
  if [ "$BERTH_ONLY" = 1 ]; then engines_install --no-dockerd iperf3; else engines_install iperf3; fi
}

pick_ports() {
  # Published ports are reserved by binding them (Berth) or held by docker-proxy (dockerd): check they are free.
  read -r BERTH_PORT DOCKERD_PORT BERTH_IPERF_PORT DOCKERD_IPERF_PORT < <("${MEASURE[@]}" free-ports \
    --blocks 4 --start 31000 --end 31999 --step 7)
  read -r BERTH_RANGE DOCKERD_RANGE < <("${MEASURE[@]}" free-ports --count 1000 --blocks 2 --start 20000 --end 59999)
  if [ -z "${DOCKERD_IPERF_PORT:-}" ] || [ -z "${DOCKERD_RANGE:-}" ]; then echo "not enough free host ports" >&2; exit 1; fi
}

# ---- images -----------------------------------------------------------------------------------------------------
make_rootfs_tars() {
  bash "$ROOT/scripts/make-webapp-rootfs.sh" "$WORK/webapp.tar"
  # The iperf3 server image: the busybox rootfs plus /usr/bin/iperf3 and the shared libraries ldd lists.
  local dir="$WORK/iperf-rootfs" f
  mkdir -p "$dir"
  tar -C "$dir" -xf "$WORK/webapp.tar"
  for f in /usr/bin/iperf3 $(ldd /usr/bin/iperf3 | grep -o '/[^ ]*'); do
    mkdir -p "$dir$(dirname "$f")"
    cp -L "$f" "$dir$f"
  done
  tar -C "$dir" -cf "$WORK/iperf.tar" .
  rm -rf "$dir"
}

import_images() {   # $1 = socket
  dk "$1" import -c 'CMD ["/bin/httpd","-f","-p","80","-h","/www"]' "$WORK/webapp.tar" "$WEBAPP_IMAGE" >/dev/null
  dk "$1" import -c 'CMD ["/usr/bin/iperf3","-s"]' "$WORK/iperf.tar" "$IPERF_IMAGE" >/dev/null
}

start_berth() {
  log "starting Berth (bridge $BERTH_BRIDGE)"
  local t0=$SECONDS
  (cd "$ROOT" && ./berth --help >/dev/null)   # build now, so the build is not mistaken for a slow start
  echo "build/up-to-date check: $(( SECONDS - t0 )) s"
  local t1; t1=$(now_s)
  berth_start || exit 1
  "${MEASURE[@]}" meta --out "$RESULTS" --json berth_ready_s "$(python3 -c "import time;print(round(time.time()-$t1,2))")"
}

start_dockerd() {
  log "starting dockerd"
  local t1; t1=$(now_s)
  dockerd_start || return 1
  "${MEASURE[@]}" meta --out "$RESULTS" --json dockerd_ready_s "$(python3 -c "import time;print(round(time.time()-$t1,2))")"
}

# ---- the neighbour host -----------------------------------------------------------------------------------------
setup_neighbour() {
  # 192.168.33.2 is one per machine: the end-to-end tests take their neighbour under the same lock.
  exec 9>/run/berth-test-neighbour.lock
  flock -w 600 9 || { NEIGHBOUR_ERROR="the neighbour lock stayed taken: neighbour tests skipped"; note "$NEIGHBOUR_ERROR"; return 0; }
  if ip -4 addr show | grep -q 'inet 192\.168\.33\.' || ip -4 route show | grep -q '^192\.168\.33\.'; then
    NEIGHBOUR_ERROR="192.168.33.0/24 is already in use on this host: neighbour tests skipped"
    note "$NEIGHBOUR_ERROR"; return 0
  fi
  ip netns add "$NS"
  NS_CREATED=1
  ip link add "$VETH_HOST" type veth peer name "$VETH_NS" netns "$NS"
  ip addr add "$NB_HOST_IP/24" dev "$VETH_HOST"
  ip link set "$VETH_HOST" up
  ip -n "$NS" addr add "$NB_IP/24" dev "$VETH_NS"
  ip -n "$NS" link set "$VETH_NS" up
  ip -n "$NS" link set lo up
}

route_neighbour() {   # $1 = engine subnet: the neighbour reaches container addresses through this host
  [ "$NS_CREATED" = 1 ] && ip -n "$NS" route replace "$1" via "$NB_HOST_IP"
  return 0
}

# ---- measurements -----------------------------------------------------------------------------------------------
measure_startup() {   # both engines (or Berth alone), runs interleaved
  local engines=(--engine berth "unix://$BERTH_SOCK" "$BERTH_PORT")
  [ "$DOCKERD_UP" = 1 ] && engines+=(--engine dockerd "unix://$DOCKERD_SOCK" "$DOCKERD_PORT")
  log "docker run -d -p PORT:80 until curl answers: $RUNS runs (+1 warm-up) per engine, interleaved"
  "${MEASURE[@]}" startup --docker "$DOCKER_CLI" --image "$WEBAPP_IMAGE" --prefix "$PREFIX" --ids-dir "$WORK" \
    --out "$RESULTS" --runs "$RUNS" "${engines[@]}"
  log "docker run -d (no -p) until curl answers at the container's address"
  "${MEASURE[@]}" startup --docker "$DOCKER_CLI" --image "$WEBAPP_IMAGE" --prefix "$PREFIX" --ids-dir "$WORK" \
    --out "$RESULTS" --runs "$RUNS" --by-address "${engines[@]}"
}

measure_engine() {   # $1 = berth|dockerd, $2 = socket, $3 = pid, $4 = range start, $5 = iperf port
  local eng="$1" sock="$2" pid="$3" common
  common=(--docker "$DOCKER_CLI" --host "unix://$sock" --prefix "$PREFIX-$eng" --ids "$WORK/ids.$eng" --out "$RESULTS")
  if [ "$eng" = dockerd ] && [ "$QUICK" = 1 ]; then
    note "dockerd's 1000-port range skipped (--quick)"
  else
    log "$eng: 1000-port range $4-$(( $4 + 999 ))"
    local proxy=() timeout=$BERTH_RANGE_TIMEOUT
    [ "$eng" = dockerd ] && proxy=(--proxy-comm docker-proxy) timeout=$DOCKERD_RANGE_TIMEOUT
    "${MEASURE[@]}" range "${common[@]}" --image "$WEBAPP_IMAGE" --key "$eng.range" --first "$4" --pid "$pid" \
      --timeout "$timeout" "${proxy[@]}"
  fi

  log "$eng: iperf3, ${IPERF_SECS} s x $IPERF_REPS per path"
  local nsargs=(--netns "$NS")
  [ "$NS_CREATED" = 1 ] || nsargs=(--netns-error "$NEIGHBOUR_ERROR")
  "${MEASURE[@]}" iperf "${common[@]}" --image "$IPERF_IMAGE" --key "$eng.iperf" --port "$5" "${nsargs[@]}" \
    --neighbour-host "$NB_HOST_IP" --secs "$IPERF_SECS" --reps "$IPERF_REPS"
}

# Berth next to dockerd, twice: with the FORWARD policy as dockerd left it, then with FORWARD DROP. dockerd sets DROP
# only when it enabled ip_forward itself (libnetwork's setupIPForwarding), i.e. on a host where it started first;
# here Berth already turned ip_forward on, so dockerd leaves the policy alone. The second check (skip it with
# --no-forward-drop) puts the host in the state of such a machine for a few seconds, then restores the policy.
berth_with_dockerd() {
  local pol; pol=$(iptables -S FORWARD | awk '$1=="-P"{print $3}')
  "${MEASURE[@]}" meta --out "$RESULTS" forward_policy_with_dockerd "$pol"
  local nsargs=(--netns "$NS")
  [ "$NS_CREATED" = 1 ] || nsargs=(--netns-error "$NEIGHBOUR_ERROR")
  # shellcheck disable=SC2054  # the comma in --tests is part of the value
  local args=(--docker "$DOCKER_CLI" --host "unix://$BERTH_SOCK" --prefix "$PREFIX-berth" --ids "$WORK/ids.berth"
    --out "$RESULTS" --image "$IPERF_IMAGE" --port "$BERTH_IPERF_PORT" "${nsargs[@]}" --neighbour-host "$NB_HOST_IP"
    --secs 3 --reps 1 --tests loopback-published,neighbour-published)
  log "Berth while dockerd runs, FORWARD policy $pol as dockerd left it"
  "${MEASURE[@]}" iperf "${args[@]}" --key berth.with_dockerd.as_is --tag iperf-co1
  if [ "$FORWARD_DROP" = 1 ]; then
    log "Berth while dockerd runs, FORWARD policy DROP (as on a host where dockerd enabled ip_forward)"
    iptables -P FORWARD DROP
    "${MEASURE[@]}" iperf "${args[@]}" --key berth.with_dockerd.forward_drop --tag iperf-co2 || true
    iptables -P FORWARD "$pol"
  fi
}

cleanup_container_leftovers() {
  # Per-container state outside the roots, left only when a removal failed: runc state, cgroups.
  local id d
  # shellcheck disable=SC2013  # one container id per line, no spaces
  for id in $(cat "$WORK"/ids.* 2>/dev/null); do
    for d in /run/runc/"$id" /sys/fs/cgroup/*/berth/"$id" /sys/fs/cgroup/berth/"$id" /sys/fs/cgroup/*/docker/"$id"; do
      [ -d "$d" ] || continue
      case "$d" in /run/runc/*) rm -rf "$d" ;; *) rmdir "$d" 2>/dev/null ;; esac
    done
  done
  return 0
}

cleanup() {
  local rc=$?
  [ "$CLEANED" = 1 ] && return
  CLEANED=1
  trap '' INT TERM    # a second Ctrl-C must not interrupt the cleanup half way
  set +e
  log "cleaning up"
  berth_stop
  dockerd_stop
  cleanup_container_leftovers
  [ "$NS_CREATED" = 1 ] && ip netns del "$NS" 2>/dev/null
  ip link show "$VETH_HOST" >/dev/null 2>&1 && ip link del "$VETH_HOST"
  mkdir -p "$LOGS"
  cp -f "$WORK"/*.log "$LOGS"/ 2>/dev/null
  engines_cleanup
  verify_clean
  exit "$rc"
}

verify_clean() {
  local left=()
  ip -br link | awk '{print $1}' | grep -qE "^($BERTH_BRIDGE|$VETH_HOST)(@|$)" && left+=("links $BERTH_BRIDGE/$VETH_HOST")
  [ -n "$DOCKERD_PID" ] && ip link show docker0 >/dev/null 2>&1 && left+=("link docker0")
  ip netns list | grep -qw "$NS" && left+=("netns $NS")
  nft list tables | grep -q "berth_$BERTH_BRIDGE" && left+=("nft table berth_$BERTH_BRIDGE")
  { iptables -S; iptables -t nat -S; } 2>/dev/null | grep -q -i docker && left+=("iptables DOCKER rules")
  alive "$BERTH_PID" && left+=("berth pid $BERTH_PID")
  alive "$DOCKERD_PID" && left+=("dockerd pid $DOCKERD_PID")
  pgrep -af -- "$WORK/" >/dev/null && left+=("processes: $(pgrep -f -- "$WORK/" | tr '\n' ' ')")
  grep -qF "$WORK/" /proc/self/mountinfo && left+=("mounts under $WORK")
  [ -e "$WORK" ] && left+=("dir $WORK")
  if [ ${#left[@]} -eq 0 ]; then echo "cleanup verified: nothing left from this run"; else
    echo "LEFT OVER: ${left[*]}"; fi
}

# ---- main -------------------------------------------------------------------------------------------------------
main() {
  trap cleanup EXIT
  trap 'echo "interrupted"; exit 130' INT
  trap 'exit 143' TERM
  mkdir -p "$RESULTS_DIR"
  rm -f "$RESULTS"

  install_deps
  pick_ports
  local m=("${MEASURE[@]}" meta --out "$RESULTS")
  "${m[@]}" date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  # the last commit that changed the engine (bench/ commits do not change what is measured)
  "${m[@]}" berth_commit "$(git -C "$ROOT" log -1 --format=%h -- src)$(git -C "$ROOT" diff --quiet HEAD -- src || echo -dirty)"
  "${m[@]}" docker_cli "$("$DOCKER_CLI" --version)"
  [ "$BERTH_ONLY" = 1 ] || "${m[@]}" dockerd_version "$(dockerd --version)"
  "${m[@]}" kernel "$(uname -r)"
  "${m[@]}" loadavg_start "$(cut -d' ' -f1-3 /proc/loadavg)"   # the machine is shared: say how busy it was
  "${m[@]}" --json cpus "$(nproc)"
  "${m[@]}" --json options "{\"quick\": $([ $QUICK = 1 ] && echo true || echo false), \"berth_only\": $([ $BERTH_ONLY = 1 ] && echo true || echo false), \"runs\": $RUNS, \"iperf_secs\": $IPERF_SECS, \"iperf_reps\": $IPERF_REPS}"
  "${m[@]}" --json forward_drop "$([ "$FORWARD_DROP" = 1 ] && [ "$BERTH_ONLY" = 0 ] && echo true || echo false)"
  "${m[@]}" --json ports "{\"berth_startup\": $BERTH_PORT, \"dockerd_startup\": $DOCKERD_PORT, \"berth_range\": $BERTH_RANGE, \"dockerd_range\": $DOCKERD_RANGE, \"berth_iperf\": $BERTH_IPERF_PORT, \"dockerd_iperf\": $DOCKERD_IPERF_PORT}"
  echo "ports: startup $BERTH_PORT/$DOCKERD_PORT, ranges $BERTH_RANGE/$DOCKERD_RANGE, iperf $BERTH_IPERF_PORT/$DOCKERD_IPERF_PORT"

  make_rootfs_tars
  setup_neighbour

  # Both engines up side by side (dockerd idle while Berth is measured and the other way round), so the docker-run
  # runs can be interleaved: on a shared machine that keeps their ratio honest while absolute figures drift.
  start_berth
  import_images "$BERTH_SOCK"
  route_neighbour "$BERTH_PREFIX.0/24"
  if [ "$BERTH_ONLY" = 0 ]; then
    if start_dockerd; then
      import_images "$DOCKERD_SOCK"
      route_neighbour "$DOCKERD_PREFIX.0/24"
      DOCKERD_UP=1
    else
      note "dockerd could not be started: dockerd figures missing"
    fi
  fi

  "${m[@]}" subnets "berth $BERTH_BIP ($BERTH_BRIDGE), dockerd ${DOCKERD_BIP:-none} (docker0), neighbour 192.168.33.0/24 ($NS)"
  echo "work dir $WORK; Berth $BERTH_BIP on $BERTH_BRIDGE; dockerd ${DOCKERD_BIP:-none} on docker0; neighbour netns $NS"
  measure_startup
  measure_engine berth "$BERTH_SOCK" "$BERTH_PID" "$BERTH_RANGE" "$BERTH_IPERF_PORT"
  if [ "$DOCKERD_UP" = 1 ]; then
    measure_engine dockerd "$DOCKERD_SOCK" "$DOCKERD_PID" "$DOCKERD_RANGE" "$DOCKERD_IPERF_PORT"
    berth_with_dockerd
  fi

  "${MEASURE[@]}" meta --out "$RESULTS" loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg)"
  "${MEASURE[@]}" report --results "$RESULTS" | tee "$WORK/table.txt"
  cp "$WORK/table.txt" "$RESULTS_DIR/latest.txt"
  echo
  echo "results: $RESULTS"
}

main "$@"
