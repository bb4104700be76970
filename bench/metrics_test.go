package bench

import (
	"path/filepath"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/ut360/ut360/internal/promtext"
)

// parseMetrics reads a metrics file back with the official text parser.
func parseMetrics(t *testing.T, path string) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := promtext.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// sample finds the sample of family name whose labels include want.
func sample(mfs map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	mf := mfs[name]
	if mf == nil {
		return nil
	}
	for _, m := range mf.GetMetric() {
		n := 0
		for _, l := range m.GetLabel() {
			if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
				n++
			}
		}
		if n == len(want) {
			return m
		}
	}
	return nil
}

func TestWriteMetrics(t *testing.T) {
	s := fixedSummary()
	path := filepath.Join(t.TempDir(), "bench.prom")
	if err := WriteMetrics(path, s); err != nil {
		t.Fatal(err)
	}
	mfs := parseMetrics(t, path)
	lat := sample(mfs, "ut360_bench_latency_seconds", map[string]string{"scenario": "lookup", "store": "postgres"})
	if lat == nil || mfs["ut360_bench_latency_seconds"].GetType() != dto.MetricType_SUMMARY {
		t.Fatalf("no latency summary for lookup/postgres")
	}
	want := s.Scenarios[0].Results[1].Latency
	for _, q := range lat.GetSummary().GetQuantile() {
		if q.GetQuantile() == 0.99 && q.GetValue() != want.P99/1e3 {
			t.Errorf("p99 %g s, want %g", q.GetValue(), want.P99/1e3)
		}
	}
	if lat.GetSummary().GetSampleCount() != uint64(want.Count) {
		t.Errorf("count %d, want %d", lat.GetSummary().GetSampleCount(), want.Count)
	}
	checks := []struct {
		name   string
		labels map[string]string
		value  float64
	}{
		{"ut360_bench_run_pass", map[string]string{"tag": "golden"}, 0},
		{"ut360_bench_scenario_pass", map[string]string{"scenario": "lookup"}, 0},
		{"ut360_bench_threshold_pass", map[string]string{"scenario": "lookup", "threshold": "postgres p99 ≤ 2ms"}, 0},
		{"ut360_bench_threshold_pass", map[string]string{"scenario": "lookup", "threshold": "redis p99 ≤ 5ms"}, 1},
		{"ut360_bench_errors", map[string]string{"scenario": "lookup", "store": "postgres", "kind": "timeout"}, 2},
		{"ut360_bench_operations", map[string]string{"scenario": "lookup", "store": "redis", "state": "succeeded"}, 1000},
		{"ut360_bench_throughput_ops_per_second", map[string]string{"scenario": "lookup", "store": "redis"}, 1000},
	}
	for _, c := range checks {
		m := sample(mfs, c.name, c.labels)
		if m == nil || m.GetGauge().GetValue() != c.value {
			t.Errorf("%s%v = %v, want %g", c.name, c.labels, m, c.value)
		}
	}
}
