package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"text/tabwriter"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// The rules Compare decides a row by; CompareRow.Rule names the one that fired.
const (
	// RuleAllowed: the change is no worse than the allowed regression.
	RuleAllowed = "within allowance"
	// RuleBeyondNoise: worse by more than allowed, and the 99% confidence
	// intervals of the percentile in BASE and NEW do not overlap.
	RuleBeyondNoise = "beyond noise"
	// RuleWithinNoise: worse by more than allowed, but the intervals overlap:
	// not a regression unless --strict.
	RuleWithinNoise = "within noise"
	// RuleStrict: RuleWithinNoise under --strict: a regression.
	RuleStrict = "strict"
	// RulePoint: no interval to tell noise from change (throughput, or a run
	// without histograms): the point change decides.
	RulePoint = "point estimate"
	// RuleErrorRate: NEW's error rate exceeds BASE's by more than ErrorRateSlack.
	RuleErrorRate = "error rate rose"
	// RuleNoSuccess: NEW has no successful operation where BASE had some.
	RuleNoSuccess = "no successful operation"
)

// ErrorRateSlack is the rise of the error rate (absolute, 0.001 = 0.1
// percentage point) that compare lets through as noise.
const ErrorRateSlack = 0.001

// CompareOptions set the rules of Compare.
type CompareOptions struct {
	// MaxRegression is the allowed worsening (0.10 = 10%).
	MaxRegression float64
	// Strict makes a change beyond MaxRegression a regression even when it
	// is inside the sampling noise.
	Strict bool
	// AllowChanged compares scenarios whose definitions differ instead of
	// refusing them.
	AllowChanged bool
	// Metrics are the metrics compared (default CompareMetrics, all of them).
	Metrics []string
	// Thresholds makes NEW's own threshold misses fail the comparison too.
	Thresholds bool
}

// CompareRow is one scenario × target × metric of two runs.
type CompareRow struct {
	Scenario, Target, Metric string
	Base, New                float64
	// Change is (New-Base)/Base; positive is worse for latency, better for throughput.
	Change float64
	// Regression is true when the row fails the comparison.
	Regression bool
	// Noise is "beyond noise", "within noise" or "" (no histograms to tell).
	Noise string
	// Rule names the rule that decided the row (the Rule* constants).
	Rule string
	// Verdict is ok, improved, noise or REGRESSION.
	Verdict string
}

// Changed is a scenario whose definition differs between the runs.
type Changed struct {
	Scenario string
	// Diffs name each difference: "load.concurrency: 8 → 16".
	Diffs []string
}

// Comparison is the outcome of Compare.
type Comparison struct {
	CompareOptions
	Rows []CompareRow
	// Missing lists scenario/target pairs in BASE but not in NEW: the gate fails.
	Missing []string
	// Added lists scenario/target pairs in NEW only (a note).
	Added []string
	// Changed lists scenarios defined differently (and the dataset, as
	// scenario "dataset"); refused unless AllowChanged.
	Changed []Changed
	// Missed lists NEW's thresholds that failed (with Thresholds set).
	Missed []string
}

// Regressions counts the rows marked as regressions.
func (c *Comparison) Regressions() int {
	n := 0
	for _, r := range c.Rows {
		if r.Regression {
			n++
		}
	}
	return n
}

// Refused tells whether the runs are not comparable (changed definitions
// without AllowChanged).
func (c *Comparison) Refused() bool { return len(c.Changed) > 0 && !c.AllowChanged }

// Failed tells whether the gate fails: refused, a pair missing from NEW, a
// regression, or (with Thresholds) a threshold NEW missed.
func (c *Comparison) Failed() bool {
	return c.Refused() || len(c.Missing) > 0 || c.Regressions() > 0 || len(c.Missed) > 0
}

// CompareMetrics are the metrics Compare can set side by side, in order.
var CompareMetrics = []string{"p50", "p90", "p99", "p99.9", "throughput", "error_rate"}

// noiseZ is the normal quantile of the two-sided 99% confidence intervals.
const noiseZ = 2.576

