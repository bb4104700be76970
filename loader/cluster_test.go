package loader

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/redisconn"
	"github.com/ut360/ut360/internal/testenv"
)

// clusterStores is a private PostgreSQL schema and a namespace on the test
// Redis Cluster (`make cluster`).
type clusterStores struct {
	pool *pgxpool.Pool
	cc   *redis.ClusterClient
	keys dataset.Keys
}

func newClusterStores(t *testing.T, cc *redis.ClusterClient) *clusterStores {
	t.Helper()
	pg := testenv.NewPG(t)
	pool, err := pgxpool.New(context.Background(), pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return &clusterStores{pool: pool, cc: cc, keys: dataset.NewKeys(testenv.ClusterNamespace(t, cc))}
}

func (s *clusterStores) load(t *testing.T, dir string) *Summary {
	t.Helper()
	sum, err := Load(context.Background(), s.pool, s.cc, Options{Data: dir, Postgres: true, Redis: true, Keys: s.keys, RejectsPath: "-"})
	if err != nil {
		t.Fatalf("load into the cluster: %v", err)
	}
	return sum
}

// keysOnCluster counts the namespace's keys per family on every master.
func (s *clusterStores) keysOnCluster(t *testing.T) map[string]int {
	t.Helper()
	var mu sync.Mutex
	n := map[string]int{}
	err := redisconn.ForEachMasterScan(context.Background(), s.cc, s.keys.Pattern(), 1000, func(_ context.Context, _ string, keys []string) error {
		mu.Lock()
		defer mu.Unlock()
		for _, k := range keys {
			rest := strings.TrimPrefix(k, s.keys.Namespace()+":")
			fam, _, _ := strings.Cut(rest, ":")
			n[fam]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLoadOnCluster: day 1 and day 2 (leavers, joiners, changes) into the
// 3-master test cluster. Live names stay as the SPEC fixes them, every
// subscriber's keys are live with their TTL, leavers are gone, meta:stats
// counts the live snapshot and nothing staged is left on any master.
func TestLoadOnCluster(t *testing.T) {
	s := newClusterStores(t, testenv.Cluster(t))
	ctx := context.Background()
	const n = 1200
	day1, day2 := t.TempDir(), t.TempDir()
	for i, dir := range []string{day1, day2} {
		if _, err := dataset.Generate(ctx, dataset.GenOptions{Subscribers: n, Seed: 8, Out: dir, Day: i + 1}); err != nil {
			t.Fatal(err)
		}
	}
	s.load(t, day1)
	sum := s.load(t, day2)
	if sum.Leavers != n/10 {
		t.Errorf("leavers %d, want %d", sum.Leavers, n/10)
	}
	fams := s.keysOnCluster(t)
	if fams["rec"] != n || fams["profile"] != n || fams["stage"] != 0 || fams["meta"] != 1 {
		t.Fatalf("keys per family after day 2: %v (want %d rec and profile, meta:stats only, no staging)", fams, n)
	}
	leaver, joiner := dataset.ISDNFor(8, 0), dataset.ISDNFor(8, n)
	for _, k := range []string{s.keys.Rec(leaver), s.keys.Profile(leaver)} {
		if s.cc.Exists(ctx, k).Val() != 0 {
			t.Errorf("leaver key %s still on the cluster", k)
		}
	}
	if ttl := s.cc.TTL(ctx, s.keys.Rec(joiner)).Val(); ttl <= 0 {
		t.Errorf("joiner's rec hash: TTL %s", ttl)
	}
	var risk int64
	for _, lvl := range dataset.RiskLevels {
		if s.cc.SIsMember(ctx, s.keys.RiskIndex(lvl), leaver).Val() {
			t.Errorf("leaver still in %s", s.keys.RiskIndex(lvl))
		}
		risk += s.cc.SCard(ctx, s.keys.RiskIndex(lvl)).Val()
	}
	st := s.cc.HGetAll(ctx, s.keys.Stats()).Val()
	if risk != n || st[dataset.StatIndexRiskMembers] != strconv.Itoa(n) || st[dataset.StatFingerprint] != sum.Fingerprint {
		t.Errorf("risk members %d, meta:stats %v", risk, st)
	}
}

// killMasterOf kills (SIGKILL) the master that serves key.
func killMasterOf(t *testing.T, cc *redis.ClusterClient, key string) {
	t.Helper()
	m, err := cc.MasterForKey(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(testenv.ClusterNodePID(t, m.Options().Addr), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed the master %s of %s", m.Options().Addr, key)
}

// TestLoadOnClusterFaults: a master killed (kill -9) while the load stages,
// and another while it swaps. Staging: the load either completes after the
// failover with every staged key proved present, or fails with the live
// snapshot intact. Swap: the load fails with the journal kept, and a rerun
// after the failover finishes the swap: every key live, nothing staged.
func TestLoadOnClusterFaults(t *testing.T) {
	cc := testenv.ClusterExclusive(t)
	testenv.RestartClusterAfter(t, cc)
	s := newClusterStores(t, cc)
	ctx := context.Background()
	const n = 1500
	dirs := make([]string, 3)
	for i := range dirs {
		dirs[i] = t.TempDir()
		if _, err := dataset.Generate(ctx, dataset.GenOptions{Subscribers: n, Seed: 9, Out: dirs[i], Day: i + 1}); err != nil {
			t.Fatal(err)
		}
	}
	day1 := s.load(t, dirs[0])
	opts := func(dir string) Options {
		return Options{Data: dir, Postgres: true, Redis: true, Keys: s.keys, RejectsPath: "-"}
	}
	// until retries fn while the cluster fails over (about 3.5 s).
	until := func(t *testing.T, what string, fn func() error) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := fn()
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s after the failover: %v", what, err)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	complete := func(t *testing.T, when, fingerprint string) {
		t.Helper()
		until(t, "read back", func() error {
			fams := s.keysOnCluster(t)
			fp := s.cc.HGet(ctx, s.keys.Stats(), dataset.StatFingerprint).Val()
			if fingerprint == "" { // the generation PostgreSQL holds
				g, err := PGGeneration(ctx, s.pool)
				if err != nil {
					return err
				}
				fingerprint, fp = strconv.FormatInt(g, 10), s.cc.HGet(ctx, s.keys.Stats(), dataset.StatGeneration).Val()
			}
			if fams["rec"] != n || fams["profile"] != n || fams["stage"] != 0 || fp != fingerprint {
				return fmt.Errorf("%s: keys %v, fingerprint %s (want %d each, nothing staged, %s)", when, fams, fp, n, fingerprint)
			}
			return nil
		})
	}

	t.Run("cancelled with the swap planned: nothing staged left", func(t *testing.T) {
		// The drop set and the staged meta:stats sit in different slots.
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		testHook = func(p string) {
			if p == "swap-queued" {
				cancel()
			}
		}
		_, err := Load(cctx, s.pool, s.cc, opts(dirs[1]))
		testHook = nil
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("load cancelled before the PostgreSQL swap: %v", err)
		}
		complete(t, "after the cancelled load", day1.Fingerprint)
		if n := s.cc.Exists(ctx, s.keys.SwapJournal()).Val(); n != 0 {
			t.Fatal("the cancelled load left its swap journal")
		}
	})

	t.Run("slot migrating: swap refused", func(t *testing.T) {
		stable := setMigrating(t, cc, 777)
		_, err := Load(ctx, s.pool, s.cc, opts(dirs[1]))
		stable()
		if err == nil || !strings.Contains(err.Error(), "migrating") || errors.Is(err, ErrBadInput) {
			t.Fatalf("load while slot 777 is migrating: %v (want a refusal naming the migration, exit 3)", err)
		}
		complete(t, "after the refused load", day1.Fingerprint)
	})

	t.Run("master killed while staging", func(t *testing.T) {
		testHook = func(p string) {
			if p == "recs-staged" {
				killMasterOf(t, cc, s.keys.Rec(dataset.ISDNFor(9, n/2)))
			}
		}
		sum, err := Load(ctx, s.pool, s.cc, opts(dirs[1]))
		testHook = nil
		if err != nil {
			t.Logf("load failed (allowed: the live snapshot must be intact): %v", err)
			complete(t, "after the failed load", day1.Fingerprint)
			return
		}
		complete(t, "after the load that rode out the failover", sum.Fingerprint)
	})
	testenv.RestartCluster(t, cc)

	t.Run("master killed while swapping", func(t *testing.T) {
		killed := false
		testHook = func(p string) {
			if p == "swap-units" && !killed {
				killed = true
				killMasterOf(t, cc, s.keys.Rec(dataset.ISDNFor(9, n)))
			}
		}
		sum, err := Load(ctx, s.pool, s.cc, opts(dirs[2]))
		testHook = nil
		if err == nil {
			t.Logf("the swap rode out the failover")
			complete(t, "after the swap", sum.Fingerprint)
			return
		}
		if !errors.Is(err, ErrSwapUnfinished) {
			t.Fatalf("a failed swap is not reported as unfinished: %v", err)
		}
		until(t, "--resume", func() error {
			o := opts("")
			o.Recover = RecoverForward
			_, err := Load(ctx, s.pool, s.cc, o)
			return err
		})
		complete(t, "after --resume", "")
	})
}

// setMigrating starts moving slot to another master as a resharding does
// (MIGRATING on its owner, IMPORTING on the target) and returns the function
// that makes it STABLE again on both (also run at cleanup).
func setMigrating(t *testing.T, cc *redis.ClusterClient, slot uint16) func() {
	t.Helper()
	ctx := context.Background()
	owner, target, ownerID, targetID := testenv.SlotMasters(t, cc, "{"+dataset.SlotTag(slot)+"}")
	if err := target.Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", ownerID).Err(); err != nil {
		t.Fatal(err)
	}
	if err := owner.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", targetID).Err(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stable := func() {
		once.Do(func() {
			for _, n := range []*redis.Client{owner, target} {
				if err := n.Do(context.Background(), "CLUSTER", "SETSLOT", slot, "STABLE").Err(); err != nil {
					t.Errorf("SETSLOT %d STABLE on %s: %v", slot, n.Options().Addr, err)
				}
			}
		})
	}
	t.Cleanup(stable)
	return stable
}
