package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ut360/ut360/bench"
	"github.com/ut360/ut360/internal/exitcode"
	"github.com/ut360/ut360/internal/redisconn"
	"github.com/ut360/ut360/internal/testenv"
)

// TestDemoOnCluster runs `ut360 demo --redis <cluster URL>` in-process at a
// small size, bench included, against the local Redis Cluster (`make
// cluster`) and the test PostgreSQL: every step passes (the short bench's
// thresholds aside, as on one server), verify is clean, the bench ran every
// built-in scenario without an error and split the lookup by master, and
// capacity sized the cluster.
func TestDemoOnCluster(t *testing.T) {
	cc := testenv.Cluster(t)
	ns := testenv.ClusterNamespace(t, cc)
	pg := testenv.NewPG(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "demo")
	code, stdout, errs := runUT(t, "--quiet", "--pg", pg.URL, "--redis", testenv.ClusterURL(), "--namespace", ns,
		"demo", "--subscribers", "1000", "--data", filepath.Join(dir, "data"), "--out", out, "--bench-duration", "300ms")
	if code != exitcode.OK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, errs)
	}
	for _, want := range []string{"[ok  ] generate", "[ok  ] migrate", "[ok  ] load", "[ok  ] verify", "clean: files, PostgreSQL and Redis agree",
		"] bench", "isdn_lookup per Redis Cluster master:", "[ok  ] capacity", "Redis Cluster of ", "open " + filepath.Join(out, "index.html")} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "index.html")); err != nil {
		t.Error(err)
	}

	runs, err := filepath.Glob(filepath.Join(out, "bench", "*", "summary.json"))
	if err != nil || len(runs) != 1 {
		t.Fatalf("bench runs %v, %v", runs, err)
	}
	sum, err := bench.ReadSummary(runs[0])
	if err != nil {
		t.Fatal(err)
	}
	scs, err := bench.LoadFiles(nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Scenarios) != len(scs) {
		t.Errorf("bench ran %d scenarios, %d are built in", len(sum.Scenarios), len(scs))
	}
	masters := map[string]bool{}
	addrs, err := redisconn.Masters(context.Background(), cc)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range addrs {
		masters[m] = true
	}
	for _, sr := range sum.Scenarios {
		for _, r := range sr.Results {
			if r.Ops == 0 || r.Errors != 0 {
				t.Errorf("bench %s/%s: %d ops, %d errors %v", sr.Scenario.Name, r.Target, r.Ops, r.Errors, r.ErrorKinds)
			}
			if r.Target == bench.TargetPostgres {
				continue
			}
			if len(r.Nodes) != len(masters) {
				t.Errorf("bench %s/%s: figures for %d masters, the cluster has %d", sr.Scenario.Name, r.Target, len(r.Nodes), len(masters))
			}
			for _, n := range r.Nodes {
				if !masters[n.Addr] {
					t.Errorf("bench %s/%s: %s is not a master", sr.Scenario.Name, r.Target, n.Addr)
				}
			}
		}
	}
}
