package main

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/ut360/ut360/internal/exitcode"
)

func TestExitCodeOf(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	fault := exitcode.Wrap(exitcode.Fault, errors.New("store went away"))
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want int
	}{
		{"wrapped code", context.Background(), exitcode.Wrap(exitcode.CheckFailed, errors.New("mismatch")), exitcode.CheckFailed},
		{"plain error is a fault", context.Background(), errors.New("io"), exitcode.Fault},
		{"cli usage error", context.Background(), errors.New("flag provided but not defined: -x"), exitcode.Usage},
		{"Ctrl-C wins over a wrapped fault", cancelled, fault, exitcode.Interrupted},
		{"context.Canceled", context.Background(), context.Canceled, exitcode.Interrupted},
	} {
		if got := exitCodeOf(tc.ctx, tc.err); got != tc.want {
			t.Errorf("%s: exit %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestCtrlCIs130 runs a real subcommand with a cancelled context.
func TestCtrlCIs130(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if code := run(ctx, []string{"ut360", "gen", "--subscribers", "5000", "--out", t.TempDir()}, io.Discard, io.Discard); code != exitcode.Interrupted {
		t.Errorf("exit %d, want 130", code)
	}
}
