# Shared by the benchmarks under bench/: a Berth daemon and Debian's dockerd 20.10 side by side, driven by the same
# docker CLI, and a cleanup that leaves the machine as it found it (also what dockerd leaves in iptables).
#
#   ROOT=...; source "$ROOT/bench/lib/engines.sh"
#   engines_begin BERTH_ONLY [packages]  # the exit trap (engines_cleanup), then engines_install (no docker.io when 1)
#   engines_install [--no-dockerd] [packages]  # apt-get what the benches need (docker.io without starting its services)
#   berth_start [daemon flags]       # sets BERTH_SOCK BERTH_PID BERTH_WORK BERTH_BRIDGE BERTH_BIP BERTH_PREFIX
#   dockerd_start [dockerd flags]    # machine-wide lock (one dockerd at a time); sets DOCKERD_SOCK DOCKERD_PID
#                                    # DOCKERD_BIP DOCKERD_PREFIX; returns 1 (with the reason) when it cannot start
#   bk ARGS / dkd ARGS               # the docker CLI against Berth / dockerd (not "dd": that is coreutils')
#   berth_stop / dockerd_stop        # remove their containers, stop, put the host back
#   rss_kb PID; now_s; alive PID; wait_ping SOCK PID SECONDS
#   free_port_run COUNT              # the first of COUNT consecutive TCP ports free now for both families
#   wait_answer PORT                 # until http://127.0.0.1:PORT/ answers (60 s at most)
# BERTH_CMD (default: the checkout's ./berth) runs another build of Berth, e.g. a copy of an earlier one to compare.
# BENCH_WORK is a temp dir removed by engines_cleanup; BENCH_TAG is unique to this run (names of links, tables).

ENGINES_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DOCKER_CLI=${DOCKER_CLI:-/usr/local/bin/docker}; [ -x "$DOCKER_CLI" ] || DOCKER_CLI=$(command -v docker)
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
BENCH_TAG=$(printf '%04x' $(( $$ % 65536 )))
BENCH_WORK=$(mktemp -d "/tmp/berth-bench-$BENCH_TAG.XXXXXX")
DOCKERD_LOCK=/run/berth-bench-dockerd.lock

BERTH_PID="" BERTH_SOCK="" BERTH_WORK="$BENCH_WORK/berth" BERTH_BRIDGE="bbn$BENCH_TAG" BERTH_BIP="" BERTH_PREFIX=""
DOCKERD_PID="" DOCKERD_SOCK="" DOCKERD_DIR="$BENCH_WORK/docker" DOCKERD_BIP="" DOCKERD_PREFIX="" DOCKERD_STARTED=0
DOCKER_PROXY_PIDS="" POLICY_RC_CREATED=0 ENGINES_CLEANED=0
BEFORE_FORWARD_POLICY="" BEFORE_FILTER_TABLE=1 BEFORE_NAT_TABLE=1 BEFORE_ETC_DOCKER=1 BEFORE_RUN_DOCKER=1
BEFORE_SYSCTLS="" BEFORE_DOCKER_CGROUPS=""

bk() { DOCKER_HOST="unix://$BERTH_SOCK" "$DOCKER_CLI" "$@"; }
dkd() { DOCKER_HOST="unix://$DOCKERD_SOCK" "$DOCKER_CLI" "$@"; }
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
now_s() { date +%s.%N; }

free_port_run() {   # $1 = count: below the ephemeral range, starting at a place that depends on this run
  python3 - "$1" <<'PY'
import random, socket, sys
count = int(sys.argv[1])
for _ in range(300):
    first = random.randrange(20000, 32768 - count)
    held = []
    try:
        for p in range(first, first + count):
            s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            held.append(s)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)   # one bind proves both families free
            s.bind(("::", p))
        print(first)
        sys.exit(0)
    except OSError:
        pass
    finally:
        for s in held: s.close()
sys.exit("no run of %d free ports below 32768" % count)
PY
}

