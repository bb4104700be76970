#!/usr/bin/env bash
# A local Redis Cluster for ut360: 3 masters + 3 replicas on 127.0.0.1 (see docs/cluster.md).
#   scripts/cluster.sh up      start the nodes that are not running, create the cluster when it does not
#                              exist yet, rejoin a restarted node, make slots left MIGRATING/IMPORTING by a
#                              killed test stable again; wait until the cluster is healthy
#   scripts/cluster.sh down    stop the nodes this script started (pid files) and wait until they are gone
#   scripts/cluster.sh status  one line per node; exit 0 when the cluster is healthy, 1 otherwise
#   scripts/cluster.sh reset   down, then delete the nodes' state (the next up creates a new cluster)
# Options (or environment):
#   --port N       first client port, the nodes use N..N+5   (UT360_CLUSTER_PORT, default 7001)
#   --bus-port N   first cluster-bus port, N..N+5            (UT360_CLUSTER_BUS_PORT, default port + 10000)
#   --timeout S    how long up waits for a healthy cluster   (UT360_CLUSTER_TIMEOUT, default 60)
# The defaults (7001-7006, bus 17001-17006) are below Linux's ephemeral range (32768-60999) and clear
# of 5432 and 6379. Ports above 55535 need --bus-port, because the bus port defaults to port + 10000.
# Runtime files live in $UT360_CLUSTER_DIR/<port>/ (nodes.conf, redis.pid, redis.log; default
# ${TMPDIR:-/tmp}/ut360-cluster-<uid>, one place per user and machine, not per checkout: a second
# clone (CI's) that finds the cluster running must be able to restart a node it kills); redis-server
# runs as the invoking user. No data is persisted (a cache): a restarted node comes back empty and
# rejoins with the identity in its nodes.conf; a restarted former master becomes a replica.
# "up" on a healthy cluster only checks its health. Idempotent; serialised by a lock file.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="${UT360_CLUSTER_DIR:-${TMPDIR:-/tmp}/ut360-cluster-$(id -u)}"
mkdir -p -m 700 "$ROOT"
CMD="${1:-up}"
[ $# -gt 0 ] && shift
BASE="${UT360_CLUSTER_PORT:-7001}"
BUS="${UT360_CLUSTER_BUS_PORT:-}"
TIMEOUT="${UT360_CLUSTER_TIMEOUT:-60}"
while [ $# -gt 0 ]; do
  case "$1" in
    --port) BASE="$2"; shift 2 ;;
    --bus-port) BUS="$2"; shift 2 ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    *) echo "usage: $0 up|down|status|reset [--port N] [--bus-port N] [--timeout S]" >&2; exit 2 ;;
  esac
done
BUS="${BUS:-$((BASE + 10000))}"
NODES=6
NODE_TIMEOUT_MS=2000

say() { echo "cluster: $*"; }
die() { echo "cluster: $*" >&2; exit "${2:-3}"; }

for v in "$BASE" "$BUS" "$TIMEOUT"; do
  [[ "$v" =~ ^[0-9]+$ ]] || die "not a number: $v" 2
done
[ $((BASE + NODES - 1)) -le 65535 ] || die "ports $BASE..$((BASE + NODES - 1)) exceed 65535" 2
[ $((BUS + NODES - 1)) -le 65535 ] || die "bus ports $BUS..$((BUS + NODES - 1)) exceed 65535: set --bus-port (Redis 7's --cluster-port)" 2

ports() { seq "$BASE" $((BASE + NODES - 1)); }
dir() { echo "$ROOT/$1"; }
cli() { local p="$1"; shift; timeout 5 redis-cli -h 127.0.0.1 -p "$p" "$@" 2>/dev/null; }
answers() { [ "$(cli "$1" ping)" = PONG ]; }
# info_field PORT FIELD: one field of CLUSTER INFO.
info_field() { cli "$1" cluster info | tr -d '\r' | sed -n "s/^$2://p"; }

# pid_of PORT: the pid in the node's pid file when that process is a live redis-server of this port.
pid_of() {
  local f; f="$(dir "$1")/redis.pid"
  [ -f "$f" ] || return 1
  local pid; pid="$(cat "$f" 2>/dev/null)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  running "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "redis-server.*:$1\b" || return 1
  echo "$pid"
}

