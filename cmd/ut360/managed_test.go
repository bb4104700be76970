package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/exitcode"
	"github.com/ut360/ut360/internal/testenv"
)

// TestManagedRedis runs every subcommand that talks to Redis against a
// private redis-server with CONFIG disabled, as managed services (ElastiCache,
// MemoryDB, Azure Cache) have it: load goes on with one warning naming the
// cost and the server setting; verify, bench, capacity and demo work.
func TestManagedRedis(t *testing.T) {
	addr := testenv.StartRedis(t, "--rename-command", "CONFIG", "")
	redisURL := "redis://" + addr + "/0"
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	ctx := context.Background()
	if err := rdb.ConfigGet(ctx, "hash-max-listpack-value").Err(); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("CONFIG is not disabled: %v", err)
	}
	pg := testenv.NewPG(t)
	data := t.TempDir()
	if _, err := dataset.Generate(ctx, dataset.GenOptions{Subscribers: 300, Out: data}); err != nil {
		t.Fatal(err)
	}
	g := []string{"--pg", pg.URL, "--redis", redisURL, "--quiet"}
	ut := func(args ...string) (int, string, string) {
		return runUT(t, append(append([]string{}, g...), args...)...)
	}

	code, out, errs := ut("load", "--data", data)
	if code != exitcode.OK || !strings.Contains(out, "300 recommendations") {
		t.Fatalf("load: exit %d\n%s\n%s", code, out, errs)
	}
	if n := strings.Count(errs, "level=WARN"); n != 1 {
		t.Errorf("load printed %d warnings, want 1:\n%s", n, errs)
	}
	for _, want := range []string{"refused CONFIG GET", "the load goes on", "577 more bytes of Redis memory per subscriber",
		"set hash-max-listpack-value 4096 on the server", "--tune-redis=false"} {
		if !strings.Contains(errs, want) {
			t.Errorf("the warning lacks %q:\n%s", want, errs)
		}
	}
	if keys, _ := rdb.Keys(ctx, "ut360-tune-probe:*").Result(); len(keys) != 0 {
		t.Errorf("the probe key was left behind: %v", keys)
	}
	// --tune-redis=false: no CONFIG, no warning.
	if code, _, errs := ut("load", "--data", data, "--tune-redis=false"); code != exitcode.OK || strings.Contains(errs, "WARN") {
		t.Errorf("load --tune-redis=false: exit %d\n%s", code, errs)
	}
	if code, out, errs := ut("verify", "--source", data); code != exitcode.OK || !strings.Contains(out, "CLEAN") {
		t.Errorf("verify: exit %d\n%s\n%s", code, out, errs)
	}
	// A short bench of the Redis scenarios: it must run and report (exit 0, or
	// 1 if a threshold is missed on a busy machine), never fault.
	if code, out, errs := ut("bench", "--all", "--target", "redis", "--duration", "200ms", "--warmup", "0s",
		"--out", t.TempDir()); code != exitcode.OK && code != exitcode.CheckFailed {
		t.Errorf("bench: exit %d\n%s\n%s", code, out, errs)
	}
	report := t.TempDir()
	if code, out, errs := ut("capacity", "--report", report, "--sample", "100"); code != exitcode.OK {
		t.Errorf("capacity: exit %d\n%s\n%s", code, out, errs)
	}
	if code, out, errs := ut("demo", "--subscribers", "300", "--data", filepath.Join(t.TempDir(), "d"), "--out", t.TempDir(), "--skip-bench"); code != exitcode.OK {
		t.Errorf("demo: exit %d\n%s\n%s", code, out, errs)
	}
}
