package bench

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// AimMargin is the project's own aim: every p99 at least this many times
// below its documented target. Reports state the margin against it.
const AimMargin = 5.0

// WriteHgrm writes h in HdrHistogram's percentile-distribution text format
// (as HistogramLogProcessor's .hgrm files): values in milliseconds, 5 ticks
// per half distance.
func WriteHgrm(w io.Writer, h *hdr.Histogram) error {
	_, err := h.PercentilesPrint(w, 5, 1e6)
	return err
}

func writeHgrm(path string, h *hdr.Histogram) error {
	return writeFile(path, func(w io.Writer) error { return WriteHgrm(w, h) })
}

// writeFile writes through a temporary file so that a report is whole or absent.
func writeFile(path string, fn func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	err = fn(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("bench: write %s: %w", path, err)
	}
	return nil
}

func (r *Run) writeReports() error {
	r.SummaryJSON = filepath.Join(r.Dir, "summary.json")
	r.ReportMD = filepath.Join(r.Dir, "report.md")
	r.ReportHTML = filepath.Join(r.Dir, "report.html")
	r.JUnit = filepath.Join(r.Dir, "junit.xml")
	steps := []struct {
		path string
		fn   func(io.Writer) error
	}{
		{r.SummaryJSON, func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(r.Summary)
		}},
		{r.ReportMD, func(w io.Writer) error { return WriteMarkdown(w, r.Summary) }},
		{r.JUnit, func(w io.Writer) error { return WriteJUnit(w, r.Summary) }},
		{r.ReportHTML, func(w io.Writer) error { return WriteHTML(w, r.Summary) }},
	}
	for _, s := range steps {
		if err := writeFile(s.path, s.fn); err != nil {
			return err
		}
	}
	return nil
}

