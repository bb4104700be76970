#!/usr/bin/env bash
# PostgreSQL and Redis for ut360: start private ones where none answer; stop only what was started here.
#   scripts/services.sh up     for each store: use the server that answers at its URL, else start a
#                              private one on that loopback port (no root needed; see below)
#   scripts/services.sh down   stop the private servers this script started and wait until they are gone
#   scripts/services.sh status where each private server is, and whether it answers
# Where: the port (and the superuser name for PostgreSQL) comes from the same URLs ut360 reads:
#   UT360_PG_URL (or DATABASE_URL)     default postgres://postgres@127.0.0.1:5432/ut360
#   UT360_REDIS_URL (or REDIS_URL)     default redis://127.0.0.1:6379/0
# (UT360_PGPORT / UT360_REDISPORT, older names, still override the port.) A URL naming another
# machine is never started here: the script only reports whether it answers.
# Private servers listen on loopback only, keep no Redis persistence, trust local connections.
#   As root: PostgreSQL runs as the "postgres" user, so its data lives in a private directory that
#   user can reach (a mktemp dir under $UT360_SERVICES_TMP, default /tmp) - a clone under a mode-700
#   home works. Missing packages are installed with apt-get.
#   As another user: both run as you, PostgreSQL's data in .services/pg. A missing package is named
#   (with the command that installs it) and nothing is installed.
# .services/state remembers where the private servers are. Never touches servers it did not start.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="$PWD/.services"
STATE="$DIR/state"
CMD="${1:-up}"

say() { echo "services: $*"; }
die() { echo "services: $1" >&2; exit "${2:-3}"; }
is_root() { [ "$(id -u)" = 0 ]; }

# parse_url URL DEFAULT_PORT DEFAULT_USER -> U_HOST U_PORT U_USER (postgres://, redis:// or key=value).
parse_url() {
  local url="$1" rest
  U_HOST=127.0.0.1 U_PORT="$2" U_USER="$3"
  [ -n "$url" ] || return 0
  if [[ "$url" == *://* ]]; then
    rest="${url#*://}"
    rest="${rest%%[/?]*}"
    if [[ "$rest" == *@* ]]; then
      local ui="${rest%@*}"
      [ -n "${ui%%:*}" ] && U_USER="${ui%%:*}"
      rest="${rest##*@}"
    fi
    if [[ "$rest" == \[* ]]; then # [::1]:port
      U_HOST="${rest%%]*}"; U_HOST="${U_HOST#[}"
      rest="${rest#*]}"; [[ "$rest" == :* ]] && U_PORT="${rest#:}"
    else
      [ -n "${rest%%:*}" ] && U_HOST="${rest%%:*}"
      [[ "$rest" == *:* ]] && U_PORT="${rest##*:}"
    fi
  else
    local kv
    for kv in $url; do
      case "$kv" in
        host=*) U_HOST="${kv#host=}" ;;
        port=*) U_PORT="${kv#port=}" ;;
        user=*) U_USER="${kv#user=}" ;;
      esac
    done
  fi
  [[ "$U_PORT" =~ ^[0-9]+$ ]] || die "bad port \"$U_PORT\" in $(redact "$url")" 2
}
redact() { sed -E 's#(://[^:/@]*:)[^@]*@#\1xxxxx@#' <<<"$1"; }
loopback() { case "$1" in 127.*|localhost|::1) return 0 ;; esac; return 1; }
# listen_on HOST: the address a private server binds for a URL naming HOST.
listen_on() { case "$1" in localhost) echo 127.0.0.1 ;; *) echo "$1" ;; esac; }
# port_open HOST PORT: something accepts TCP connections there.
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

parse_url "${UT360_PG_URL:-${DATABASE_URL:-}}" 5432 postgres
PG_HOST="$U_HOST" PG_PORT="${UT360_PGPORT:-$U_PORT}" PG_USER="$U_USER"
parse_url "${UT360_REDIS_URL:-${REDIS_URL:-}}" 6379 ""
REDIS_HOST="$U_HOST" REDIS_PORT="${UT360_REDISPORT:-$U_PORT}"

