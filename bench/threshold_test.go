package bench

import (
	"math"
	"testing"
	"time"
)

// resultWith builds a TargetResult whose histogram holds the given latencies.
func resultWith(target string, lat []time.Duration, errs int64, secs float64) *TargetResult {
	h := newHist()
	for _, d := range lat {
		record(h, d)
	}
	r := &TargetResult{Target: target, Ops: int64(len(lat)), Errors: errs, Elapsed: secs, hist: h}
	r.Throughput = float64(r.Ops) / secs
	if errs > 0 {
		r.ErrorRate = float64(errs) / float64(r.Ops+errs)
	}
	r.Latency = percentilesOf(h)
	r.Histogram = encodeHist(h)
	return r
}

// spread returns n latencies evenly from lo to hi.
func spread(n int, lo, hi time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = lo + time.Duration(float64(hi-lo)*float64(i)/float64(n-1))
	}
	return out
}

func TestEvaluate(t *testing.T) {
	er := Ratio(0.01)
	sc := &Scenario{Name: "x", Redis: &RedisOp{}, Postgres: &PostgresOp{}, Thresholds: Thresholds{
		Redis:    &Limits{P50: Duration(6 * time.Millisecond), P99: Duration(5 * time.Millisecond), ErrorRate: &er, Throughput: 500},
		Postgres: &Limits{P999: Duration(20 * time.Millisecond), Max: Duration(15 * time.Millisecond)},
		Relative: []string{"redis.p99 <= 0.5 * postgres.p99", "postgres.throughput > redis.throughput"},
	}}
	res := map[string]*TargetResult{
		TargetRedis:    resultWith("redis", spread(1000, time.Millisecond, 4*time.Millisecond), 5, 1),     // p99 ≈ 3.97ms, 0.5% errors
		TargetPostgres: resultWith("postgres", spread(2000, time.Millisecond, 16*time.Millisecond), 0, 1), // max 16ms
	}
	got := Evaluate(sc, res)
	want := []struct {
		name string
		pass bool
	}{
		{"redis p50 ≤ 6ms", true},
		{"redis p99 ≤ 5ms", true},
		{"redis error_rate ≤ 1%", true},
		{"redis throughput ≥ 500/s", true},
		{"postgres p99.9 ≤ 20ms", true},
		{"postgres max ≤ 15ms", false},
		{"redis.p99 <= 0.5 * postgres.p99", true}, // 3.97 ≤ 0.5 × 15.85
		{"postgres.throughput > redis.throughput", true},
	}
	if len(got) != len(want) {
		t.Fatalf("%d thresholds, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Name != w.name || got[i].Pass != w.pass {
			t.Errorf("threshold %d = %q pass=%v (actual %g limit %g), want %q pass=%v", i, got[i].Name, got[i].Pass, got[i].Actual, got[i].Limit, w.name, w.pass)
		}
	}
	p99 := got[1]
	if math.Abs(p99.Actual-3.97) > 0.02 || math.Abs(p99.Margin-5/p99.Actual) > 1e-9 || p99.Limit != 5 || !p99.Upper {
		t.Errorf("p99 threshold = %+v", p99)
	}
	if tp := got[3]; tp.Upper || math.Abs(tp.Margin-2) > 0.01 {
		t.Errorf("throughput threshold = %+v, want a lower bound with margin 2", tp)
	}
	rel := got[6]
	if !rel.Relative || math.Abs(rel.Limit-0.5*res[TargetPostgres].Latency.P99) > 1e-9 {
		t.Errorf("relative = %+v", rel)
	}

	// Failing the other way; a filtered-out target leaves its thresholds out.
	zero := Ratio(0)
	sc.Thresholds.Redis = &Limits{P99: Duration(time.Millisecond), ErrorRate: &zero, Throughput: 5000}
	got = Evaluate(sc, map[string]*TargetResult{TargetRedis: res[TargetRedis]})
	if len(got) != 3 {
		t.Fatalf("%d thresholds with postgres filtered out: %+v", len(got), got)
	}
	for _, g := range got {
		if g.Pass {
			t.Errorf("%s passed: %+v", g.Name, g)
		}
	}
}

func TestEvaluateStrictRelative(t *testing.T) {
	sc := &Scenario{Redis: &RedisOp{}, Postgres: &PostgresOp{}, Thresholds: Thresholds{Relative: []string{"redis.p50 < postgres.p50", "redis.p50 <= postgres.p50"}}}
	same := spread(100, time.Millisecond, 2*time.Millisecond)
	got := Evaluate(sc, map[string]*TargetResult{TargetRedis: resultWith("redis", same, 0, 1), TargetPostgres: resultWith("postgres", same, 0, 1)})
	if got[0].Pass || !got[1].Pass {
		t.Errorf("equal figures: < gave %v, <= gave %v", got[0].Pass, got[1].Pass)
	}
}
