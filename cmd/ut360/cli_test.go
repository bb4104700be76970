package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/exitcode"
	"github.com/ut360/ut360/internal/testenv"
)

// runUT runs ut360 in-process and returns the exit code, stdout and stderr.
func runUT(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"ut360"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// oneErrLine checks that stderr is exactly one "ut360: …" line containing every want.
func oneErrLine(t *testing.T, stderr string, want ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "ut360: ") {
		t.Errorf("stderr is not one ut360: line:\n%s", stderr)
		return
	}
	for _, w := range want {
		if !strings.Contains(lines[0], w) {
			t.Errorf("stderr %q lacks %q", lines[0], w)
		}
	}
}

func TestHelpAndVersion(t *testing.T) {
	code, out, errb := runUT(t, "--help")
	if code != exitcode.OK || errb != "" {
		t.Fatalf("--help: exit %d, stderr %q", code, errb)
	}
	for _, w := range []string{"gen", "migrate", "--pg", "--redis", "--namespace", "Exit codes"} {
		if !strings.Contains(out, w) {
			t.Errorf("--help lacks %q", w)
		}
	}
	for cmd, flags := range map[string][]string{
		"gen":     {"--subscribers", "--months", "--seed", "--out", "--force", "Examples"},
		"migrate": {"up", "down", "status", "Examples"},
	} {
		code, out, _ := runUT(t, cmd, "--help")
		if code != exitcode.OK {
			t.Errorf("%s --help: exit %d", cmd, code)
		}
		for _, f := range flags {
			if !strings.Contains(out, f) {
				t.Errorf("%s --help lacks %q", cmd, f)
			}
		}
	}
	code, out, _ = runUT(t, "--version")
	if code != exitcode.OK || !strings.Contains(out, version) || !strings.Contains(out, "("+Commit()+")") {
		t.Errorf("--version: exit %d, %q", code, out)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--no-such-flag"},
		{"gen", "--subscribers", "many"},
		{"gen", "--bogus"},
		{"migrate", "down", "--to", "x"},
	} {
		code, _, errb := runUT(t, args...)
		if code != exitcode.Usage {
			t.Errorf("%v: exit %d, want %d", args, code, exitcode.Usage)
		}
		oneErrLine(t, errb)
	}
}

// genRefused runs gen with args into dir and checks exit 2, one clear line and no
// file left in dir.
func genRefused(t *testing.T, dir string, want []string, args ...string) {
	t.Helper()
	code, _, errb := runUT(t, append([]string{"--quiet", "gen", "--out", dir}, args...)...)
	if code != exitcode.Usage {
		t.Errorf("gen %v: exit %d, want %d (stderr %q)", args, code, exitcode.Usage, errb)
	}
	oneErrLine(t, errb, want...)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		t.Errorf("gen %v left %s behind", args, e.Name())
	}
}

func TestGenUsage(t *testing.T) {
	dir := t.TempDir()
	genRefused(t, dir, []string{"--subscribers"}, "--subscribers", "0")
	genRefused(t, dir, []string{"--subscribers"}, "--subscribers", "-5")
	genRefused(t, dir, []string{"--months", "1-24"}, "--subscribers", "10", "--months", "0")
	genRefused(t, dir, []string{"--months", "1-24"}, "--subscribers", "10", "--months", "25")
	genRefused(t, dir, []string{"--seed"}, "--subscribers", "10", "--seed", "0")

	// An output folder that cannot be created or written.
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errb := runUT(t, "--quiet", "gen", "--subscribers", "10", "--out", filepath.Join(file, "sub"))
	if code != exitcode.Usage {
		t.Errorf("unwritable folder: exit %d", code)
	}
	oneErrLine(t, errb, "output folder", "a-file")
}

func TestGenExistingFiles(t *testing.T) {
	dir := t.TempDir()
	code, out, errb := runUT(t, "--quiet", "gen", "--subscribers", "50", "--months", "2", "--out", dir)
	if code != exitcode.OK || !strings.Contains(out, "wrote 50 subscribers") {
		t.Fatalf("gen: exit %d, %q %q", code, out, errb)
	}
	rp, _, _ := dataset.Files(dir)
	before, _ := os.ReadFile(rp)

	// Again without --force: refused, the files stay as they were.
	code, _, errb = runUT(t, "--quiet", "gen", "--subscribers", "60", "--out", dir)
	if code != exitcode.Usage {
		t.Errorf("existing files without --force: exit %d", code)
	}
	oneErrLine(t, errb, "already exists", "--force")
	if after, _ := os.ReadFile(rp); !bytes.Equal(before, after) {
		t.Error("a refused gen changed the existing files")
	}
	// With --force: overwritten, and nothing else in the folder.
	code, out, _ = runUT(t, "--quiet", "gen", "--subscribers", "60", "--out", dir, "--force")
	if code != exitcode.OK || !strings.Contains(out, "wrote 60 subscribers") {
		t.Errorf("gen --force: exit %d, %q", code, out)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Errorf("folder holds %d entries after --force, want 3", len(entries))
	}
}

func TestUnreachablePostgres(t *testing.T) {
	const secret = "s3cr3t-PW"
	url := "postgres://ut360:" + secret + "@127.0.0.1:1/ut360?sslmode=disable&connect_timeout=2"
	for _, sub := range []string{"up", "status", "down"} {
		code, _, errb := runUT(t, "--pg", url, "migrate", sub)
		if code != exitcode.Fault {
			t.Errorf("migrate %s against a closed port: exit %d, want %d", sub, code, exitcode.Fault)
		}
		oneErrLine(t, errb, "127.0.0.1:1", "make services")
		if strings.Contains(errb, secret) {
			t.Errorf("migrate %s printed the password: %s", sub, errb)
		}
	}
	t.Setenv("UT360_PG_URL", url)
	code, _, errb := runUT(t, "migrate", "status")
	if code != exitcode.Fault || strings.Contains(errb, secret) {
		t.Errorf("UT360_PG_URL: exit %d, stderr %q", code, errb)
	}
}

func TestMigrateCommand(t *testing.T) {
	pg := testenv.NewPG(t)
	code, out, errb := runUT(t, "--pg", pg.URL, "migrate", "up")
	if code != exitcode.OK || !strings.Contains(out, "schema version 5 of 5") {
		t.Fatalf("migrate up: exit %d\n%s%s", code, out, errb)
	}
	code, out, _ = runUT(t, "--pg", pg.URL, "migrate", "down")
	if code != exitcode.OK || !strings.Contains(out, "schema version 4 of 5") || !strings.Contains(out, "pending  005_campaign_index.sql") {
		t.Errorf("migrate down: exit %d\n%s", code, out)
	}
	code, out, _ = runUT(t, "--pg", pg.URL, "migrate", "down", "--to", "0")
	if code != exitcode.OK || !strings.Contains(out, "schema version 0 of 5") {
		t.Errorf("migrate down --to 0: exit %d\n%s", code, out)
	}
	code, _, errb = runUT(t, "--pg", pg.URL, "migrate", "down", "--to", "9")
	if code == exitcode.OK {
		t.Errorf("migrate down --to 9 succeeded")
	}
	oneErrLine(t, errb)
	code, out, _ = runUT(t, "--pg", pg.URL, "migrate", "status")
	if code != exitcode.OK || !strings.Contains(out, "schema version 0 of 5") {
		t.Errorf("migrate status: exit %d\n%s", code, out)
	}
}
