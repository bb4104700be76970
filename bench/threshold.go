package bench

import (
	"fmt"
	"math"
	"strconv"
)

// ThresholdResult is one threshold checked against the measured figures.
type ThresholdResult struct {
	// Name reads like the rule: "redis p99 ≤ 5ms", "redis.p99 <= 0.5 * postgres.p99".
	Name string `json:"name"`
	// Target is the target the threshold is about (the left one for relative thresholds).
	Target string `json:"target"`
	// Metric is p50 p90 p99 p99.9 max error_rate or throughput.
	Metric string `json:"metric"`
	// Limit is the bound (ms for latency, ops/s for throughput, a share for error_rate).
	Limit float64 `json:"limit"`
	// Actual is the measured figure in the same unit.
	Actual float64 `json:"actual"`
	// Upper is true when Actual must not exceed Limit, false when it must reach it.
	Upper bool `json:"upper"`
	// Pass tells whether the threshold holds.
	Pass bool `json:"pass"`
	// Margin is Limit/Actual for upper bounds and Actual/Limit for lower bounds
	// (≥ 1 passes); 0 when not meaningful (a zero figure).
	Margin float64 `json:"margin,omitempty"`
	// Relative is set for a threshold between two targets.
	Relative bool `json:"relative,omitempty"`
	// Note says why a threshold failed whatever its figure (no successful operation).
	Note string `json:"note,omitempty"`
}

// noSuccess is the note of a latency threshold on a target without one
// successful operation: its percentiles describe nothing, so it fails.
const noSuccess = "no successful operation"

func fmtMs(v float64) string {
	switch {
	case v == 0:
		return "0ms"
	case v < 1:
		return strconv.FormatFloat(v*1000, 'f', -1, 64) + "µs"
	}
	return strconv.FormatFloat(v, 'f', -1, 64) + "ms"
}

// check fills Pass and Margin.
func (t *ThresholdResult) check() {
	if t.Upper {
		t.Pass = t.Actual <= t.Limit
		if t.Actual > 0 {
			t.Margin = t.Limit / t.Actual
		}
	} else {
		t.Pass = t.Actual >= t.Limit
		if t.Limit > 0 {
			t.Margin = t.Actual / t.Limit
		}
	}
	if math.IsInf(t.Margin, 0) || math.IsNaN(t.Margin) {
		t.Margin = 0
	}
}

// Evaluate checks a scenario's thresholds against its results (by target).
// Thresholds on a target that was not run (filtered out) are left out.
func Evaluate(sc *Scenario, results map[string]*TargetResult) []ThresholdResult {
	var out []ThresholdResult
	for _, tg := range Targets {
		r := results[tg]
		if r != nil && r.Ops == 0 {
			// Fails closed even when the scenario sets no threshold on this target.
			out = append(out, ThresholdResult{Name: tg + " successful operations ≥ 1", Target: tg, Metric: "ops",
				Limit: 1, Actual: 0, Note: noSuccess})
		}
		l := sc.Thresholds.limits(tg)
		if l == nil || r == nil {
			continue
		}
		lat := []struct {
			name string
			d    Duration
		}{{"p50", l.P50}, {"p90", l.P90}, {"p99", l.P99}, {"p99.9", l.P999}, {"max", l.Max}}
		for _, x := range lat {
			if x.d <= 0 {
				continue
			}
			limit := float64(x.d) / 1e6
			v, _ := r.metric(x.name)
			t := ThresholdResult{Name: fmt.Sprintf("%s %s ≤ %s", tg, x.name, fmtMs(limit)),
				Target: tg, Metric: x.name, Limit: limit, Actual: v, Upper: true}
			t.check()
			if r.Ops == 0 {
				t.Pass, t.Margin, t.Note = false, 0, noSuccess
			}
			out = append(out, t)
		}
		if l.ErrorRate != nil {
			t := ThresholdResult{Name: fmt.Sprintf("%s error_rate ≤ %g%%", tg, float64(*l.ErrorRate)*100),
				Target: tg, Metric: "error_rate", Limit: float64(*l.ErrorRate), Actual: r.ErrorRate, Upper: true}
			t.check()
			if r.ErrorRate == 0 {
				t.Margin = 0
			}
			out = append(out, t)
		}
		if l.Throughput > 0 {
			t := ThresholdResult{Name: fmt.Sprintf("%s throughput ≥ %g/s", tg, l.Throughput),
				Target: tg, Metric: "throughput", Limit: l.Throughput, Actual: r.Throughput}
			t.check()
			out = append(out, t)
		}
	}
	for _, text := range sc.Thresholds.Relative {
		rel, err := ParseRelative(text)
		if err != nil { // Validate rejected it already
			continue
		}
		lr, rr := results[rel.Left.Target], results[rel.Right.Target]
		if lr == nil || rr == nil {
			continue
		}
		lv, _ := lr.metric(rel.Left.Name)
		rv, _ := rr.metric(rel.Right.Name)
		t := ThresholdResult{Name: rel.Text, Target: rel.Left.Target, Metric: rel.Left.Name,
			Limit: rel.Factor * rv, Actual: lv, Relative: true, Upper: rel.Op[0] == '<'}
		t.check()
		if rel.Op == "<" || rel.Op == ">" { // strict
			t.Pass = t.Pass && lv != t.Limit
		}
		if lr.Ops == 0 || rr.Ops == 0 {
			t.Pass, t.Margin, t.Note = false, 0, noSuccess
		}
		out = append(out, t)
	}
	return out
}
