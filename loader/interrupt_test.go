package loader

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/testenv"
)

// killPG terminates every backend of the loader's pool (by application_name).
func (s *stores) killPG(t *testing.T) {
	ctx := context.Background()
	c, err := s.pg.Pool.Acquire(ctx) // the testenv pool is not the loader's
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	var n int
	if err := c.QueryRow(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", s.name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no loader connection to kill")
	}
}

// killRedis closes every connection of the loader's client (by client name).
func (s *stores) killRedis(t *testing.T) {
	killed, err := testenv.KillClients(context.Background(), s.rdb, s.name)
	if err != nil {
		t.Fatal(err)
	}
	if killed == 0 {
		t.Fatal("no loader connection to kill")
	}
}

// unlink removes keys, as an eviction or an operator would.
func (s *stores) unlink(t *testing.T, keys ...string) {
	if n, err := s.rdb.Unlink(context.Background(), keys...).Result(); err != nil || n != int64(len(keys)) {
		t.Fatalf("unlink %v: %d removed, %v", keys, n, err)
	}
}

// unlinkStaging removes every staging key of the test's namespace.
func (s *stores) unlinkStaging(t *testing.T) {
	ctx := context.Background()
	keys, err := s.rdb.Keys(ctx, s.keys.StagePattern()).Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("staging keys: %d, %v", len(keys), err)
	}
	s.unlink(t, keys...)
}