start_acceptor() {   # $1 = CLI function, $2 = container, $3 = port: bench/acceptor.py in its network namespace
  local pid; pid=$("$1" inspect -f '{{.State.Pid}}' "$2")
  nsenter --net="/proc/$pid/ns/net" python3 "$ENGINES_ROOT/bench/acceptor.py" "$3" &
  ACCEPTOR_PIDS+=" $!"
}
stop_acceptors() { local p; for p in ${ACCEPTOR_PIDS:-}; do kill "$p" 2>/dev/null || true; done; ACCEPTOR_PIDS=""; }
wait_connect() {   # $1 = host, $2 = port: until a TCP connect succeeds (60 s at most)
  local _
  for _ in $(seq 600); do
    python3 -c "import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 1).close()" "$1" "$2" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$1 port $2 did not accept" >&2; return 1
}
wait_answer() {   # $1 = port
  local _
  for _ in $(seq 600); do curl -s -m 2 --noproxy '*' "http://127.0.0.1:$1/" >/dev/null && return 0; sleep 0.1; done
  echo "port $1 did not answer" >&2; return 1
}

# ---- packages: docker.io starts dockerd and containerd from its maintainer scripts unless policy-rc.d forbids it;
# a service we did not start ourselves would hold docker0 and the iptables rules.
engines_install() {   # [--no-dockerd] [more packages]
  local want=(curl iproute2 nftables iptables busybox-static python3 procps util-linux) missing=() p
  if [ "${1:-}" = --no-dockerd ]; then shift; else want+=(docker.io); fi
  want+=("$@")
  for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}"
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\n# berth bench: no service starts during the install\nexit 101\n' >/usr/sbin/policy-rc.d
      chmod 755 /usr/sbin/policy-rc.d
      POLICY_RC_CREATED=1
    fi
    local before; before=$(daemon_pids)
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    remove_policy_rc
    [ -d /run/systemd/system ] && systemctl stop docker.socket docker.service containerd.service 2>/dev/null
    for p in $(comm -13 <(echo "$before") <(daemon_pids)); do
      echo "stopping $(ps -o comm= -p "$p") ($p) started by the package install"
      kill "$p" 2>/dev/null || true
    done
  fi
  bash "$ENGINES_ROOT/scripts/install-deps.sh"
}

daemon_pids() { { pgrep -x dockerd; pgrep -x containerd; } | sort || true; }

engines_begin() {   # $1 = 1 for Berth alone; more arguments: packages the bench needs
  trap engines_cleanup EXIT; trap 'exit 130' INT; trap 'exit 143' TERM
  local berth_only="${1:-0}"; shift || true
  if [ "$berth_only" = 1 ]; then engines_install --no-dockerd "$@"; else engines_install "$@"; fi
}

remove_policy_rc() {
  if [ "$POLICY_RC_CREATED" = 1 ] && grep -q 'berth bench' /usr/sbin/policy-rc.d 2>/dev/null; then
    rm -f /usr/sbin/policy-rc.d
  fi
  POLICY_RC_CREATED=0
}

# ---- addresses nobody else on the machine uses ----------------------------------------------------------------
subnet_free() {   # $1 = "10.a.b": no route and no address in 10.a.b.0/24 yet
  ! ip -4 route show | grep -q "^$1\.0/" && ! ip -4 addr show | grep -q "inet $1\."
}

free_prefix() {   # $1 = "10.a": prints a free "10.a.b", starting at a place that depends on this run
  local b
  for b in $(seq $(( $$ % 200 + 1 )) 254) $(seq 1 254); do subnet_free "$1.$b" && { echo "$1.$b"; return 0; }; done
  echo "no free $1.x.0/24 subnet" >&2; return 1
}

wait_ping() {   # $1 = socket, $2 = pid, $3 = seconds
  for _ in $(seq $(( $3 * 10 ))); do
    curl -sf --unix-socket "$1" http://x/_ping >/dev/null 2>&1 && return 0
    alive "$2" || return 1
    sleep 0.1
  done
  return 1
}

stop_daemon() {   # $1 = name, $2 = pid: SIGTERM, then SIGKILL after 30 s; always reaped
  local pid="$2"
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 300); do alive "$pid" || break; sleep 0.1; done
  if alive "$pid"; then echo "$1 ($pid) ignored SIGTERM for 30 s: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
}

remove_containers() {   # $1 = socket, $2 = pid
  alive "$2" || return 0
  local ids; ids=$(timeout 30 env DOCKER_HOST="unix://$1" "$DOCKER_CLI" ps -aq 2>/dev/null || true)
  [ -n "$ids" ] || return 0
  # shellcheck disable=SC2086
  timeout 300 env DOCKER_HOST="unix://$1" "$DOCKER_CLI" rm -f $ids >/dev/null 2>&1 || echo "docker rm -f failed or timed out"
}

