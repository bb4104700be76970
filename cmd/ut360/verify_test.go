package main

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/exitcode"
	"github.com/ut360/ut360/internal/testenv"
)

func TestVerifyUsageAndUnreachable(t *testing.T) {
	for _, args := range [][]string{
		{"verify", "--dry-run"},
		{"verify", "--repair", "--sample", "10"},
		{"verify", "--sample", "0"},
		{"verify", "--source", filepath.Join(t.TempDir(), "missing")},
		{"verify", "extra-arg"},
	} {
		if code, _, errb := runUT(t, args...); code != exitcode.Usage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, exitcode.Usage, errb)
		}
	}
	code, _, errb := runUT(t, "--redis", "redis://:secret@127.0.0.1:1/0", "verify")
	if code != exitcode.Fault {
		t.Errorf("unreachable Redis: exit %d, want %d", code, exitcode.Fault)
	}
	if strings.Contains(errb, "secret") {
		t.Errorf("password printed: %s", errb)
	}
}

func TestVerifyCLI(t *testing.T) {
	pg := testenv.NewMigratedPG(t)
	rd := testenv.NewRedis(t)
	data := t.TempDir()
	if _, err := dataset.Generate(context.Background(), dataset.GenOptions{Subscribers: 150, Out: data}); err != nil {
		t.Fatal(err)
	}
	// Database 14: verify SCANs a whole database and db 0 of a shared server
	// may hold millions of unrelated keys. The namespace is private and removed.
	u, err := url.Parse(rd.URL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/14"
	opt, err := redis.ParseURL(u.String())
	if err != nil {
		t.Fatal(err)
	}
	db14 := redis.NewClient(opt)
	t.Cleanup(func() {
		if err := testenv.DeleteNamespace(context.Background(), db14, rd.Namespace); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		db14.Close()
	})
	g := []string{"--pg", pg.URL, "--redis", u.String(), "--namespace", rd.Namespace, "--quiet"}
	ut := func(args ...string) (int, string, string) {
		return runUT(t, append(append([]string{}, g...), args...)...)
	}
	if code, out, errb := ut("load", "--data", data, "--rejects", "-"); code != 0 {
		t.Fatalf("load: exit %d\n%s\n%s", code, out, errb)
	}
	if code, out, errb := ut("verify", "--source", data); code != exitcode.OK || !strings.Contains(out, "CLEAN") {
		t.Fatalf("clean verify: exit %d\n%s\n%s", code, out, errb)
	}
	isdn := dataset.ISDNFor(dataset.DefaultSeed, 0)
	if err := db14.HSet(context.Background(), dataset.NewKeys(rd.Namespace).Rec(isdn), "arpu_trend", "XX").Err(); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(t.TempDir(), "verify.json")
	code, out, _ := ut("verify", "--report", report)
	if code != exitcode.CheckFailed || !strings.Contains(out, "field_mismatch   1") {
		t.Fatalf("drifted verify: exit %d\n%s", code, out)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		FormatVersion int `json:"format_version"`
		Classes       []struct {
			Class    string `json:"class"`
			Count    int    `json:"count"`
			Examples []struct {
				ISDN string `json:"isdn"`
			} `json:"examples"`
		} `json:"classes"`
	}
	if err := json.Unmarshal(b, &rep); err != nil || rep.FormatVersion != 1 {
		t.Fatalf("report: %v %s", err, b)
	}
	if md, err := os.ReadFile(strings.TrimSuffix(report, ".json") + ".md"); err != nil || !strings.Contains(string(md), isdn) {
		t.Errorf("markdown report: %v", err)
	}
	if code, out, _ := ut("verify", "--repair", "--dry-run"); code != exitcode.CheckFailed || !strings.Contains(out, "dry run") {
		t.Errorf("dry run: exit %d\n%s", code, out)
	}
	if code, out, _ := ut("verify", "--repair"); code != exitcode.OK || !strings.Contains(out, "REPAIRED") {
		t.Errorf("repair: exit %d\n%s", code, out)
	}
	if code, out, _ := ut("verify"); code != exitcode.OK {
		t.Errorf("verify after repair: exit %d\n%s", code, out)
	}
}
