#!/usr/bin/env bash
# make bench-harness — how accurate is `ut360 bench`? Measured in one run, on one dataset:
#
#  1. Single-ISDN lookup, same concurrency, same keys, same statement:
#     PostgreSQL: ut360 (scenarios/isdn_lookup.yaml, --target postgres) vs pgbench -M prepared
#       running the very same SELECT with the ISDN as a bound parameter ($1). pgbench cannot
#       draw a string key from a list, so the harness picks HARNESS_KEYS (≤ 128, pgbench's
#       script limit) loaded ISDNs, passes them as -D k0=… k127=… and gives pgbench one script
#       per key ("… WHERE isdn = :kI", all weight 1: a uniform draw). ut360 gets the same ISDNs
#       through --keys-file.
#     Redis: ut360 (--target redis) vs redis-benchmark "HGETALL ns:rec:__rand_int__ -r K".
#       redis-benchmark can only substitute a 12-digit number into a key, so the harness COPYs
#       the K rec hashes to companion keys ns:rec:000000000000 … (same content) and both tools
#       read exactly those keys; ut360 gets the 12-digit names through --keys-file.
#     Each pair runs twice in the order ut360, tool, tool, ut360 (drift cancels); the figures
#     are the means. Goals (reframed in issue 13 after the analysis closing issue 5):
#       - throughput at C clients (default 8): ut360 ≥ 0.9× the tool's;
#       - mean latency at C clients within 15% of the tool's, where the tool's mean is the mean
#         of its clients' waits: its latencies must obey Little's law as ut360's must (mean ×
#         throughput / clients within 5% of 1). Otherwise the goal reads "n/a" and says why: a
#         tool whose latencies leave out part of its clients' time (pgbench's latency column
#         leaves out its own time between transactions, 0.77 on this machine; redis-benchmark's
#         starts at the write its event loop gets round to, 0.64) reports a mean that no closed
#         loop of C clients at that throughput has, so ut360 could match it only by luck;
#       - p50 within 20% of the tool's where the clients do not outnumber the cores: the same pairs
#         at min(C, cores) clients (HARNESS_CORES_CLIENTS) in HARNESS_CC_PAIRS (5) pairs of short
#         runs (HARNESS_CC_DURATION, 3 s) back to back, the order alternating; the goal reads the
#         median over the pairs of each pair's p50 difference, so a drift of the shared machine
#         falls on both runs of a pair and one disturbed pair does not decide. Both tools' clients
#         run on the same CPUs (HARNESS_CLIENT_CPUS, default 0 on 2+ cores, via taskset; empty:
#         not pinned), the servers on the others.
#         redis-benchmark's p50 has 8 µs resolution (its HdrHistogram's lowest value is 10 µs, so
#         its buckets are 2^3 µs wide below 16 ms, and it prints a bucket's highest value): the
#         p50 it prints as P is somewhere in (P - 8 µs, P], and ut360's is compared with the
#         nearest end of that range.
#     Reported, not goals: the p50s at C clients. pgbench's p50 and mean come from its -l log;
#     each script starts with "\set t 0" so that pgbench reads its clock afresh before the latency
#     it logs (see pgbench_run); redis-benchmark's from its --csv line (p50 and avg). Check:
#     ut360's closed-loop latencies obey Little's law (mean latency × throughput / clients within
#     5% of 1), so no time escapes its measurement.
#  2. Stall: CLIENT PAUSE 500 on Redis (and a 500 ms ACCESS EXCLUSIVE lock on PostgreSQL)
#     during an open-model run must show in p99.9 (≥ 400 ms); during a closed-model run the
#     raw p99.9 hides it while the coordinated-omission-corrected p99.9 shows it.
#     The open model runs at half the throughput measured in step 1 (a healthy server); the
#     closed run lasts HARNESS_STALL_CLOSED (10s). Note: CLIENT PAUSE pauses every client of
#     that Redis server for 500 ms.
#
# Writes results/harness-<UTC timestamp>.json (with commit, nproc, dataset size) and exits 1
# when a goal is missed. Uses its own PostgreSQL schema and Redis namespace, removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin/ut360}
N=${HARNESS_N:-20000}              # subscribers loaded (key count matters little: PK lookups)
C=${HARNESS_CONCURRENCY:-8}        # clients / workers for every tool
D=${HARNESS_DURATION:-8}           # seconds per measurement
K=${HARNESS_KEYS:-128}             # keys shared by the tools (pgbench allows ≤ 128 scripts)
CORES=$(nproc)
CC=${HARNESS_CORES_CLIENTS:-$((C < CORES ? C : CORES))} # clients ≤ cores for the p50 goal
SCHEMA=ut360_harness
NS=ut360harness
PGBASE=${UT360_PG_URL:-postgres://postgres@127.0.0.1:5432/ut360?sslmode=disable}
REDIS_URL=${UT360_REDIS_URL:-redis://127.0.0.1:6379/0}
case "$PGBASE" in *\?*) PGURL="$PGBASE&search_path=$SCHEMA" ;; *) PGURL="$PGBASE?search_path=$SCHEMA" ;; esac
PGCONN="${PGBASE%%\?*}"            # libpq URL without ut360's query parameters
# The clients-≤-cores runs pin both tools' client processes to the same CPUs (taskset), by default
# CPU 0, leaving the rest to the servers, so neither tool gets a core the other did not
# (unpinned, the 2-client p50s of one tool moved by ±30% between runs: docs/bench.md).
CLIENT_CPUS=${HARNESS_CLIENT_CPUS-$( ((CORES >= 2)) && command -v taskset >/dev/null && echo 0)}
PIN=()                             # the taskset prefix, set for those runs only
[[ "$REDIS_URL" =~ ^redis://([^:/@]*@)?([^:/]+):([0-9]+) ]] && RHOST=${BASH_REMATCH[2]} RPORT=${BASH_REMATCH[3]} || { RHOST=127.0.0.1; RPORT=6379; }
rcli() { redis-cli -h "$RHOST" -p "$RPORT" "$@"; }
psqlh() { PGOPTIONS="-c search_path=$SCHEMA" psql -X -q -v ON_ERROR_STOP=1 "$PGCONN" "$@"; }
say() { echo "bench-harness: $*" >&2; }

for t in pgbench redis-benchmark psql redis-cli jq; do
  command -v "$t" >/dev/null || { say "$t missing; run 'make services' (installs postgresql and redis-tools) or apt-get install jq"; exit 3; }
done
[ -x "$BIN" ] || { say "$BIN missing; run make build"; exit 3; }

TS=$(date -u +%Y%m%d-%H%M%S)
WORK=$(mktemp -d)
OUT=results/harness-$TS.json
cleanup() {
  rcli --scan --pattern "$NS:*" | xargs -r -n 500 redis-cli -h "$RHOST" -p "$RPORT" UNLINK >/dev/null || true
  psql -X -q "$PGCONN" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p results

say "loading $N subscribers into schema $SCHEMA and namespace $NS"
"$BIN" -q --pg "$PGBASE" migrate up >/dev/null # creates database ut360 if missing
psql -X -q "$PGCONN" -c "CREATE SCHEMA IF NOT EXISTS $SCHEMA"
"$BIN" -q gen --subscribers "$N" --out "$WORK/data" --force >/dev/null
"$BIN" -q --pg "$PGURL" --namespace "$NS" load --data "$WORK/data" >/dev/null

# The shared keys: K loaded ISDNs (spread by md5 order), and their 12-digit companion names.
psqlh -At -c "SELECT isdn FROM recommendations ORDER BY md5(isdn) LIMIT $K" >"$WORK/keys.txt"
: >"$WORK/intkeys.txt"
i=0
while read -r isdn; do
  n=$(printf '%012d' "$i")
  [ "$(rcli COPY "$NS:rec:$isdn" "$NS:rec:$n" REPLACE)" = 1 ] || { say "COPY $NS:rec:$isdn failed"; exit 3; }
  echo "$n" >>"$WORK/intkeys.txt"
  i=$((i + 1))
done <"$WORK/keys.txt"
K=$i

# pgbench: the isdn_lookup SELECT verbatim, one script per key, the key a bound parameter.
# The "\set t 0" before it is there for pgbench's clock. pgbench reads the time once per call
# of its state machine and reuses it (pgbench.c, advanceConnectionState): the transaction's start
# is stamped before the send, and when the reply is already readable by the PQconsumeInput right
# after the send, the end is stamped with that same reading, so the latency logged is 0 µs
# (33-57% of transactions on this machine). A meta-command resets the reading
# (executeMetaCommand: "*now = 0"), so the end is read afresh; the \set is evaluated in pgbench
# and costs no round trip.
SQL=$(sed -n 's/^ *- sql: \(SELECT .*\) WHERE isdn = \$1$/\1 WHERE isdn =/p' scenarios/isdn_lookup.yaml)
[ -n "$SQL" ] || { say "cannot read the SELECT from scenarios/isdn_lookup.yaml"; exit 3; }
mkdir -p "$WORK/pgb"
PGB_ARGS=()
i=0
while read -r isdn; do
  printf '\\set t 0\n%s :k%d;\n' "$SQL" "$i" >"$WORK/pgb/q$i.sql"
  PGB_ARGS+=(-D "k$i=$isdn" -f "$WORK/pgb/q$i.sql")
  i=$((i + 1))
done <"$WORK/keys.txt"

# ut360 run → "throughput p50_ms p99.9_ms corrected_p99.9 ops late mean_ms" for its only result
# (every read below depends on this order).
ut360_run() { # $1 target, $2 keys file, $3 tag, $4 scenario file, rest: extra flags
  local target=$1 keys=$2 tag=$3 file=$4; shift 4
  local dir="$WORK/ut360-$tag"
  # Flags go before the file: urfave/cli stops parsing flags at the first argument.
  "${PIN[@]}" "$BIN" -q --pg "$PGURL" --redis "$REDIS_URL" --namespace "$NS" bench --target "$target" \
    --keys-file "$keys" --out "$dir" "$@" "$file" >"$WORK/$tag.out" 2>&1 || [ $? = 1 ] || { cat "$WORK/$tag.out" >&2; exit 3; }
  jq -r '.scenarios[0].results[0] | "\(.throughput) \(.latency.p50_ms) \(.latency["p99.9_ms"]) \(.corrected["p99.9_ms"] // 0) \(.ops) \(.late // 0) \(.latency.mean_ms)"' "$dir"/*/summary.json
}

pgbench_run() { # $1 tag, $2 clients (default C), $3 seconds (default D) → "tps p50_ms logged_mean_ms"
  local c=${2:-$C} d=${3:-$D}
  local log="$WORK/pgblog-$1"
  mkdir -p "$log"
  (cd "$log" && PGOPTIONS="-c search_path=$SCHEMA" "${PIN[@]}" pgbench -n -M prepared -c "$c" -j $((c < 2 ? 1 : 2)) -T "$d" -l "${PGB_ARGS[@]}" "$PGCONN" >"$log/out.txt" 2>&1) ||
    { cat "$log/out.txt" >&2; exit 3; }
  local tps
  tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$log/out.txt")
  # A log line is "client tx latency_us script epoch_s epoch_us"; the p50 of the latency column,
  # and its mean (for Little's law: below 1 by pgbench's own time between transactions, which
  # its latency leaves out by definition).
  echo "$tps $(awk '$3 ~ /^[0-9]+$/ {print $3}' "$log"/pgbench_log.* | sort -n |
    awk '{a[NR] = $1; s += $1} END {if (NR) print a[int((NR+1)/2)]/1000, s/NR/1000; else print "none none"}')"
}

rbench_run() { # $1 requests, $2 clients (default C) → "rps p50_ms avg_ms"
  "${PIN[@]}" redis-benchmark -h "$RHOST" -p "$RPORT" -c "${2:-$C}" -n "$1" -r "$K" --csv HGETALL "$NS:rec:__rand_int__" |
    awk -F'","' 'NR==2 {print $2, $5, $3}'
}

# num NAME… — every named variable must hold a number (a failed step inside $(…) leaves it empty).
num() {
  local v
  for v in "$@"; do
    [[ "${!v:-}" =~ ^[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$ ]] || { say "step failed: $v='${!v:-}'"; exit 3; }
  done
}

mean() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.6f", (a + b) / 2}'; }
# little MEAN_MS THROUGHPUT — Little's law for a closed loop: mean latency × throughput / clients
# is the share of the clients' time the recorded latencies account for (1 when nothing is hidden).
little() { awk -v m="$1" -v t="$2" -v c="$C" 'BEGIN {printf "%.4f", m * t / 1000 / c}'; }

LOOKUP=scenarios/isdn_lookup.yaml
COMMON=(--concurrency "$C" --duration "${D}s" --warmup 1s)
say "PostgreSQL lookup: ut360 vs pgbench -M prepared, $C clients, ${D}s each, twice"
read -r u1 up1 _ _ _ _ u1m <<<"$(ut360_run postgres "$WORK/keys.txt" pg1 "$LOOKUP" "${COMMON[@]}")"
read -r g1 gp1 gl1 <<<"$(pgbench_run 1)"
read -r g2 gp2 gl2 <<<"$(pgbench_run 2)"
read -r u2 up2 _ _ _ _ u2m <<<"$(ut360_run postgres "$WORK/keys.txt" pg2 "$LOOKUP" "${COMMON[@]}")"
num u1 up1 u1m g1 gp1 gl1 g2 gp2 gl2 u2 up2 u2m
UT_PG_TPS=$(mean "$u1" "$u2") UT_PG_P50=$(mean "$up1" "$up2") PGB_TPS=$(mean "$g1" "$g2") PGB_P50=$(mean "$gp1" "$gp2")
UT_PG_MEAN=$(mean "$u1m" "$u2m") PGB_MEAN=$(mean "$gl1" "$gl2")
UT_PG_LITTLE=$(little "$UT_PG_MEAN" "$UT_PG_TPS") PGB_LITTLE=$(little "$PGB_MEAN" "$PGB_TPS")

say "Redis lookup: ut360 vs redis-benchmark, $C clients, ~${D}s each, twice"
# redis-benchmark only sends HGETALL and reads the reply; so does ut360 here (decode: none), so
# both do the same work per operation (the built-in scenario also validates every reply).
RLOOKUP="$WORK/hgetall.yaml"
cat >"$RLOOKUP" <<'EOF2'
name: hgetall_lookup
description: HGETALL of one rec hash, reply read but not decoded (what redis-benchmark does)
keys: {distribution: uniform}
load: {model: closed, concurrency: 8, warmup: 1s, duration: 10s}
redis:
  commands: [[HGETALL, "{ns}:rec:{isdn}"]]
  decode: none
EOF2
read -r r1 rp1 _ _ _ _ r1m <<<"$(ut360_run redis "$WORK/intkeys.txt" rd1 "$RLOOKUP" "${COMMON[@]}")"
num r1 rp1
REQS=$(awk -v t="$r1" -v d="$D" 'BEGIN {n = t * d; printf "%d", (n < 1000 ? 1000 : n)}')
read -r b1 bp1 ba1 <<<"$(rbench_run "$REQS")"
read -r b2 bp2 ba2 <<<"$(rbench_run "$REQS")"
read -r r2 rp2 _ _ _ _ r2m <<<"$(ut360_run redis "$WORK/intkeys.txt" rd2 "$RLOOKUP" "${COMMON[@]}")"
num r1m b1 bp1 ba1 b2 bp2 ba2 r2 rp2 r2m
UT_RD_TPS=$(mean "$r1" "$r2") UT_RD_P50=$(mean "$rp1" "$rp2") RB_TPS=$(mean "$b1" "$b2") RB_P50=$(mean "$bp1" "$bp2")
UT_RD_MEAN=$(mean "$r1m" "$r2m") RB_MEAN=$(mean "$ba1" "$ba2")
UT_RD_LITTLE=$(little "$UT_RD_MEAN" "$UT_RD_TPS") RB_LITTLE=$(little "$RB_MEAN" "$RB_TPS")

# Clients ≤ cores: with no more clients than cores, neither tool's scheduling of its clients
# shapes the distribution, and the p50s compare (the goal). Pairs of short runs back to back:
# the shared machine's drift falls on both runs of a pair.
PAIRS=${HARNESS_CC_PAIRS:-5} DC=${HARNESS_CC_DURATION:-3}
say "$CC clients (≤ $CORES cores): the same lookups, $PAIRS pairs of ${DC}s runs, back to back, the order alternating"
FEW=(--concurrency "$CC" --duration "${DC}s" --warmup 1s)
[[ -n "$CLIENT_CPUS" ]] && PIN=(taskset -c "$CLIENT_CPUS")
PG_PAIRS='' RD_PAIRS=''
# pair LIST A… — appends "[A, …]" to the JSON list held in the variable named LIST.
pair() { local l=$1; shift; local IFS=,; printf -v "$l" '%s%s[%s]' "${!l}" "${!l:+, }" "$*"; }
# One run each; they set the globals read below (ut up, gt gp, rt rp, bt bp).
cc_ut_pg() { read -r ut up _ <<<"$(ut360_run postgres "$WORK/keys.txt" "pg-cc$i" "$LOOKUP" "${FEW[@]}")"; }
cc_pgbench() { read -r gt gp _ <<<"$(pgbench_run "cc$i" "$CC" "$DC")"; }
cc_ut_rd() { read -r rt rp _ <<<"$(ut360_run redis "$WORK/intkeys.txt" "rd-cc$i" "$RLOOKUP" "${FEW[@]}")"; num rt; }
# redis-benchmark's request count follows ut360's latest Redis throughput (about DC seconds).
cc_rbench() { read -r bt bp _ <<<"$(rbench_run "$(awk -v t="$rt" -v d="$DC" 'BEGIN {printf "%d", t * d + 500}')" "$CC")"; }
for ((i = 1; i <= PAIRS; i++)); do
  if ((i % 2)); then
    cc_ut_pg; cc_pgbench; cc_ut_rd; cc_rbench
  else
    cc_pgbench; cc_ut_pg; cc_rbench; cc_ut_rd
  fi
  num ut up gt gp rt rp bt bp
  pair PG_PAIRS "$ut" "$up" "$gt" "$gp"
  pair RD_PAIRS "$rt" "$rp" "$bt" "$bp"
done
PIN=()

# Stall runs: the lookup after 1 s warmup; the stall starts 2.5 s after launch.
stall_file() { # $1 name, $2 load line
  cat >"$WORK/$1.yaml" <<EOF
name: $1
description: isdn lookup under a 500 ms server stall
keys: {distribution: uniform}
load: $2
redis:
  commands: [[HGETALL, "{ns}:rec:{isdn}"]]
  decode: rec
postgres:
  queries:
    - sql: $SQL \$1
      args: ["{isdn}"]
EOF
  echo "$WORK/$1.yaml"
}
# Open model at half the throughput measured above (a healthy, unsaturated server); the closed
# run long enough that its C stalled samples are fewer than 0.1% of all (what lets raw p99.9 hide them).
half() { awk -v t="$1" 'BEGIN {r = int(t / 2); printf "%d", (r < 100 ? 100 : r)}'; }
OPEN_RD=$(stall_file stall_open_rd "{model: open, rate: $(half "$UT_RD_TPS"), max_in_flight: 64, warmup: 1s, duration: 4s}")
OPEN_PG=$(stall_file stall_open_pg "{model: open, rate: $(half "$UT_PG_TPS"), max_in_flight: 64, warmup: 1s, duration: 4s}")
CLOSED=$(stall_file stall_closed "{model: closed, concurrency: $C, warmup: 1s, duration: ${HARNESS_STALL_CLOSED:-10s}}")
pause_redis() { sleep 2.5; rcli CLIENT PAUSE 500 ALL >/dev/null; }
lock_pg() { sleep 2.5; psqlh -c "BEGIN; LOCK TABLE recommendations IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(0.5); COMMIT;" >/dev/null; }
say "stall: CLIENT PAUSE 500 during open- and closed-model Redis runs; a 500 ms table lock during PostgreSQL runs"
pause_redis & read -r _ _ SO_RD _ _ SO_RD_LATE _ <<<"$(ut360_run redis "$WORK/intkeys.txt" so-rd "$OPEN_RD")"; wait
pause_redis & read -r _ _ SC_RD SC_RD_CORR SC_RD_OPS _ _ <<<"$(ut360_run redis "$WORK/intkeys.txt" sc-rd "$CLOSED")"; wait
lock_pg & read -r _ _ SO_PG _ _ SO_PG_LATE _ <<<"$(ut360_run postgres "$WORK/keys.txt" so-pg "$OPEN_PG")"; wait
lock_pg & read -r _ _ SC_PG SC_PG_CORR SC_PG_OPS _ _ <<<"$(ut360_run postgres "$WORK/keys.txt" sc-pg "$CLOSED")"; wait
num SO_RD SO_RD_LATE SC_RD SC_RD_CORR SC_RD_OPS SO_PG SO_PG_LATE SC_PG SC_PG_CORR SC_PG_OPS

jq -n \
  --arg ts "$TS" --arg commit "$(git describe --always --dirty --abbrev=12 2>/dev/null || echo unknown)" --argjson nproc "$(nproc)" \
  --argjson n "$N" --argjson c "$C" --argjson d "$D" --argjson k "$K" \
  --arg pgbench "$(pgbench --version)" --arg rbench "$(redis-benchmark --version)" \
  --argjson ut_pg_tps "$UT_PG_TPS" --argjson ut_pg_p50 "$UT_PG_P50" --argjson pgb_tps "$PGB_TPS" --argjson pgb_p50 "$PGB_P50" \
  --argjson cc "$CC" --argjson cores "$CORES" \
  --arg client_cpus "$CLIENT_CPUS" --argjson cc_seconds "$DC" --argjson pg_pairs "[$PG_PAIRS]" --argjson rd_pairs "[$RD_PAIRS]" \
  --argjson ut_rd_mean "$UT_RD_MEAN" --argjson rb_mean "$RB_MEAN" \
  --argjson ut_pg_mean "$UT_PG_MEAN" --argjson pgb_mean "$PGB_MEAN" --argjson ut_pg_little "$UT_PG_LITTLE" --argjson pgb_little "$PGB_LITTLE" --argjson ut_rd_little "$UT_RD_LITTLE" --argjson rb_little "$RB_LITTLE" \
  --argjson ut_rd_tps "$UT_RD_TPS" --argjson ut_rd_p50 "$UT_RD_P50" --argjson rb_tps "$RB_TPS" --argjson rb_p50 "$RB_P50" \
  --argjson so_rd "$SO_RD" --argjson so_rd_late "$SO_RD_LATE" --argjson sc_rd "$SC_RD" --argjson sc_rd_corr "$SC_RD_CORR" --argjson sc_rd_ops "$SC_RD_OPS" \
  --argjson so_pg "$SO_PG" --argjson so_pg_late "$SO_PG_LATE" --argjson sc_pg "$SC_PG" --argjson sc_pg_corr "$SC_PG_CORR" --argjson sc_pg_ops "$SC_PG_OPS" \
  --arg runs_u "$u1 $u2" --arg runs_g "$g1 $g2" --arg runs_r "$r1 $r2" --arg runs_b "$b1 $b2" \
  'def ratio(a; b): if b > 0 then a / b else null end;
  # near(u; lo; hi): how far u lies outside [lo, hi], relative to the nearest end (0 inside).
  def near(u; lo; hi): if u < lo then ratio(u - lo; lo) elif u > hi then ratio(u - hi; hi) else 0 end;
  def rb_p50(u; p): near(u; p - 0.008; p); # redis-benchmark prints p50 to 8 µs (see the header)
  def med: map(select(. != null)) | sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  # A mean compares where the tool accounts for its clients\u0027 time as ut360 must.
  def accounts(l): l >= 0.95 and l <= 1.05;
  def mean_goal(diff; l): if accounts(l) then (diff != null and (diff | fabs) <= 0.15) else null end;
  {
    benchmark: "bench-harness", format_version: 1, timestamp: $ts, commit: $commit, nproc: $nproc,
    dataset: {subscribers: $n, shared_keys: $k}, concurrency: $c, duration_s: $d, tools: {pgbench: $pgbench, redis_benchmark: $rbench},
    commands: {
      ut360_postgres: "ut360 bench --target postgres --keys-file KEYS --concurrency \($c) --duration \($d)s --warmup 1s scenarios/isdn_lookup.yaml",
      pgbench: "pgbench -n -M prepared -c \($c) -j 2 -T \($d) -l -D k0=ISDN0 -f q0.sql … -D k\($k-1)=… -f q\($k-1).sql  (qI.sql: \\set t 0, then the isdn_lookup SELECT … WHERE isdn = :kI;), -j 1 with one client",
      ut360_redis: "ut360 bench --target redis --keys-file 12-DIGIT-NAMES --concurrency \($c) --duration \($d)s --warmup 1s hgetall.yaml (isdn_lookup\u0027s HGETALL, decode: none)",
      redis_benchmark: "redis-benchmark -c \($c) -n N -r \($k) --csv HGETALL ut360harness:rec:__rand_int__"
    },
    runs: {ut360_pg_tps: $runs_u, pgbench_tps: $runs_g, ut360_redis_tps: $runs_r, redis_benchmark_rps: $runs_b},
    postgres: {ut360_tps: $ut_pg_tps, pgbench_tps: $pgb_tps, throughput_ratio: ratio($ut_pg_tps; $pgb_tps),
               ut360_p50_ms: $ut_pg_p50, pgbench_p50_ms: $pgb_p50, p50_rel_diff: ratio($ut_pg_p50 - $pgb_p50; $pgb_p50),
               ut360_mean_ms: $ut_pg_mean, pgbench_mean_ms: $pgb_mean, mean_rel_diff: ratio($ut_pg_mean - $pgb_mean; $pgb_mean),
               ut360_littles_law: $ut_pg_little, pgbench_latency_column_littles_law: $pgb_little,
               pgbench_p50_source: "latency column of pgbench -l, each script starting with \\set so the end of a transaction is timed afresh"},
    redis: {ut360_tps: $ut_rd_tps, redis_benchmark_rps: $rb_tps, throughput_ratio: ratio($ut_rd_tps; $rb_tps),
            ut360_p50_ms: $ut_rd_p50, redis_benchmark_p50_ms: $rb_p50, ut360_littles_law: $ut_rd_little, p50_rel_diff: rb_p50($ut_rd_p50; $rb_p50),
            redis_benchmark_littles_law: $rb_little,
            ut360_mean_ms: $ut_rd_mean, redis_benchmark_mean_ms: $rb_mean, mean_rel_diff: ratio($ut_rd_mean - $rb_mean; $rb_mean)},
    clients_le_cores: {
      clients: $cc, cores: $cores, client_cpus: (if $client_cpus == "" then "not pinned" else $client_cpus end),
      pairs: ($pg_pairs | length), seconds: $cc_seconds,
      estimate: "per store, the median over the pairs of (ut360 p50 - tool p50) / tool p50; throughputs and p50s are each tool\u0027s medians",
      postgres: ($pg_pairs | {pairs_ut360_tps_p50_pgbench_tps_p50: ., ut360_tps: (map(.[0]) | med), ut360_p50_ms: (map(.[1]) | med),
        pgbench_tps: (map(.[2]) | med), pgbench_p50_ms: (map(.[3]) | med), p50_rel_diff: (map(ratio(.[1] - .[3]; .[3])) | med)}
        | .throughput_ratio = ratio(.ut360_tps; .pgbench_tps)),
      redis: ($rd_pairs | {pairs_ut360_tps_p50_rb_rps_p50: ., ut360_tps: (map(.[0]) | med), ut360_p50_ms: (map(.[1]) | med),
        redis_benchmark_rps: (map(.[2]) | med), redis_benchmark_p50_ms: (map(.[3]) | med), p50_rel_diff: (map(rb_p50(.[1]; .[3])) | med)}
        | .throughput_ratio = ratio(.ut360_tps; .redis_benchmark_rps))
    },
    stall: {
      redis_open_p999_ms: $so_rd, redis_open_late: $so_rd_late, redis_closed_raw_p999_ms: $sc_rd, redis_closed_corrected_p999_ms: $sc_rd_corr, redis_closed_ops: $sc_rd_ops,
      postgres_open_p999_ms: $so_pg, postgres_open_late: $so_pg_late, postgres_closed_raw_p999_ms: $sc_pg, postgres_closed_corrected_p999_ms: $sc_pg_corr, postgres_closed_ops: $sc_pg_ops
    }
  }
  | .goals = {
      postgres_throughput: (.postgres.throughput_ratio >= 0.9),
      postgres_mean: mean_goal(.postgres.mean_rel_diff; .postgres.pgbench_latency_column_littles_law),
      postgres_p50_clients_le_cores: (.clients_le_cores.clients <= .clients_le_cores.cores and .clients_le_cores.postgres.p50_rel_diff != null and (.clients_le_cores.postgres.p50_rel_diff | fabs) <= 0.2),
      redis_throughput: (.redis.throughput_ratio >= 0.9),
      redis_mean: mean_goal(.redis.mean_rel_diff; .redis.redis_benchmark_littles_law),
      redis_p50_clients_le_cores: (.clients_le_cores.clients <= .clients_le_cores.cores and .clients_le_cores.redis.p50_rel_diff != null and (.clients_le_cores.redis.p50_rel_diff | fabs) <= 0.2),
      ut360_latencies_account_for_time: ([.postgres.ut360_littles_law, .redis.ut360_littles_law] | all(. >= 0.95 and . <= 1.05)),
      redis_open_shows_stall: (.stall.redis_open_p999_ms >= 400),
      redis_closed_raw_hides_stall: (.stall.redis_closed_raw_p999_ms < 400),
      redis_closed_corrected_shows_stall: (.stall.redis_closed_corrected_p999_ms >= 400),
      postgres_open_shows_stall: (.stall.postgres_open_p999_ms >= 400),
      postgres_closed_raw_hides_stall: (.stall.postgres_closed_raw_p999_ms < 400),
      postgres_closed_corrected_shows_stall: (.stall.postgres_closed_corrected_p999_ms >= 400)
    }
  | . as $r
  | .not_comparable = ({
      postgres_mean: "pgbench\u0027s latency column accounts for \(.postgres.pgbench_latency_column_littles_law * 100 | floor)% of its clients\u0027 time (Little\u0027s law): its mean is not their mean wait",
      redis_mean: "redis-benchmark\u0027s latencies account for \(.redis.redis_benchmark_littles_law * 100 | floor)% of its clients\u0027 time (Little\u0027s law): its mean is not their mean wait"
    } | with_entries(select($r.goals[.key] == null)))
  | .passed = ([.goals[] | select(. != null)] | all)' >"$OUT"

jq -r 'def pct: if . == null then "n/a" else "\(. * 100 | floor)%" end;
       "PostgreSQL  ut360 \(.postgres.ut360_tps|floor)/s p50 \(.postgres.ut360_p50_ms*1000|floor)µs   pgbench \(.postgres.pgbench_tps|floor)/s p50 \(.postgres.pgbench_p50_ms*1000|floor)µs   ratio \(.postgres.throughput_ratio | pct)  p50 diff \(.postgres.p50_rel_diff | pct)",
       "            mean latency: ut360 \(.postgres.ut360_mean_ms*1000|floor)µs, pgbench \(.postgres.pgbench_mean_ms*1000|floor)µs (\(.postgres.mean_rel_diff | pct))",
       "Redis       ut360 \(.redis.ut360_tps|floor)/s p50 \(.redis.ut360_p50_ms*1000|floor)µs   redis-benchmark \(.redis.redis_benchmark_rps|floor)/s p50 \(.redis.redis_benchmark_p50_ms*1000|floor)µs   ratio \(.redis.throughput_ratio | pct)  p50 diff \(.redis.p50_rel_diff | pct)",
       "            mean latency: ut360 \(.redis.ut360_mean_ms*1000|floor)µs, redis-benchmark \(.redis.redis_benchmark_mean_ms*1000|floor)µs (\(.redis.mean_rel_diff | pct))",
       "Little     mean latency × throughput / clients: ut360 PostgreSQL \(.postgres.ut360_littles_law), Redis \(.redis.ut360_littles_law); pgbench latency column \(.postgres.pgbench_latency_column_littles_law), redis-benchmark \(.redis.redis_benchmark_littles_law)",
       "\(.clients_le_cores.clients) clients (≤ \(.clients_le_cores.cores) cores)  PostgreSQL ut360 \(.clients_le_cores.postgres.ut360_tps|floor)/s p50 \(.clients_le_cores.postgres.ut360_p50_ms*1000|floor)µs, pgbench \(.clients_le_cores.postgres.pgbench_tps|floor)/s p50 \(.clients_le_cores.postgres.pgbench_p50_ms*1000|floor)µs (\(.clients_le_cores.postgres.p50_rel_diff | pct)); Redis ut360 \(.clients_le_cores.redis.ut360_tps|floor)/s p50 \(.clients_le_cores.redis.ut360_p50_ms*1000|floor)µs, redis-benchmark \(.clients_le_cores.redis.redis_benchmark_rps|floor)/s p50 \(.clients_le_cores.redis.redis_benchmark_p50_ms*1000|floor)µs (\(.clients_le_cores.redis.p50_rel_diff | pct))",
       "stall       Redis open p99.9 \(.stall.redis_open_p999_ms)ms; closed raw \(.stall.redis_closed_raw_p999_ms)ms, corrected \(.stall.redis_closed_corrected_p999_ms)ms",
       "            PostgreSQL open p99.9 \(.stall.postgres_open_p999_ms)ms; closed raw \(.stall.postgres_closed_raw_p999_ms)ms, corrected \(.stall.postgres_closed_corrected_p999_ms)ms",
       (. as $r | .goals | to_entries[] | "  \(if .value == null then "n/a " elif .value then "ok  " else "MISS" end) \(.key)\(if .value == null then ": " + $r.not_comparable[.key] else "" end)"),
       "wrote '"$OUT"'"' "$OUT"
[ "$(jq -r .passed "$OUT")" = true ] || { say "a goal was missed (see $OUT)"; exit 1; }
