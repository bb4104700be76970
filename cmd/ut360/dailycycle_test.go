package main

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/exitcode"
	"github.com/ut360/ut360/internal/testenv"
)

// TestDailyCycle is the morning after the nightly sync, as a platform
// engineer runs it: day 1 loaded and verified; day 2 (10% left, 10% joined,
// 10% changed amounts) loaded and verified; Redis refreshed from PostgreSQL
// and verified. Every verify is clean, a leaver is gone from every key and
// index, and meta:stats counts the live snapshot.
func TestDailyCycle(t *testing.T) {
	pg, rd := testenv.NewPG(t), testenv.NewRedis(t)
	ut := func(args ...string) (int, string, string) {
		return runUT(t, append([]string{"--quiet", "--pg", pg.URL, "--redis", rd.URL, "--namespace", rd.Namespace}, args...)...)
	}
	const n = 2000
	day1, day2 := t.TempDir(), t.TempDir()
	for i, dir := range []string{day1, day2} {
		if _, err := dataset.Generate(context.Background(), dataset.GenOptions{Subscribers: n, Seed: 5, Out: dir, Day: i + 1}); err != nil {
			t.Fatal(err)
		}
	}
	mustOK := func(what string, args ...string) string {
		t.Helper()
		code, out, errb := ut(args...)
		if code != exitcode.OK {
			t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", what, code, out, errb)
		}
		return out
	}
	mustOK("day 1 load", "load", "--data", day1)
	mustOK("day 1 verify", "verify", "--source", day1)
	mustOK("day 2 load", "load", "--data", day2)
	mustOK("day 2 verify", "verify", "--source", day2)

	opt, _ := redis.ParseURL(rd.URL)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx := context.Background()
	keys := dataset.NewKeys(rd.Namespace)
	leaver := dataset.ISDNFor(5, 0)     // day 1's first subscriber left on day 2
	joiner := dataset.ISDNFor(5, n)     // the first of day 2's new ones
	changed := dataset.ISDNFor(5, n/10) // the first staying one: amount changed
	checkLeaver := func(when string) {
		t.Helper()
		for _, k := range []string{keys.Rec(leaver), keys.Profile(leaver)} {
			if h := rdb.HGetAll(ctx, k).Val(); len(h) != 0 {
				t.Errorf("%s: leaver's %s still served: %v", when, k, h)
			}
		}
		for _, lvl := range dataset.RiskLevels {
			if rdb.SIsMember(ctx, keys.RiskIndex(lvl), leaver).Val() {
				t.Errorf("%s: leaver still in %s", when, keys.RiskIndex(lvl))
			}
		}
		for _, svc := range dataset.ServiceTypes {
			if err := rdb.ZScore(ctx, keys.ServiceIndex(svc), leaver).Err(); err != redis.Nil {
				t.Errorf("%s: leaver still in %s (%v)", when, keys.ServiceIndex(svc), err)
			}
		}
		for g := range dataset.ClusterLabels {
			if rdb.SIsMember(ctx, keys.ClusterIndex(int32(g)), leaver).Val() {
				t.Errorf("%s: leaver still in %s", when, keys.ClusterIndex(int32(g)))
			}
		}
		if rdb.Exists(ctx, keys.Rec(joiner)).Val() != 1 {
			t.Errorf("%s: joiner %s missing", when, joiner)
		}
		if ttl := rdb.TTL(ctx, keys.Rec(joiner)).Val(); ttl <= 0 {
			t.Errorf("%s: live rec hash without TTL (%s)", when, ttl)
		}
		want := dataset.GenSubscriber(5, n/10, dataset.DefaultMonths).Rec.AdvanceAmount
		if got := rdb.HGet(ctx, keys.Rec(changed), "advance_amount").Val(); got == strconv.FormatInt(want, 10) || got == "" {
			t.Errorf("%s: changed subscriber still has day 1's amount %s", when, got)
		}
		st := rdb.HGetAll(ctx, keys.Stats()).Val()
		if st[dataset.StatRecKeys] != "2000" || st[dataset.StatSubscribers] != "2000" || st[dataset.StatGeneration] == "" {
			t.Errorf("%s: meta:stats does not count the live snapshot: %v", when, st)
		}
		if rdb.Exists(ctx, keys.SwapJournal()).Val() != 0 {
			t.Errorf("%s: swap journal left behind", when)
		}
	}
	checkLeaver("day 2")

	mustOK("refresh from PostgreSQL", "load", "--to", "redis", "--from", "postgres")
	mustOK("verify after the refresh", "verify", "--source", day2)
	checkLeaver("refresh")

	// Day 1's files are not what the stores hold: --source must say so.
	if code, out, _ := ut("verify", "--source", filepath.Clean(day1)); code != exitcode.CheckFailed {
		t.Errorf("verify against day 1's files after day 2: exit %d, want %d (drift)\n%s", code, exitcode.CheckFailed, out)
	}
}
