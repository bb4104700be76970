package bench

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func summaryOf(results ...*TargetResult) *Summary {
	return &Summary{FormatVersion: FormatVersion, Scenarios: []*ScenarioResult{{Scenario: lookupScenario(), Results: results}}}
}

// lookupScenario is a scenario definition for the compare tests.
func lookupScenario() *Scenario {
	return &Scenario{Name: "s", Keys: KeySpec{Distribution: "uniform", Batch: 1, Seed: 1},
		Load:     LoadSpec{Model: "closed", Concurrency: 8, Duration: Duration(10 * time.Second)},
		Redis:    &RedisOp{Commands: [][]string{{"HGETALL", "{ns}:rec:{isdn}"}}},
		Postgres: &PostgresOp{Queries: []Query{{SQL: "SELECT 1 FROM recommendations WHERE isdn = $1", Args: []string{"{isdn}"}}}}}
}

func TestCompare(t *testing.T) {
	base := summaryOf(
		resultWith("redis", spread(20000, time.Millisecond, 3*time.Millisecond), 0, 10),
		resultWith("postgres", sampleLognormal(20000, 1), 0, 10))
	nw := summaryOf(
		// redis: 30% slower everywhere — a regression well beyond noise.
		resultWith("redis", spread(20000, 1300*time.Microsecond, 3900*time.Microsecond), 0, 10),
		// postgres: another sample of the same distribution — within noise.
		resultWith("postgres", sampleLognormal(19000, 2), 0, 10))
	c := Compare(base, nw, CompareOptions{MaxRegression: 0.10})
	byKey := map[string]CompareRow{}
	for _, r := range c.Rows {
		byKey[r.Target+"."+r.Metric] = r
	}
	if len(c.Rows) != 12 {
		t.Fatalf("%d rows, want 2 targets × 6 metrics", len(c.Rows))
	}
	for _, m := range []string{"p50", "p90", "p99", "p99.9"} {
		r := byKey["redis."+m]
		if !r.Regression || r.Noise != RuleBeyondNoise || r.Rule != RuleBeyondNoise || r.Change < 0.25 || r.Change > 0.35 {
			t.Errorf("redis %s = %+v, want a ~30%% regression beyond noise", m, r)
		}
		p := byKey["postgres."+m]
		if p.Regression || p.Noise != RuleWithinNoise {
			t.Errorf("postgres %s = %+v, want no regression, within noise", m, p)
		}
	}
	// Throughput fell 5% for postgres: below the 10% bound.
	if r := byKey["postgres.throughput"]; r.Regression || r.Change > -0.04 || r.Noise != "" || r.Rule != RuleAllowed {
		t.Errorf("postgres throughput = %+v", r)
	}
	if c.Regressions() != 4 || !c.Failed() || c.Refused() {
		t.Errorf("regressions = %d (failed %v refused %v), want 4", c.Regressions(), c.Failed(), c.Refused())
	}
	if c2 := Compare(base, nw, CompareOptions{MaxRegression: 0.5}); c2.Regressions() != 0 || c2.Failed() {
		t.Errorf("with 50%% allowed: %d regressions", c2.Regressions())
	}
	if c3 := Compare(base, nw, CompareOptions{MaxRegression: 0.1, Metrics: []string{"p50", "throughput"}}); len(c3.Rows) != 4 || c3.Regressions() != 1 {
		t.Errorf("p50 and throughput only: %d rows, %d regressions", len(c3.Rows), c3.Regressions())
	}
	var out bytes.Buffer
	if err := WriteComparison(&out, c, "a", "b"); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"REGRESSION", "beyond noise", "within noise", "FAIL: 4 regression(s) beyond 10.0%", "rule: a percentile worse by more than 10.0%"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
	// Throughput halved: a regression by the point rule; postgres missing from NEW fails.
	slow := summaryOf(resultWith("redis", spread(10000, time.Millisecond, 3*time.Millisecond), 0, 10))
	c = Compare(base, slow, CompareOptions{MaxRegression: 0.10})
	if r := c.Rows[4]; r.Metric != "throughput" || !r.Regression || r.Rule != RulePoint {
		t.Errorf("throughput halved: %+v", r)
	}
	if len(c.Missing) != 1 || c.Missing[0] != "s/postgres" || !c.Failed() {
		t.Errorf("missing = %v", c.Missing)
	}
}

// A change beyond the allowance but inside the noise: reported, not failed,
// unless Strict.
func TestCompareNoiseAndStrict(t *testing.T) {
	// 300 samples: wide intervals; p99 18% higher in NEW.
	base := summaryOf(resultWith("redis", sampleLognormal(300, 3), 0, 1))
	lat := sampleLognormal(300, 3)
	for i := range lat {
		lat[i] = lat[i] * 118 / 100
	}
	nw := summaryOf(resultWith("redis", lat, 0, 1))
	row := func(c *Comparison, m string) CompareRow {
		for _, r := range c.Rows {
			if r.Metric == m {
				return r
			}
		}
		t.Fatalf("no %s row", m)
		return CompareRow{}
	}
	c := Compare(base, nw, CompareOptions{MaxRegression: 0.05})
	r := row(c, "p99.9")
	if r.Change <= 0.05 || r.Regression || r.Rule != RuleWithinNoise || r.Verdict != "noise" {
		t.Errorf("p99.9 within noise: %+v", r)
	}
	s := Compare(base, nw, CompareOptions{MaxRegression: 0.05, Strict: true})
	if r := row(s, "p99.9"); !r.Regression || r.Rule != RuleStrict {
		t.Errorf("p99.9 under --strict: %+v", r)
	}
	// Zero successes in NEW: a regression whatever the percentiles say.
	dead := summaryOf(&TargetResult{Target: "redis", Errors: 100, ErrorRate: 1})
	z := Compare(base, dead, CompareOptions{MaxRegression: 0.10})
	if r := row(z, "p99"); !r.Regression || r.Rule != RuleNoSuccess {
		t.Errorf("no success in NEW: %+v", r)
	}
	if r := row(z, "error_rate"); !r.Regression {
		t.Errorf("error rate 0 → 100%%: %+v", r)
	}
}

