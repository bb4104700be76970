package bench

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseGoodFixtures(t *testing.T) {
	files, _ := filepath.Glob("testdata/good/*.yaml")
	if len(files) == 0 {
		t.Fatal("no good fixtures")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			sc, err := Parse(f, data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if errs := sc.Validate(); len(errs) != 0 {
				t.Fatalf("Validate after Parse: %v", errs)
			}
		})
	}
}

// parseFile parses a fixture that must be valid.
func parseFile(t *testing.T, path string) *Scenario {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := Parse(filepath.Base(path), data)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func TestParseGoodValues(t *testing.T) {
	sc := parseFile(t, "testdata/good/open_zipf.yaml")
	if sc.Load.Model != "open" || sc.Load.Rate != 2000 || sc.Load.MaxInFlight != 32 || sc.Load.Count != 10000 || sc.Load.Duration != 0 {
		t.Errorf("load = %+v", sc.Load)
	}
	if sc.Load.Warmup.D() != 500*time.Millisecond {
		t.Errorf("warmup = %v", sc.Load.Warmup.D())
	}
	if sc.Keys.Theta != 0.8 || sc.Keys.Missing != 0.05 || sc.Keys.Seed != 42 || sc.Keys.Batch != 1 {
		t.Errorf("keys = %+v", sc.Keys)
	}
	l := sc.Thresholds.Redis
	if l.P999.D() != 20*time.Millisecond || l.Max.D() != time.Second || *l.ErrorRate != 0.001 || l.Throughput != 1900 {
		t.Errorf("redis limits = %+v", l)
	}
	if got := sc.TargetNames(); strings.Join(got, ",") != "redis,postgres" {
		t.Errorf("targets = %v", got)
	}

	// Defaults.
	sc = parseFile(t, "testdata/good/ping.yaml")
	if sc.Load.Model != "closed" || sc.Load.Concurrency != DefaultConcurrency || sc.Load.Duration != DefaultDuration || sc.Load.Warmup != DefaultWarmup {
		t.Errorf("defaults: %+v", sc.Load)
	}
	sc = parseFile(t, "testdata/good/hotset_bulk.yaml")
	if sc.Keys.HotShare != 0.8 || sc.Keys.HotFraction != 0.1 || sc.Keys.Batch != 50 || !sc.Redis.PerKey {
		t.Errorf("keys %+v", sc.Keys)
	}
	sc = parseFile(t, "testdata/good/cache_aside.yaml")
	if sc.CacheAside.TTL.D() != time.Hour || sc.CacheAside.Miss != 0.2 || sc.Load.Warmup != 0 {
		t.Errorf("cache_aside %+v, load %+v", sc.CacheAside, sc.Load)
	}
}

// Each bad fixture lists its expected problems in "# want:" lines; every one
// must be reported (file, line, field and message), and nothing else.
func TestParseBadFixtures(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	if len(files) == 0 {
		t.Fatal("no bad fixtures")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var wants []string
			for _, line := range strings.Split(string(data), "\n") {
				if w, ok := strings.CutPrefix(line, "# want: "); ok {
					wants = append(wants, w)
				}
			}
			if len(wants) == 0 {
				t.Fatal("fixture has no # want: lines")
			}
			_, err = Parse(f, data)
			var se *ScenarioError
			if !errors.As(err, &se) || !errors.Is(err, ErrScenario) {
				t.Fatalf("Parse error = %v, want a *ScenarioError", err)
			}
			got := make([]string, len(se.Problems))
			for i, p := range se.Problems {
				got[i] = p.Error()
			}
			for _, w := range wants {
				found := false
				for _, g := range got {
					found = found || strings.HasPrefix(g, w)
				}
				if !found {
					t.Errorf("missing problem %q\ngot:\n  %s", w, strings.Join(got, "\n  "))
				}
			}
			if len(got) != len(wants) {
				t.Errorf("%d problems, want %d:\n  %s", len(got), len(wants), strings.Join(got, "\n  "))
			}
		})
	}
}

func TestBuiltinScenariosParse(t *testing.T) {
	scs, err := LoadFiles(nil, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"analytics", "bulk_1000", "cache_aside", "campaign", "isdn_lookup", "profile_360", "risk_members", "top100_priority"}
	var names []string
	for _, sc := range scs {
		names = append(names, sc.Name)
		if !strings.HasPrefix(sc.File(), "scenarios/") || !strings.HasSuffix(sc.File(), sc.Name+".yaml") {
			t.Errorf("%s: file %q", sc.Name, sc.File())
		}
		if sc.Load.Concurrency != 8 || sc.Load.Model != "closed" {
			t.Errorf("%s: load %+v, want closed with concurrency 8 (the own aim's setting)", sc.Name, sc.Load)
		}
		for _, tg := range sc.TargetNames() {
			if l := sc.Thresholds.limits(tg); l != nil && l.P99 == 0 {
				t.Errorf("%s/%s: no p99 target", sc.Name, tg)
			}
		}
	}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("built-ins = %v, want %v", names, want)
	}
}

func TestLoadFilesReportsAllFiles(t *testing.T) {
	_, err := LoadFiles([]string{"testdata/bad/keys.yaml", "testdata/good/ping.yaml", "testdata/bad/empty.yaml", "testdata/nope.yaml"}, false)
	if !errors.Is(err, ErrScenario) {
		t.Fatalf("err = %v", err)
	}
	for _, w := range []string{"testdata/bad/keys.yaml:", "testdata/bad/empty.yaml: empty file", "testdata/nope.yaml: no such file"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	_, err = LoadFiles([]string{"testdata/good/ping.yaml", "testdata/good/ping.yaml"}, false)
	if err == nil || !strings.Contains(err.Error(), `scenario "ping" is also defined in testdata/good/ping.yaml`) {
		t.Errorf("duplicate names: %v", err)
	}
}

func TestParseRelative(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		factor   float64
	}{
		{"redis.p99 <= 0.5 * postgres.p99", "redis.p99<=postgres.p99", 0.5},
		{"postgres.throughput>redis.throughput", "postgres.throughput>redis.throughput", 1},
		{" cache_aside.p99.9 < 2e1 * redis.max ", "cache_aside.p99.9<redis.max", 20},
	} {
		r, err := ParseRelative(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got := r.Left.String() + r.Op + r.Right.String(); got != tc.want || r.Factor != tc.factor {
			t.Errorf("%q = %s ×%g", tc.in, got, r.Factor)
		}
	}
	for _, bad := range []string{"", "redis.p99 <= redis.p50", "redis.p95 <= postgres.p99", "redis.p99 <= 0 * postgres.p99", "redis.p99 == postgres.p99"} {
		if _, err := ParseRelative(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata/good", "testdata/bad", "../scenarios"} {
		files, _ := filepath.Glob(dir + "/*.yaml")
		for _, p := range files {
			if data, err := os.ReadFile(p); err == nil {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := Parse("fuzz.yaml", data)
		if err != nil {
			var se *ScenarioError
			if !errors.As(err, &se) || len(se.Problems) == 0 {
				t.Fatalf("error is not a located *ScenarioError: %v", err)
			}
			for _, p := range se.Problems {
				if !strings.HasPrefix(p.Error(), "fuzz.yaml") {
					t.Fatalf("problem does not name the file: %v", p)
				}
			}
			return
		}
		if errs := sc.Validate(); len(errs) != 0 {
			t.Fatalf("Parse accepted a scenario Validate rejects: %v", errs)
		}
	})
}
