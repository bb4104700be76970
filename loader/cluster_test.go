package loader

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

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
