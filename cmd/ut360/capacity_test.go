package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ut360/ut360/internal/exitcode"
	"github.com/ut360/ut360/internal/testenv"
)

func TestCapacityCLI(t *testing.T) {
	t.Run("bad sizes are a usage error", func(t *testing.T) {
		code, _, errs := runUT(t, "capacity", "--subscribers", "lots")
		if code != exitcode.Usage || !strings.Contains(errs, "--subscribers") || strings.Count(errs, "\n") != 1 {
			t.Errorf("exit %d, stderr %q", code, errs)
		}
	})
	t.Run("unreachable store is a fault with the password redacted", func(t *testing.T) {
		code, _, errs := runUT(t, "--pg", "postgres://u:s3cret@127.0.0.1:1/x?connect_timeout=2", "capacity")
		if code != exitcode.Fault || strings.Contains(errs, "s3cret") || !strings.Contains(errs, "make services") {
			t.Errorf("exit %d, stderr %q", code, errs)
		}
	})
	t.Run("empty stores are a fault that says to load", func(t *testing.T) {
		pg := testenv.NewMigratedPG(t)
		rd := testenv.NewRedis(t)
		code, _, errs := runUT(t, "--pg", pg.URL, "--redis", rd.URL, "--namespace", rd.Namespace, "capacity", "--report", t.TempDir())
		if code != exitcode.Fault || !strings.Contains(errs, "ut360 load") {
			t.Errorf("exit %d, stderr %q", code, errs)
		}
	})
}

// TestDemoCLISmall runs `ut360 demo` in-process on a tiny dataset (no bench)
// and checks the exit code, the summary and the page.
func TestDemoCLISmall(t *testing.T) {
	pg := testenv.NewPG(t)
	rd := testenv.NewRedis(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "demo")
	code, stdout, errs := runUT(t, "--quiet", "--pg", pg.URL, "--redis", rd.URL, "--namespace", rd.Namespace,
		"demo", "--subscribers", "800", "--data", filepath.Join(dir, "data"), "--out", out, "--skip-bench")
	if code != exitcode.OK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, errs)
	}
	for _, want := range []string{"[ok  ] generate", "[ok  ] load", "[ok  ] verify", "clean", "[ok  ] capacity", "open " + filepath.Join(out, "index.html")} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	page, err := os.ReadFile(filepath.Join(out, "index.html"))
	if err != nil || !bytes.Contains(page, []byte(`href="capacity/capacity.html"`)) || !bytes.Contains(page, []byte("<svg")) {
		t.Errorf("index.html: %v", err)
	}
	if code, _, errs := runUT(t, "demo", "--subscribers", "0"); code != exitcode.Usage {
		t.Errorf("--subscribers 0: exit %d %q", code, errs)
	}
}