// A scenario defined differently, or run on other data, is refused with the
// difference named, unless AllowChanged.
func TestCompareChangedDefinition(t *testing.T) {
	r := resultWith("redis", spread(1000, time.Millisecond, 3*time.Millisecond), 0, 1)
	base, nw := summaryOf(r), summaryOf(r)
	nw.Scenarios[0].Scenario.Load.Concurrency = 16
	nw.Scenarios[0].Scenario.Load.Duration = Duration(time.Second) // not a definition change
	nw.Scenarios[0].Scenario.Postgres.Queries[0].SQL = "SELECT 2"
	nw.Scenarios[0].Scenario.Description = "reworded"
	nw.Environment.Subscribers = 500
	c := Compare(base, nw, CompareOptions{MaxRegression: 0.1})
	if !c.Refused() || !c.Failed() || len(c.Changed) != 2 {
		t.Fatalf("changed = %+v, want refused (dataset and s)", c.Changed)
	}
	got := c.Changed[0].Diffs[0] + " | " + strings.Join(c.Changed[1].Diffs, " | ")
	for _, w := range []string{"subscribers: 0 → 500", "load.concurrency: 8 → 16", `postgres.queries[0].sql: "SELECT 1 FROM recommendations WHERE isdn = $1" → "SELECT 2"`} {
		if !strings.Contains(got, w) {
			t.Errorf("diffs %q lack %q", got, w)
		}
	}
	if strings.Contains(got, "duration") || strings.Contains(got, "description") {
		t.Errorf("diffs name what does not change the measurement: %q", got)
	}
	var out bytes.Buffer
	_ = WriteComparison(&out, c, "a", "b")
	if !strings.Contains(out.String(), "CHANGED s: ") || !strings.Contains(out.String(), "REFUSED") {
		t.Errorf("output:\n%s", out.String())
	}
	a := Compare(base, nw, CompareOptions{MaxRegression: 0.1, AllowChanged: true})
	if a.Refused() || a.Failed() {
		t.Errorf("--allow-changed still refuses: %+v", a)
	}
}

// sampleLognormal draws n latencies around 1 ms with a long tail.
func sampleLognormal(n int, seed uint64) []time.Duration {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(float64(time.Millisecond) * math.Exp(0.5*r.NormFloat64()))
	}
	return out
}

// BestOf keeps, per scenario × store, the run with the lowest mean latency.
func TestBestOf(t *testing.T) {
	fast := resultWith("redis", spread(1000, time.Millisecond, 2*time.Millisecond), 0, 1)
	slow := resultWith("redis", spread(1000, 3*time.Millisecond, 6*time.Millisecond), 0, 1)
	pgA := resultWith("postgres", spread(1000, 2*time.Millisecond, 3*time.Millisecond), 0, 1)
	pgB := resultWith("postgres", spread(1000, time.Millisecond, 3*time.Millisecond), 0, 1)
	dead := &TargetResult{Target: "redis", Errors: 5}
	got := BestOf([]*Summary{summaryOf(slow, pgA), summaryOf(fast, pgB), summaryOf(dead)})
	rs := got.Scenarios[0].Results
	if len(got.Scenarios) != 1 || len(rs) != 2 || rs[0] != fast || rs[1] != pgB {
		t.Errorf("best of: %+v", rs)
	}
	// A run that met its thresholds wins over one with a lower mean that did not.
	tail := resultWith("redis", append(spread(980, 200*time.Microsecond, 500*time.Microsecond), spread(20, 9*time.Millisecond, 10*time.Millisecond)...), 0, 1)
	sa, sb := summaryOf(tail), summaryOf(fast)
	for _, s := range []*Summary{sa, sb} {
		s.Scenarios[0].Scenario.Thresholds.Redis = &Limits{P99: Duration(3 * time.Millisecond)}
		s.Scenarios[0].Thresholds = Evaluate(s.Scenarios[0].Scenario, map[string]*TargetResult{"redis": s.Scenarios[0].Results[0]})
	}
	got = BestOf([]*Summary{sa, sb})
	if got.Scenarios[0].Results[0] != fast || !got.Passed || !got.Scenarios[0].Thresholds[0].Pass {
		t.Errorf("best of with thresholds: %+v passed %v", got.Scenarios[0].Results[0].Latency, got.Passed)
	}
	c := Compare(sa, sa, CompareOptions{MaxRegression: 0.1, Thresholds: true})
	if len(c.Missed) != 1 || !c.Failed() {
		t.Errorf("--thresholds: missed %v", c.Missed)
	}
}