func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func f2(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 0.1:
		return fmt.Sprintf("%.3f", v)
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// p99Margin is the margin of the p99 threshold of a target, if it has one.
func (sr *ScenarioResult) p99Margin(target string) (ThresholdResult, bool) {
	for _, t := range sr.Thresholds {
		if t.Target == target && t.Metric == "p99" && !t.Relative {
			return t, true
		}
	}
	return ThresholdResult{}, false
}

func envLine(s *Summary) string {
	e := s.Environment
	return fmt.Sprintf("ut360 %s (%s) · PostgreSQL %s · Redis %s · namespace `%s` · %d subscribers (meta:stats; fingerprint %s) · key set %d · %d cores · %s",
		orDash(e.UT360Version), orDash(e.Commit), orDash(e.PostgresVersion), orDash(e.RedisVersion), e.Namespace,
		e.Subscribers, orDash(e.Fingerprint), e.KeySet, e.Cores, s.Started.Format("2006-01-02 15:04:05 UTC"))
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// storeNames are the column-group titles of the at-a-glance table.
var storeNames = map[string]string{TargetRedis: "Redis", TargetPostgres: "PostgreSQL", TargetCacheAside: "cache-aside"}

// GlanceCell is one scenario × store of the at-a-glance table.
type GlanceCell struct {
	// Result is nil when the scenario did not run on this store.
	Result *TargetResult
	// Threshold is the headline latency threshold ("p99 ≤ 5ms"; "—" when none).
	Threshold string
	// Margin is that threshold's margin ("5.6×"; "—" when none).
	Margin string
	// Pass tells whether every threshold of the scenario on this store held.
	Pass bool
}

// GlanceRow is one scenario of the at-a-glance table.
type GlanceRow struct {
	Scenario string
	Cells    []GlanceCell // one per store of Glance's stores
}

// Glance is the table reports open with: every scenario × store (p50, p99,
// p99.9, throughput, threshold, margin, PASS/FAIL), one row per scenario, the
// stores side by side.
func Glance(s *Summary) (stores []string, rows []GlanceRow) {
	for _, t := range Targets {
	find:
		for _, sr := range s.Scenarios {
			for _, r := range sr.Results {
				if r.Target == t {
					stores = append(stores, t)
					break find
				}
			}
		}
	}
	for _, sr := range s.Scenarios {
		row := GlanceRow{Scenario: sr.Scenario.Name}
		for _, t := range stores {
			cell := GlanceCell{Threshold: "—", Margin: "—"}
			for _, r := range sr.Results {
				if r.Target == t {
					cell.Result = r
				}
			}
			if cell.Result != nil {
				cell.Pass = true
				var head *ThresholdResult
				for i, th := range sr.Thresholds {
					if th.Target != t {
						continue
					}
					cell.Pass = cell.Pass && th.Pass
					if !th.Relative && th.Upper && th.Metric != "error_rate" && (head == nil || th.Metric == "p99") {
						head = &sr.Thresholds[i]
					}
				}
				if head != nil {
					cell.Threshold = head.Metric + " ≤ " + fmtMs(head.Limit)
					if head.Margin > 0 {
						cell.Margin = fmt.Sprintf("%.1f×", head.Margin)
					}
				}
			}
			row.Cells = append(row.Cells, cell)
		}
		rows = append(rows, row)
	}
	return stores, rows
}

// writeGlanceMarkdown writes the at-a-glance table.
func writeGlanceMarkdown(b *strings.Builder, s *Summary) {
	stores, rows := Glance(s)
	b.WriteString("## At a glance\n\nLatency in ms; threshold: the headline latency threshold (p99 where set), margin = threshold ÷ measured; result: every threshold of that scenario × store.\n\n| scenario |")
	sep := "|---|"
	for _, t := range stores {
		n := storeNames[t]
		fmt.Fprintf(b, " %[1]s p50 | %[1]s p99 | %[1]s p99.9 | %[1]s ops/s | %[1]s threshold | %[1]s margin | %[1]s result |", n)
		sep += "--:|--:|--:|--:|--:|--:|---|"
	}
	b.WriteString("\n" + sep + "\n")
	for _, row := range rows {
		fmt.Fprintf(b, "| %s |", row.Scenario)
		for _, c := range row.Cells {
			if c.Result == nil {
				b.WriteString(" — | — | — | — | — | — | — |")
				continue
			}
			r := c.Result
			fmt.Fprintf(b, " %s | %s | %s | %.0f | %s | %s | %s |", f2(r.Latency.P50), f2(r.Latency.P99), f2(r.Latency.P999),
				r.Throughput, c.Threshold, c.Margin, passFail(c.Pass))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

// WriteMarkdown writes report.md: the at-a-glance table of every scenario ×
// store, then the detail; fit for a CI job summary.
func WriteMarkdown(w io.Writer, s *Summary) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# ut360 bench — %s\n\n", passFail(s.Passed))
	if s.Tag != "" {
		fmt.Fprintf(&b, "Tag `%s`. ", s.Tag)
	}
	fmt.Fprintf(&b, "%s\n\n", envLine(s))
	writeGlanceMarkdown(&b, s)
	var notes []string
	for _, sr := range s.Scenarios {
		for _, r := range sr.Results {
			for _, n := range r.Notes {
				notes = append(notes, fmt.Sprintf("- **%s/%s**: %s\n", sr.Scenario.Name, r.Target, n))
			}
		}
	}
	if len(notes) > 0 {
		b.WriteString("Notes:\n\n" + strings.Join(notes, "") + "\n")
	}
	b.WriteString("## Detail\n\nLatency in ms. Open model: measured from each operation's intended start. Closed model: raw, with the coordinated-omission-corrected p99 / p99.9 beside it.\n\n")
	b.WriteString("| scenario | store | model | ops | ops/s | p50 | p90 | p99 | p99.9 | max | p99 / p99.9 corrected | errors | not found | p99 target | margin | result |\n")
	b.WriteString("|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, sr := range s.Scenarios {
		model := sr.Scenario.Load.Model
		for _, r := range sr.Results {
			corr := "—"
			if r.Corrected != nil {
				corr = f2(r.Corrected.P99) + " / " + f2(r.Corrected.P999)
			}
			target, margin := "—", "—"
			if t, ok := sr.p99Margin(r.Target); ok {
				target = f2(t.Limit)
				margin = fmt.Sprintf("%.1f×", t.Margin)
				if t.Margin >= AimMargin {
					margin += " ✓"
				}
			}
			ok := true
			for _, t := range sr.Thresholds {
				if t.Target == r.Target && !t.Pass {
					ok = false
				}
			}
			errs := fmt.Sprint(r.Errors)
			if r.Errors > 0 {
				var parts []string
				for _, k := range r.errorKindsSorted() {
					parts = append(parts, fmt.Sprintf("%s %d", k, r.ErrorKinds[k]))
				}
				errs += " (" + strings.Join(parts, ", ") + ")"
			}
			if r.Late > 0 {
				errs += fmt.Sprintf("; late %d", r.Late)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %d | %.0f | %s | %s | %s | %s | %s | %s | %s | %d | %s | %s | %s |\n",
				sr.Scenario.Name, r.Target, model, r.Ops, r.Throughput, f2(r.Latency.P50), f2(r.Latency.P90),
				f2(r.Latency.P99), f2(r.Latency.P999), f2(r.Latency.Max), corr, errs, r.NotFound, target, margin, passFail(ok))
		}
	}
	fmt.Fprintf(&b, "\nMargin = p99 target ÷ measured p99; ✓ marks the project's own aim of at least %.0f×.\n\n", AimMargin)
	writeNodesMarkdown(&b, s)
	b.WriteString("### Thresholds\n\n| scenario | threshold | actual | limit | result |\n|---|---|--:|--:|---|\n")
	for _, sr := range s.Scenarios {
		for _, t := range sr.Thresholds {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", sr.Scenario.Name, t.Name, fmtValue(t.Metric, t.Actual), fmtValue(t.Metric, t.Limit), passFail(t.Pass))
		}
	}
	var below []string
	for _, sr := range s.Scenarios {
		for _, r := range sr.Results {
			if t, ok := sr.p99Margin(r.Target); ok && t.Margin < AimMargin {
				below = append(below, fmt.Sprintf("%s/%s (%.1f×)", sr.Scenario.Name, r.Target, t.Margin))
			}
		}
	}
	if len(below) > 0 {
		fmt.Fprintf(&b, "\nBelow the %.0f× aim: %s.\n", AimMargin, strings.Join(below, ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// noteSuffix is " (note)" or "".
func noteSuffix(note string) string {
	if note == "" {
		return ""
	}
	return " (" + note + ")"
}

func fmtValue(metric string, v float64) string {
	switch metric {
	case "throughput":
		return fmt.Sprintf("%.0f/s", v)
	case "error_rate":
		return fmt.Sprintf("%.3g%%", v*100)
	case "ops":
		return fmt.Sprintf("%.0f", v)
	}
	return f2(v) + " ms"
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Class   string        `xml:"classname,attr"`
	Name    string        `xml:"name,attr"`
	Failure *junitFailure `xml:"failure,omitempty"`
	Out     string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
}

// WriteJUnit writes junit.xml: one test case per threshold.
func WriteJUnit(w io.Writer, s *Summary) error {
	all := junitSuites{Name: "ut360 bench"}
	for _, sr := range s.Scenarios {
		js := junitSuite{Name: sr.Scenario.Name}
		var secs float64
		for _, r := range sr.Results {
			secs += r.Elapsed
		}
		js.Time = fmt.Sprintf("%.3f", secs)
		for _, t := range sr.Thresholds {
			c := junitCase{Class: "bench." + sr.Scenario.Name + "." + t.Target, Name: t.Name,
				Out: fmt.Sprintf("actual %s, limit %s", fmtValue(t.Metric, t.Actual), fmtValue(t.Metric, t.Limit))}
			if !t.Pass {
				c.Failure = &junitFailure{Type: "threshold", Message: fmt.Sprintf("%s: actual %s, limit %s%s", t.Name, fmtValue(t.Metric, t.Actual), fmtValue(t.Metric, t.Limit), noteSuffix(t.Note))}
				js.Failures++
			}
			js.Cases = append(js.Cases, c)
			js.Tests++
		}
		all.Tests += js.Tests
		all.Failures += js.Failures
		all.Suites = append(all.Suites, js)
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(all); err != nil {
		return err
	}
	b.WriteString("\n")
	_, err := w.Write(b.Bytes())
	return err
}

// WriteText prints a short console summary of a run: one line per scenario ×
// store, the missed thresholds and where the reports are.
func WriteText(w io.Writer, r *Run) error {
	var b strings.Builder
	for _, sr := range r.Summary.Scenarios {
		for _, res := range sr.Results {
			margin := ""
			if t, ok := sr.p99Margin(res.Target); ok {
				margin = fmt.Sprintf("  p99 target %s, margin %.1f×", f2(t.Limit)+"ms", t.Margin)
			}
			fmt.Fprintf(&b, "%-16s %-11s %8.0f ops/s  p50 %7sms  p99 %7sms  p99.9 %7sms  max %7sms  errors %d%s\n",
				sr.Scenario.Name, res.Target, res.Throughput, f2(res.Latency.P50), f2(res.Latency.P99),
				f2(res.Latency.P999), f2(res.Latency.Max), res.Errors, margin)
		}
		for _, res := range sr.Results {
			if len(res.Nodes) > 0 {
				fmt.Fprintf(&b, "  per master %s/%s:", sr.Scenario.Name, res.Target)
				for _, n := range res.Nodes {
					fmt.Fprintf(&b, "  %s %.0f cmd/s (%.0f%%)", n.Addr, n.Throughput, 100*n.Share)
				}
				b.WriteString("\n")
			}
		}
		for _, res := range sr.Results {
			for _, n := range res.Notes {
				fmt.Fprintf(&b, "  note %s/%s: %s\n", sr.Scenario.Name, res.Target, n)
			}
		}
		for _, t := range sr.Thresholds {
			if !t.Pass {
				fmt.Fprintf(&b, "  FAIL %s: actual %s, limit %s%s\n", t.Name, fmtValue(t.Metric, t.Actual), fmtValue(t.Metric, t.Limit), noteSuffix(t.Note))
			}
		}
	}
	fmt.Fprintf(&b, "%s — report: %s\n", passFail(r.Passed), r.ReportHTML)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeNodesMarkdown adds the per-master table of a Redis Cluster run (none on one server).
func writeNodesMarkdown(b *strings.Builder, s *Summary) {
	head := false
	for _, sr := range s.Scenarios {
		for _, r := range sr.Results {
			for _, n := range r.Nodes {
				if !head {
					b.WriteString("### Per Redis Cluster master\n\nCommands of successful operations by the master owning their key's slot (slot map read at the start of each run).\n\n")
					b.WriteString("| scenario | store | master | slots | commands | commands/s | share |\n|---|---|---|--:|--:|--:|--:|\n")
					head = true
				}
				fmt.Fprintf(b, "| %s | %s | %s | %d | %d | %.0f | %.1f%% |\n", sr.Scenario.Name, r.Target, n.Addr, n.Slots, n.Commands, n.Throughput, 100*n.Share)
			}
		}
	}
	if head {
		b.WriteString("\n")
	}
}
