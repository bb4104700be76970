package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/exitcode"
	"github.com/ut360/ut360/internal/testenv"
)

// TestVerifyAndCapacityOnCluster runs the CLI against the test Redis
// Cluster (`make cluster`) as an operator would: load, verify (full,
// --source, --sample), a generation mismatch (PostgreSQL on another
// generation: exit 1 saying what to run, then that command, then clean), and
// capacity sized in masters.
func TestVerifyAndCapacityOnCluster(t *testing.T) {
	cc := testenv.Cluster(t)
	pg := testenv.NewPG(t)
	ns := testenv.ClusterNamespace(t, cc)
	ut := func(args ...string) (int, string, string) {
		return runUT(t, append([]string{"--quiet", "--pg", pg.URL, "--redis", testenv.ClusterURL(), "--namespace", ns}, args...)...)
	}
	want := func(what string, code int, args ...string) string {
		t.Helper()
		got, out, errb := ut(args...)
		if got != code {
			t.Fatalf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", what, got, code, out, errb)
		}
		return out
	}
	dir := t.TempDir()
	if _, err := dataset.Generate(context.Background(), dataset.GenOptions{Subscribers: 1000, Seed: 3, Out: dir}); err != nil {
		t.Fatal(err)
	}
	want("load", exitcode.OK, "load", "--data", dir)
	want("verify --source", exitcode.OK, "verify", "--source", dir)
	want("verify --sample", exitcode.OK, "verify", "--sample", "200")

	if _, err := pg.Pool.Exec(context.Background(), "COMMENT ON TABLE recommendations IS 'ut360 generation 1'"); err != nil {
		t.Fatal(err)
	}
	out := want("verify, PostgreSQL on another generation", exitcode.CheckFailed, "verify")
	if !strings.Contains(out, "generation_mismatch") ||
		!strings.Contains(out, "PostgreSQL holds generation 1, Redis was made from ") ||
		!strings.Contains(out, "run `ut360 load --to redis --from postgres`") {
		t.Errorf("verify does not say what differs and what to run:\n%s", out)
	}
	want("refresh from PostgreSQL", exitcode.OK, "load", "--to", "redis", "--from", "postgres")
	want("verify after the refresh", exitcode.OK, "verify")

	report := t.TempDir()
	out = want("capacity", exitcode.OK, "capacity", "--report", report, "--master-maxmemory", "1gb", "--sample", "300")
	if !strings.Contains(out, "cluster at 10000000:") || !strings.Contains(out, "biggest index key "+ns+":idx:") {
		t.Errorf("capacity on a cluster does not size it:\n%s", out)
	}
	md, err := os.ReadFile(filepath.Join(report, "capacity.md"))
	if err != nil || !strings.Contains(string(md), "## Redis Cluster") || !strings.Contains(string(md), "maxmemory 1.07 GB each (given: --master-maxmemory") {
		t.Errorf("capacity.md: %v\n%s", err, md)
	}
	want("capacity with a bad --master-maxmemory", exitcode.Usage, "capacity", "--report", report, "--master-maxmemory", "lots")
}
