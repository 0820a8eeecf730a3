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
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
TAG=$(printf '%04x' $(( $$ % 65536 )))
WORK=$(mktemp -d "/tmp/berth-bench-$TAG.XXXXXX")
RESULTS_DIR="$BENCH/results"
RESULTS="$RESULTS_DIR/latest.json"
LOGS="$RESULTS_DIR/last-run"
PREFIX="bbench-$TAG"                       # container names
BERTH_BRIDGE="bbn$TAG"                     # <= 15 characters, like every link name below
BERTH_SOCK="$WORK/berth/berth.sock"
DOCKERD_DIR="$WORK/docker"
DOCKERD_SOCK="$DOCKERD_DIR/docker.sock"
NS="bbench-nb-$TAG"                        # the neighbour host
VETH_HOST="bbnh$TAG" VETH_NS="bbnn$TAG"
NB_HOST_IP=192.168.33.2 NB_IP=192.168.33.3  # 192.168.33.0/24 is reserved for the neighbour, nothing else
WEBAPP_IMAGE=webapp:noexpose
IPERF_IMAGE="bbench-iperf:$TAG"
DOCKER_CLI=/usr/local/bin/docker            # the unmodified docker CLI 28.x, the client of both engines
[ -x "$DOCKER_CLI" ] || DOCKER_CLI=$(command -v docker)

# State the cleanup needs; empty/0 = nothing to undo.
BERTH_PID="" DOCKERD_PID="" DOCKERD_UP=0 DOCKERD_STARTED=0 POLICY_RC_CREATED=0 NS_CREATED=0 CLEANED=0
DOCKER_PROXY_PIDS=""
BEFORE_FORWARD_POLICY="" BEFORE_FILTER_TABLE=1 BEFORE_NAT_TABLE=1 BEFORE_ETC_DOCKER=1 BEFORE_RUN_DOCKER=1
BEFORE_SYSCTLS=""
BEFORE_DOCKER_CGROUPS=""
NEIGHBOUR_ERROR=""

log() { printf '\n== %s\n' "$*"; }
dk() { local host="$1"; shift; DOCKER_HOST="unix://$host" "$DOCKER_CLI" "$@"; }
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
note() { "${MEASURE[@]}" note --out "$RESULTS" "$*"; echo "note: $*"; }

# ---- 1. packages ------------------------------------------------------------------------------------------------
# docker.io starts dockerd and containerd from its maintainer scripts unless policy-rc.d forbids it; a service we did
# not start ourselves would hold docker0 and the iptables rules, so forbid it for the install and check afterwards.
install_deps() {
  local want=(iperf3 curl iproute2 nftables iptables busybox-static python3 procps util-linux) missing=() p
  [ "$BERTH_ONLY" = 1 ] || want+=(docker.io)
  for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\n# berth bench: no service starts during the install\nexit 101\n' >/usr/sbin/policy-rc.d
      chmod 755 /usr/sbin/policy-rc.d
      POLICY_RC_CREATED=1
    fi
    local before; before=$(pgrep -x 'dockerd|containerd' | sort || true)
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    remove_policy_rc
    # Belt and braces: a daemon that appeared during the install was started by it.
    if [ -d /run/systemd/system ]; then
      systemctl stop docker.socket docker.service containerd.service 2>/dev/null || true
    fi
    for p in $(comm -13 <(echo "$before") <(pgrep -x 'dockerd|containerd' | sort || true)); do
      echo "stopping $(ps -o comm= -p "$p") ($p) started by the package install"
      kill "$p" 2>/dev/null || true
    done
  fi
  # Berth's own runtime dependencies (runc, conmon, nftables, ...) and the .NET SDK check.
  bash "$ROOT/scripts/install-deps.sh"
}

remove_policy_rc() {
  if [ "$POLICY_RC_CREATED" = 1 ] && grep -q 'berth bench' /usr/sbin/policy-rc.d 2>/dev/null; then
    rm -f /usr/sbin/policy-rc.d
  fi
  POLICY_RC_CREATED=0
}

