package loader

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/testenv"
)

// stores is a private PostgreSQL schema and Redis namespace for one test,
// with clients named so that the test can kill exactly their connections.
type stores struct {
	pg   *testenv.PG
	pool *pgxpool.Pool
	rdb  *redis.Client
	keys dataset.Keys
	name string
}

func newStores(t testing.TB) *stores {
	t.Helper()
	pg := testenv.NewPG(t) // not migrated: Load applies the migrations
	rd := testenv.NewRedis(t)
	name := "loadertest-" + testenv.ID()
	cfg, err := pgxpool.ParseConfig(pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = name
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	opt, _ := redis.ParseURL(rd.URL)
	opt.ClientName = name
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	return &stores{pg: pg, pool: pool, rdb: rdb, keys: dataset.NewKeys(rd.Namespace), name: name}
}

func (s *stores) opts(dir string) Options {
	return Options{Data: dir, Postgres: true, Redis: true, Keys: s.keys, RejectsPath: filepath.Join(dir, "rejects.jsonl")}
}

func (s *stores) load(t testing.TB, o Options) *Summary {
	t.Helper()
	sum, err := Load(context.Background(), s.pool, s.rdb, o)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return sum
}

// snapshot is what a reader can observe cheaply: row counts, index
// cardinalities and the meta:stats fingerprint.
type snapshot struct {
	recs, profiles, monthly int64
	service, risk, cluster  int64
	fingerprint             string
	low                     int64 // members of idx:risk:LOW
	swapping                bool  // the swap journal said a swap was changing live keys
}

func (s *stores) snapshot(t testing.TB) snapshot {
	t.Helper()
	ctx := context.Background()
	var sn snapshot
	err := s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM recommendations), (SELECT count(*) FROM subscriber_360_profiles),
		(SELECT count(*) FROM subscriber_monthly_arpu)`).Scan(&sn.recs, &sn.profiles, &sn.monthly)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	rs := s.redisSnapshot(t)
	sn.service, sn.risk, sn.cluster, sn.fingerprint, sn.low = rs.service, rs.risk, rs.cluster, rs.fingerprint, rs.low
	return sn
}

// redisSnapshot reads every index cardinality and the fingerprint in one
// MULTI, so it sees one point in time.
func (s *stores) redisSnapshot(t testing.TB) snapshot {
	t.Helper()
	ctx := context.Background()
	var sn snapshot
	var cards []*redis.IntCmd
	var fams []*int64
	var fp, state *redis.StringCmd
	var low *redis.IntCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, v := range dataset.ServiceTypes {
			cards, fams = append(cards, p.ZCard(ctx, s.keys.ServiceIndex(v))), append(fams, &sn.service)
		}
		for _, v := range dataset.RiskLevels {
			cards, fams = append(cards, p.SCard(ctx, s.keys.RiskIndex(v))), append(fams, &sn.risk)
		}
		for g := range dataset.ClusterLabels {
			cards, fams = append(cards, p.SCard(ctx, s.keys.ClusterIndex(int32(g)))), append(fams, &sn.cluster)
		}
		fp = p.HGet(ctx, s.keys.Stats(), dataset.StatFingerprint)
		low = p.SCard(ctx, s.keys.RiskIndex("LOW"))
		state = p.HGet(ctx, s.keys.SwapJournal(), jState)
		return nil
	})
	if err != nil && err != redis.Nil {
		t.Fatalf("redis snapshot: %v", err)
	}
	for i, c := range cards {
		*fams[i] += c.Val()
	}
	sn.fingerprint, sn.low, sn.swapping = fp.Val(), low.Val(), state.Val() == swapSwapping
	return sn
}

// gen writes a dataset of n subscribers to a new folder.
func gen(t testing.TB, n int, seed uint64) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := dataset.Generate(context.Background(), dataset.GenOptions{Subscribers: n, Seed: seed, Out: dir}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// subs generates subscribers lo..hi-1 of a seed (for hand-made datasets).
func subs(seed uint64, lo, hi int) []dataset.Subscriber {
	out := make([]dataset.Subscriber, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, dataset.GenSubscriber(seed, i, dataset.DefaultMonths))
	}
	return out
}

// writeFiles writes subscribers to the three files of dir (in their order).
func writeFiles(t testing.TB, dir string, ss []dataset.Subscriber) {
	t.Helper()
	var recs []dataset.Recommendation
	var profs []dataset.Profile
	var mons []dataset.Monthly
	for _, s := range ss {
		recs = append(recs, s.Rec)
		profs = append(profs, s.Profile)
		mons = append(mons, s.Monthly...)
	}
	writeKind(t, &dataset.Recommendations, filepath.Join(dir, dataset.RecommendationsFile), dataset.CSV, recs)
	writeKind(t, &dataset.Profiles, filepath.Join(dir, dataset.ProfilesFile), dataset.Parquet, profs)
	writeKind(t, &dataset.Monthlies, filepath.Join(dir, dataset.MonthlyFile), dataset.Parquet, mons)
}

func writeKind[T any](t testing.TB, k *dataset.Kind[T], path string, f dataset.Format, rows []T) {
	t.Helper()
	w, err := dataset.Create(k, path, f)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		if err := w.Write(&rows[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

// readAll reads every row of a file (failing on any fault).
func readAll[T any](t testing.TB, k *dataset.Kind[T], path string) []T {
	t.Helper()
	r, err := dataset.Open(context.Background(), k, path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []T
	for {
		v, _, err := r.Next()
		if err != nil {
			if err.Error() == "EOF" {
				return out
			}
			t.Fatalf("read %s: %v", path, err)
		}
		out = append(out, v)
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// stageLeft reports staging leftovers in either store.
func (s *stores) stageLeft(t testing.TB, isdns ...string) []string {
	t.Helper()
	ctx := context.Background()
	var left []string
	var n int
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM pg_namespace WHERE nspname = $1", s.pg.Schema+stageSuffix).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		left = append(left, s.pg.Schema+stageSuffix)
	}
	// Staging keys of the given subscribers and of every index value, and
	// the marker (a SCAN of a shared server would take too long).
	k := s.keys
	cand := []string{k.StagePrefix() + "active", k.SwapJournal(), k.Stage(k.Stats()), k.Stage(k.Namespace() + ":meta:drop")}
	for _, isdn := range isdns {
		cand = append(cand, k.Stage(k.Rec(isdn)), k.Stage(k.Profile(isdn)))
	}
	for _, v := range dataset.ServiceTypes {
		cand = append(cand, k.Stage(k.ServiceIndex(v)))
	}
	for _, v := range dataset.RiskLevels {
		cand = append(cand, k.Stage(k.RiskIndex(v)))
	}
	for g := range dataset.ClusterLabels {
		cand = append(cand, k.Stage(k.ClusterIndex(int32(g))))
	}
	var keys []string
	for _, k := range cand {
		if s.rdb.Exists(ctx, k).Val() > 0 {
			keys = append(keys, k)
		}
	}
	lock, _ := s.rdb.Exists(ctx, s.keys.Namespace()+":meta:load_lock").Result()
	if lock > 0 {
		keys = append(keys, "load_lock")
	}
	slices.Sort(keys)
	return append(left, keys...)
}

// probeISDNs are subscribers of every fixture (seeds 1-9, index 0-1) whose
// staging keys stageLeft looks for.
var probeISDNs = func() []string {
	var out []string
	for seed := uint64(1); seed <= 9; seed++ {
		out = append(out, dataset.ISDNFor(seed, 0), dataset.ISDNFor(seed, 1))
	}
	return out
}()
