#!/usr/bin/env bash
# Bring up PostgreSQL and Redis for ut360 when none answer; stop only what we started.
#   scripts/services.sh up     start private instances (data under .services/, loopback only) if needed
#   scripts/services.sh down   stop the private instances this script started
# Where both servers already answer (as on CI), "up" does nothing. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="$PWD/.services"
PGPORT="${UT360_PGPORT:-5432}"
REDISPORT="${UT360_REDISPORT:-6379}"

say() { echo "services: $*"; }

apt_install() {
  if ! command -v apt-get >/dev/null; then say "cannot install $*: no apt-get; install it yourself"; exit 3; fi
  say "installing $* from Debian packages"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; }
}

pg_answers() { pg_isready -q -h 127.0.0.1 -p "$PGPORT" 2>/dev/null; }
redis_answers() { [ "$(redis-cli -h 127.0.0.1 -p "$REDISPORT" ping 2>/dev/null)" = PONG ]; }

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

up() {
  # Headless Chromium for the demo page's browser test (Debian's package).
  [ -x /usr/bin/chromium ] || [ -n "${UT360_NO_BROWSER:-}" ] || apt_install chromium
  command -v pg_isready >/dev/null || apt_install postgresql postgresql-client
  command -v redis-cli >/dev/null || apt_install redis-server redis-tools
  mkdir -p "$DIR"
  if pg_answers; then
    say "PostgreSQL answers on 127.0.0.1:$PGPORT"
  else
    local bin; bin="$(pg_bin)"; [ -n "$bin" ] || apt_install postgresql; bin="$(pg_bin)"
    local run=(); [ "$(id -u)" = 0 ] && run=(runuser -u postgres --)
    if [ ! -f "$DIR/pg/PG_VERSION" ]; then
      mkdir -p "$DIR/pg"; [ "$(id -u)" = 0 ] && chown postgres "$DIR/pg"
      "${run[@]}" "$bin/initdb" -D "$DIR/pg" -U postgres --auth=trust >/dev/null
    fi
    [ "$(id -u)" = 0 ] && chown postgres "$DIR"
    "${run[@]}" "$bin/pg_ctl" -D "$DIR/pg" -l "$DIR/pg.log" -w \
      -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $DIR" start >/dev/null
    touch "$DIR/pg.started"
    say "started private PostgreSQL on 127.0.0.1:$PGPORT (data in $DIR/pg)"
  fi
  if redis_answers; then
    say "Redis answers on 127.0.0.1:$REDISPORT"
  else
    mkdir -p "$DIR/redis"
    # Profile hashes hold JSON fields of up to ~2 KB: keep them listpack-encoded (see README, capacity).
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDISPORT" --save "" --appendonly no --hash-max-listpack-value 4096 \
      --dir "$DIR/redis" --pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log"
    for _ in $(seq 50); do redis_answers && break; sleep 0.1; done
    say "started private Redis on 127.0.0.1:$REDISPORT"
  fi
}

down() {
  if [ -f "$DIR/pg.started" ]; then
    local run=(); [ "$(id -u)" = 0 ] && run=(runuser -u postgres --)
    "${run[@]}" "$(pg_bin)/pg_ctl" -D "$DIR/pg" -m fast stop >/dev/null && rm -f "$DIR/pg.started"
    say "stopped private PostgreSQL"
  fi
  if [ -f "$DIR/redis.pid" ]; then
    kill "$(cat "$DIR/redis.pid")" 2>/dev/null || true; rm -f "$DIR/redis.pid"
    say "stopped private Redis"
  fi
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