pg_answers() { pg_isready -q -h "$1" -p "$2" >/dev/null 2>&1; }
redis_answers() { [ "$(timeout 5 redis-cli -h "$1" -p "$2" ping 2>/dev/null)" = PONG ]; }

# The state of the private servers: pg_data, pg_base, pg_port, pg_owner, redis_port.
pg_data="" pg_base="" pg_port="" pg_owner="" redis_port=""
if [ -f "$STATE" ]; then
  . "$STATE"
elif [ -f "$DIR/pg/PG_VERSION" ]; then # the layout of earlier versions of this script
  pg_data="$DIR/pg" pg_base="$DIR" pg_owner="$(stat -c %U "$DIR/pg")"
fi
save_state() {
  mkdir -p "$DIR"
  printf 'pg_data=%q\npg_base=%q\npg_port=%q\npg_owner=%q\nredis_port=%q\n' \
    "$pg_data" "$pg_base" "$pg_port" "$pg_owner" "$redis_port" >"$STATE.tmp"
  mv "$STATE.tmp" "$STATE"
}

# missing WHAT DEBIAN_PACKAGES: install them as root (apt-get), else say exactly what to install.
missing() {
  local what="$1"; shift
  if is_root && command -v apt-get >/dev/null; then
    say "installing $* (Debian packages) for $what"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null ||
      { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; }
    return
  fi
  if command -v apt-get >/dev/null; then
    die "$what is not installed: run \`sudo apt-get install $*\`, then \`make services\` again" 1
  fi
  die "$what is not installed: install your system's package for it (Debian/Ubuntu: $*; Fedora: postgresql-server, redis; macOS: brew install postgresql redis), then \`make services\` again" 1
}

pg_bin() {
  local d; d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; return; fi
  command -v initdb >/dev/null && dirname "$(command -v initdb)"
  return 0
}

# as_owner CMD...: run as the user who owns the private PostgreSQL (from a directory that user can
# enter: the clone may be under a home it cannot).
as_owner() {
  if is_root && [ "$pg_owner" != root ]; then (cd "${pg_base:-/}" && runuser -u "$pg_owner" -- "$@"); else "$@"; fi
}

pg_running() { [ -n "$pg_data" ] && [ -f "$pg_data/PG_VERSION" ] && as_owner "$(pg_bin)/pg_ctl" -D "$pg_data" status >/dev/null 2>&1; }

start_pg() {
  command -v pg_isready >/dev/null || missing "PostgreSQL's client tools (pg_isready)" postgresql-client
  local bin; bin="$(pg_bin)"
  [ -n "$bin" ] || { missing "the PostgreSQL server (initdb, pg_ctl)" postgresql; bin="$(pg_bin)"; }
  [ -n "$bin" ] || die "initdb not found after installing postgresql"
  if pg_running; then
    [ "$pg_port" = "$PG_PORT" ] && return 0
    die "the private PostgreSQL already runs on port $pg_port, not $PG_PORT: \`make services-down\` first" 1
  fi
  if [ -z "$pg_data" ] || [ ! -f "$pg_data/PG_VERSION" ]; then
    if is_root; then
      # postgres refuses to run as root, and the postgres user cannot reach a clone under a
      # mode-700 home: its data goes to a directory of its own.
      id postgres >/dev/null 2>&1 || missing "the postgres system user" postgresql
      pg_owner=postgres
      pg_base="$(mktemp -d "${UT360_SERVICES_TMP:-/tmp}/ut360-pg.XXXXXX")"
      chown postgres "$pg_base"
      chmod 700 "$pg_base"
    else
      pg_owner="$(id -un)"
      pg_base="$DIR/pg-private"
      mkdir -p "$pg_base"
      chmod 700 "$pg_base"
    fi
    pg_data="$pg_base/data"
    save_state
    as_owner "$bin/initdb" -D "$pg_data" -U "$PG_USER" --auth=trust -E UTF8 >"$pg_base/initdb.log" 2>&1 ||
      die "initdb failed: see $pg_base/initdb.log"
  fi
  pg_port="$PG_PORT"
  save_state
  as_owner "$bin/pg_ctl" -D "$pg_data" -l "$pg_base/pg.log" -w -t 60 \
    -o "-c listen_addresses=$(listen_on "$PG_HOST") -p $PG_PORT -k $pg_base" start >/dev/null ||
    die "PostgreSQL did not start: see $pg_base/pg.log"
  say "started private PostgreSQL on $PG_HOST:$PG_PORT as user $PG_USER (data in $pg_data)"
}

