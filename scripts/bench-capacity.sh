#!/usr/bin/env bash
# bench-capacity: does the projection made at reference scale hold at 1,000,000?
#
#   1. gen + load 214,000 subscribers into a private schema/namespace, run
#      `ut360 capacity --subscribers 1M` (the projection);
#   2. gen + load 1,000,000 into a fresh private schema/namespace, measuring the
#      load's wall time and Redis used_memory delta, then `ut360 capacity` there;
#   3. compare projected with measured Redis memory (used_memory delta),
#      PostgreSQL disk (pg_total_relation_size) and load time: each within 10%.
# Writes results/capacity-<timestamp>.json. Exit 0 when all three hold, 1 otherwise.
# Environment: SMALL (214000), BIG (1000000), BIN, RESULTS, PG_BASE, REDIS_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/ut360}
SMALL=${SMALL:-214000}
BIG=${BIG:-1000000}
RESULTS=${RESULTS:-results}
PG_BASE=${PG_BASE:-postgres://postgres@127.0.0.1:5432/ut360?sslmode=disable}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
TOL=0.10
ts=$(date -u +%Y%m%dT%H%M%SZ)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ut360-bench-capacity.XXXXXX")
id=$$
schemas=()
namespaces=()
cleanup() {
	for s in "${schemas[@]}"; do psql -q "${PG_BASE%%\?*}" -c "DROP SCHEMA IF EXISTS $s CASCADE" >/dev/null 2>&1 || true; done
	for ns in "${namespaces[@]}"; do
		redis-cli -u "$REDIS_URL" --scan --pattern "$ns:*" | xargs -r -n 1000 redis-cli -u "$REDIS_URL" unlink >/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

used_memory() { redis-cli -u "$REDIS_URL" info memory | awk -F: '/^used_memory:/ { gsub("\r", "", $2); print $2 }'; }

# run N LABEL: gen, migrate, load, capacity; prints nothing, leaves $tmp/LABEL.*
run() {
	local n=$1 label=$2
	local schema="cap_${label}_$id" ns="ut360cap-$label-$id"
	schemas+=("$schema"); namespaces+=("$ns")
	local pg="${PG_BASE}&search_path=$schema"
	"$BIN" --pg "$PG_BASE" migrate up >/dev/null # creates database ut360 if missing
	psql -q "${PG_BASE%%\?*}" -c "CREATE SCHEMA $schema" >/dev/null
	echo "bench-capacity: gen $n" >&2
	"$BIN" --quiet gen --subscribers "$n" --out "$tmp/data-$label" --force >/dev/null
	"$BIN" --quiet --pg "$pg" migrate up >/dev/null # before the clock starts: the timed load finds the tables
	local before after start end
	before=$(used_memory)
	start=$(date +%s.%N)
	echo "bench-capacity: load $n" >&2
	"$BIN" --quiet --pg "$pg" --namespace "$ns" load --data "$tmp/data-$label" --rejects - >"$tmp/$label.load.txt"
	end=$(date +%s.%N)
	after=$(used_memory)
	echo "$(( after - before ))" >"$tmp/$label.delta"
	awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }' >"$tmp/$label.loadsecs"
	"$BIN" --quiet --pg "$pg" --namespace "$ns" capacity --subscribers "$BIG" --report "$tmp/cap-$label" >"$tmp/$label.capacity.txt"
	# Free the small load before the big one so the server's memory is comparable.
	if [[ $label == small ]]; then cleanup_one "$schema" "$ns"; fi
}
cleanup_one() {
	psql -q "${PG_BASE%%\?*}" -c "DROP SCHEMA IF EXISTS $1 CASCADE" >/dev/null
	redis-cli -u "$REDIS_URL" --scan --pattern "$2:*" | xargs -r -n 1000 redis-cli -u "$REDIS_URL" unlink >/dev/null
}

# Profile hashes must be listpack-encoded in both runs (what ut360 load's --tune-redis does).
run "$SMALL" small
run "$BIG" big

python3 - "$tmp" "$SMALL" "$BIG" "$TOL" "$RESULTS/capacity-$ts.json" "$(git describe --always --dirty 2>/dev/null || echo unknown)" "$(nproc)" <<'PY'
import json, sys
tmp, small, big, tol, out, commit, cores = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6], int(sys.argv[7])
rd = lambda p: open(f"{tmp}/{p}").read().strip()
ps = json.load(open(f"{tmp}/cap-small/capacity.json"))
pb = json.load(open(f"{tmp}/cap-big/capacity.json"))
proj = next(p for p in ps["projections"] if p["subscribers"] == big)
meas = {"redis_bytes": int(rd("big.delta")), "pg_bytes": pb["measured"]["pg_bytes"], "load_seconds": float(rd("big.loadsecs"))}
projd = {"redis_bytes": proj["redis_bytes"], "pg_bytes": proj["pg_bytes"], "load_seconds": proj.get("load_seconds", 0)}
checks = {}
for k in meas:
    err = (projd[k] - meas[k]) / meas[k] if meas[k] else None
    checks[k] = {"projected": projd[k], "measured": meas[k], "error": err, "pass": err is not None and abs(err) <= tol}
res = {
    "format_version": 1, "commit": commit, "cores": cores, "reference_subscribers": small, "target_subscribers": big,
    "tolerance": tol, "checks": checks, "passed": all(c["pass"] for c in checks.values()),
    "small": {"used_memory_delta": int(rd("small.delta")), "load_seconds": float(rd("small.loadsecs")),
              "redis_bytes_per_subscriber_model": ps["redis_bytes_per_subscriber_model"], "pg_bytes": ps["measured"]["pg_bytes"]},
    "big_capacity_model_redis_bytes_per_subscriber": pb["redis_bytes_per_subscriber_model"],
    "notes": "measured redis = INFO used_memory delta across the 1M load into an empty namespace; "
             "measured pg = pg_total_relation_size of the three tables; load time = wall of `ut360 load`",
}
json.dump(res, open(out, "w"), indent=2)
for k, c in checks.items():
    print(f"{k:13} projected {c['projected']:>14,.1f}  measured {c['measured']:>14,.1f}  error {100*c['error']:+6.1f}%  {'PASS' if c['pass'] else 'FAIL'}")
print(f"small: used_memory delta {res['small']['used_memory_delta']/small:.0f} B/subscriber, load {res['small']['load_seconds']} s")
print(out)
sys.exit(0 if res["passed"] else 1)
PY
