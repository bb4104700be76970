package bench

import (
	"github.com/ut360/ut360/internal/promtext"
)

// WriteMetrics writes the run's results to path in the Prometheus text
// format (a node_exporter textfile-collector file or a Pushgateway body): per
// scenario × store the latency percentiles (a summary, in seconds),
// throughput, operations by state, errors by kind, error ratio and each
// threshold's pass/fail; per scenario and for the run, pass/fail.
func WriteMetrics(path string, s *Summary) error {
	m := &promtext.Metrics{}
	st := []string{"scenario", "store"}
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	m.Gauge("ut360_bench_run_pass", "1 when every threshold of the run held, else 0.", b2f(s.Passed), []string{"tag"}, []string{s.Tag})
	m.Gauge("ut360_bench_run_timestamp_seconds", "When the run finished (Unix time).", float64(s.Finished.UnixMilli())/1e3, []string{"tag"}, []string{s.Tag})
	e := s.Environment
	m.Gauge("ut360_bench_info", "The run's environment (value 1).", 1,
		[]string{"tag", "version", "commit", "namespace", "fingerprint"}, []string{s.Tag, e.UT360Version, e.Commit, e.Namespace, e.Fingerprint})
	m.Gauge("ut360_bench_dataset_subscribers", "Subscribers in the store's meta:stats.", float64(e.Subscribers), []string{"tag"}, []string{s.Tag})
	for _, sr := range s.Scenarios {
		name := sr.Scenario.Name
		m.Gauge("ut360_bench_scenario_pass", "1 when every threshold of the scenario held, else 0.", b2f(sr.Passed), []string{"scenario"}, []string{name})
		for _, r := range sr.Results {
			v := []string{name, r.Target}
			l := r.Latency
			m.Summary("ut360_bench_latency_seconds", "Latency of the recorded operations (open model: from the intended start), with the unsent and cancelled ones.",
				uint64(l.Count), l.Mean/1e3*float64(l.Count),
				map[float64]float64{0.5: l.P50 / 1e3, 0.9: l.P90 / 1e3, 0.99: l.P99 / 1e3, 0.999: l.P999 / 1e3, 0.9999: l.P9999 / 1e3}, st, v)
			m.Gauge("ut360_bench_latency_max_seconds", "Largest recorded latency.", l.Max/1e3, st, v)
			m.Gauge("ut360_bench_throughput_ops_per_second", "Successful operations per second over the recorded window.", r.Throughput, st, v)
			m.Gauge("ut360_bench_error_ratio", "Failed operations ÷ due operations.", r.ErrorRate, st, v)
			for _, x := range []struct {
				state string
				n     int64
			}{{"due", r.Due}, {"sent", r.Sent}, {"completed", r.Completed}, {"succeeded", r.Ops}, {"failed", r.Errors},
				{"unsent", r.Unsent}, {"cancelled", r.Cancelled}, {"not_found", r.NotFound}} {
				m.Gauge("ut360_bench_operations", "Recorded operations by state.", float64(x.n), []string{"scenario", "store", "state"}, append(v, x.state))
			}
			for _, k := range r.errorKindsSorted() {
				m.Gauge("ut360_bench_errors", "Failed operations by kind.", float64(r.ErrorKinds[k]), []string{"scenario", "store", "kind"}, append(v, k))
			}
		}
		for _, t := range sr.Thresholds {
			v := []string{name, t.Target, t.Name}
			m.Gauge("ut360_bench_threshold_pass", "1 when the threshold held, else 0.", b2f(t.Pass), []string{"scenario", "store", "threshold"}, v)
			m.Gauge("ut360_bench_threshold_actual", "The measured figure a threshold checks (seconds for latency, ops/s, a ratio).", metricUnit(t.Metric, t.Actual), []string{"scenario", "store", "threshold"}, v)
			m.Gauge("ut360_bench_threshold_limit", "The threshold's bound, in the unit of ut360_bench_threshold_actual.", metricUnit(t.Metric, t.Limit), []string{"scenario", "store", "threshold"}, v)
		}
	}
	return promtext.WriteFile(path, m)
}

// metricUnit converts a threshold figure to the base unit (ms → s).
func metricUnit(metric string, v float64) float64 {
	switch metric {
	case "throughput", "error_rate", "ops":
		return v
	}
	return v / 1e3
}