# running PID: the process exists and is not a zombie (an exited daemon not reaped yet).
running() { [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

start_node() {
  local p="$1" b=$(($1 - BASE + BUS)) d; d="$(dir "$1")"
  mkdir -p "$d"
  rm -f "$d/redis.pid"
  # Profile hashes hold JSON fields of up to ~2 KB: keep them listpack-encoded, as scripts/services.sh does.
  redis-server --port "$p" --cluster-port "$b" --bind 127.0.0.1 \
    --cluster-enabled yes --cluster-config-file "$d/nodes.conf" --cluster-node-timeout "$NODE_TIMEOUT_MS" \
    --cluster-replica-validity-factor 0 --shutdown-on-sigterm now \
    --save '' --appendonly no --hash-max-listpack-value 4096 \
    --daemonize yes --dir "$d" --pidfile "$d/redis.pid" --logfile "$d/redis.log" 9>&- # not the lock
}

# my_id PORT: the node id recorded in the node's nodes.conf (empty for a node never started).
my_id() { local f; f="$(dir "$1")/nodes.conf"; [ -f "$f" ] && awk '/myself/ {print $1; exit}' "$f" || true; }

# still_master_elsewhere ID LIVEPORT: the live node still sees ID as a master owning slots (no failover yet).
still_master_elsewhere() {
  cli "$2" cluster nodes | awk -v id="$1" '$1 == id && $3 ~ /master/ && NF >= 9 {found=1} END {exit !found}'
}

# health: empty when the cluster is healthy, else the first reason it is not.
health() {
  local p masters=0 n
  for p in $(ports); do
    answers "$p" || { echo "127.0.0.1:$p does not answer"; return; }
    [ "$(info_field "$p" cluster_state)" = ok ] || { echo "127.0.0.1:$p: cluster_state is not ok"; return; }
    [ "$(info_field "$p" cluster_slots_ok)" = 16384 ] || { echo "127.0.0.1:$p: not every slot is ok"; return; }
    n="$(info_field "$p" cluster_known_nodes)"
    [ "$n" = "$NODES" ] || { echo "127.0.0.1:$p knows $n nodes, not $NODES"; return; }
    if cli "$p" cluster nodes | awk '{print $3}' | grep -Eq 'fail|handshake|noaddr'; then
      echo "127.0.0.1:$p sees a failed, unreachable or joining node"; return
    fi
    case "$(cli "$p" role | head -1)" in
      master) [ -n "$(cli "$p" cluster nodes | awk '/myself/ && NF >= 9')" ] && masters=$((masters + 1)) ;;
      slave) [ "$(cli "$p" info replication | tr -d '\r' | sed -n 's/^master_link_status://p')" = up ] ||
        { echo "127.0.0.1:$p: replica not in sync with its master yet"; return; } ;;
    esac
  done
  [ "$masters" = 3 ] || echo "$masters masters own slots, not 3"
}

wait_healthy() {
  local deadline=$((SECONDS + TIMEOUT)) why
  while :; do
    why="$(health)"
    [ -z "$why" ] && return 0
    [ "$SECONDS" -ge "$deadline" ] && die "not healthy after ${TIMEOUT}s: $why (logs: $ROOT/<port>/redis.log)"
    sleep 0.2
  done
}

# forget_stale: every node forgets the slotless entries without an address ("noaddr": an identity
# that a node which lost its nodes.conf left behind). Forgotten nodes are banned for 60 s, so every
# node must forget within that time.
forget_stale() {
  local p id
  for p in $(ports); do
    for id in $(cli "$p" cluster nodes | awk '$3 ~ /noaddr/ && $3 !~ /myself/ && NF < 9 {print $1}'); do
      for q in $(ports); do cli "$q" cluster forget "$id" >/dev/null || true; done
      say "forgot the stale node id $id"
    done
  done
}

# close_open_slots: makes STABLE again every slot a node has MIGRATING or IMPORTING. Nothing reshards
# this local cluster, so an open slot is one a test left when its process died (the state survives a
# restart in nodes.conf), and every load refuses to swap while it is open. Only when no test holds
# the cluster: the lock file internal/testenv's lockCluster takes is free.
close_open_slots() {
  local p s
  exec 8>"${TMPDIR:-/tmp}/ut360-cluster-127.0.0.1_$BASE.lock"
  if ! flock -x -n 8; then
    exec 8>&-
    return 0
  fi
  for p in $(ports); do
    for s in $(cli "$p" cluster nodes | awk '/myself/ {for (i = 9; i <= NF; i++) if ($i ~ /^\[/) {sub(/^\[/, "", $i); sub(/-.*/, "", $i); print $i}}'); do
      cli "$p" cluster setslot "$s" stable >/dev/null && say "127.0.0.1:$p: slot $s was left migrating or importing: made it stable"
    done
  done
  exec 8>&-
}

up() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
    die "redis-server and redis-cli are needed (Debian: apt-get install redis-server redis-tools; \`make services\` installs them)"
  local p q pid id live fresh=() started=() all_fresh=1 others was_up=()
  for p in $(ports); do answers "$p" && was_up+=("$p"); done
  for p in $(ports); do
    if answers "$p"; then
      if ! pid_of "$p" >/dev/null; then
        [ "$(cli "$p" info cluster | tr -d '\r' | sed -n 's/^cluster_enabled://p')" = 1 ] ||
          die "127.0.0.1:$p answers but is not a cluster node this script started; choose other ports with --port"
      fi
      continue
    fi
    if pid="$(pid_of "$p")"; then # started, not answering yet
      continue
    fi
    id="$(my_id "$p")"
    if [ -n "$id" ]; then
      # A former master restarted before its replica took over would come back empty and still own
      # its slots (no persistence): its replica would then copy the empty data set. Wait for the
      # failover first.
      live=""
      for q in ${was_up[@]+"${was_up[@]}"}; do answers "$q" && { live="$q"; break; }; done
      if [ -n "$live" ] && still_master_elsewhere "$id" "$live"; then
        say "127.0.0.1:$p was a master: waiting for its replica to take over before restarting it"
        local deadline=$((SECONDS + TIMEOUT))
        while still_master_elsewhere "$id" "$live" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
      fi
    fi
    mkdir -p "$ROOT"
    start_node "$p"
    started+=("$p")
  done
  for p in $(ports); do
    local i=0
    until answers "$p"; do
      i=$((i + 1)); [ "$i" -gt 100 ] && die "127.0.0.1:$p did not start (log: $(dir "$p")/redis.log)"
      sleep 0.1
    done
  done
  [ ${#started[@]} -gt 0 ] && say "started redis-server on port(s) ${started[*]} (files in $ROOT)"
  for p in $(ports); do
    if [ "$(info_field "$p" cluster_known_nodes)" = 1 ] && [ "$(info_field "$p" cluster_slots_assigned)" = 0 ]; then
      fresh+=("$p")
    else
      all_fresh=0
    fi
  done
  if [ "$all_fresh" = 1 ]; then
    local addrs=(); for p in $(ports); do addrs+=("127.0.0.1:$p"); done
    redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >"$ROOT/create.log" 2>&1 ||
      die "redis-cli --cluster create failed: see $ROOT/create.log"
    say "created the cluster: ${addrs[*]}"
  elif [ ${#fresh[@]} -gt 0 ]; then
    # A node that lost its nodes.conf: drop its old identity everywhere (listed under its address, or
    # as "noaddr" once the others saw a new id answer there), then add it as a replica.
    for p in "${fresh[@]}"; do
      others=""
      for q in $(ports); do [[ " ${fresh[*]} " == *" $q "* ]] || { others="$q"; break; }; done
      for q in $(ports); do
        [[ " ${fresh[*]} " == *" $q "* ]] && continue
        for id in $(cli "$q" cluster nodes | awk -v a="127.0.0.1:$p@" '(index($2, a) == 1 || $3 ~ /noaddr/) && $3 !~ /myself/ && NF < 9 {print $1}'); do
          cli "$q" cluster forget "$id" >/dev/null || true
        done
      done
      redis-cli --cluster add-node "127.0.0.1:$p" "127.0.0.1:$others" --cluster-slave >>"$ROOT/create.log" 2>&1 ||
        die "could not add 127.0.0.1:$p back: see $ROOT/create.log"
      say "added 127.0.0.1:$p back as a replica"
    done
  fi
  forget_stale
  close_open_slots
  wait_healthy
  say "healthy: 3 masters + 3 replicas on 127.0.0.1:$BASE-$((BASE + NODES - 1)) — redis+cluster://127.0.0.1:$BASE,127.0.0.1:$((BASE + 1)),127.0.0.1:$((BASE + 2))"
}

down() {
  local p pid pids=() stopped=()
  for p in $(ports); do
    if pid="$(pid_of "$p")"; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid"); stopped+=("$p")
    fi
  done
  local deadline=$((SECONDS + 20)) alive
  while :; do
    alive=()
    for pid in ${pids[@]+"${pids[@]}"}; do running "$pid" && alive+=("$pid"); done
    [ ${#alive[@]} -eq 0 ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      kill -KILL "${alive[@]}" 2>/dev/null || true
      deadline=$((SECONDS + 5))
    fi
    sleep 0.1
  done
  for p in $(ports); do rm -f "$(dir "$p")/redis.pid"; done
  if [ ${#stopped[@]} -gt 0 ]; then say "stopped the nodes on port(s) ${stopped[*]}"; else say "no node of this script was running"; fi
}

status() {
  local p pid role state why
  for p in $(ports); do
    pid="$(pid_of "$p" || echo -)"
    if answers "$p"; then
      role="$(cli "$p" role | head -1)"; state="$(info_field "$p" cluster_state)"
      echo "127.0.0.1:$p bus $((p - BASE + BUS)) pid $pid role $role cluster_state $state"
    else
      echo "127.0.0.1:$p bus $((p - BASE + BUS)) pid $pid down"
    fi
  done
  why="$(health)"
  if [ -z "$why" ]; then say "healthy"; else say "not healthy: $why"; exit 1; fi
}

mkdir -p "$ROOT"
chmod 700 "$ROOT"
exec 9>"$ROOT/lock"
flock -w "$((TIMEOUT + 30))" 9 || die "another scripts/cluster.sh holds $ROOT/lock"
case "$CMD" in
  up) up ;;
  down) down ;;
  status) status ;;
  reset)
    down
    for p in $(ports); do rm -rf "$(dir "$p")"; done
    rm -f "$ROOT/create.log"
    say "deleted the nodes' state"
    ;;
  *) echo "usage: $0 up|down|status|reset [--port N] [--bus-port N] [--timeout S]" >&2; exit 2 ;;
esac
