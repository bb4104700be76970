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
	return &Summary{FormatVersion: FormatVersion, Scenarios: []*ScenarioResult{{Scenario: &Scenario{Name: "s"}, Results: results}}}
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
	c := Compare(base, nw, 0.10)
	byKey := map[string]CompareRow{}
	for _, r := range c.Rows {
		byKey[r.Target+"."+r.Metric] = r
	}
	if len(c.Rows) != 10 {
		t.Fatalf("%d rows, want 2 targets × 5 metrics", len(c.Rows))
	}
	for _, m := range []string{"p50", "p90", "p99", "p99.9"} {
		r := byKey["redis."+m]
		if !r.Regression || r.Noise != "beyond noise" || r.Change < 0.25 || r.Change > 0.35 {
			t.Errorf("redis %s = %+v, want a ~30%% regression beyond noise", m, r)
		}
		p := byKey["postgres."+m]
		if p.Regression || p.Noise != "within noise" {
			t.Errorf("postgres %s = %+v, want no regression, within noise", m, p)
		}
	}
	// Throughput fell 5% for postgres: below the 10% bound; a 10% rise for redis is fine.
	if r := byKey["postgres.throughput"]; r.Regression || r.Change > -0.04 || r.Noise != "" {
		t.Errorf("postgres throughput = %+v", r)
	}
	if c.Regressions() != 4 {
		t.Errorf("regressions = %d, want 4", c.Regressions())
	}
	if c2 := Compare(base, nw, 0.5); c2.Regressions() != 0 {
		t.Errorf("with 50%% allowed: %d regressions", c2.Regressions())
	}
	var out bytes.Buffer
	if err := WriteComparison(&out, c, "a", "b"); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"REGRESSION", "beyond noise", "within noise", "4 regression(s) beyond 10.0%"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
	// Throughput regression and one-sided scenarios.
	slow := summaryOf(resultWith("redis", spread(10000, time.Millisecond, 3*time.Millisecond), 0, 10))
	c = Compare(base, slow, 0.10)
	if byKey := c.Rows[4]; byKey.Metric != "throughput" || !byKey.Regression {
		t.Errorf("throughput halved: %+v", byKey)
	}
	if len(c.Only) != 1 || c.Only[0] != "s/postgres only in BASE" {
		t.Errorf("only = %v", c.Only)
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