# ---- Berth ----------------------------------------------------------------------------------------------------
# setsid: a Ctrl-C in the terminal must reach the bench (whose trap removes containers first), not the daemons.
berth_start() {
  BERTH_PREFIX=$(free_prefix 10.214) || return 1
  BERTH_BIP="$BERTH_PREFIX.1/24" BERTH_SOCK="$BERTH_WORK/berth.sock"
  mkdir -p "$BERTH_WORK"
  (cd "$ENGINES_ROOT" && "${BERTH_CMD:-./berth}" --help >/dev/null)   # build first, so a build is not mistaken for a slow start
  local pool; pool="$(free_prefix 10.215 | cut -d. -f1-2).0.0/16"
  (cd "$ENGINES_ROOT" && exec setsid "${BERTH_CMD:-./berth}" daemon --host "unix://$BERTH_SOCK" --data-root "$BERTH_WORK/data" \
    --exec-root "$BERTH_WORK/exec" --bridge "$BERTH_BRIDGE" --bip "$BERTH_BIP" \
    --default-address-pool "base=$pool,size=24" "$@") >"$BENCH_WORK/berth.log" 2>&1 &
  BERTH_PID=$!
  wait_ping "$BERTH_SOCK" "$BERTH_PID" 60 || { echo "Berth did not come up:" >&2; tail -30 "$BENCH_WORK/berth.log" >&2; return 1; }
  echo "Berth up, pid $BERTH_PID, bridge $BERTH_BRIDGE $BERTH_BIP"
}

berth_stop() {
  local -; set +e   # a cleanup step that finds nothing to undo must not end a bench running under set -e
  [ -n "$BERTH_PID" ] || return 0
  remove_containers "$BERTH_SOCK" "$BERTH_PID"
  bk network ls -q --filter type=custom 2>/dev/null | xargs -r env DOCKER_HOST="unix://$BERTH_SOCK" "$DOCKER_CLI" network rm >/dev/null 2>&1
  stop_daemon berth "$BERTH_PID"
  ip link show "$BERTH_BRIDGE" >/dev/null 2>&1 && ip link del "$BERTH_BRIDGE"
  local t
  for t in "berth_$BERTH_BRIDGE" "berth_${BERTH_BRIDGE}_user"; do
    nft list table ip "$t" >/dev/null 2>&1 && nft delete table ip "$t"
  done
  return 0
}