redis_pidfile() { echo "$DIR/redis.pid"; }
# redis_pid: the pid in our pid file when it is a live redis-server.
redis_pid() {
  local f pid; f="$(redis_pidfile)"
  [ -f "$f" ] || return 1
  pid="$(cat "$f" 2>/dev/null)"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && grep -qa redis-server "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}

start_redis() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null || missing "Redis (redis-server, redis-cli)" redis-server redis-tools
  if redis_pid >/dev/null; then
    [ "$redis_port" = "$REDIS_PORT" ] && return 0
    die "the private Redis already runs on port $redis_port, not $REDIS_PORT: \`make services-down\` first" 1
  fi
  mkdir -p "$DIR/redis"
  redis_port="$REDIS_PORT"
  save_state
  # Profile hashes hold JSON fields of up to ~2 KB: keep them listpack-encoded (see docs/troubleshooting.md).
  redis-server --daemonize yes --bind "$(listen_on "$REDIS_HOST")" --port "$REDIS_PORT" --save "" --appendonly no \
    --hash-max-listpack-value 4096 --dir "$DIR/redis" --pidfile "$(redis_pidfile)" --logfile "$DIR/redis/redis.log"
  for _ in $(seq 100); do redis_answers "$REDIS_HOST" "$REDIS_PORT" && break; sleep 0.1; done
  redis_answers "$REDIS_HOST" "$REDIS_PORT" || die "Redis did not start: see $DIR/redis/redis.log"
  say "started private Redis on $REDIS_HOST:$REDIS_PORT"
}

up() {
  # Headless Chromium for the demo page's browser test (Debian's package).
  if [ ! -x /usr/bin/chromium ] && [ -z "${UT360_NO_BROWSER:-}" ]; then
    missing "chromium (the demo page's browser test; or set UT360_NO_BROWSER=1)" chromium
  fi
  command -v pg_isready >/dev/null || missing "PostgreSQL's client tools (pg_isready)" postgresql-client
  ensure PostgreSQL "$PG_HOST" "$PG_PORT" pg_answers start_pg \
    "something that is not PostgreSQL listens on $PG_HOST:$PG_PORT: free the port or point UT360_PG_URL elsewhere"
  command -v redis-cli >/dev/null || missing "Redis (redis-server, redis-cli)" redis-server redis-tools
  ensure Redis "$REDIS_HOST" "$REDIS_PORT" redis_answers start_redis \
    "something listens on $REDIS_HOST:$REDIS_PORT but does not answer PING (a password? another service?): check UT360_REDIS_URL"
}

# ensure NAME HOST PORT ANSWERS START BUSY: use the server that answers at HOST:PORT; else, on a
# loopback port where nothing listens, START a private one; else stop with why (BUSY: the port is taken).
ensure() {
  if "$4" "$2" "$3"; then
    say "$1 answers on $2:$3"
  elif ! loopback "$2"; then
    die "$1 at $2:$3 does not answer; it is not on this machine, so it is not started here" 3
  elif port_open "$2" "$3"; then
    die "$6" 3
  else
    "$5"
  fi
}

down() {
  if pg_running; then
    as_owner "$(pg_bin)/pg_ctl" -D "$pg_data" -m fast -w -t 60 stop >/dev/null # -w: returns when it has exited
    say "stopped private PostgreSQL (port $pg_port; data kept in $pg_data)"
  fi
  local pid
  if pid="$(redis_pid)"; then
    kill "$pid"
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; sleep 0.2; fi
    say "stopped private Redis (port $redis_port)"
  fi
  rm -f "$(redis_pidfile)"
}

status() {
  if pg_running; then say "private PostgreSQL: running on port $pg_port, data in $pg_data"; else say "private PostgreSQL: not running"; fi
  if redis_pid >/dev/null; then say "private Redis: running on port $redis_port"; else say "private Redis: not running"; fi
}

case "$CMD" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