// Compare sets NEW against BASE per scenario × target × percentile,
// throughput and error rate. The rule of each row:
//
//   - a percentile worse by no more than MaxRegression: ok;
//   - worse by more, with histograms in both runs: each run's percentile gets
//     a 99% distribution-free confidence interval (the order statistics
//     around its rank); intervals apart → REGRESSION ("beyond noise"),
//     overlapping → not a regression ("within noise") unless Strict;
//   - throughput (no interval): its slowdown BASE÷NEW − 1 (a halving is
//     +100%, as a doubled latency) against MaxRegression; runs without
//     histograms: the point change decides;
//   - error rate: a regression when it rose by more than ErrorRateSlack;
//   - NEW without a successful operation where BASE had some: a regression.
//
// A scenario × target in BASE but not in NEW fails the comparison; one whose
// definition (load model, rate or concurrency, keys, commands, queries) or
// dataset (subscribers, key set, fingerprint) differs is listed in Changed.
func Compare(base, nw *Summary, o CompareOptions) *Comparison {
	c := &Comparison{CompareOptions: o}
	type key struct{ sc, tg string }
	baseBy := map[key]*TargetResult{}
	baseSc := map[string]*Scenario{}
	for _, sr := range base.Scenarios {
		baseSc[sr.Scenario.Name] = sr.Scenario
		for _, r := range sr.Results {
			baseBy[key{sr.Scenario.Name, r.Target}] = r
		}
	}
	if d := datasetDiffs(base.Environment, nw.Environment); len(d) > 0 {
		c.Changed = append(c.Changed, Changed{Scenario: "dataset", Diffs: d})
	}
	seen := map[key]bool{}
	for _, sr := range nw.Scenarios {
		if bs, ok := baseSc[sr.Scenario.Name]; ok {
			if d := definitionDiffs(bs, sr.Scenario); len(d) > 0 {
				c.Changed = append(c.Changed, Changed{Scenario: sr.Scenario.Name, Diffs: d})
			}
		}
		for _, n := range sr.Results {
			k := key{sr.Scenario.Name, n.Target}
			seen[k] = true
			b, ok := baseBy[k]
			if !ok {
				c.Added = append(c.Added, k.sc+"/"+k.tg)
				continue
			}
			c.Rows = append(c.Rows, compareTarget(k.sc, k.tg, b, n, o)...)
		}
	}
	for _, sr := range base.Scenarios {
		for _, r := range sr.Results {
			if k := (key{sr.Scenario.Name, r.Target}); !seen[k] {
				c.Missing = append(c.Missing, k.sc+"/"+k.tg)
			}
		}
	}
	if o.Thresholds {
		for _, sr := range nw.Scenarios {
			for _, t := range sr.Thresholds {
				if !t.Pass {
					c.Missed = append(c.Missed, fmt.Sprintf("%s: %s: actual %s, limit %s%s", sr.Scenario.Name, t.Name,
						fmtValue(t.Metric, t.Actual), fmtValue(t.Metric, t.Limit), noteSuffix(t.Note)))
				}
			}
		}
	}
	return c
}

// compareTarget compares one scenario × target.
func compareTarget(sc, tg string, b, n *TargetResult, o CompareOptions) []CompareRow {
	bh, _ := decodeHist(b.Histogram)
	nh, _ := decodeHist(n.Histogram)
	var rows []CompareRow
	metrics := o.Metrics
	if len(metrics) == 0 {
		metrics = CompareMetrics
	}
	for _, m := range metrics {
		bv, _ := b.metric(m)
		nv, _ := n.metric(m)
		row := CompareRow{Scenario: sc, Target: tg, Metric: m, Base: bv, New: nv, Verdict: "ok", Rule: RuleAllowed}
		if bv > 0 {
			row.Change = (nv - bv) / bv
		}
		worse := row.Change
		if m == "throughput" {
			worse = slowdown(bv, nv)
		}
		switch {
		case n.Ops == 0 && b.Ops > 0:
			row.Regression, row.Rule = true, RuleNoSuccess
		case m == "error_rate":
			if nv-bv > ErrorRateSlack {
				row.Regression, row.Rule = true, RuleErrorRate
			}
		case worse <= o.MaxRegression:
			if -row.Change > o.MaxRegression && m != "throughput" || m == "throughput" && slowdown(nv, bv) > o.MaxRegression {
				row.Verdict = "improved"
			}
		case m == "throughput" || bh == nil || nh == nil || bh.TotalCount() == 0 || nh.TotalCount() == 0:
			row.Regression, row.Rule = true, RulePoint
		default:
			row.Noise = noiseOf(bh, nh, m)
			switch {
			case row.Noise == RuleBeyondNoise:
				row.Regression, row.Rule = true, RuleBeyondNoise
			case o.Strict:
				row.Regression, row.Rule = true, RuleStrict
			default:
				row.Verdict, row.Rule = "noise", RuleWithinNoise
			}
		}
		if row.Noise == "" && m != "throughput" && m != "error_rate" && bh != nil && nh != nil && bh.TotalCount() > 0 && nh.TotalCount() > 0 {
			row.Noise = noiseOf(bh, nh, m)
		}
		if row.Regression {
			row.Verdict = "REGRESSION"
		}
		rows = append(rows, row)
	}
	return rows
}