# ---- dockerd --------------------------------------------------------------------------------------------------
record_host_state() {   # what dockerd changes, so dockerd_stop can put it back exactly
  BEFORE_FORWARD_POLICY=$(iptables -S FORWARD 2>/dev/null | awk '$1=="-P"{print $3}')
  BEFORE_FORWARD_POLICY=${BEFORE_FORWARD_POLICY:-ACCEPT}
  nft list table ip filter >/dev/null 2>&1 || BEFORE_FILTER_TABLE=0
  nft list table ip nat >/dev/null 2>&1 || BEFORE_NAT_TABLE=0
  [ -e /etc/docker ] || BEFORE_ETC_DOCKER=0
  [ -e /run/docker ] || BEFORE_RUN_DOCKER=0
  BEFORE_DOCKER_CGROUPS=$(ls -d /sys/fs/cgroup/*/docker /sys/fs/cgroup/docker 2>/dev/null || true)
  # --ipv6 (bench/ipv6.sh) turns IPv6 forwarding on as well.
  BEFORE_SYSCTLS=$(sysctl -e net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables \
    net.ipv6.conf.all.forwarding net.ipv6.conf.default.forwarding 2>/dev/null | tr -d ' ')
}

dockerd_start() {
  command -v dockerd >/dev/null || { echo "dockerd is not installed (engines_install)" >&2; return 1; }
  # One dockerd per machine: docker0 and the DOCKER chains must be ours alone, or the cleanup could not tell what
  # to remove. Other benches wait here for theirs to finish.
  exec 8>"$DOCKERD_LOCK"
  flock -w 1800 8 || { echo "another bench held the dockerd lock for 30 minutes" >&2; return 1; }
  if ip link show docker0 >/dev/null 2>&1; then echo "docker0 already exists: another dockerd runs here" >&2; return 1; fi
  if iptables -S DOCKER >/dev/null 2>&1 || iptables -t nat -S DOCKER >/dev/null 2>&1; then
    echo "iptables DOCKER chains already exist: another dockerd runs here" >&2; return 1
  fi
  DOCKERD_PREFIX=$(free_prefix 10.213) || return 1
  DOCKERD_BIP="$DOCKERD_PREFIX.1/24" DOCKERD_SOCK="$DOCKERD_DIR/docker.sock"
  record_host_state
  mkdir -p "$DOCKERD_DIR"
  DOCKERD_STARTED=1
  setsid dockerd --host "unix://$DOCKERD_SOCK" --data-root "$DOCKERD_DIR/data" --exec-root "$DOCKERD_DIR/exec" \
    --pidfile "$DOCKERD_DIR/docker.pid" --bip "$DOCKERD_BIP" "$@" >"$BENCH_WORK/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  wait_ping "$DOCKERD_SOCK" "$DOCKERD_PID" 60 || { echo "dockerd did not come up:" >&2; tail -30 "$BENCH_WORK/dockerd.log" >&2; return 1; }
  echo "dockerd up, pid $DOCKERD_PID, docker0 $DOCKERD_BIP; FORWARD policy $(iptables -S FORWARD | awk '$1=="-P"{print $3}')" \
       "(was $BEFORE_FORWARD_POLICY)"
}

dockerd_stop() {
  local -; set +e   # a cleanup step that finds nothing to undo must not end a bench running under set -e
  [ "$DOCKERD_STARTED" = 1 ] || return 0
  remove_containers "$DOCKERD_SOCK" "$DOCKERD_PID"
  # A stopped dockerd leaves the bridges of its user networks behind: remove the networks while it runs.
  alive "$DOCKERD_PID" && dkd network ls -q --filter type=custom 2>/dev/null \
    | xargs -r env DOCKER_HOST="unix://$DOCKERD_SOCK" "$DOCKER_CLI" network rm >/dev/null 2>&1
  alive "$DOCKERD_PID" && DOCKER_PROXY_PIDS=$(pgrep -P "$DOCKERD_PID" -x docker-proxy | tr '\n' ' ')
  stop_daemon dockerd "$DOCKERD_PID"
  local p; for p in $DOCKER_PROXY_PIDS; do alive "$p" && kill -KILL "$p" 2>/dev/null; done
  unmount_under "$DOCKERD_DIR"
  restore_docker_host_state
  DOCKERD_STARTED=0
  flock -u 8 2>/dev/null; exec 8>&-
}

restore_docker_host_state() {
  ip link show docker0 >/dev/null 2>&1 && ip link del docker0
  local t line c
  # Rules dockerd put into the built-in chains: jumps to its chains, docker0 rules, masquerade of its subnet.
  for t in filter nat; do
    iptables -t "$t" -S 2>/dev/null | grep -E '^-A (INPUT|FORWARD|OUTPUT|PREROUTING|POSTROUTING) ' \
      | grep -E -- "-j DOCKER|-[io] docker0( |$)|-[io] br-[0-9a-f]+( |$)|-s $DOCKERD_PREFIX\.0/24" | while read -r line; do
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

# ---- cleanup ----------------------------------------------------------------------------------------------------
unmount_under() {   # $1 = dir: nested mounts, repeated until nothing is left under it
  local m
  for _ in 1 2 3 4 5; do
    m=$(awk -v w="$1/" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r)
    [ -n "$m" ] || return 0
    for m in $m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  done
}

kill_leftover_processes() {
  # Supervisors (conmon, containerd-shim, runc) carry the work dir on their command line; container processes whose
  # supervisor died are found by their root directory.
  local p pids=() root
  for p in $(pgrep -f -- "$BENCH_WORK/"); do pids+=("$p"); done
  for p in /proc/[0-9]*; do
    root=$(readlink "$p/root" 2>/dev/null || true)
    case "$root" in "$BENCH_WORK"/*) pids+=("${p#/proc/}") ;; esac
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  sleep 1
  for p in "${pids[@]}"; do alive "$p" && kill -KILL "$p" 2>/dev/null; done
  return 0
}

engines_cleanup() {
  local rc=$?
  [ "$ENGINES_CLEANED" = 1 ] && return "$rc"
  ENGINES_CLEANED=1
  trap '' INT TERM    # a second Ctrl-C must not interrupt the cleanup half way
  set +e
  stop_acceptors
  berth_stop
  dockerd_stop
  kill_leftover_processes
  unmount_under "$BENCH_WORK"
  remove_policy_rc
  if awk -v w="$BENCH_WORK/" 'index($5, w) == 1' /proc/self/mountinfo | grep -q .; then
    echo "WARNING: mounts remain under $BENCH_WORK; not removing it"
  else
    rm -rf --one-file-system "$BENCH_WORK"
  fi
  return "$rc"
}