# ---- addresses and ports that nobody else on the machine uses ---------------------------------------------------
subnet_free() {   # $1 = "10.a.b": no route and no address in 10.a.b.0/24 yet
  ! ip -4 route show | grep -q "^$1\.0/" && ! ip -4 addr show | grep -q "inet $1\."
}

pick_subnets() {
  local b
  DOCKERD_PREFIX=""
  for b in 0 $(seq 1 254); do subnet_free "10.213.$b" && { DOCKERD_PREFIX="10.213.$b"; break; }; done
  BERTH_PREFIX=""
  for b in $(seq $(( $$ % 200 + 1 )) 254) $(seq 1 254); do
    subnet_free "10.214.$b" && { BERTH_PREFIX="10.214.$b"; break; }
  done
  if [ -z "$DOCKERD_PREFIX" ] || [ -z "$BERTH_PREFIX" ]; then echo "no free 10.213/10.214 subnet" >&2; exit 1; fi
  DOCKERD_BIP="$DOCKERD_PREFIX.1/24" BERTH_BIP="$BERTH_PREFIX.1/24"
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

# ---- daemons ----------------------------------------------------------------------------------------------------
wait_ping() {   # $1 = socket, $2 = pid, $3 = seconds
  for _ in $(seq $(( $3 * 10 ))); do
    curl -sf --unix-socket "$1" http://x/_ping >/dev/null 2>&1 && return 0
    alive "$2" || return 1
    sleep 0.1
  done
  return 1
}

# setsid: a Ctrl-C in the terminal must reach this script (whose trap removes containers first), not the daemons.
start_berth() {
  log "starting Berth (bridge $BERTH_BRIDGE, $BERTH_BIP)"
  mkdir -p "$WORK/berth"
  local t0=$SECONDS
  (cd "$ROOT" && ./berth --help >/dev/null)   # build now, so the build is not mistaken for a slow start
  echo "build/up-to-date check: $(( SECONDS - t0 )) s"
  cd "$ROOT"
  setsid ./berth daemon --host "unix://$BERTH_SOCK" --data-root "$WORK/berth/data" --exec-root "$WORK/berth/exec" \
    --bridge "$BERTH_BRIDGE" --bip "$BERTH_BIP" >"$WORK/berth.log" 2>&1 &
  BERTH_PID=$!
  cd - >/dev/null
  local t1; t1=$(date +%s.%N)
  if ! wait_ping "$BERTH_SOCK" "$BERTH_PID" 60; then
    echo "Berth did not come up; its log:" >&2; tail -30 "$WORK/berth.log" >&2; exit 1
  fi
  "${MEASURE[@]}" meta --out "$RESULTS" --json berth_ready_s "$(python3 -c "import time;print(round(time.time()-$t1,2))")"
  echo "Berth up, pid $BERTH_PID ($(readlink /proc/$BERTH_PID/exe))"
}

record_host_state() {
  # What dockerd changes, so the cleanup can put it back exactly.
  BEFORE_FORWARD_POLICY=$(iptables -S FORWARD 2>/dev/null | awk '$1=="-P"{print $3}')
  BEFORE_FORWARD_POLICY=${BEFORE_FORWARD_POLICY:-ACCEPT}
  nft list table ip filter >/dev/null 2>&1 || BEFORE_FILTER_TABLE=0
  nft list table ip nat >/dev/null 2>&1 || BEFORE_NAT_TABLE=0
  [ -e /etc/docker ] || BEFORE_ETC_DOCKER=0
  [ -e /run/docker ] || BEFORE_RUN_DOCKER=0
  BEFORE_DOCKER_CGROUPS=$(ls -d /sys/fs/cgroup/*/docker /sys/fs/cgroup/docker 2>/dev/null || true)
  BEFORE_SYSCTLS=$(sysctl -e net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables \
    2>/dev/null | tr -d ' ')
}

start_dockerd() {
  log "starting dockerd (docker0, $DOCKERD_BIP)"
  # docker0 and the DOCKER chains must be ours alone, or the cleanup could not tell what to remove.
  if ip link show docker0 >/dev/null 2>&1; then echo "docker0 already exists: another dockerd runs here" >&2; return 1; fi
  if iptables -S DOCKER >/dev/null 2>&1 || iptables -t nat -S DOCKER >/dev/null 2>&1; then
    echo "iptables DOCKER chains already exist: another dockerd runs here" >&2; return 1
  fi
  record_host_state
  mkdir -p "$DOCKERD_DIR"
  DOCKERD_STARTED=1
  local t1; t1=$(date +%s.%N)
  setsid dockerd --host "unix://$DOCKERD_SOCK" --data-root "$DOCKERD_DIR/data" --exec-root "$DOCKERD_DIR/exec" \
    --pidfile "$DOCKERD_DIR/docker.pid" --bip "$DOCKERD_BIP" >"$WORK/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  if ! wait_ping "$DOCKERD_SOCK" "$DOCKERD_PID" 60; then
    echo "dockerd did not come up; its log:" >&2; tail -30 "$WORK/dockerd.log" >&2; return 1
  fi
  "${MEASURE[@]}" meta --out "$RESULTS" --json dockerd_ready_s "$(python3 -c "import time;print(round(time.time()-$t1,2))")"
  echo "dockerd up, pid $DOCKERD_PID; FORWARD policy now $(iptables -S FORWARD | awk '$1=="-P"{print $3}')" \
       "(was $BEFORE_FORWARD_POLICY)"
}

stop_daemon() {   # $1 = name, $2 = pid: SIGTERM, then SIGKILL after 30 s; always reaped
  local pid="$2"
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 300); do alive "$pid" || break; sleep 0.1; done
  if alive "$pid"; then echo "$1 ($pid) ignored SIGTERM for 30 s: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
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

# ---- 5. cleanup: runs on every exit ------------------------------------------------------------------------------
remove_containers() {   # $1 = socket, $2 = pid
  alive "$2" || return 0
  local ids; ids=$(timeout 30 env DOCKER_HOST="unix://$1" "$DOCKER_CLI" ps -aq 2>/dev/null || true)
  [ -n "$ids" ] || return 0
  echo "removing containers: $(tr '\n' ' ' <<<"$ids")"
  # shellcheck disable=SC2086
  timeout 300 env DOCKER_HOST="unix://$1" "$DOCKER_CLI" rm -f $ids >/dev/null 2>&1 || echo "docker rm -f failed or timed out"
}

kill_leftover_processes() {
  # Supervisors (conmon, containerd, containerd-shim, runc) carry our temp dir on their command line; container
  # processes whose supervisor died are found by their root directory; docker-proxy by the pids noted earlier.
  local p pids=() root
  for p in $(pgrep -f -- "$WORK/"); do pids+=("$p"); done   # pgrep never lists itself
  for p in /proc/[0-9]*; do
    root=$(readlink "$p/root" 2>/dev/null || true)
    case "$root" in "$WORK"/*) pids+=("${p#/proc/}") ;; esac
  done
  for p in $DOCKER_PROXY_PIDS; do alive "$p" && pids+=("$p"); done
  [ ${#pids[@]} -gt 0 ] || return 0
  echo "ending leftover processes: ${pids[*]}"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  sleep 2
  for p in "${pids[@]}"; do alive "$p" && kill -KILL "$p" 2>/dev/null; done
  return 0
}

unmount_work() {
  local m
  for _ in 1 2 3 4 5; do      # nested mounts: repeat until nothing is left under the temp dir
    m=$(awk -v w="$WORK/" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r)
    [ -n "$m" ] || return 0
    for m in $m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  done
}

cleanup_docker_host_state() {
  [ "$DOCKERD_STARTED" = 1 ] || return 0
  ip link show docker0 >/dev/null 2>&1 && ip link del docker0
  local t line c
  # Rules dockerd put into the built-in chains: jumps to its chains, docker0 rules, masquerade of its subnet.
  for t in filter nat; do
    iptables -t "$t" -S 2>/dev/null | grep -E '^-A (INPUT|FORWARD|OUTPUT|PREROUTING|POSTROUTING) ' \
      | grep -E -- "-j DOCKER|-[io] docker0( |$)|-s $DOCKERD_PREFIX\.0/24" | while read -r line; do
        # shellcheck disable=SC2086
        iptables -t "$t" ${line/#-A/-D} || true
      done
    for c in DOCKER-USER DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2 DOCKER; do iptables -t "$t" -F "$c" 2>/dev/null; done
    for c in DOCKER-USER DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2 DOCKER; do iptables -t "$t" -X "$c" 2>/dev/null; done
  done
  iptables -P FORWARD "${BEFORE_FORWARD_POLICY:-ACCEPT}" 2>/dev/null
  # iptables-nft created the tables ip filter / ip nat for dockerd; drop them when they are ours and now empty.
  [ "$BEFORE_FILTER_TABLE" = 0 ] && ! iptables -S | grep -qv '^-P' && nft delete table ip filter 2>/dev/null
  [ "$BEFORE_NAT_TABLE" = 0 ] && ! iptables -t nat -S | grep -qv '^-P' && nft delete table ip nat 2>/dev/null
  # sysctls dockerd may have turned on
  local kv
  for kv in $BEFORE_SYSCTLS; do
    [ "$(sysctl -n "${kv%%=*}" 2>/dev/null)" = "${kv#*=}" ] || sysctl -qw "$kv"
  done
  # Files outside its roots: /etc/docker/key.json (libtrust key), /run/docker/plugins, the cgroup parent "docker".
  [ "$BEFORE_ETC_DOCKER" = 0 ] && rm -rf /etc/docker
  [ "$BEFORE_RUN_DOCKER" = 0 ] && rm -rf /run/docker
  local cg
  for cg in /sys/fs/cgroup/*/docker /sys/fs/cgroup/docker; do
    [ -d "$cg" ] || continue
    grep -qxF "$cg" <<<"$BEFORE_DOCKER_CGROUPS" && continue
    find "$cg" -depth -mindepth 0 -type d -exec rmdir {} \; 2>/dev/null
  done
  return 0
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
  remove_containers "$BERTH_SOCK" "$BERTH_PID"
  remove_containers "$DOCKERD_SOCK" "$DOCKERD_PID"
  alive "$DOCKERD_PID" && DOCKER_PROXY_PIDS=$(pgrep -P "$DOCKERD_PID" -x docker-proxy | tr '\n' ' ')
  stop_daemon berth "$BERTH_PID"
  stop_daemon dockerd "$DOCKERD_PID"
  kill_leftover_processes
  unmount_work
  [ "$NS_CREATED" = 1 ] && ip netns del "$NS" 2>/dev/null
  ip link show "$VETH_HOST" >/dev/null 2>&1 && ip link del "$VETH_HOST"
  ip link show "$BERTH_BRIDGE" >/dev/null 2>&1 && ip link del "$BERTH_BRIDGE"
  nft list table ip "berth_$BERTH_BRIDGE" >/dev/null 2>&1 && nft delete table ip "berth_$BERTH_BRIDGE"
  nft list table ip "berth_${BERTH_BRIDGE}_user" >/dev/null 2>&1 && nft delete table ip "berth_${BERTH_BRIDGE}_user"
  cleanup_docker_host_state
  cleanup_container_leftovers
  remove_policy_rc
  mkdir -p "$LOGS"
  cp -f "$WORK"/*.log "$LOGS"/ 2>/dev/null
  if awk -v w="$WORK/" 'index($5, w) == 1' /proc/self/mountinfo | grep -q .; then
    echo "WARNING: mounts remain under $WORK; not removing it"
  else
    rm -rf --one-file-system "$WORK"
  fi
  verify_clean
  exit "$rc"
}

verify_clean() {
  local left=()
  ip -br link | awk '{print $1}' | grep -qE "^($BERTH_BRIDGE|$VETH_HOST)(@|$)" && left+=("links $BERTH_BRIDGE/$VETH_HOST")
  [ "$DOCKERD_STARTED" = 1 ] && ip link show docker0 >/dev/null 2>&1 && left+=("link docker0")
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
  pick_subnets
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
  "${m[@]}" subnets "berth $BERTH_BIP ($BERTH_BRIDGE), dockerd $DOCKERD_BIP (docker0), neighbour 192.168.33.0/24 ($NS)"
  echo "work dir $WORK; Berth $BERTH_BIP on $BERTH_BRIDGE; dockerd $DOCKERD_BIP on docker0; neighbour netns $NS"
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
