package bench

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// golden compares got with testdata/golden/name (rewritten with -update).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./bench -run %s -update)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (-update to accept):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestHgrmGolden(t *testing.T) {
	h := newHist()
	for i := 1; i <= 10000; i++ { // 1 µs … 10 ms in 1 µs steps
		record(h, time.Duration(i)*time.Microsecond)
	}
	for _, d := range []time.Duration{50 * time.Millisecond, 120 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second} {
		record(h, d)
	}
	var b bytes.Buffer
	if err := WriteHgrm(&b, h); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	// The standard layout: header, rows of value (ms), percentile, count, 1/(1-p); the footer.
	if !strings.HasPrefix(out, "       Value   Percentile   TotalCount 1/(1-Percentile)\n\n") && !strings.HasPrefix(out, " Value\tPercentile\tTotalCount\t1/(1-Percentile)\n\n") {
		t.Errorf("header: %q", out[:60])
	}
	if !regexp.MustCompile(`(?m)^ +2000\.\d{3} +1\.000000 +10004 +inf$`).MatchString(out) {
		t.Errorf("no final row at 2000 ms / 100%% / 10004:\n%s", out[len(out)-400:])
	}
	if !strings.Contains(out, "#[Max     =     2000.683, Total count    =        10004]") {
		t.Errorf("footer:\n%s", out[len(out)-250:])
	}
	golden(t, "latency.hgrm", b.Bytes())
}

// fixedSummary is a deterministic run of two scenarios for the report goldens.
func fixedSummary() *Summary {
	er := Ratio(0)
	sc1 := &Scenario{Name: "lookup", Description: "one key", Load: LoadSpec{Model: "closed", Concurrency: 8},
		Redis: &RedisOp{}, Postgres: &PostgresOp{}, Thresholds: Thresholds{
			Redis:    &Limits{P99: Duration(5 * time.Millisecond), ErrorRate: &er},
			Postgres: &Limits{P99: Duration(2 * time.Millisecond)},
			Relative: []string{"redis.p99 <= 0.5 * postgres.p99"}}}
	sc2 := &Scenario{Name: "stall", Description: "open model", Load: LoadSpec{Model: "open", Rate: 1000, MaxInFlight: 64},
		Redis: &RedisOp{}, Thresholds: Thresholds{Redis: &Limits{P999: Duration(100 * time.Millisecond)}}}
	r1 := resultWith("redis", spread(1000, 100*time.Microsecond, 900*time.Microsecond), 0, 1)
	r2 := resultWith("postgres", spread(1000, 200*time.Microsecond, 2500*time.Microsecond), 3, 1)
	r2.ErrorKinds = map[string]int64{"timeout": 2, "postgres:40001": 1}
	r3 := resultWith("redis", append(spread(990, 100*time.Microsecond, time.Millisecond), spread(10, 400*time.Millisecond, 500*time.Millisecond)...), 0, 1)
	r3.Late, r3.Unsent = 7, 0
	s := &Summary{FormatVersion: FormatVersion, Tag: "golden", Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Environment: Environment{UT360Version: "0.1.0", Commit: "abc123", PostgresVersion: "15.20", RedisVersion: "7.0.15",
			Namespace: "ut360", Subscribers: 214000, Fingerprint: "cbe09dcbdd5e8899", KeySet: 214000, Cores: 2}}
	for _, x := range []struct {
		sc *Scenario
		rs []*TargetResult
	}{{sc1, []*TargetResult{r1, r2}}, {sc2, []*TargetResult{r3}}} {
		sr := &ScenarioResult{Scenario: x.sc, Results: x.rs}
		by := map[string]*TargetResult{}
		for _, r := range x.rs {
			by[r.Target] = r
		}
		sr.Thresholds = Evaluate(x.sc, by)
		sr.Passed = true
		for _, t := range sr.Thresholds {
			sr.Passed = sr.Passed && t.Pass
		}
		s.Scenarios = append(s.Scenarios, sr)
	}
	return s
}

func TestMarkdownAndJUnitGolden(t *testing.T) {
	s := fixedSummary()
	var md, ju bytes.Buffer
	if err := WriteMarkdown(&md, s); err != nil {
		t.Fatal(err)
	}
	if err := WriteJUnit(&ju, s); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"# ut360 bench — FAIL", "| lookup | redis | closed | 1000 |", "5.6×", "| stall | redis | open |", "late 7", "timeout 2", "postgres p99 ≤ 2ms | 2.48 ms | 2.00 ms | FAIL", "Below the 5× aim: lookup/postgres (0.8×)"} {
		if !strings.Contains(md.String(), w) {
			t.Errorf("report.md lacks %q:\n%s", w, md.String())
		}
	}
	if n := strings.Count(ju.String(), "<testcase "); n != 5 {
		t.Errorf("junit: %d test cases, want one per threshold (5)", n)
	}
	if !strings.Contains(ju.String(), `<testsuites name="ut360 bench" tests="5" failures="2">`) {
		t.Errorf("junit header:\n%s", ju.String())
	}
	golden(t, "report.md", md.Bytes())
	golden(t, "junit.xml", ju.Bytes())
}

func TestHTMLSelfContained(t *testing.T) {
	var b bytes.Buffer
	if err := WriteHTML(&b, fixedSummary()); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if n := strings.Count(page, "<svg"); n != 2 {
		t.Errorf("%d charts, want one per scenario (2)", n)
	}
	// Offline: no scripts, no external resources (SVG namespaces are not fetched).
	for _, bad := range []string{"<script", "src=\"http", "href=\"http", "@import", "url(http"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	for _, w := range []string{"99.99%", "99.9%", "50%", "redis p99 ≤ 5ms", "postgres p99 ≤ 2ms", "redis p99.9 ≤ 100ms", "latency (ms)"} {
		if !strings.Contains(page, w) {
			t.Errorf("page lacks %q", w)
		}
	}
}

func TestSummaryJSONRoundTrip(t *testing.T) {
	s := fixedSummary()
	dir := t.TempDir()
	r := &Run{Dir: dir, Summary: s}
	if err := r.writeReports(); err != nil {
		t.Fatal(err)
	}
	back, err := ReadSummary(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Scenarios) != 2 || back.Scenarios[0].Scenario.Load.Concurrency != 8 || back.Scenarios[0].Results[1].ErrorKinds["timeout"] != 2 {
		t.Errorf("round trip lost data: %+v", back.Scenarios[0])
	}
	if c := Compare(s, back, CompareOptions{}); c.Failed() {
		t.Errorf("a run compared with itself regressed: %+v", c.Rows)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "summary.json"))
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m["format_version"] != float64(FormatVersion) {
		t.Errorf("format_version: %v %v", m["format_version"], err)
	}
	if !strings.Contains(string(raw), `"p99.9_ms"`) || !strings.Contains(string(raw), `"warmup": "0s"`) {
		t.Errorf("summary.json lacks percentile or scenario fields")
	}
	bad := filepath.Join(dir, "v0.json")
	os.WriteFile(bad, []byte(`{"format_version": 0}`), 0o644)
	if _, err := ReadSummary(bad); err == nil || !strings.Contains(err.Error(), "format version 0") {
		t.Errorf("old format accepted: %v", err)
	}
}
