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

// TestLoadCommand runs `ut360 load` in-process: success, the Redis refresh
// from PostgreSQL, and the exit codes of bad input and bad usage.
func TestLoadCommand(t *testing.T) {
	pg, rd := testenv.NewPG(t), testenv.NewRedis(t)
	dir := t.TempDir()
	if _, err := dataset.Generate(context.Background(), dataset.GenOptions{Subscribers: 300, Out: dir}); err != nil {
		t.Fatal(err)
	}
	ut := func(args ...string) (int, string, string) {
		return runUT(t, append([]string{"--quiet", "--pg", pg.URL, "--redis", rd.URL, "--namespace", rd.Namespace}, args...)...)
	}
	if code, out, errs := ut("load", "--data", dir); code != exitcode.OK || !strings.Contains(out, "300 recommendations") {
		t.Fatalf("load: exit %d\n%s\n%s", code, out, errs)
	}
	if code, out, errs := ut("load", "--to", "redis", "--from", "postgres"); code != exitcode.OK || !strings.Contains(out, "from postgres") {
		t.Fatalf("load --from postgres: exit %d\n%s\n%s", code, out, errs)
	}
	csv := filepath.Join(dir, dataset.RecommendationsFile)
	b, _ := os.ReadFile(csv)
	os.WriteFile(csv, []byte(strings.Replace(string(b), "PREPAID", "PREPAYED", 1)), 0o644)
	code, _, errs := ut("load", "--data", dir)
	if code != exitcode.Usage || !strings.Contains(errs, dataset.RecommendationsFile) || !strings.Contains(errs, "subscriber_type") ||
		strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Fatalf("bad row: exit %d, stderr %q", code, errs)
	}
	os.Remove(filepath.Join(dir, dataset.MonthlyFile))
	if code, _, errs := ut("load", "--data", dir); code != exitcode.Usage || !strings.Contains(errs, dataset.MonthlyFile) {
		t.Fatalf("missing file: exit %d, stderr %q", code, errs)
	}
	for _, args := range [][]string{{"load", "--to", "mysql"}, {"load", "--from", "postgres"}, {"load", "--data", "/nonexistent"}} {
		if code, _, errs := ut(args...); code != exitcode.Usage {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs)
		}
	}
}