// stealLock replaces the loader's Redis load lock, as another load would
// after it expired.
func (s *stores) stealLock(t *testing.T) {
	if err := s.rdb.Set(context.Background(), s.keys.Namespace()+":meta:load_lock", "another load", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
}

// returnLock ends the other load of stealLock.
func (s *stores) returnLock(t *testing.T) {
	key := s.keys.Namespace() + ":meta:load_lock"
	if v, _ := s.rdb.Get(context.Background(), key).Result(); v == "another load" {
		s.rdb.Del(context.Background(), key)
	}
}

// TestInterrupted: a load stopped mid-way (context cancelled, PostgreSQL or
// Redis connections killed) leaves the previous snapshot intact and no
// staging behind, and a rerun completes.
func TestInterrupted(t *testing.T) {
	s := newStores(t)
	s.load(t, s.opts(gen(t, 500, 1)))
	before := s.snapshot(t)
	next := gen(t, 700, 2)
	cases := []struct {
		name, point string
		act         func(cancel context.CancelFunc)
	}{
		{"cancel after recommendations", "recs-staged", func(c context.CancelFunc) { c() }},
		{"cancel before index build", "staged", func(c context.CancelFunc) { c() }},
		{"cancel with the swap queued", "swap-queued", func(c context.CancelFunc) { c() }},
		{"postgres killed while copying", "recs-staged", func(context.CancelFunc) { s.killPG(t) }},
		{"postgres killed before the swap", "built", func(context.CancelFunc) { s.killPG(t) }},
		// Staged keys gone before the swap (evicted, expired, deleted): the
		// completeness proof refuses the swap.
		{"staged rec hash removed", "built", func(context.CancelFunc) { s.unlink(t, s.keys.Stage(s.keys.Rec(dataset.ISDNFor(2, 0)))) }},
		{"staged index key removed", "built", func(context.CancelFunc) { s.unlink(t, s.keys.Stage(s.keys.RiskIndex("LOW"))) }},
		{"whole staging area removed", "built", func(context.CancelFunc) { s.unlinkStaging(t) }},
		{"swap journal removed before the commit", "swap-queued", func(context.CancelFunc) { s.unlink(t, s.keys.SwapJournal()) }},
		// The lock expired during a stall and another load took it.
		{"redis load lock lost", "built", func(context.CancelFunc) { s.stealLock(t) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			testHook = func(p string) {
				if p == tc.point {
					tc.act(cancel)
				}
			}
			defer func() { testHook = nil }()
			_, err := Load(ctx, s.pool, s.rdb, s.opts(next))
			testHook = nil
			s.returnLock(t)
			if err == nil {
				t.Fatal("interrupted load succeeded")
			}
			if errors.Is(err, ErrBadInput) {
				t.Fatalf("interruption reported as bad input: %v", err)
			}
			if got := s.snapshot(t); got != before {
				t.Fatalf("previous snapshot not intact: %+v, was %+v (err %v)", got, before, err)
			}
			if left := s.stageLeft(t, probeISDNs...); len(left) > 0 {
				t.Fatalf("staging left behind: %v", left)
			}
		})
	}
	t.Run("rerun", func(t *testing.T) {
		sum := s.load(t, s.opts(next))
		if got := s.snapshot(t); got.recs != 700 || got.fingerprint != sum.Fingerprint {
			t.Fatalf("rerun: %+v", got)
		}
	})
	t.Run("redis connections killed with the swap planned", func(t *testing.T) {
		// go-redis reconnects; the swap scripts are idempotent: the load completes.
		testHook = func(p string) {
			if p == "swap-queued" {
				s.killRedis(t)
			}
		}
		defer func() { testHook = nil }()
		sum := s.load(t, s.opts(gen(t, 450, 4)))
		if got := s.snapshot(t); got.recs != 450 || got.risk != 450 || got.fingerprint != sum.Fingerprint {
			t.Fatalf("after killed connections: %+v", got)
		}
	})
	t.Run("redis killed while staging is retried", func(t *testing.T) {
		testHook = func(p string) {
			if p == "recs-staged" {
				s.killRedis(t)
			}
		}
		defer func() { testHook = nil }()
		sum := s.load(t, s.opts(gen(t, 400, 3)))
		if got := s.snapshot(t); got.recs != 400 || got.service != 400 || got.fingerprint != sum.Fingerprint {
			t.Fatalf("after a retried staging write: %+v", got)
		}
	})
}

// TestCrashBetweenStores: the loader dies after PostgreSQL committed and
// before the Redis swap began (a panic stands for the crash). The journal
// (state staged) and PostgreSQL's generation tell the next run to roll Redis
// forward; --rollback refuses to leave the stores on different generations
// silently, and a journal of a load whose PostgreSQL swap never happened is
// rolled back.
func TestCrashBetweenStores(t *testing.T) {
	s := newStores(t)
	s.load(t, s.opts(gen(t, 300, 1)))
	crash := func(point string, dir string) {
		t.Helper()
		testHook = func(p string) {
			if p == point {
				panic("crash at " + p)
			}
		}
		defer func() {
			testHook = nil
			if recover() == nil {
				t.Fatalf("no crash at %s", point)
			}
			s.rdb.Del(context.Background(), s.keys.LoadLock())
		}()
		Load(context.Background(), s.pool, s.rdb, s.opts(dir))
	}
	next := gen(t, 350, 2)
	crash("pg-swapped", next)
	if st := s.rdb.HGet(context.Background(), s.keys.SwapJournal(), jState).Val(); st != swapStaged {
		t.Fatalf("journal state %q after a crash between the stores, want %q", st, swapStaged)
	}
	o := s.opts(next)
	o.Recover = RecoverForward
	sum, err := Load(context.Background(), s.pool, s.rdb, o)
	if err != nil || !strings.Contains(sum.Recovered, "finished") {
		t.Fatalf("--resume: %v, %+v", err, sum)
	}
	if got := s.snapshot(t); got.recs != 350 || got.risk != 350 {
		t.Fatalf("after --resume: %+v", got)
	}
	if left := s.stageLeft(t, probeISDNs...); len(left) > 0 {
		t.Fatalf("staging left behind: %v", left)
	}

	// A journal whose PostgreSQL swap never happened (a load killed right
	// before PostgreSQL's commit): rolled back.
	before := s.snapshot(t)
	ctx := context.Background()
	stale := s.keys.Stage(s.keys.Rec(dataset.ISDNFor(3, 0)))
	s.rdb.HSet(ctx, stale, "isdn", dataset.ISDNFor(3, 0))
	s.rdb.Set(ctx, s.keys.StagePrefix()+"active", "x", 0)
	s.rdb.HSet(ctx, s.keys.SwapJournal(), jState, swapStaged, jGeneration, "1", jPostgres, "1")
	sum = s.load(t, s.opts(gen(t, 330, 4)))
	if !strings.Contains(sum.Recovered, "discarded") {
		t.Fatalf("recovery of an unapplied journal: %q", sum.Recovered)
	}
	if got := s.snapshot(t); got.recs != 330 || got.risk != 330 || got == before {
		t.Fatalf("after the next load: %+v", got)
	}
	if left := s.stageLeft(t, probeISDNs...); len(left) > 0 {
		t.Fatalf("staging of the discarded journal left behind: %v", left)
	}
}

// TestStaleJournalNeverApplied: a journal older than the live generation
// (state swapping, so it would otherwise only roll forward) is discarded by
// --resume, never applied: its staged keys do not replace the live ones and
// the live meta:stats keeps the newer generation.
func TestStaleJournalNeverApplied(t *testing.T) {
	s := newStores(t)
	s.load(t, s.opts(gen(t, 300, 1)))
	ctx := context.Background()
	before := s.snapshot(t)
	liveGen, err := s.rdb.HGet(ctx, s.keys.Stats(), dataset.StatGeneration).Int64()
	if err != nil {
		t.Fatal(err)
	}
	isdn := dataset.ISDNFor(1, 0) // a live subscriber (seed 1)
	staleGen := strconv.FormatInt(liveGen-1, 10)
	s.rdb.HSet(ctx, s.keys.Stage(s.keys.Rec(isdn)), "isdn", isdn, "stale_field", "x")
	s.rdb.HSet(ctx, s.keys.Stage(s.keys.Stats()), dataset.StatFingerprint, "stale", dataset.StatGeneration, staleGen)
	s.rdb.Set(ctx, s.keys.StagePrefix()+"active", "x", 0)
	s.rdb.HSet(ctx, s.keys.SwapJournal(), jState, swapSwapping, jGeneration, staleGen, jPostgres, "1")

	o := s.opts("")
	o.Recover = RecoverForward
	sum, err := Load(ctx, s.pool, s.rdb, o)
	if err != nil || !strings.Contains(sum.Recovered, "discarded") {
		t.Fatalf("--resume of a stale journal: %v, %+v (want it discarded)", err, sum)
	}
	if s.rdb.HExists(ctx, s.keys.Rec(isdn), "stale_field").Val() {
		t.Fatalf("the stale generation's rec hash of %s replaced the live one", isdn)
	}
	if g := s.rdb.HGet(ctx, s.keys.Stats(), dataset.StatGeneration).Val(); g != strconv.FormatInt(liveGen, 10) {
		t.Fatalf("live generation %s after the stale journal, want %d", g, liveGen)
	}
	if got := s.snapshot(t); got != before {
		t.Fatalf("live snapshot changed: %+v, was %+v", got, before)
	}
	if left := s.stageLeft(t, isdn); len(left) > 0 {
		t.Fatalf("the stale journal's staging left behind: %v", left)
	}
}
