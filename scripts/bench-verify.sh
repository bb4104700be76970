#!/usr/bin/env bash
# bench-verify: `ut360 verify` against its raw read floor, in the same run, on
# the same loaded stores. Writes results/verify-<timestamp>.json.
#
# Floor (what reading the same data costs without any comparison), measured
# by `ut360 verify --floor` (hidden benchmark helper, verify/floor.go):
#   PostgreSQL  COPY <table> TO STDOUT of the three tables, concurrently, discarded;
#   Redis       SCAN of the namespace + pipelined HGETALL of every rec and
#               profile hash (same batch size and readers as verify), not decoded.
# Both stores are read concurrently, as verify reads them. The floor runs
# twice (the first warms the caches) and the second is kept; then verify runs
# under /usr/bin/time for wall time and peak RSS.
#
# Targets (issue 4): verify ≤ 2 × floor; ≤ 10 s at N=214,000; ≤ 60 s and peak
# RSS ≤ 512 MB at BIG_N=1,000,000 (skip the large scale with BIG_N=0).
#
# Environment: N (default 214000), BIG_N (default 1000000), BIN (bin/ut360),
# RESULTS (results), PG_BASE (PostgreSQL URL with a query string), REDIS_URL
# (default db 15 of the local server, see below).
# Uses its own PostgreSQL schema and Redis namespace and removes them.
# Exit 0 when every target is met, 1 otherwise, 2 on setup errors.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${BIN:-bin/ut360}
N=${N:-214000}
BIG_N=${BIG_N:-1000000}
RESULTS=${RESULTS:-results}
PG_BASE=${PG_BASE:-postgres://postgres@127.0.0.1:5432/ut360?sslmode=disable}
# A logical database of its own: SCAN walks a whole database, and db 0 of a
# shared development Redis may hold millions of other keys (a production cache
# is dedicated). Only this run's namespace is written and removed; never FLUSHDB.
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/15}
MAX_RATIO=2
MAX_WALL_REF=10
MAX_WALL_BIG=60
MAX_RSS_MB=512

for t in "$BIN" /usr/bin/time psql redis-cli jq; do
	if ! command -v "$t" >/dev/null; then
		echo "bench-verify: $t is missing" >&2
		exit 2
	fi
done

id=$$
schema="bench_verify_$id"
ns="benchverify$id"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ut360-bench-verify.XXXXXX")
pgurl="$PG_BASE&search_path=$schema"
rcli() { redis-cli -u "$REDIS_URL" "$@"; }
drop_stores() {
	psql -X -q "${PG_BASE%%\?*}" -c "DROP SCHEMA IF EXISTS $schema CASCADE; DROP SCHEMA IF EXISTS ${schema}_ut360_stage CASCADE" >/dev/null 2>&1 || true
	rcli --scan --pattern "$ns:*" | xargs -r -n 1000 redis-cli -u "$REDIS_URL" unlink >/dev/null 2>&1 || true
}
cleanup() {
	drop_stores
	rm -rf "$tmp"
}
trap cleanup EXIT

ut() { "$BIN" --pg "$pgurl" --redis "$REDIS_URL" --namespace "$ns" --quiet "$@"; }

# scale N TARGET_WALL: load N subscribers, measure floor and verify, print a JSON object.
scale() {
	local n=$1 max_wall=$2 data="$tmp/data-$1"
	echo "bench-verify: N=$n: gen, migrate, load" >&2
	"$BIN" --quiet gen --subscribers "$n" --out "$data" --force >/dev/null
	drop_stores
	"$BIN" --quiet --pg "$PG_BASE" migrate up >/dev/null # creates database ut360 if missing
	psql -X -q -v ON_ERROR_STOP=1 "${PG_BASE%%\?*}" -c "CREATE SCHEMA $schema" >/dev/null
	ut load --data "$data" --rejects - >/dev/null # applies the migrations first
	echo "bench-verify: N=$n: floor" >&2
	ut verify --floor >/dev/null
	ut verify --floor >"$tmp/floor-$n.json"
	echo "bench-verify: N=$n: verify" >&2
	local rc=0
	/usr/bin/time -f '%e %M' -o "$tmp/time-$n.txt" "$BIN" --pg "$pgurl" --redis "$REDIS_URL" --namespace "$ns" --quiet \
		verify --report "$tmp/report-$n.json" >"$tmp/verify-$n.txt" || rc=$?
	cat "$tmp/verify-$n.txt" >&2
	read -r wall rss_kb <"$tmp/time-$n.txt"
	jq -n --argjson n "$n" --argjson rc "$rc" --argjson wall "$wall" --argjson rss_kb "$rss_kb" \
		--argjson max_ratio "$MAX_RATIO" --argjson max_wall "$max_wall" --argjson max_rss "$MAX_RSS_MB" \
		--slurpfile floor "$tmp/floor-$n.json" --slurpfile rep "$tmp/report-$n.json" '
		($floor[0]) as $f | ($rep[0]) as $r |
		{subscribers: $n,
		 floor: ($f + {sequential_seconds: ($f.pg_seconds + $f.redis_seconds)}),
		 verify: {wall_seconds: $wall, report_seconds: $r.duration_seconds, peak_rss_mb: ($rss_kb / 1024 | floor),
		          exit_code: $rc, clean: $r.clean, rows_checked: $r.rows_checked, rows_per_second: $r.rows_per_second},
		 ratio: ($wall / $f.seconds),
		 targets: {max_ratio: $max_ratio, max_wall_seconds: $max_wall, max_peak_rss_mb: $max_rss},
		 pass: ($rc == 0 and ($wall / $f.seconds) <= $max_ratio and $wall <= $max_wall and ($rss_kb / 1024) <= $max_rss)}'
}

mkdir -p "$RESULTS"
dbkeys=$(rcli dbsize)
scales="[$(scale "$N" "$MAX_WALL_REF")"
if [ "$BIG_N" != 0 ]; then
	scales="$scales,$(scale "$BIG_N" "$MAX_WALL_BIG")"
fi
scales="$scales]"
out="$RESULTS/verify-$(date -u +%Y%m%dT%H%M%SZ).json"
jq -n --argjson scales "$scales" --arg commit "$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" \
	--arg dirty "$(git status --porcelain -- verify cmd/ut360/verify.go scripts/bench-verify.sh 2>/dev/null | head -1)" --argjson nproc "$(nproc)" \
	--arg started "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --argjson dbkeys "$dbkeys" '
	{format_version: 1, benchmark: "verify", commit: ($commit + (if $dirty != "" then "-dirty" else "" end)),
	 nproc: $nproc, finished_at: $started, redis_db_keys_before: $dbkeys,
	 floor_method: "COPY <table> TO STDOUT (3 tables, concurrent) + SCAN and pipelined HGETALL of every rec/profile hash, both stores concurrently; second of two runs",
	 scales: $scales, pass: ([$scales[].pass] | all)}' >"$out"
echo "bench-verify: wrote $out" >&2
jq -r '.scales[] | "N=\(.subscribers): floor \(.floor.seconds*100|round/100)s (pg \(.floor.pg_seconds*100|round/100)s, redis \(.floor.redis_seconds*100|round/100)s) · verify \(.verify.wall_seconds)s, \(.verify.peak_rss_mb) MB peak · ratio \(.ratio*100|round/100) · pass \(.pass)"' "$out"
jq -e .pass "$out" >/dev/null
