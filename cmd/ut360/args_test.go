package main

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ut360/ut360/internal/exitcode"
)

// TestNormalizeArgs pins where each flag moves: right after the command that
// defines it, ahead of positionals, with its value; "--" ends flags.
func TestNormalizeArgs(t *testing.T) {
	const u = "postgres://u:pw@127.0.0.1/x"
	for _, tc := range []struct {
		name     string
		in, want []string
	}{
		{"global after the command", []string{"load", "--pg", u}, []string{"--pg", u, "load"}},
		{"global bool after the command", []string{"verify", "-q"}, []string{"-q", "verify"}},
		{"global and own flags mixed", []string{"load", "--quiet", "--data", "d", "--namespace=x"}, []string{"--quiet", "--namespace=x", "load", "--data", "d"}},
		{"own flag after a positional", []string{"bench", "scenarios/x.yaml", "--duration", "5s"}, []string{"bench", "--duration", "5s", "scenarios/x.yaml"}},
		{"subcommand of a subcommand", []string{"bench", "compare", "results/BASE", "results/NEW", "--max-regression", "10%"},
			[]string{"bench", "compare", "--max-regression", "10%", "results/BASE", "results/NEW"}},
		{"parent, global and own flags after positionals", []string{"bench", "compare", "A", "--pg=" + u, "B", "--max-regression=5%", "--verbose"},
			[]string{"--pg=" + u, "--verbose", "bench", "compare", "--max-regression=5%", "A", "B"}},
		{"globals after a sub-subcommand", []string{"migrate", "up", "--pg", u, "--verbose"}, []string{"--pg", u, "--verbose", "migrate", "up"}},
		{"already in place", []string{"--pg", u, "load", "--data", "d"}, []string{"--pg", u, "load", "--data", "d"}},
		{"a flag value that names a command", []string{"bench", "--out", "compare", "x.yaml"}, []string{"bench", "--out", "compare", "x.yaml"}},
		{"a flag value that starts with a dash", []string{"bench", "x.yaml", "--warmup", "-1s"}, []string{"bench", "--warmup", "-1s", "x.yaml"}},
		{"repeatable flag", []string{"bench", "a.yaml", "--target", "redis", "b.yaml", "--target", "postgres"},
			[]string{"bench", "--target", "redis", "--target", "postgres", "a.yaml", "b.yaml"}},
		{"-- ends flags", []string{"bench", "--target", "redis", "x.yaml", "--", "--odd.yaml", "-q"},
			[]string{"bench", "--target", "redis", "--", "x.yaml", "--odd.yaml", "-q"}},
		{"unknown flag stays with the command", []string{"load", "x", "--bogus"}, []string{"load", "--bogus", "x"}},
		{"help flag stays with the command", []string{"bench", "compare", "A", "B", "--help"}, []string{"bench", "compare", "--help", "A", "B"}},
		{"help command", []string{"help", "bench", "compare"}, []string{"bench", "compare", "--help"}},
		{"version", []string{"--version"}, []string{"--version"}},
		{"nothing", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := normalizeArgs(NewApp(io.Discard, io.Discard), append([]string{"ut360"}, tc.in...))
			if err != nil {
				t.Fatal(err)
			}
			if want := append([]string{"ut360"}, tc.want...); !slices.Equal(got, want) {
				t.Errorf("got  %q\nwant %q", got, want)
			}
		})
	}
}

// TestFlagsWhereTyped runs real command lines with flags after the command
// and after positionals, and checks each flag took effect.
func TestFlagsWhereTyped(t *testing.T) {
	const secret = "s3cr3t-PW"
	closedPG := "postgres://ut360:" + secret + "@127.0.0.1:1/ut360?sslmode=disable&connect_timeout=2"
	dir := t.TempDir()
	prof := filepath.Join(dir, "cpu.pprof")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string // substring, when set
		stderr string // substring of the one error line, when set
	}{
		{"--pg after load", []string{"load", "--data", dir, "--pg", closedPG}, exitcode.Fault, "", "127.0.0.1:1"},
		{"--pg after migrate up", []string{"migrate", "up", "--pg", closedPG}, exitcode.Fault, "", "127.0.0.1:1"},
		{"--pg and -q after verify", []string{"verify", "-q", "--pg", closedPG}, exitcode.Fault, "", "127.0.0.1:1"},
		{"--namespace and --pg after bench", []string{"bench", "--namespace", "x", "--pg", closedPG, "--target", "postgres", "--all"}, exitcode.Fault, "", "127.0.0.1:1"},
		{"--redis after capacity", []string{"capacity", "--redis", "redis://:" + secret + "@127.0.0.1:1/0", "--pg", closedPG}, exitcode.Fault, "", "127.0.0.1:1"},
		{"--quiet, --verbose and --cpuprofile after gen's flags", []string{"gen", "--subscribers", "20", "--out", filepath.Join(dir, "g"), "--quiet", "--verbose", "--cpuprofile", prof},
			exitcode.OK, "wrote 20 subscribers", ""},
		{"compare's flag after its positionals", []string{"bench", "compare", filepath.Join(dir, "nope1"), filepath.Join(dir, "nope2"), "--max-regression", "lots"},
			exitcode.Usage, "", "--max-regression"},
		{"mistyped command", []string{"lod"}, exitcode.Usage, "", `unknown command "lod"; did you mean "load"?`},
		{"mistyped command with flags", []string{"--quiet", "verfy", "--pg", closedPG}, exitcode.Usage, "", `did you mean "verify"?`},
		{"mistyped subcommand", []string{"migrate", "upp"}, exitcode.Usage, "", `unknown command "migrate upp"; did you mean "migrate up"?`},
		{"no command like it", []string{"frobnicate"}, exitcode.Usage, "", "commands: gen, migrate, load"},
		{"mistyped subcommand of a command that takes files", []string{"bench", "compre", "A", "B"}, exitcode.Usage, "",
			`unknown command "bench compre"; did you mean "bench compare"?`},
		{"help command", []string{"help", "migrate", "up"}, exitcode.OK, "ut360 migrate up", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runUT(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout, stderr)
			}
			if !strings.Contains(stdout, tc.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.stdout, stdout)
			}
			if tc.stderr != "" {
				oneErrLine(t, stderr, tc.stderr)
			}
			if strings.Contains(stderr, secret) {
				t.Errorf("stderr shows the password: %s", stderr)
			}
		})
	}
	if st, err := os.Stat(prof); err != nil || st.Size() == 0 {
		t.Errorf("--cpuprofile after the command wrote no profile: %v", err)
	}
}
