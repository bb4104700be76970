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
	// An unfinished swap (the loader's journal left in Redis) fails verify
	// until the loader recovers it; repair does not clear it.
	journal := rd.Namespace + ":meta:swap"
	if err := db14.HSet(context.Background(), journal, "state", "staged", "generation", "3", "started", "2026-12-01T06:00:00Z").Err(); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"verify"}, {"verify", "--repair"}, {"verify", "--sample", "10"}} {
		code, out, _ := ut(args...)
		if code != exitcode.CheckFailed || !strings.Contains(out, "unfinished_swap  1") || !strings.Contains(out, "ut360 load --resume") {
			t.Errorf("%v with a swap journal: exit %d, want %d\n%s", args, code, exitcode.CheckFailed, out)
		}
	}
}

// TestNamespaceRefused: every subcommand refuses, with the usage exit code
// and before touching anything, a namespace that could collide with ut360's
// own key families.
func TestNamespaceRefused(t *testing.T) {
	for _, ns := range []string{"", " ", "rv:stage", "rv:rec:x", "rv:profile:x", "rv:idx:x", "rv:meta:x", "rv*", "rv?", "rv[1]",
		`rv\x`, "{rv}", "r v"} {
		for _, sub := range [][]string{{"gen", "--out", t.TempDir()}, {"migrate", "up"}, {"load", "--data", t.TempDir()}, {"verify"},
			{"bench"}, {"capacity"}, {"demo"}} {
			args := append([]string{"--pg", "postgres://nobody@127.0.0.1:1/x", "--redis", "redis://127.0.0.1:1/0", "--namespace", ns}, sub...)
			code, _, errb := runUT(t, args...)
			if code != exitcode.Usage || !strings.Contains(errb, "--namespace") {
				t.Errorf("--namespace %q %s: exit %d, want %d\n%s", ns, sub[0], code, exitcode.Usage, errb)
			}
		}
	}
	if code, _, errb := runUT(t, "--namespace", "rv:t2", "gen", "--out", t.TempDir(), "--subscribers", "10"); code != exitcode.OK {
		t.Errorf("--namespace rv:t2 refused: exit %d\n%s", code, errb)
	}
}
