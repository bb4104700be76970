#!/usr/bin/env bash
# bench-cluster: ut360 on the local 3-master Redis Cluster (make cluster)
# against the single Redis server, on the same machine, in the same run, on
# the same data. Writes results/cluster-<timestamp>.json.
#
#   load     `ut360 load` of N subscribers into PostgreSQL + the single server
#            and into PostgreSQL + the cluster (a first load into an empty
#            namespace each, then the same files again: the refresh is timed,
#            twice per store, single, cluster, cluster, single; the means)
#   verify   `ut360 verify` of each, timed the same way
#   readers  bin/redisprobe (PING every master every 1 ms, HGETALL reader)
#            through a day-2 load into the cluster: the longest wait and the
#            swap's mixed-generation window
#   lookup   `ut360 bench` isdn_lookup on the cluster against
#            `redis-benchmark --cluster` on the same operation (HGETALL of a
#            rec hash; see docs/cluster.md), when LOOKUP=1 (default)
#
# Aims (issue 15): load and verify ≤ 1.3 × the single server; isdn_lookup
# ≥ 0.9 × redis-benchmark's throughput.
#
# Environment: N (default 214000), BIN, PROBE, RESULTS, PG_BASE, REDIS_URL
# (single server, default db 15), CLUSTER_URL (default the make-cluster URL).
# Uses its own PostgreSQL schemas and Redis namespaces and removes them.
# Exit 0 when every aim is met, 1 otherwise, 2 on setup errors.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${BIN:-bin/ut360}
PROBE=${PROBE:-bin/redisprobe}
N=${N:-214000}
RESULTS=${RESULTS:-results}
PG_BASE=${PG_BASE:-postgres://postgres@127.0.0.1:5432/ut360?sslmode=disable}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/15}
CLUSTER_URL=${CLUSTER_URL:-redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003}
LOOKUP=${LOOKUP:-1}
[[ -x scripts/bench-cluster-lookup.sh ]] || LOOKUP=0
MAX_RATIO=1.3

for t in "$BIN" "$PROBE" psql redis-cli jq; do
	command -v "$t" >/dev/null || { echo "bench-cluster: $t is missing" >&2; exit 2; }
done
first_node=${CLUSTER_URL#*://}
first_node=${first_node%%,*}
redis-cli -h "${first_node%:*}" -p "${first_node#*:}" cluster info 2>/dev/null | grep -q cluster_state:ok ||
	{ echo "bench-cluster: no healthy cluster at $first_node: start it with make cluster" >&2; exit 2; }

id=$$
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ut360-bench-cluster.XXXXXX")
nsS="benchcls$id" nsC="benchclc$id"
cleanup() {
	psql -X -q "${PG_BASE%%\?*}" -c "DROP SCHEMA IF EXISTS s$id CASCADE; DROP SCHEMA IF EXISTS c$id CASCADE" >/dev/null 2>&1 || true
	redis-cli -u "$REDIS_URL" --scan --pattern "$nsS:*" | xargs -r -n 500 redis-cli -u "$REDIS_URL" unlink >/dev/null 2>&1 || true
	for p in $(redis-cli -h "${first_node%:*}" -p "${first_node#*:}" cluster nodes | awk '/master/ { split($2, a, "[:@]"); print a[2] }'); do
		# One UNLINK per key (keys of different slots cannot share one), pipelined.
		redis-cli -h "${first_node%:*}" -p "$p" --scan --pattern "$nsC:*" | sed 's/^/UNLINK /' |
			redis-cli -h "${first_node%:*}" -p "$p" --pipe >/dev/null 2>&1 || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
now() { date +%s.%N; }
since() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.3f", e - s }'; }

echo "bench-cluster: gen $N subscribers, days 1 and 2" >&2
"$BIN" -q gen -n "$N" --out "$tmp/d1" >/dev/null
"$BIN" -q gen -n "$N" --day 2 --out "$tmp/d2" >/dev/null
"$BIN" -q --pg "$PG_BASE" migrate up >/dev/null
psql -X -q "${PG_BASE%%\?*}" -c "CREATE SCHEMA s$id; CREATE SCHEMA c$id" >/dev/null

# The two stores: NAME → "SCHEMA REDIS NS".
declare -A store=([single]="s$id $REDIS_URL $nsS" [cluster]="c$id $CLUSTER_URL $nsC")
# ut NAME ARGS… — ut360 against store NAME.
ut() {
	local schema redis ns
	read -r schema redis ns <<<"${store[$1]}"
	shift
	"$BIN" -q --pg "$PG_BASE&search_path=$schema" --redis "$redis" --namespace "$ns" "$@"
}
# timed NAME KIND N ARGS… — timed run N of ut360, its seconds appended to $tmp/NAME.KIND_s.
timed() {
	local name=$1 kind=$2 run=$3 s
	shift 3
	s=$(now)
	ut "$name" "$@" >/dev/null || [[ $kind == verify ]] # verify's .clean is read below
	echo "$(since "$s")" >>"$tmp/$name.${kind}_s"
	echo "bench-cluster: run $run, $name $kind: $(tail -1 "$tmp/$name.${kind}_s") s" >&2
}
echo "bench-cluster: first loads into both, then the refresh and verify of each twice, single, cluster, cluster, single (drift cancels)" >&2
ut single load --data "$tmp/d1" >/dev/null
ut cluster load --data "$tmp/d1" >/dev/null
i=0
for name in single cluster cluster single; do
	timed "$name" load $((++i)) load --data "$tmp/d1"
done
for name in single cluster cluster single; do
	timed "$name" verify $((++i)) verify --report "$tmp/$name.verify.json"
done
# mean FILE — the mean of the seconds in FILE.
mean() { awk '{ s += $1 } END { printf "%.3f", s / NR }' "$1"; }
for f in "$tmp"/*.load_s "$tmp"/*.verify_s; do mean "$f" >"$f.mean"; done

echo "bench-cluster: day-2 load into the cluster with readers" >&2
"$PROBE" --redis "$CLUSTER_URL" --namespace "$nsC" --subscribers "$N" --ready "$tmp/probe.ready" >"$tmp/probe.json" &
pid=$!
for _ in $(seq 300); do [[ -e $tmp/probe.ready ]] && break; sleep 0.1; done
sleep 1
"$BIN" -q --pg "$PG_BASE&search_path=c$id" --redis "$CLUSTER_URL" --namespace "$nsC" load --data "$tmp/d2" --summary-json "$tmp/day2.json" >/dev/null
sleep 1
kill -TERM $pid
wait $pid

lookup='null'
if [[ $LOOKUP == 1 ]]; then
	echo "bench-cluster: isdn_lookup on the cluster vs redis-benchmark --cluster" >&2
	scripts/bench-cluster-lookup.sh "$CLUSTER_URL" "$nsC" "$N" "$tmp" >"$tmp/lookup.json"
	lookup=$(cat "$tmp/lookup.json")
fi

ratio() { awk -v a="$(cat "$1")" -v b="$(cat "$2")" 'BEGIN { printf "%.2f", a / b }'; }
load_ratio=$(ratio "$tmp/cluster.load_s.mean" "$tmp/single.load_s.mean")
verify_ratio=$(ratio "$tmp/cluster.verify_s.mean" "$tmp/single.verify_s.mean")
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit-dirty"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$RESULTS"
out="$RESULTS/cluster-$stamp.json"
jq -n --arg commit "$commit" --arg ts "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --argjson nproc "$(nproc)" --argjson n "$N" \
	--argjson ls "$(cat "$tmp/single.load_s.mean")" --argjson lc "$(cat "$tmp/cluster.load_s.mean")" \
	--argjson vs "$(cat "$tmp/single.verify_s.mean")" --argjson vc "$(cat "$tmp/cluster.verify_s.mean")" \
	--slurpfile lsr "$tmp/single.load_s" --slurpfile lcr "$tmp/cluster.load_s" \
	--slurpfile vsr "$tmp/single.verify_s" --slurpfile vcr "$tmp/cluster.verify_s" \
	--argjson lr "$load_ratio" --argjson vr "$verify_ratio" --argjson max "$MAX_RATIO" --argjson lookup "$lookup" \
	--slurpfile probe "$tmp/probe.json" --slurpfile day2 "$tmp/day2.json" \
	--slurpfile vsj "$tmp/single.verify.json" --slurpfile vcj "$tmp/cluster.verify.json" \
	--arg cluster "$CLUSTER_URL" '{
  format: 1, benchmark: "cluster", timestamp: $ts, commit: $commit, nproc: $nproc, subscribers: $n, cluster: $cluster,
  load_seconds: {single: $ls, cluster: $lc, ratio: $lr, runs: {single: $lsr, cluster: $lcr}},
  verify_seconds: {single: $vs, cluster: $vc, ratio: $vr, runs: {single: $vsr, cluster: $vcr},
                   clean: {single: ($vsj[0].clean // null), cluster: ($vcj[0].clean // null)}},
  day2_on_cluster: {swap_window_seconds: ($day2[0].SwapWindow / 1e9), leavers: $day2[0].Leavers,
                    longest_reader_wait_ms: ([$probe[0].ping.max_ms, $probe[0].hgetall.max_ms] | max), readers: $probe[0]},
  lookup: $lookup,
  aims: {max_ratio: $max, min_lookup_ratio: 0.9},
  pass: ($lr <= $max and $vr <= $max and $vsj[0].clean and $vcj[0].clean and (($lookup == null) or ($lookup.ratio >= 0.9)))}' >"$out"
cat "$out"
echo "bench-cluster: wrote $out" >&2
[[ $(jq .pass "$out") == true ]]
