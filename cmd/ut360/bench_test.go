package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	dto "github.com/prometheus/client_model/go"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/exitcode"
	"github.com/ut360/ut360/internal/promtext"
	"github.com/ut360/ut360/internal/testenv"
)

const pingScenario = `name: %s
keys: {distribution: none}
load: {model: closed, concurrency: 2, warmup: 0s, count: 300}
redis:
  commands: [[PING]]
thresholds:
  redis: {p50: %s, error_rate: 0}
`

func writeScenario(t *testing.T, dir, name, p50 string) string {
	t.Helper()
	p := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(strings.Replace(pingScenario, "%s", name, 1), "%s", p50)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var reportLine = regexp.MustCompile(`(?m)^(PASS|FAIL) — report: (.+report\.html)$`)

func TestBenchCLIExitCodes(t *testing.T) {
	rd := testenv.NewRedis(t)
	dir, out := t.TempDir(), t.TempDir()
	flags := []string{"--redis", rd.URL, "--namespace", rd.Namespace, "-q", "bench", "--out", out}

	// 0: every threshold holds.
	code, stdout, stderr := runUT(t, append(flags, "--tag", "ok", writeScenario(t, dir, "fast", "10s"))...)
	m := reportLine.FindStringSubmatch(stdout)
	if code != exitcode.OK || m == nil || m[1] != "PASS" {
		t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	okRun := filepath.Dir(m[2])
	for _, f := range []string{"summary.json", "report.md", "report.html", "junit.xml", "fast.redis.hgrm", "fast.redis.hlog"} {
		if _, err := os.Stat(filepath.Join(okRun, f)); err != nil {
			t.Error(err)
		}
	}
	if !strings.HasSuffix(okRun, "-ok") || !strings.Contains(stdout, "fast             redis") {
		t.Errorf("run folder %s, stdout:\n%s", okRun, stdout)
	}
	// The client speaks RESP2 (like redis-benchmark) unless the URL asks for 3.
	protocol := func(run string) int {
		var sum struct {
			Environment struct {
				RedisProtocol int `json:"redis_protocol"`
			} `json:"environment"`
		}
		b, _ := os.ReadFile(filepath.Join(run, "summary.json"))
		if err := json.Unmarshal(b, &sum); err != nil {
			t.Fatal(err)
		}
		return sum.Environment.RedisProtocol
	}
	if p := protocol(okRun); p != 2 {
		t.Errorf("redis_protocol %d by default, want 2", p)
	}
	_, stdout, _ = runUT(t, "--redis", rd.URL+"?protocol=3", "--namespace", rd.Namespace, "-q", "bench", "--out", out, "--tag", "resp3", writeScenario(t, dir, "fast", "10s"))
	if m := reportLine.FindStringSubmatch(stdout); m == nil || protocol(filepath.Dir(m[2])) != 3 {
		t.Errorf("protocol=3 in the URL not honoured:\n%s", stdout)
	}

	// 1: a threshold misses (PING does not answer within 1 µs).
	code, stdout, stderr = runUT(t, append(flags, writeScenario(t, dir, "impossible", "1us"))...)
	if code != exitcode.CheckFailed || !strings.Contains(stdout, "FAIL redis p50 ≤ 1µs") || !strings.Contains(stderr, "thresholds missed") {
		t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	failRun := filepath.Dir(reportLine.FindStringSubmatch(stdout)[2])
	junit, _ := os.ReadFile(filepath.Join(failRun, "junit.xml"))
	if !strings.Contains(string(junit), `<failure message="redis p50 ≤ 1µs`) {
		t.Errorf("junit.xml:\n%s", junit)
	}

	// 2: bad scenarios, every problem on its own line; bad flags.
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("name: bad\nload:\n  model: half-open\nredis:\n  commands: [[PING]]\n  colour: red\n"), 0o644)
	code, _, stderr = runUT(t, append(flags, bad, filepath.Join(dir, "missing.yaml"))...)
	for _, w := range []string{bad + ":3: load.model: must be closed or open", bad + ":6: redis.colour: unknown field", "missing.yaml: no such file", "ut360: bench: 3 problem(s) in scenario files"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	if code != exitcode.Usage {
		t.Errorf("bad scenario: exit %d", code)
	}
	if code, _, stderr = runUT(t, append(flags, "--target", "mysql", "--all")...); code != exitcode.Usage || !strings.Contains(stderr, `--target "mysql"`) {
		t.Errorf("--target mysql: exit %d %s", code, stderr)
	}
	if code, _, _ = runUT(t, flags...); code != exitcode.Usage {
		t.Errorf("no scenario: exit %d", code)
	}

	// 3: the store is unreachable.
	code, _, stderr = runUT(t, "--redis", "redis://127.0.0.1:1/0", "bench", "--out", out, writeScenario(t, dir, "down", "10s"))
	if code != exitcode.Fault || !strings.Contains(stderr, "127.0.0.1:1") {
		t.Errorf("unreachable Redis: exit %d %s", code, stderr)
	}

	// compare: a run against itself passes; a tripled p50 without histograms fails.
	if code, stdout, _ = runUT(t, "bench", "compare", okRun, okRun); code != exitcode.OK || !strings.Contains(stdout, "PASS: no regression beyond 10.0%") {
		t.Errorf("compare self: exit %d\n%s", code, stdout)
	}
	raw, _ := os.ReadFile(filepath.Join(okRun, "summary.json"))
	var s map[string]any
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	res := s["scenarios"].([]any)[0].(map[string]any)["results"].([]any)[0].(map[string]any)
	lat := res["latency"].(map[string]any)
	lat["p50_ms"] = lat["p50_ms"].(float64) * 3
	delete(res, "histogram")
	slower, _ := json.Marshal(s)
	slowFile := filepath.Join(dir, "slow.json")
	os.WriteFile(slowFile, slower, 0o644)
	code, stdout, stderr = runUT(t, "bench", "compare", "--max-regression", "50%", okRun, slowFile)
	if code != exitcode.CheckFailed || !regexp.MustCompile(`fast\s+redis\s+p50 .* \+200\.0%\s+REGRESSION`).MatchString(stdout) || !strings.Contains(stderr, "1 regression(s) beyond 50%") {
		t.Errorf("compare slower: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, _, _ = runUT(t, "bench", "compare", okRun); code != exitcode.Usage {
		t.Errorf("compare with one argument: exit %d", code)
	}
	if code, _, _ = runUT(t, "bench", "compare", "--max-regression", "lots", okRun, okRun); code != exitcode.Usage {
		t.Errorf("bad --max-regression: exit %d", code)
	}
	if code, _, _ = runUT(t, "bench", "compare", okRun, filepath.Join(dir, "nope")); code != exitcode.Usage {
		t.Errorf("missing summary: exit %d", code)
	}
}

// gateStores is a private schema and namespace loaded through the CLI.
type gateStores struct {
	pg    *testenv.PG
	rd    *testenv.Redis
	flags []string // connection flags for every command
}

func loadedGateStores(t *testing.T, subscribers int) *gateStores {
	t.Helper()
	pg := testenv.NewMigratedPG(t)
	rd := testenv.NewRedis(t)
	data := t.TempDir()
	if _, err := dataset.Generate(context.Background(), dataset.GenOptions{Subscribers: subscribers, Out: data}); err != nil {
		t.Fatal(err)
	}
	g := &gateStores{pg: pg, rd: rd, flags: []string{"--pg", pg.URL, "--redis", rd.URL, "--namespace", rd.Namespace, "-q"}}
	if code, out, errb := runUT(t, append(g.flags, "load", "--data", data)...); code != exitcode.OK {
		t.Fatalf("load: exit %d\n%s\n%s", code, out, errb)
	}
	return g
}

// bench runs ut360 bench with the stores' flags; the run folder is parsed from stdout.
func (g *gateStores) bench(t *testing.T, args ...string) (code int, run, stdout, stderr string) {
	t.Helper()
	code, stdout, stderr = runUT(t, append(append(slices.Clip(g.flags), "bench"), args...)...)
	if m := reportLine.FindStringSubmatch(stdout); m != nil {
		run = filepath.Dir(m[2])
	}
	return code, run, stdout, stderr
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// summaryOf reads a run's summary.json as a generic map.
func summaryOf(t *testing.T, run string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(run, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// firstResult is scenarios[0].results[0] of a summary.
func firstResult(s map[string]any) map[string]any {
	return s["scenarios"].([]any)[0].(map[string]any)["results"].([]any)[0].(map[string]any)
}

// The runs that passed before issue 13 now exit 1; compare refuses what it
// cannot vouch for; flags work after the positional arguments; --metrics
// writes files the official Prometheus parser reads.
func TestBenchGateCLI(t *testing.T) {
	g := loadedGateStores(t, 500)
	dir, out := t.TempDir(), t.TempDir()
	ctx := context.Background()

	t.Run("stall outlasts the run", func(t *testing.T) {
		sc := writeFile(t, dir, "stall.yaml", `name: stall
keys: {distribution: uniform}
load: {model: open, rate: 200, max_in_flight: 16, warmup: 0s, duration: 2s}
postgres:
  queries:
    - sql: SELECT isdn, bad_debt_risk FROM recommendations WHERE isdn = $1
      args: ["{isdn}"]
thresholds:
  postgres: {p99: 100ms}
`)
		// The lock starts ~1 s before the end and holds past the hard stop (end + 5 s).
		locked := make(chan error, 1)
		go func() {
			time.Sleep(1200 * time.Millisecond)
			conn, err := pgx.Connect(ctx, g.pg.URL)
			if err != nil {
				locked <- err
				return
			}
			defer conn.Close(ctx)
			_, err = conn.Exec(ctx, "BEGIN; LOCK TABLE recommendations IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(7); COMMIT")
			locked <- err
		}()
		code, run, stdout, stderr := g.bench(t, "--out", out, sc)
		if err := <-locked; err != nil {
			t.Fatal(err)
		}
		if code != exitcode.CheckFailed || run == "" {
			t.Fatalf("exit %d, want 1\n%s\n%s", code, stdout, stderr)
		}
		r := firstResult(summaryOf(t, run))
		t.Logf("due %v sent %v completed %v unsent %v cancelled %v error_rate %v p99 %v ms", r["due"], r["sent"], r["completed"], r["unsent"], r["cancelled"], r["error_rate"], r["latency"].(map[string]any)["p99_ms"])
		if r["due"].(float64) != 400 || r["unsent"].(float64)+r["cancelled"].(float64) == 0 || r["error_rate"].(float64) == 0 {
			t.Errorf("summary does not account for the stalled operations: %v", r)
		}
		if !strings.Contains(stdout, "FAIL postgres p99 ≤ 100ms") {
			t.Errorf("stdout:\n%s", stdout)
		}
	})

	t.Run("zero successes", func(t *testing.T) {
		sc := writeFile(t, dir, "wrongtype.yaml", `name: wrongtype
keys: {distribution: uniform}
load: {model: closed, concurrency: 2, warmup: 0s, count: 300}
redis:
  commands: [[GET, "{ns}:rec:{isdn}"]]
thresholds:
  redis: {p99: 5ms}
`)
		code, _, stdout, stderr := g.bench(t, "--out", out, sc)
		if code != exitcode.CheckFailed || !strings.Contains(stdout, "FAIL redis p99 ≤ 5ms: actual 0 ms, limit 5.00 ms (no successful operation)") {
			t.Errorf("exit %d\n%s\n%s", code, stdout, stderr)
		}
	})

	t.Run("not found", func(t *testing.T) {
		rows, err := g.pg.Pool.Query(ctx, "SELECT isdn FROM recommendations ORDER BY isdn LIMIT 100")
		if err != nil {
			t.Fatal(err)
		}
		isdns, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		keys := writeFile(t, dir, "keys.txt", strings.Join(isdns, "\n")+"\n")
		// Redis holds none of them under this (empty) namespace.
		code, stdout, stderr := runUT(t, "--pg", g.pg.URL, "--redis", g.rd.URL, "--namespace", g.rd.Namespace+"-empty", "-q",
			"bench", "--target", "redis", "--keys-file", keys, "--duration", "500ms", "--warmup", "0s", "--out", out, "../../scenarios/isdn_lookup.yaml")
		if code != exitcode.CheckFailed || !strings.Contains(stderr, "none of the drawn keys was found") {
			t.Errorf("exit %d\n%s\n%s", code, stdout, stderr)
		}
	})

	const ping = `name: %s
keys: {distribution: none}
load: {model: closed, concurrency: 2, warmup: 0s, count: 2000}
redis:
  commands: [[PING]]
`
	pingA := writeFile(t, dir, "ping_a.yaml", strings.Replace(ping, "%s", "ping_a", 1))
	pingB := writeFile(t, dir, "ping_b.yaml", strings.Replace(ping, "%s", "ping_b", 1))
	// The probe: one SQL function whose body the test makes slower, the
	// scenario (and so its definition) unchanged.
	if _, err := g.pg.Pool.Exec(ctx, "CREATE FUNCTION probe() RETURNS int LANGUAGE sql AS 'SELECT 1'"); err != nil {
		t.Fatal(err)
	}
	probe := writeFile(t, dir, "probe.yaml", `name: probe
keys: {distribution: none}
load: {model: closed, concurrency: 2, warmup: 100ms, count: 600}
postgres:
  queries:
    - sql: SELECT probe()
`)
	var base string
	t.Run("flags after the files", func(t *testing.T) {
		var code int
		var stdout, stderr string
		code, base, stdout, stderr = g.bench(t, pingA, pingB, probe, "--out", out, "--tag", "base", "--metrics", filepath.Join(out, "bench.prom"))
		if code != exitcode.OK || base == "" || !strings.HasSuffix(base, "-base") {
			t.Fatalf("bench FILES --out --tag --metrics: exit %d\n%s\n%s", code, stdout, stderr)
		}
		code, run, stdout, stderr := g.bench(t, pingA, "--duration", "1s", "--warmup", "0s", "--out", out)
		s := summaryOf(t, run)
		if code != exitcode.OK || s["scenarios"].([]any)[0].(map[string]any)["scenario"].(map[string]any)["load"].(map[string]any)["duration"] != "1s" {
			t.Errorf("bench FILE --duration 1s: exit %d\n%s\n%s", code, stdout, stderr)
		}
		code, stdout, stderr = runUT(t, "bench", "compare", base, base, "--max-regression", "10%")
		if code != exitcode.OK || !strings.Contains(stdout, "PASS: no regression beyond 10.0%") {
			t.Errorf("bench compare BASE NEW --max-regression 10%%: exit %d\n%s\n%s", code, stdout, stderr)
		}
	})
	if base == "" {
		t.FailNow()
	}

	t.Run("metrics", func(t *testing.T) {
		mfs := parseProm(t, filepath.Join(out, "bench.prom"))
		if mfs["ut360_bench_latency_seconds"].GetType() != dto.MetricType_SUMMARY || len(mfs["ut360_bench_latency_seconds"].GetMetric()) != 3 {
			t.Errorf("latency summaries: %v", mfs["ut360_bench_latency_seconds"])
		}
		if v := mfs["ut360_bench_run_pass"].GetMetric()[0].GetGauge().GetValue(); v != 1 {
			t.Errorf("run_pass %g", v)
		}
		prom := filepath.Join(out, "verify.prom")
		if code, stdout, stderr := runUT(t, append(slices.Clip(g.flags), "verify", "--metrics", prom)...); code != exitcode.OK {
			t.Fatalf("verify --metrics: exit %d\n%s\n%s", code, stdout, stderr)
		}
		mfs = parseProm(t, prom)
		if v := mfs["ut360_verify_clean"].GetMetric()[0].GetGauge().GetValue(); v != 1 {
			t.Errorf("verify clean %g", v)
		}
		var recs float64
		for _, m := range mfs["ut360_verify_rows_checked"].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "source" && l.GetValue() == "pg_recommendations" {
					recs = m.GetGauge().GetValue()
				}
			}
		}
		if recs != 500 || len(mfs["ut360_verify_mismatches"].GetMetric()) < 5 || mfs["ut360_verify_duration_seconds"] == nil {
			t.Errorf("verify metrics: recommendations %g, %v", recs, mfs["ut360_verify_mismatches"])
		}
	})

	t.Run("compare refuses", func(t *testing.T) {
		// 1. A scenario × store in BASE but not in NEW.
		_, onlyA, _, _ := g.bench(t, pingA, probe, "--out", out)
		code, stdout, stderr := runUT(t, "bench", "compare", base, onlyA, "--max-regression", "1000%")
		if code != exitcode.CheckFailed || !strings.Contains(stdout, "MISSING ping_b/redis: in BASE, not in NEW") || !strings.Contains(stderr, "missing from NEW: ping_b/redis") {
			t.Errorf("missing scenario: exit %d\n%s\n%s", code, stdout, stderr)
		}
		// 2. A scenario defined differently: refused, the difference named; --allow-changed compares.
		_, changed, _, _ := g.bench(t, pingA, pingB, probe, "--concurrency", "3", "--out", out)
		code, stdout, stderr = runUT(t, "bench", "compare", base, changed)
		if code != exitcode.Usage || !strings.Contains(stderr, "load.concurrency: 2 → 3") || !strings.Contains(stderr, "--allow-changed") {
			t.Errorf("changed definition: exit %d\n%s\n%s", code, stdout, stderr)
		}
		// Compared, not refused (3 workers on 2 cores may well regress; that is not the point here).
		code, stdout, stderr = runUT(t, "bench", "compare", base, changed, "--allow-changed")
		if code == exitcode.Usage || !strings.Contains(stdout, "changed (--allow-changed) ping_a: load.concurrency: 2 → 3") || strings.Contains(stdout, "REFUSED") {
			t.Errorf("--allow-changed: exit %d\n%s\n%s", code, stdout, stderr)
		}
		// 3. A regression beyond noise: the server got 3 ms slower per call.
		if _, err := g.pg.Pool.Exec(ctx, "CREATE OR REPLACE FUNCTION probe() RETURNS int LANGUAGE sql AS 'SELECT 1 FROM pg_sleep(0.003)'"); err != nil {
			t.Fatal(err)
		}
		_, slower, _, _ := g.bench(t, pingA, pingB, probe, "--out", out)
		code, stdout, stderr = runUT(t, "bench", "compare", base, slower, "--max-regression", "50%")
		if code != exitcode.CheckFailed || !regexp.MustCompile(`probe\s+postgres\s+p50 .* REGRESSION\s+beyond noise`).MatchString(stdout) {
			t.Errorf("3 ms slower: exit %d\n%s\n%s", code, stdout, stderr)
		}
	})
}

// parseProm reads a metrics file with the official Prometheus text parser.
func parseProm(t *testing.T, path string) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := promtext.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}
