#!/usr/bin/env bash
# bench-cluster-lookup CLUSTER_URL NS N TMPDIR — `ut360 bench` isdn_lookup on a Redis Cluster
# against `redis-benchmark --cluster` on the same operation; prints one JSON object:
#   {"ut360_ops_per_sec", "redis_benchmark_ops_per_sec", "ratio", "clients", "commands": {…}, …}
# Called by scripts/bench-cluster.sh (make bench-cluster) after it loaded N subscribers into
# namespace NS of the cluster; TMPDIR is its scratch folder (this script replaces
# TMPDIR/lookup and leaves it there).
#
# The operation: HGETALL of a rec hash, the reply read but not decoded (what redis-benchmark
# does; ut360 runs scenarios/isdn_lookup.yaml, --target redis, with decode: none, as bench-harness.sh).
#
# The keys. redis-benchmark substitutes only a 12-digit number (__rand_int__, -r K) into a key,
# and in --cluster mode it pins each client to one master and replaces "{tag}" in the key with
# a hash tag of that master's first slot (from its own CRC16 table, padded with '}' to 5
# characters: "{06S}", "{8M}}"). So the script
#   1. learns the tags redis-benchmark uses: a short run of SET NS:rbtag:{tag}:__rand_int__
#      with -r 1, then a SCAN of every master for the keys it wrote (deleted at once);
#   2. copies K loaded rec hashes (LOOKUP_KEYS, default 128, random members of the risk sets)
#      to NS:rec:<tag>:<12 digits> for every tag, the same content (HGETALL + HSET: COPY cannot
#      cross slots), with a 1-hour TTL as a safety net; they are deleted at the end;
#   3. gives ut360 the same names (--keys-file, one "<tag>:<12 digits>" a line), so both tools
#      read exactly the same K × masters keys; redis-benchmark's clients each read the K copies
#      on their own master, ut360's workers draw from all of them (one connection per master
#      per worker, routed by slot);
#   4. checks that redis-benchmark found its keys: the masters' keyspace_misses may not grow by
#      more than 1% of its requests (an empty HGETALL is cheaper, and redis-benchmark counts it
#      as a success); the counts are in the output.
# Order: ut360, redis-benchmark, redis-benchmark, ut360 (drift cancels); figures are the means.
#
# Environment: BIN (bin/ut360), LOOKUP_CLIENTS (8), LOOKUP_DURATION (8, seconds per run),
# LOOKUP_KEYS (128), LOOKUP_UT360_FLAGS (more `ut360 bench` flags, e.g. "--procs 2"). Exit 0 with the JSON on stdout; 3 on a failed step.
set -euo pipefail
cd "$(dirname "$0")/.."

