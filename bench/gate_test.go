package bench

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/testenv"
)

// testFailsClosed: the runs of issue 13's first list each fail now.
func testFailsClosed(t *testing.T, s *stores) {
	t.Run("stall outlasts the run", func(t *testing.T) { testStallOutlastsRun(t, s) })
	t.Run("zero successes", func(t *testing.T) { testZeroSuccesses(t, s) })
	t.Run("not found", func(t *testing.T) { testNotFound(t, s) })
}

// A table lock that starts before the end of an open-model run and lasts
// past its hard stop: the operations never sent and those cancelled are
// failures in error_rate and in the latency tail, so p99 fails.
func testStallOutlastsRun(t *testing.T, s *stores) {
	ctx := context.Background()
	sc := parseString(t, `name: stall-outlasts
keys: {distribution: uniform}
load: {model: open, rate: 300, max_in_flight: 16, warmup: 0s, duration: 1500ms}
postgres:
  queries:
    - sql: SELECT isdn, bad_debt_risk FROM recommendations WHERE isdn = $1
      args: ["{isdn}"]
thresholds:
  postgres: {p99: 100ms}
`)
	o := s.options(t)
	o.grace = time.Second // hard stop at recStart + 2.5 s; the lock holds until recStart + 3.5 s
	locked := make(chan struct{})
	o.stall = func(_, _ string, recStart time.Time) {
		defer close(locked)
		s.lockRecommendations(t, recStart.Add(time.Second), 2500*time.Millisecond)
	}
	run, err := RunScenarios(ctx, o, []*Scenario{sc})
	<-locked
	if !errors.Is(err, ErrThresholds) || run == nil || run.Passed {
		t.Fatalf("a stall past the end of the run passed: err %v", err)
	}
	r := run.Summary.Scenarios[0].Results[0]
	t.Logf("due %d sent %d completed %d cancelled %d unsent %d ops %d errors %d (%v) error_rate %.3f p99 %.1f ms",
		r.Due, r.Sent, r.Completed, r.Cancelled, r.Unsent, r.Ops, r.Errors, r.ErrorKinds, r.ErrorRate, r.Latency.P99)
	if r.Due != 450 || r.Sent+r.Unsent != r.Due || r.Completed+r.Cancelled != r.Sent || r.Ops+r.Errors != r.Due {
		t.Errorf("operations not accounted for: %+v", r)
	}
	if r.Unsent == 0 || r.Cancelled == 0 || r.ErrorKinds[KindUnsent] != r.Unsent || r.ErrorKinds[KindCancelled] != r.Cancelled {
		t.Errorf("unsent %d, cancelled %d, kinds %v: want both > 0 and in the error kinds", r.Unsent, r.Cancelled, r.ErrorKinds)
	}
	if want := float64(r.Unsent+r.Cancelled) / float64(r.Due); r.ErrorRate < want {
		t.Errorf("error_rate %.3f leaves out unsent and cancelled (%.3f)", r.ErrorRate, want)
	}
	if r.Latency.Count != r.Ops+r.Unsent+r.Cancelled || r.Latency.P99 < 1000 {
		t.Errorf("latency count %d p99 %.1f ms: the unsent and cancelled operations are not in the tail", r.Latency.Count, r.Latency.P99)
	}
	th := run.Summary.Scenarios[0].Thresholds
	if len(th) != 1 || th[0].Pass {
		t.Errorf("thresholds %+v, want the p99 one failed", th)
	}
	raw, _ := os.ReadFile(run.SummaryJSON)
	for _, f := range []string{`"due": 450`, `"sent":`, `"completed":`, `"unsent":`, `"cancelled":`} {
		if !strings.Contains(string(raw), f) {
			t.Errorf("summary.json lacks %s", f)
		}
	}
}

// Every operation fails (GET on a hash: WRONGTYPE): all-zero percentiles must
// not pass a latency threshold.
func testZeroSuccesses(t *testing.T, s *stores) {
	sc := parseString(t, `name: wrongtype
keys: {distribution: uniform}
load: {model: closed, concurrency: 2, warmup: 0s, count: 200}
redis:
  commands: [[GET, "{ns}:rec:{isdn}"]]
thresholds:
  redis: {p99: 5ms}
`)
	run, err := RunScenarios(context.Background(), s.options(t), []*Scenario{sc})
	if !errors.Is(err, ErrThresholds) {
		t.Fatalf("zero successes passed: %v", err)
	}
	sr := run.Summary.Scenarios[0]
	r := sr.Results[0]
	if r.Ops != 0 || r.ErrorKinds["redis:WRONGTYPE"] != 200 || r.ErrorRate != 1 {
		t.Errorf("ops %d kinds %v error_rate %g", r.Ops, r.ErrorKinds, r.ErrorRate)
	}
	if len(sr.Thresholds) != 2 {
		t.Fatalf("thresholds %+v, want the implicit one and p99", sr.Thresholds)
	}
	for _, th := range sr.Thresholds {
		if th.Pass || th.Note != noSuccess {
			t.Errorf("%+v passed or lacks the note", th)
		}
	}
}

// Not-found replies on loaded keys are errors; a store holding none of the
// drawn keys fails with a note saying so; keys.not_found: allowed lets them
// through.
func testNotFound(t *testing.T, s *stores) {
	ctx := context.Background()
	o := s.options(t)
	isdns, err := o.loadISDNs(ctx, dataset.NewKeys(s.rd.Namespace))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "keys.txt")
	os.WriteFile(file, []byte(strings.Join(isdns[:100], "\n")+"\n"), 0o644)
	o.KeysFile = file
	o.Namespace = "ut360test-empty-" + testenv.ID() // holds nothing
	const body = `keys: {distribution: uniform%s}
load: {model: closed, concurrency: 2, warmup: 0s, count: 300}
redis:
  commands: [[HGETALL, "{ns}:rec:{isdn}"]]
  decode: rec
thresholds:
  redis: {p99: 5ms}
`
	sc := parseString(t, "name: nothing-loaded\n"+strings.Replace(body, "%s", "", 1))
	run, err := RunScenarios(ctx, o, []*Scenario{sc})
	if !errors.Is(err, ErrThresholds) {
		t.Fatalf("a store holding none of the keys passed: %v", err)
	}
	r := run.Summary.Scenarios[0].Results[0]
	if r.Ops != 0 || r.ErrorKinds[KindNotFound] != 300 || r.NotFound != 300 || len(r.Notes) == 0 || !strings.Contains(r.Notes[0], "none of the drawn keys was found") {
		t.Errorf("ops %d kinds %v not found %d notes %q", r.Ops, r.ErrorKinds, r.NotFound, r.Notes)
	}
	allowed := parseString(t, "name: allowed\n"+strings.Replace(body, "%s", ", not_found: allowed", 1))
	run, err = RunScenarios(ctx, o, []*Scenario{allowed})
	if err != nil {
		t.Fatalf("not_found: allowed: %v", err)
	}
	if r := run.Summary.Scenarios[0].Results[0]; r.Ops != 300 || r.Errors != 0 || r.NotFound != 300 {
		t.Errorf("allowed: ops %d errors %d not found %d", r.Ops, r.Errors, r.NotFound)
	}
}
