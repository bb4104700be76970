package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/exitcode"
	"github.com/ut360/ut360/internal/testenv"
)

// childArgs, when set, makes the test binary run ut360 with these
// arguments (separated by the unit separator 0x1F) instead of the tests:
// a real process the parent test can kill -9.
const childArgs = "UT360_TEST_CHILD_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(childArgs); args != "" {
		os.Exit(run(context.Background(), append([]string{"ut360"}, strings.Split(args, "\x1f")...), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestKilledMidSwap kills the loader (SIGKILL: no cleanup code runs) while
// its Redis swap is changing live keys. verify then reports the unfinished
// swap; the next load finishes it first (or --resume does) and verify is
// clean. The swap is slowed with --redis-rate so the kill lands inside it.
func TestKilledMidSwap(t *testing.T) {
	for _, recover := range []string{"next load", "--resume"} {
		t.Run(recover, func(t *testing.T) {
			pg, rd := testenv.NewPG(t), testenv.NewRedis(t)
			global := []string{"--quiet", "--pg", pg.URL, "--redis", rd.URL, "--namespace", rd.Namespace}
			ut := func(args ...string) (int, string, string) { return runUT(t, append(global, args...)...) }
			day1, day2 := t.TempDir(), t.TempDir()
			for i, dir := range []string{day1, day2} {
				if _, err := dataset.Generate(context.Background(), dataset.GenOptions{Subscribers: 1500, Seed: 7, Out: dir, Day: i + 1}); err != nil {
					t.Fatal(err)
				}
			}
			if code, _, errb := ut("load", "--data", day1); code != exitcode.OK {
				t.Fatalf("day 1: exit %d: %s", code, errb)
			}

			child := exec.Command(os.Args[0])
			child.Env = append(os.Environ(), childArgs+"="+strings.Join(append(global, "load", "--data", day2, "--redis-rate", "1500"), "\x1f"))
			if err := child.Start(); err != nil {
				t.Fatal(err)
			}
			opt, _ := redis.ParseURL(rd.URL)
			rdb := redis.NewClient(opt)
			defer rdb.Close()
			keys := dataset.NewKeys(rd.Namespace)
			ctx := context.Background()
			deadline := time.Now().Add(60 * time.Second)
			for rdb.HGet(ctx, keys.SwapJournal(), "state").Val() != "swapping" {
				if time.Now().After(deadline) {
					child.Process.Kill()
					t.Fatal("the child load never reached its swap")
				}
				time.Sleep(2 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond) // some subscribers swapped, not all
			if err := child.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			child.Wait()
			if rdb.Exists(ctx, keys.SwapJournal()).Val() != 1 {
				t.Fatal("the kill landed after the swap had finished: slow it down further")
			}
			rdb.Del(ctx, keys.LoadLock()) // the dead loader's lock would only expire after 30 s

			code, out, _ := ut("verify")
			if code != exitcode.CheckFailed || !strings.Contains(out, "unfinished_swap") {
				t.Fatalf("verify during an unfinished swap: exit %d, want %d with unfinished_swap:\n%s", code, exitcode.CheckFailed, out)
			}
			if recover == "--resume" {
				if code, out, errb := ut("load", "--resume"); code != exitcode.OK || !strings.Contains(out, "finished") {
					t.Fatalf("load --resume: exit %d\n%s%s", code, out, errb)
				}
			} else if code, out, errb := ut("load", "--data", day2); code != exitcode.OK || !strings.Contains(out, "recovered") {
				t.Fatalf("next load: exit %d\n%s%s", code, out, errb)
			}
			if code, out, errb := ut("verify", "--source", day2); code != exitcode.OK {
				t.Fatalf("verify after recovery: exit %d\n%s%s", code, out, errb)
			}
		})
	}
}