// slowdown is how much longer each operation took in NEW, from throughputs:
// base÷new − 1 (0 when there is no base, +Inf when NEW did nothing).
func slowdown(base, nw float64) float64 {
	switch {
	case base <= 0:
		return 0
	case nw <= 0:
		return math.Inf(1)
	}
	return base/nw - 1
}

// noiseOf tells whether the 99% confidence intervals of percentile m in the
// two histograms are apart ("beyond noise") or overlap ("within noise").
func noiseOf(bh, nh *hdr.Histogram, m string) string {
	p := map[string]float64{"p50": 50, "p90": 90, "p99": 99, "p99.9": 99.9}[m]
	blo, bhi := quantileCI(bh, p)
	nlo, nhi := quantileCI(nh, p)
	if nlo > bhi || nhi < blo {
		return RuleBeyondNoise
	}
	return RuleWithinNoise
}

// quantileCI is a 99% confidence interval (ms) of the p-th percentile of the
// population h was sampled from: the values at ranks n·q ∓ z·√(n·q·(1−q)).
func quantileCI(h *hdr.Histogram, p float64) (lo, hi float64) {
	n := float64(h.TotalCount())
	q := p / 100
	d := noiseZ * math.Sqrt(n*q*(1-q))
	rank := func(r float64) float64 {
		r = math.Min(math.Max(r, 1), n)
		return ms(h.ValueAtPercentile(100 * r / n))
	}
	return rank(n*q - d), rank(n*q + d)
}

// datasetDiffs names the differences of the data two runs read.
func datasetDiffs(b, n Environment) []string {
	var d []string
	if b.Subscribers != n.Subscribers {
		d = append(d, fmt.Sprintf("subscribers: %d → %d", b.Subscribers, n.Subscribers))
	}
	if b.KeySet != n.KeySet {
		d = append(d, fmt.Sprintf("key set: %d → %d", b.KeySet, n.KeySet))
	}
	if b.Fingerprint != n.Fingerprint {
		d = append(d, fmt.Sprintf("fingerprint: %s → %s", orDash(b.Fingerprint), orDash(n.Fingerprint)))
	}
	return d
}

// definitionDiffs names the differences between two definitions of a
// scenario that change what is measured. The name, description, thresholds
// and the run's length (duration, warmup, count) are left out: they change
// the verdict or the noise, not the operation measured.
func definitionDiffs(b, n *Scenario) []string {
	bf, nf := flatDefinition(b), flatDefinition(n)
	var d []string
	for _, k := range slices.Sorted(maps.Keys(bf)) {
		switch nv, ok := nf[k]; {
		case !ok:
			d = append(d, fmt.Sprintf("%s: %s → (none)", k, short(bf[k])))
		case nv != bf[k]:
			d = append(d, fmt.Sprintf("%s: %s → %s", k, short(bf[k]), short(nv)))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(nf)) {
		if _, ok := bf[k]; !ok {
			d = append(d, fmt.Sprintf("%s: (none) → %s", k, short(nf[k])))
		}
	}
	return d
}

// flatDefinition is a scenario's measured definition as path → JSON value.
func flatDefinition(s *Scenario) map[string]string {
	c := *s
	c.Name, c.Description, c.Thresholds = "", "", Thresholds{}
	c.Load.Duration, c.Load.Warmup, c.Load.Count = 0, 0, 0
	if c.Keys.NotFound == "" { // summaries written before keys.not_found existed
		c.Keys.NotFound = NotFoundError
	}
	raw, _ := json.Marshal(c)
	var v any
	_ = json.Unmarshal(raw, &v)
	out := map[string]string{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if k == "name" || k == "description" || k == "thresholds" || k == "duration" || k == "warmup" {
					if path == "" || path == "load" {
						continue
					}
				}
				walk(strings.TrimPrefix(path+"."+k, "."), e)
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		default:
			b, _ := json.Marshal(x)
			out[path] = string(b)
		}
	}
	walk("", v)
	return out
}

// short cuts a long value for a one-line message.
func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 60 {
		return string(r[:57]) + "…"
	}
	return s
}

