#!/usr/bin/env bash
# bench-gen: time `ut360 gen` at N subscribers (default 1,000,000) under
# /usr/bin/time -v and write results/gen-<timestamp>.json.
#
# Targets (issue 2): wall ≤ 20 s and peak RSS ≤ 300 MB on the 2-core CI machine.
# A raw floor is measured in the same run (copying the generated files to a
# fresh folder: the I/O the generator cannot avoid), so the JSON also gives
# wall/floor for comparisons across machines.
#
# Environment: N (subscribers), MONTHS, SEED, BIN (default bin/ut360),
# RESULTS (default results). Exit 0 when both targets are met, 1 otherwise.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${BIN:-bin/ut360}
N=${N:-1000000}
MONTHS=${MONTHS:-7}
SEED=${SEED:-1}
RESULTS=${RESULTS:-results}
MAX_WALL=20
MAX_RSS_MB=300

if [[ ! -x $BIN ]]; then
	echo "bench-gen: $BIN not found; run \`make build\` first" >&2
	exit 2
fi
if [[ ! -x /usr/bin/time ]]; then
	echo "bench-gen: /usr/bin/time is missing (apt-get install time)" >&2
	exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ut360-bench-gen.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Other jobs on the machine slow the run down: record the load it started under.
load_before=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo null)
echo "bench-gen: $BIN gen --subscribers $N --months $MONTHS --seed $SEED" >&2
/usr/bin/time -v -o "$tmp/time.txt" "$BIN" --quiet gen --subscribers "$N" --months "$MONTHS" \
	--seed "$SEED" --out "$tmp/out" >"$tmp/gen.txt"
cat "$tmp/gen.txt" >&2

field() { awk -F': ' -v k="$1" 'index($0, k) { print $2; exit }' "$tmp/time.txt"; }
wall_raw=$(field "Elapsed (wall clock) time")
wall=$(awk -v t="$wall_raw" 'BEGIN { n = split(t, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f", s }')
user=$(field "User time (seconds)")
sys=$(field "System time (seconds)")
rss_kb=$(field "Maximum resident set size (kbytes)")
rss_mb=$(awk -v k="$rss_kb" 'BEGIN { printf "%.1f", k / 1024 }')

size() { stat -c %s "$tmp/out/$1"; }
csv=$(size recommendations_final_filtered.csv)
prof=$(size subscriber_360_profile.parquet)
mon=$(size subscriber_monthly_summary.parquet)
rows=$(sed -n 's/.*subscribers, \([0-9]*\) monthly rows.*/\1/p' "$tmp/gen.txt")

# Raw floor: copy the three files (read + write of the same bytes, synced).
start=$(date +%s.%N)
mkdir "$tmp/copy"
cp "$tmp/out/"* "$tmp/copy/"
sync -f "$tmp/copy" 2>/dev/null || sync
floor=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.3f", e - s }')
ratio=$(awk -v w="$wall" -v f="$floor" 'BEGIN { if (f > 0) printf "%.1f", w / f; else print "null" }')

wall_ok=$(awk -v w="$wall" -v m="$MAX_WALL" 'BEGIN { print (w <= m) ? "true" : "false" }')
rss_ok=$(awk -v r="$rss_mb" -v m="$MAX_RSS_MB" 'BEGIN { print (r <= m) ? "true" : "false" }')
pass=false
[[ $wall_ok == true && $rss_ok == true ]] && pass=true

commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [[ $commit != unknown ]] && ! git diff --quiet HEAD -- dataset cmd/ut360/gen.go cmd/ut360/app.go cmd/ut360/main.go 2>/dev/null; then
	commit="$commit-dirty"
fi
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$RESULTS"
out="$RESULTS/gen-$stamp.json"
cat >"$out" <<EOF
{
  "benchmark": "gen",
  "timestamp": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "commit": "$commit",
  "nproc": $(nproc),
  "loadavg_1m_before": $load_before,
  "go": "$(go env GOVERSION 2>/dev/null || echo unknown)",
  "subscribers": $N,
  "months": $MONTHS,
  "seed": $SEED,
  "monthly_rows": ${rows:-null},
  "wall_seconds": $wall,
  "user_seconds": $user,
  "system_seconds": $sys,
  "cpu_seconds": $(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }'),
  "peak_rss_mb": $rss_mb,
  "floor_copy_seconds": $floor,
  "wall_over_floor": $ratio,
  "files_bytes": {
    "recommendations_final_filtered.csv": $csv,
    "subscriber_360_profile.parquet": $prof,
    "subscriber_monthly_summary.parquet": $mon
  },
  "targets": {"wall_seconds_max": $MAX_WALL, "peak_rss_mb_max": $MAX_RSS_MB},
  "wall_ok": $wall_ok,
  "rss_ok": $rss_ok,
  "pass": $pass
}
EOF
cat "$out"
echo "bench-gen: wrote $out (pass=$pass)" >&2
[[ $pass == true ]]
