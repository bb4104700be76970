package bench

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// CompareRow is one scenario × target × metric of two runs.
type CompareRow struct {
	Scenario, Target, Metric string
	Base, New                float64
	// Change is (New-Base)/Base; positive is worse for latency, better for throughput.
	Change float64
	// Regression is true when the change is worse than the allowed regression.
	Regression bool
	// Noise is "beyond noise", "within noise" or "" (no histograms to tell).
	Noise string
}

// Comparison is the outcome of Compare.
type Comparison struct {
	Rows []CompareRow
	// Only lists scenario × target pairs present in one run only.
	Only []string
	// MaxRegression is the allowed worsening (0.10 = 10%).
	MaxRegression float64
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

var comparedMetrics = []string{"p50", "p90", "p99", "p99.9", "throughput"}

// noiseZ is the normal quantile of the two-sided 99% confidence intervals.
const noiseZ = 2.576

// Compare sets NEW against BASE per scenario × target × percentile (and
// throughput). A latency that grew, or a throughput that fell, by more than
// maxRegression is a regression. Where both runs carry their histograms, each
// percentile also gets a 99% distribution-free confidence interval (from the
// order statistics around its rank); when the intervals of the two runs do not
// overlap the difference is beyond sampling noise.
func Compare(base, nw *Summary, maxRegression float64) *Comparison {
	c := &Comparison{MaxRegression: maxRegression}
	type key struct{ sc, tg string }
	baseBy := map[key]*TargetResult{}
	for _, sr := range base.Scenarios {
		for _, r := range sr.Results {
			baseBy[key{sr.Scenario.Name, r.Target}] = r
		}
	}
	seen := map[key]bool{}
	for _, sr := range nw.Scenarios {
		for _, n := range sr.Results {
			k := key{sr.Scenario.Name, n.Target}
			seen[k] = true
			b, ok := baseBy[k]
			if !ok {
				c.Only = append(c.Only, fmt.Sprintf("%s/%s only in NEW", k.sc, k.tg))
				continue
			}
			bh, _ := decodeHist(b.Histogram)
			nh, _ := decodeHist(n.Histogram)
			for _, m := range comparedMetrics {
				bv, _ := b.metric(m)
				nv, _ := n.metric(m)
				row := CompareRow{Scenario: k.sc, Target: k.tg, Metric: m, Base: bv, New: nv}
				if bv > 0 {
					row.Change = (nv - bv) / bv
				}
				worse := row.Change
				if m == "throughput" {
					worse = -row.Change
				}
				row.Regression = worse > maxRegression
				if m != "throughput" && bh != nil && nh != nil && bh.TotalCount() > 0 && nh.TotalCount() > 0 {
					p := map[string]float64{"p50": 50, "p90": 90, "p99": 99, "p99.9": 99.9}[m]
					blo, bhi := quantileCI(bh, p)
					nlo, nhi := quantileCI(nh, p)
					if nlo > bhi || nhi < blo {
						row.Noise = "beyond noise"
					} else {
						row.Noise = "within noise"
					}
				}
				c.Rows = append(c.Rows, row)
			}
		}
	}
	for k := range baseBy {
		if !seen[k] {
			c.Only = append(c.Only, fmt.Sprintf("%s/%s only in BASE", k.sc, k.tg))
		}
	}
	return c
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

// WriteComparison prints the comparison as an aligned table.
func WriteComparison(w io.Writer, c *Comparison, basePath, newPath string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "BASE %s\nNEW  %s\nmax regression %.1f%%\n\n", basePath, newPath, c.MaxRegression*100)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tstore\tmetric\tbase\tnew\tchange\tverdict\tnoise\t")
	for _, r := range c.Rows {
		verdict := "ok"
		if r.Regression {
			verdict = "REGRESSION"
		} else if (r.Metric == "throughput" && r.Change > c.MaxRegression) || (r.Metric != "throughput" && -r.Change > c.MaxRegression) {
			verdict = "improved"
		}
		noise := r.Noise
		if noise == "" {
			noise = "—"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%+.1f%%\t%s\t%s\t\n", r.Scenario, r.Target, r.Metric,
			fmtValue(r.Metric, r.Base), fmtValue(r.Metric, r.New), r.Change*100, verdict, noise)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, o := range c.Only {
		fmt.Fprintf(&b, "note: %s\n", o)
	}
	if n := c.Regressions(); n > 0 {
		fmt.Fprintf(&b, "\n%d regression(s) beyond %.1f%%\n", n, c.MaxRegression*100)
	} else {
		fmt.Fprintf(&b, "\nno regression beyond %.1f%%\n", c.MaxRegression*100)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