// WriteComparison prints the comparison: the rule, a table with each row's
// verdict and the rule that decided it, what is missing, added or changed,
// and the outcome.
func WriteComparison(w io.Writer, c *Comparison, basePath, newPath string) error {
	var b strings.Builder
	mr := fmt.Sprintf("%.1f%%", c.MaxRegression*100)
	fmt.Fprintf(&b, "BASE %s\nNEW  %s\n", basePath, newPath)
	fmt.Fprintf(&b, "rule: a percentile worse by more than %s is a REGRESSION when its 99%% confidence intervals in BASE and NEW do not overlap (beyond noise)", mr)
	if c.Strict {
		b.WriteString(", and also when they overlap (--strict)")
	} else {
		b.WriteString("; inside the noise it is reported, not failed (--strict fails it)")
	}
	fmt.Fprintf(&b, "; throughput: a slowdown (BASE÷NEW − 1) above %s (point estimate); error rate: up by more than %.1f percentage point; NEW without a successful operation fails.\n\n", mr, ErrorRateSlack*100)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tstore\tmetric\tbase\tnew\tchange\tverdict\trule\tnoise\t")
	for _, r := range c.Rows {
		noise := r.Noise
		if noise == "" {
			noise = "—"
		}
		change := fmt.Sprintf("%+.1f%%", r.Change*100)
		if r.Metric == "error_rate" {
			change = fmt.Sprintf("%+.2fpp", (r.New-r.Base)*100)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Scenario, r.Target, r.Metric,
			fmtValue(r.Metric, r.Base), fmtValue(r.Metric, r.New), change, r.Verdict, r.Rule, noise)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, m := range c.Missing {
		fmt.Fprintf(&b, "MISSING %s: in BASE, not in NEW\n", m)
	}
	for _, ch := range c.Changed {
		verb := "CHANGED"
		if c.AllowChanged {
			verb = "changed (--allow-changed)"
		}
		fmt.Fprintf(&b, "%s %s: %s\n", verb, ch.Scenario, strings.Join(ch.Diffs, "; "))
	}
	for _, a := range c.Added {
		fmt.Fprintf(&b, "note: %s only in NEW\n", a)
	}
	for _, m := range c.Missed {
		fmt.Fprintf(&b, "THRESHOLD %s\n", m)
	}
	b.WriteString("\n")
	switch {
	case c.Refused():
		b.WriteString("REFUSED: the runs measured different things (see CHANGED); rerun BASE with the same scenarios and data, or pass --allow-changed\n")
	case c.Failed():
		fmt.Fprintf(&b, "FAIL: %d regression(s) beyond %s, %d scenario × store missing from NEW, %d threshold(s) missed by NEW\n",
			c.Regressions(), mr, len(c.Missing), len(c.Missed))
	default:
		fmt.Fprintf(&b, "PASS: no regression beyond %s\n", mr)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// BestOf folds several runs of the same scenarios into one summary that
// keeps, for every scenario × store, that side's steadiest run: one with a
// successful operation, then one that met all its thresholds, then the one
// with the lowest mean latency (in the closed model: the highest throughput). On a shared machine noise only ever slows a run down,
// so the best of a few runs per side is the steadiest figure to compare; a
// real regression slows every run of its side. The thresholds are evaluated
// again on the kept results. The environment and the scenario definitions
// come from the first run.
func BestOf(runs []*Summary) *Summary {
	if len(runs) == 1 {
		return runs[0]
	}
	out := *runs[0]
	out.Scenarios = nil
	type kept struct {
		r    *TargetResult
		pass bool
	}
	index := map[string]*ScenarioResult{}
	best := map[string]map[string]kept{}
	for _, s := range runs {
		for _, sr := range s.Scenarios {
			name := sr.Scenario.Name
			if _, ok := index[name]; !ok {
				index[name] = &ScenarioResult{Scenario: sr.Scenario, File: sr.File}
				best[name] = map[string]kept{}
				out.Scenarios = append(out.Scenarios, index[name])
			}
			for _, r := range sr.Results {
				k := kept{r: r, pass: true}
				for _, t := range sr.Thresholds {
					k.pass = k.pass && (t.Target != r.Target || t.Pass)
				}
				cur, ok := best[name][r.Target]
				if !ok {
					index[name].Results = append(index[name].Results, r)
				}
				if !ok || better(k.r, k.pass, cur.r, cur.pass) {
					best[name][r.Target] = k
				}
			}
		}
	}
	out.Passed = true
	for _, sr := range out.Scenarios {
		by := map[string]*TargetResult{}
		for i, r := range sr.Results {
			sr.Results[i] = best[sr.Scenario.Name][r.Target].r
			by[r.Target] = sr.Results[i]
		}
		sr.Thresholds = Evaluate(sr.Scenario, by)
		sr.Passed = true
		for _, t := range sr.Thresholds {
			sr.Passed = sr.Passed && t.Pass
		}
		out.Passed = out.Passed && sr.Passed
	}
	return &out
}

// better tells whether r (whose thresholds passed or not) is a steadier
// figure than cur: it succeeded where cur did not, it met its thresholds
// where cur did not, or its mean latency is lower.
func better(r *TargetResult, rPass bool, cur *TargetResult, curPass bool) bool {
	switch {
	case (r.Ops > 0) != (cur.Ops > 0):
		return r.Ops > 0
	case rPass != curPass:
		return rPass
	}
	return r.Latency.Mean < cur.Latency.Mean
}
