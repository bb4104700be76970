package loader

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/dataset"
)

// TestAtomicRefresh: a reader polling PostgreSQL during a refresh only ever
// sees the old or the new snapshot; a Redis reader that reads the swap
// journal with its reads (one MULTI) sees the old or the new snapshot
// whenever no swap is in progress, and each index key whole old or whole new
// while one is (the mixed window).
func TestAtomicRefresh(t *testing.T) {
	s := newStores(t)
	a, b := gen(t, 1000, 1), gen(t, 600, 9)
	s.load(t, s.opts(a))
	snapA := s.snapshot(t)
	var pgSeen, rdSeen sync.Map
	var polls atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bad atomic.Value
	poll := func(fn func() (any, error), seen *sync.Map) {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			v, err := fn()
			if err != nil {
				bad.Store(err.Error())
				return
			}
			seen.Store(v, true)
			polls.Add(1)
		}
	}
	ctx := context.Background()
	wg.Add(2)
	go poll(func() (any, error) {
		var c [3]int64
		err := s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM recommendations), (SELECT count(*) FROM subscriber_360_profiles),
			(SELECT count(*) FROM subscriber_monthly_arpu)`).Scan(&c[0], &c[1], &c[2])
		return c, err
	}, &pgSeen)
	var mixedSeen, lowSeen sync.Map
	go poll(func() (any, error) {
		sn := s.redisSnapshot(t)
		if sn.swapping {
			mixedSeen.Store(sn.fingerprint, true)
			lowSeen.Store(sn.low, true)
			return [4]any{"mixed window"}, nil
		}
		return [4]any{sn.service, sn.risk, sn.cluster, sn.fingerprint}, nil
	}, &rdSeen)
	time.Sleep(50 * time.Millisecond)
	s.load(t, s.opts(b))
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	if v := bad.Load(); v != nil {
		t.Fatalf("reader failed during the refresh: %v", v)
	}
	snapB := s.snapshot(t)
	pgOK := map[[3]int64]bool{{snapA.recs, snapA.profiles, snapA.monthly}: true, {snapB.recs, snapB.profiles, snapB.monthly}: true}
	rdOK := map[[4]any]bool{{snapA.service, snapA.risk, snapA.cluster, snapA.fingerprint}: true,
		{snapB.service, snapB.risk, snapB.cluster, snapB.fingerprint}: true}
	n := 0
	pgSeen.Range(func(k, _ any) bool {
		n++
		if !pgOK[k.([3]int64)] {
			t.Errorf("PostgreSQL reader saw a mixed snapshot %v (old %+v, new %+v)", k, snapA, snapB)
		}
		return true
	})
	rdOK[[4]any{"mixed window"}] = true
	lowOK := map[int64]bool{snapA.low: true, snapB.low: true}
	lowSeen.Range(func(k, _ any) bool {
		if !lowOK[k.(int64)] {
			t.Errorf("Redis reader saw the LOW risk index with %d members in the mixed window: neither old (%d) nor new", k, snapA.low)
		}
		return true
	})
	mixedSeen.Range(func(k, _ any) bool {
		if k != snapA.fingerprint && k != snapB.fingerprint {
			t.Errorf("Redis reader saw meta:stats fingerprint %v in the mixed window", k)
		}
		return true
	})
	rdSeen.Range(func(k, _ any) bool {
		n++
		if !rdOK[k.([4]any)] {
			t.Errorf("Redis reader saw a mixed snapshot %v (old %+v, new %+v)", k, snapA, snapB)
		}
		return true
	})
	if n < 4 || polls.Load() < 20 {
		t.Fatalf("reader did not see both snapshots (%d states, %d polls)", n, polls.Load())
	}
}

// TestRefreshRemovesVanished: a changed snapshot removes vanished subscribers
// from every index at once, moves changed ones, deletes index keys of values
// that vanished, and leaves no stale field in a hash.
func TestRefreshRemovesVanished(t *testing.T) {
	s := newStores(t)
	ctx := context.Background()
	old := subs(1, 0, 400)
	dirA, dirB := t.TempDir(), t.TempDir()
	writeFiles(t, dirA, old)
	s.load(t, s.opts(dirA))

	kept := subs(1, 0, 300)
	moved := &kept[10].Rec
	oldSvc := moved.ServiceType
	moved.ServiceType = dataset.ServiceTypes[(slicesIndex(dataset.ServiceTypes, oldSvc)+1)%len(dataset.ServiceTypes)]
	kept[10].Profile.ServiceType = moved.ServiceType
	for i := range kept { // cluster 5 disappears from the new snapshot
		if kept[i].Rec.ClusterGroup == 5 {
			kept[i].Rec.ClusterGroup, kept[i].Profile.ClusterGroup, kept[i].Profile.ClusterLabel = 4, 4, dataset.ClusterLabels[4]
		}
	}
	writeFiles(t, dirB, kept)
	// Stale fields planted in live hashes must not survive the refresh.
	s.rdb.HSet(ctx, s.keys.Rec(kept[0].Rec.ISDN), "stale_field", "x")
	s.rdb.HSet(ctx, s.keys.Profile(kept[0].Rec.ISDN), "stale_field", "x")
	if s.rdb.Exists(ctx, s.keys.ClusterIndex(5)).Val() != 1 {
		t.Fatal("fixture: cluster 5 should exist in the old snapshot")
	}
	s.load(t, s.opts(dirB))

	for _, k := range []string{s.keys.Rec(kept[0].Rec.ISDN), s.keys.Profile(kept[0].Rec.ISDN)} {
		if s.rdb.HExists(ctx, k, "stale_field").Val() {
			t.Errorf("stale field survived in %s", k)
		}
	}
	for _, v := range old[300:] {
		isdn := v.Rec.ISDN
		for _, k := range []string{s.keys.RiskIndex(v.Rec.BadDebtRisk), s.keys.ClusterIndex(v.Rec.ClusterGroup)} {
			if s.rdb.SIsMember(ctx, k, isdn).Val() {
				t.Fatalf("vanished %s still in %s", isdn, k)
			}
		}
		if err := s.rdb.ZScore(ctx, s.keys.ServiceIndex(v.Rec.ServiceType), isdn).Err(); !errors.Is(err, redis.Nil) {
			t.Fatalf("vanished %s still in the service index (%v)", isdn, err)
		}
	}
	if s.rdb.ZScore(ctx, s.keys.ServiceIndex(oldSvc), moved.ISDN).Err() == nil ||
		s.rdb.ZScore(ctx, s.keys.ServiceIndex(moved.ServiceType), moved.ISDN).Val() != moved.PriorityScore {
		t.Error("a subscriber whose service changed did not move between service indexes")
	}
	if s.rdb.Exists(ctx, s.keys.ClusterIndex(5)).Val() != 0 {
		t.Error("index key of a vanished cluster survived")
	}
	if sn := s.snapshot(t); sn.recs != 300 || sn.service != 300 || sn.risk != 300 || sn.cluster != 300 {
		t.Errorf("after refresh %+v, want 300 everywhere", sn)
	}
}

func slicesIndex(l []string, v string) int {
	for i, x := range l {
		if x == v {
			return i
		}
	}
	return -1
}

// TestFromPostgresSameAsFiles: --to redis --from postgres writes exactly the
// keys and values of a load from files.
func TestFromPostgresSameAsFiles(t *testing.T) {
	s := newStores(t)
	other := newStores(t)
	dir := extremeDataset(t, 300)
	s.load(t, s.opts(dir))
	o := Options{Redis: true, FromPostgres: true, Keys: other.keys}
	sum, err := Load(context.Background(), s.pool, other.rdb, o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Source != dataset.StatSourcePostgres {
		t.Errorf("source %q", sum.Source)
	}
	isdns := recISDNs(t, dir)
	a, b := dumpNamespace(t, s.rdb, s.keys, isdns), dumpNamespace(t, other.rdb, other.keys, isdns)
	if len(a) != len(b) || len(a) < 600 {
		t.Fatalf("%d keys from files, %d from PostgreSQL", len(a), len(b))
	}
	for k, v := range a {
		if b[k] != v {
			t.Fatalf("key %s differs:\nfiles    %s\npostgres %s", k, v, b[k])
		}
	}
}

// dumpNamespace renders the keys of a namespace (without its prefix) and
// their content: the hashes of the given subscribers, every index key, and
// meta:stats without the fields that describe the run rather than the data.
// It also checks that the namespace holds no other key.
func dumpNamespace(t *testing.T, rdb *redis.Client, keys dataset.Keys, isdns []string) map[string]string {
	ctx := context.Background()
	out := map[string]string{}
	cand := []string{keys.Stats()}
	for _, isdn := range isdns {
		cand = append(cand, keys.Rec(isdn), keys.Profile(isdn))
	}
	var idx []string
	if err := json.Unmarshal([]byte(rdb.HGet(ctx, keys.Stats(), dataset.StatIndexKeys).Val()), &idx); err != nil {
		t.Fatalf("meta:stats index_keys: %v", err)
	}
	cand = append(cand, idx...)
	for _, k := range cand {
		var v string
		switch rdb.Type(ctx, k).Val() {
		case "none":
			continue
		case "hash":
			h := rdb.HGetAll(ctx, k).Val()
			if k == keys.Stats() {
				for _, f := range []string{dataset.StatSHA256Recommendations, dataset.StatSHA256Profiles, dataset.StatSHA256Monthly, dataset.StatLoadedAt,
					dataset.StatDurationMS, dataset.StatSource, dataset.StatIndexKeys, dataset.StatGeneration, dataset.StatPGGeneration} {
					delete(h, f)
				}
			}
			v = canonMap(h)
		case "zset":
			for _, z := range rdb.ZRangeWithScores(ctx, k, 0, -1).Val() {
				v += z.Member.(string) + "=" + dataset.CanonFloat(z.Score) + ","
			}
		case "set":
			v = strings.Join(sortStrings(rdb.SMembers(ctx, k).Val()), ",")
		}
		out[strings.TrimPrefix(k, keys.Namespace())] = v
	}
	n := 0
	it := rdb.Scan(ctx, 0, keys.Pattern(), 50000).Iterator()
	for it.Next(ctx) {
		n++
	}
	if it.Err() != nil || n != len(out) {
		t.Fatalf("namespace %s holds %d keys, %d expected (%v)", keys.Namespace(), n, len(out), it.Err())
	}
	return out
}

func recISDNs(t *testing.T, dir string) []string {
	var out []string
	for _, r := range readAll(t, &dataset.Recommendations, filepath.Join(dir, dataset.RecommendationsFile)) {
		out = append(out, r.ISDN)
	}
	return out
}

func canonMap(m map[string]string) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	var b strings.Builder
	for _, k := range sortStrings(ks) {
		b.WriteString(k + "=" + m[k] + "\n")
	}
	return b.String()
}

func sortStrings(l []string) []string {
	out := append([]string(nil), l...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestUnorderedInputs: profile and monthly files in an order other than the
// recommendations' load the same snapshot through the fallback.
func TestUnorderedInputs(t *testing.T) {
	s := newStores(t)
	other := newStores(t)
	ss := subs(2, 0, 300)
	ordered, shuffled := t.TempDir(), t.TempDir()
	writeFiles(t, ordered, ss)
	var recs []dataset.Recommendation
	var profs []dataset.Profile
	var mons []dataset.Monthly
	for _, v := range ss {
		recs, profs = append(recs, v.Rec), append(profs, v.Profile)
		mons = append(mons, v.Monthly...)
	}
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(profs), func(i, j int) { profs[i], profs[j] = profs[j], profs[i] })
	r.Shuffle(len(mons), func(i, j int) { mons[i], mons[j] = mons[j], mons[i] })
	writeKind(t, &dataset.Recommendations, filepath.Join(shuffled, dataset.RecommendationsFile), dataset.CSV, recs)
	writeKind(t, &dataset.Profiles, filepath.Join(shuffled, dataset.ProfilesFile), dataset.Parquet, profs)
	writeKind(t, &dataset.Monthlies, filepath.Join(shuffled, dataset.MonthlyFile), dataset.Parquet, mons)
	want := s.load(t, s.opts(ordered))
	got := other.load(t, other.opts(shuffled))
	if !got.Unordered || want.Unordered || got.Fingerprint != want.Fingerprint || got.MonthlyRows != want.MonthlyRows {
		t.Fatalf("shuffled %+v, ordered %+v", got, want)
	}
	isdns := recISDNs(t, ordered)
	a, b := dumpNamespace(t, s.rdb, s.keys, isdns), dumpNamespace(t, other.rdb, other.keys, isdns)
	for k, v := range a {
		if b[k] != v {
			t.Fatalf("key %s differs between ordered and shuffled input", k)
		}
	}
	if other.snapshot(t).monthly != int64(len(mons)) {
		t.Fatal("monthly rows missing in PostgreSQL")
	}
}

// TestRefreshKeepsGrants: privileges granted on the live tables survive the
// swap (the staging copies get them before they replace the live ones).
func TestRefreshKeepsGrants(t *testing.T) {
	s := newStores(t)
	s.load(t, s.opts(gen(t, 50, 1)))
	ctx := context.Background()
	grants := func() string {
		var g string
		err := s.pg.Pool.QueryRow(ctx, `SELECT coalesce(string_agg(c.relname || ':' || a.privilege_type || ':' || a.grantee::regrole::text, ',' ORDER BY c.relname, a.privilege_type), '')
			FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a
			WHERE n.nspname = $1 AND a.grantee <> c.relowner`, s.pg.Schema).Scan(&g)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	if _, err := s.pg.Pool.Exec(ctx, "GRANT SELECT ON recommendations, subscriber_360_profiles TO PUBLIC; GRANT INSERT ON subscriber_monthly_arpu TO PUBLIC"); err != nil {
		t.Fatal(err)
	}
	before := grants()
	if before == "" {
		t.Fatal("no grants to check")
	}
	s.load(t, s.opts(gen(t, 60, 2)))
	if after := grants(); after != before {
		t.Fatalf("grants after a refresh: %q, before: %q", after, before)
	}
}