[[ $# == 4 ]] || { echo "usage: $0 CLUSTER_URL NS N TMPDIR" >&2; exit 2; }
URL=$1 NS=$2 N=$3 TMP=$4
BIN=${BIN:-bin/ut360}
C=${LOOKUP_CLIENTS:-8}
D=${LOOKUP_DURATION:-8}
K=${LOOKUP_KEYS:-128}
say() { echo "bench-cluster-lookup: $*" >&2; }
for t in "$BIN" redis-cli redis-benchmark jq; do
	command -v "$t" >/dev/null || { say "$t is missing"; exit 3; }
done

seed=${URL#*://}
seed=${seed#*@}
seed=${seed%%[,/?]*}
H=${seed%:*} P=${seed##*:}
[[ $seed == *:* ]] || P=6379
W="$TMP/lookup"
rm -rf "$W"
mkdir -p "$W"
rc() { redis-cli -h "$H" -p "$P" "$@"; }
rcc() { redis-cli -c -h "$H" -p "$P" "$@" | { grep -v '^-> Redirected to slot' || true; }; }
masters() { rc cluster nodes | awk '$3 ~ /master/ && $3 !~ /fail/ && NF > 8 { split($2, a, "[:@]"); print a[1] ":" a[2] }' | sort; }
# keyspace_misses / hits summed over the masters.
stat_sum() { local m s=0; for m in $(masters); do s=$((s + $(redis-cli -h "${m%:*}" -p "${m#*:}" info stats | tr -d '\r' | awk -F: -v k="$1" '$1 == k { print $2 }'))); done; echo "$s"; }

copies="$W/copies.txt" # every key this script created, deleted on exit
: >"$copies"
cleanup() {
	if [[ -s $copies ]]; then
		sed 's/.*/UNLINK "&"/' "$copies" | rcc >/dev/null 2>&1 || true
	fi
	for m in $(masters); do
		redis-cli -h "${m%:*}" -p "${m#*:}" --scan --pattern "$NS:rbtag:*" | sed 's/^/UNLINK /' |
			redis-cli -h "${m%:*}" -p "${m#*:}" --pipe >/dev/null 2>&1 || true
	done
}
trap cleanup EXIT

# 1. The tags redis-benchmark puts in place of {tag}, one per master.
redis-benchmark --cluster -h "$H" -p "$P" -c "$C" -n $((C * 20)) -r 1 -q SET "$NS:rbtag:{tag}:__rand_int__" x >/dev/null 2>&1 ||
	{ say "redis-benchmark --cluster failed"; exit 3; }
: >"$W/keys-probe.txt"
for m in $(masters); do
	redis-cli -h "${m%:*}" -p "${m#*:}" --scan --pattern "$NS:rbtag:*" >>"$W/keys-probe.txt"
done
sed -n "s/^$(printf '%s' "$NS" | sed 's/[][\.*^$/]/\\&/g'):rbtag:\(.*\):000000000000\$/\1/p" "$W/keys-probe.txt" | sort -u >"$W/tags.txt"
ntags=$(wc -l <"$W/tags.txt")
nmasters=$(masters | wc -l)
[[ $ntags -ge 1 ]] || { say "could not learn redis-benchmark's cluster tags"; exit 3; }
[[ $ntags == "$nmasters" ]] || say "warning: $ntags tags for $nmasters masters (fewer clients than masters?)"

# 2. K loaded ISDNs and their copies under every tag.
for r in LOW MEDIUM HIGH; do rcc srandmember "$NS:idx:risk:$r" "$K"; done | awk -v k="$K" 'NF && !seen[$0]++ && n < k { print; n++ }' >"$W/isdns.txt"
K=$(wc -l <"$W/isdns.txt")
[[ $K -ge 1 ]] || { say "no loaded ISDN in namespace $NS (risk sets empty)"; exit 3; }
q() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }
: >"$W/keys.txt"
: >"$W/hset.txt"
i=0
while read -r isdn; do
	mapfile -t kv < <(rcc hgetall "$NS:rec:$isdn")
	((${#kv[@]} >= 2)) || { say "rec hash of $isdn is empty"; exit 3; }
	n=$(printf '%012d' "$i")
	while read -r tag; do
		key="$NS:rec:$tag:$n"
		line="HSET $(q "$key")"
		for v in "${kv[@]}"; do line+=" $(q "$v")"; done
		printf '%s\nEXPIRE %s 3600\n' "$line" "$(q "$key")" >>"$W/hset.txt"
		echo "$key" >>"$copies"
		echo "$tag:$n" >>"$W/keys.txt"
	done <"$W/tags.txt"
	i=$((i + 1))
done <"$W/isdns.txt"
rcc <"$W/hset.txt" >"$W/hset.out"
grep -q '^(error)\|^ERR\|^CROSSSLOT\|^MOVED' "$W/hset.out" && { say "writing the copies failed: $(grep -m1 '^(error)\|^ERR\|^CROSSSLOT\|^MOVED' "$W/hset.out")"; exit 3; }
nkeys=$(wc -l <"$copies")
say "$K rec hashes copied under $ntags tags ($nkeys keys): $(paste -sd' ' "$W/tags.txt")"

# 3. The runs.
# The built-in isdn_lookup, Redis side, with decode: none (redis-benchmark decodes nothing).
sed 's/^\(  decode:\) rec$/\1 none/' scenarios/isdn_lookup.yaml >"$W/isdn_lookup.yaml"
grep -q '^  decode: none$' "$W/isdn_lookup.yaml" || { say "scenarios/isdn_lookup.yaml: no 'decode: rec' line to turn off"; exit 3; }
ut360_run() { # $1 tag → "throughput p50_ms mean_ms"; per-master figures in $W/ut360-$1.nodes.json
	local dir="$W/ut360-$1"
	"$BIN" -q --redis "$URL" --namespace "$NS" bench --target redis --keys-file "$W/keys.txt" \
		--concurrency "$C" --duration "${D}s" --warmup 1s --out "$dir" ${LOOKUP_UT360_FLAGS:-} "$W/isdn_lookup.yaml" >"$W/ut360-$1.out" 2>&1 ||
		[[ $? == 1 ]] || { cat "$W/ut360-$1.out" >&2; exit 3; }
	local s
	s=$(ls "$dir"/*/summary.json)
	jq '.scenarios[0].results[0].nodes' "$s" >"$W/ut360-$1.nodes.json"
	jq -r '.scenarios[0].results[0] | if .errors > 0 then "errors \(.errors) \(.error_kinds)" else "\(.throughput) \(.latency.p50_ms) \(.latency.mean_ms)" end' "$s"
}
rb_run() { # $1 requests → "rps p50_ms avg_ms"
	redis-benchmark --cluster -h "$H" -p "$P" -c "$C" -n "$1" -r "$K" --csv HGETALL "$NS:rec:{tag}:__rand_int__" 2>/dev/null |
		awk -F'","' '/^"HGETALL/ { print $2, $5, $3 }'
}
num() { local v; for v in "$@"; do [[ ${!v:-} =~ ^[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$ ]] || { say "step failed: $v='${!v:-}'"; exit 3; }; done; }
mean() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (a + b) / 2 }'; }

say "ut360 bench (isdn_lookup HGETALL, decode none) vs redis-benchmark --cluster, $C clients, ${D}s each, ut360, tool, tool, ut360"
read -r u1 up1 um1 <<<"$(ut360_run 1)"
num u1 up1 um1
REQS=$(awk -v t="$u1" -v d="$D" 'BEGIN { n = t * d; printf "%d", (n < 1000 ? 1000 : n) }')
m0=$(stat_sum keyspace_misses) h0=$(stat_sum keyspace_hits)
read -r b1 bp1 ba1 <<<"$(rb_run "$REQS")"
read -r b2 bp2 ba2 <<<"$(rb_run "$REQS")"
m1=$(stat_sum keyspace_misses) h1=$(stat_sum keyspace_hits)
read -r u2 up2 um2 <<<"$(ut360_run 2)"
num b1 bp1 ba1 b2 bp2 ba2 u2 up2 um2 m0 m1 h0 h1
UT=$(mean "$u1" "$u2") RB=$(mean "$b1" "$b2")
misses=$((m1 - m0)) hits=$((h1 - h0))
keys_found=true
((misses * 100 <= 2 * REQS)) || { keys_found=false; say "warning: keyspace_misses grew by $misses during redis-benchmark's $((2 * REQS)) requests"; }

jq -n --argjson ut "$UT" --argjson rb "$RB" --argjson c "$C" --argjson d "$D" --argjson n "$N" --argjson k "$K" \
	--argjson nkeys "$nkeys" --argjson reqs "$REQS" --argjson misses "$misses" --argjson hits "$hits" --argjson found "$keys_found" \
	--arg u1 "$u1" --arg u2 "$u2" --arg b1 "$b1" --arg b2 "$b2" --arg up "$(mean "$up1" "$up2")" --arg bp "$(mean "$bp1" "$bp2")" \
	--arg um "$(mean "$um1" "$um2")" --arg ba "$(mean "$ba1" "$ba2")" \
	--arg tags "$(paste -sd' ' "$W/tags.txt")" --arg rbv "$(redis-benchmark --version)" \
	--arg ucmd "$BIN --redis $URL --namespace $NS bench --target redis --keys-file KEYS --concurrency $C --duration ${D}s --warmup 1s ${LOOKUP_UT360_FLAGS:-}${LOOKUP_UT360_FLAGS:+ }isdn_lookup.yaml (scenarios/isdn_lookup.yaml with decode: none)" \
	--arg bcmd "redis-benchmark --cluster -h $H -p $P -c $C -n $REQS -r $K --csv HGETALL $NS:rec:{tag}:__rand_int__" --slurpfile nodes "$W/ut360-2.nodes.json" '
def ratio(a; b): if b > 0 then ((a / b) * 1000 | round) / 1000 else null end;
{
  ut360_ops_per_sec: $ut, redis_benchmark_ops_per_sec: $rb, ratio: ratio($ut; $rb), clients: $c,
  commands: {ut360: $ucmd, redis_benchmark: $bcmd},
  operation: "HGETALL of a rec hash (copies of loaded ones), reply not decoded",
  duration_s: $d, subscribers: $n, rec_hashes: $k, keys: $nkeys, redis_benchmark_tags: ($tags | split(" ")),
  runs: {ut360: [($u1 | tonumber), ($u2 | tonumber)], redis_benchmark: [($b1 | tonumber), ($b2 | tonumber)]},
  p50_ms: {ut360: ($up | tonumber), redis_benchmark: ($bp | tonumber)},
  mean_ms: {ut360: ($um | tonumber), redis_benchmark: ($ba | tonumber)},
  redis_benchmark_keys_found: {ok: $found, keyspace_hits: $hits, keyspace_misses: $misses, requests: (2 * $reqs)},
  ut360_per_master: $nodes[0], redis_benchmark: $rbv
}'
