package verify

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/progress"
	"github.com/ut360/ut360/internal/testenv"
	"github.com/ut360/ut360/loader"
)

// testSubscribers keeps the integration tests small (the edge cases of the
// generator — NULL growth, new subscribers, empty lists — occur at this size).
const testSubscribers = 400

var (
	genOnce sync.Once
	genDir  string
	genErr  error
)

// dataDir generates one dataset for the whole package.
func dataDir(t *testing.T) string {
	t.Helper()
	genOnce.Do(func() {
		genDir, genErr = os.MkdirTemp("", "ut360-verify-test-")
		if genErr == nil {
			_, genErr = dataset.Generate(context.Background(), dataset.GenOptions{Subscribers: testSubscribers, Out: genDir})
		}
	})
	if genErr != nil {
		t.Fatalf("generate: %v", genErr)
	}
	return genDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if genDir != "" {
		os.RemoveAll(genDir)
	}
	os.Exit(code)
}

// world is a loaded private schema and namespace.
type world struct {
	pool *pgxpool.Pool
	rdb  *redis.Client
	keys dataset.Keys
	dir  string
}

// testDB is the Redis logical database of these tests. Verify SCANs a whole
// database; db 0 of a shared development server can hold millions of other
// keys, which would make every run here take seconds. The namespace stays
// private and is deleted afterwards; nothing is flushed.
const testDB = 14

// privateRedis is testenv.NewRedis on database testDB.
func privateRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	rd := testenv.NewRedis(t)
	opt, err := redis.ParseURL(rd.URL)
	if err != nil {
		t.Fatal(err)
	}
	opt.DB = testDB
	c := redis.NewClient(opt)
	t.Cleanup(func() {
		if err := testenv.DeleteNamespace(context.Background(), c, rd.Namespace); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		c.Close()
	})
	return c, rd.Namespace
}

func load(t *testing.T, dir string) *world {
	t.Helper()
	pg := testenv.NewMigratedPG(t)
	rdb, ns := privateRedis(t)
	w := &world{pool: pg.Pool, rdb: rdb, keys: dataset.NewKeys(ns), dir: dir}
	_, err := loader.Load(context.Background(), w.pool, w.rdb, loader.Options{Data: dir, Postgres: true, Redis: true,
		Keys: w.keys, RejectsPath: "-", Progress: progress.Quiet, Out: io.Discard})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return w
}

func (w *world) run(t *testing.T, o Options) *Report {
	t.Helper()
	o.Keys = w.keys
	rep, err := Run(context.Background(), w.pool, w.rdb, o)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return rep
}

func (w *world) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := w.pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func (w *world) redis(t *testing.T, args ...any) {
	t.Helper()
	if err := w.rdb.Do(context.Background(), args...).Err(); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
}

// firstRecs returns the first n recommendations of the dataset.
func firstRecs(t *testing.T, dir string, n int) []dataset.Recommendation {
	t.Helper()
	rp, _, _ := dataset.Files(dir)
	r, err := dataset.Open(context.Background(), &dataset.Recommendations, rp)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []dataset.Recommendation
	for len(out) < n {
		rec, _, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec)
	}
	return out
}

func dump(rep *Report) string {
	var b strings.Builder
	_ = rep.WriteText(&b)
	for _, c := range rep.Classes {
		for _, f := range c.Examples {
			fmt.Fprintf(&b, "  %+v\n", f)
		}
	}
	return b.String()
}

// want asserts that class holds a finding for isdn (or key) naming field.
func want(t *testing.T, rep *Report, class, isdn, key, field string) {
	t.Helper()
	for _, f := range rep.Class(class).Examples {
		if isdn != "" && f.ISDN != isdn || key != "" && f.Key != key {
			continue
		}
		if field == "" || slices.ContainsFunc(f.Fields, func(d FieldDiff) bool { return d.Field == field }) {
			return
		}
	}
	t.Errorf("no %s finding for isdn=%q key=%q field=%q in\n%s", class, isdn, key, field, dump(rep))
}

// only asserts that every finding belongs to one of classes.
func only(t *testing.T, rep *Report, classes ...string) {
	t.Helper()
	for _, c := range rep.Classes {
		if c.Count > 0 && !slices.Contains(classes, c.Class) {
			t.Errorf("unexpected %s findings (%d):\n%s", c.Class, c.Count, dump(rep))
		}
	}
}

// checkClean asserts a clean load has no findings, even after a profile hash
// is rewritten with reordered JSON keys and other number formatting.
func checkClean(t *testing.T, w *world) {
	t.Helper()
	rep := w.run(t, Options{Source: w.dir, Buckets: 64})
	if !rep.Clean || rep.Mismatches != 0 || rep.DifferingBuckets != 0 {
		t.Fatalf("clean load reported mismatches:\n%s", dump(rep))
	}
	rc := rep.RowsChecked
	if rc.PGRecommendations != testSubscribers || rc.RedisRecKeys != testSubscribers || rc.SourceRecommendations != testSubscribers {
		t.Errorf("rows checked = %+v, want %d subscribers on every side", rc, testSubscribers)
	}
	if rc.RedisIndexMembers != 3*testSubscribers || rc.PGMonthly == 0 || rc.PGMonthly != rc.SourceMonthly {
		t.Errorf("rows checked = %+v", rc)
	}
	isdn := firstRecs(t, w.dir, 1)[0].ISDN
	h, err := w.rdb.HGetAll(context.Background(), w.keys.Profile(isdn)).Result()
	if err != nil {
		t.Fatal(err)
	}
	kpi := reorderJSON(t, h[dataset.PFKPI])
	w.redis(t, "HSET", w.keys.Profile(isdn), dataset.PFKPI, kpi)
	if rep := w.run(t, Options{}); !rep.Clean {
		t.Fatalf("reformatted JSON %s reported as a mismatch:\n%s", kpi, dump(rep))
	}
}

// reorderJSON rewrites a flat JSON object with its keys reversed and every
// number written with an exponent or trailing zeros.
func reorderJSON(t *testing.T, js string) string {
	t.Helper()
	body := strings.TrimSuffix(strings.TrimPrefix(js, "{"), "}")
	parts := strings.Split(body, ",")
	slices.Reverse(parts)
	for i, p := range parts {
		k, v, _ := strings.Cut(p, ":")
		if len(v) > 0 && (v[0] >= '0' && v[0] <= '9') {
			if strings.Contains(v, ".") {
				v += "000"
			} else {
				v += ".0e0"
			}
		}
		parts[i] = k + ":" + v
	}
	return "{" + strings.Join(parts, " , ") + "}"
}

func TestDriftDetected(t *testing.T) {
	dir := dataDir(t)
	recs := firstRecs(t, dir, 3)
	x := recs[0]
	otherRisk := "HIGH"
	if x.BadDebtRisk == "HIGH" {
		otherRisk = "LOW"
	}
	cases := []struct {
		name   string
		inject func(t *testing.T, w *world)
		check  func(t *testing.T, w *world, rep *Report)
		source bool
	}{
		{"field changed in a Redis hash", func(t *testing.T, w *world) {
			w.redis(t, "HSET", w.keys.Rec(x.ISDN), "advance_amount", "123")
		}, func(t *testing.T, w *world, rep *Report) {
			want(t, rep, FieldMismatch, x.ISDN, w.keys.Rec(x.ISDN), "advance_amount")
			only(t, rep, FieldMismatch)
		}, false},
		{"value changed in PostgreSQL", func(t *testing.T, w *world) {
			w.exec(t, "UPDATE subscriber_360_profiles SET engagement_score = 1.25 WHERE isdn = $1", x.ISDN)
		}, func(t *testing.T, w *world, rep *Report) {
			want(t, rep, FieldMismatch, x.ISDN, w.keys.Profile(x.ISDN), "engagement_score")
			want(t, rep, Stats, "", w.keys.Stats(), "fingerprint")
			only(t, rep, FieldMismatch, Stats)
		}, false},
		{"monthly row changed in PostgreSQL", func(t *testing.T, w *world) {
			w.exec(t, `UPDATE subscriber_monthly_arpu SET arpu_call = arpu_call + 7
				WHERE isdn = $1 AND data_month = (SELECT max(data_month) FROM subscriber_monthly_arpu WHERE isdn = $1)`, x.ISDN)
		}, func(t *testing.T, w *world, rep *Report) {
			want(t, rep, FieldMismatch, x.ISDN, w.keys.Profile(x.ISDN), "monthly_arpu["+dataset.CanonDate(dataset.LastMonth)+"].arpu_call")
			only(t, rep, FieldMismatch, Stats)
		}, false},
		{"key deleted", func(t *testing.T, w *world) {
			w.redis(t, "DEL", w.keys.Rec(x.ISDN))
		}, func(t *testing.T, w *world, rep *Report) {
			want(t, rep, MissingInRedis, x.ISDN, w.keys.Rec(x.ISDN), "")
			want(t, rep, Stats, "", w.keys.Stats(), dataset.StatRecKeys)
			only(t, rep, MissingInRedis, Stats)
		}, false},
		{"extra key", func(t *testing.T, w *world) {
			extra := dataset.ISDNFor(99, 1)
			r := x
			r.ISDN = extra
			args := []any{"HSET", w.keys.Rec(extra)}
			for _, f := range r.RecFields() {
				args = append(args, f)
			}
			w.redis(t, args...)
			w.redis(t, "EXPIRE", w.keys.Rec(extra), 3600)
		}, func(t *testing.T, w *world, rep *Report) {
			want(t, rep, OrphanInRedis, dataset.ISDNFor(99, 1), w.keys.Rec(dataset.ISDNFor(99, 1)), "")
			only(t, rep, OrphanInRedis, Stats)
		}, false},
		{"index member dropped", func(t *testing.T, w *world) {
			w.redis(t, "ZREM", w.keys.ServiceIndex(x.ServiceType), x.ISDN)
		}, func(t *testing.T, w *world, rep *Report) {
			want(t, rep, IndexMismatch, x.ISDN, w.keys.ServiceIndex(x.ServiceType), "score")
			only(t, rep, IndexMismatch, Stats)
		}, false},
		{"index member added", func(t *testing.T, w *world) {
			w.redis(t, "SADD", w.keys.RiskIndex(otherRisk), x.ISDN)
		}, func(t *testing.T, w *world, rep *Report) {
			want(t, rep, IndexMismatch, x.ISDN, w.keys.RiskIndex(otherRisk), "")
			only(t, rep, IndexMismatch, Stats)
		}, false},
		{"wrong score", func(t *testing.T, w *world) {
			w.redis(t, "ZADD", w.keys.ServiceIndex(x.ServiceType), x.PriorityScore+0.5, x.ISDN)
		}, func(t *testing.T, w *world, rep *Report) {
			want(t, rep, IndexMismatch, x.ISDN, w.keys.ServiceIndex(x.ServiceType), "score")
			only(t, rep, IndexMismatch)
		}, false},
		{"TTL removed", func(t *testing.T, w *world) {
			w.redis(t, "PERSIST", w.keys.Profile(x.ISDN))
		}, func(t *testing.T, w *world, rep *Report) {
			want(t, rep, TTL, x.ISDN, w.keys.Profile(x.ISDN), "ttl")
			only(t, rep, TTL)
		}, false},
		{"meta:stats count changed", func(t *testing.T, w *world) {
			w.redis(t, "HSET", w.keys.Stats(), dataset.StatProfiles, "7")
		}, func(t *testing.T, w *world, rep *Report) {
			want(t, rep, Stats, "", w.keys.Stats(), dataset.StatProfiles)
			only(t, rep, Stats)
		}, false},
		{"source file edited after the load", func(t *testing.T, w *world) {
			rp, _, _ := dataset.Files(w.dir)
			b, err := os.ReadFile(rp)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(string(b), "\n")
			cols := strings.Split(lines[1], ",")
			if cols[0] != x.ISDN {
				t.Fatalf("line 2 is %s, want %s", cols[0], x.ISDN)
			}
			cols[3] = "4242"
			lines[1] = strings.Join(cols, ",")
			if err := os.WriteFile(rp, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, w *world, rep *Report) {
			want(t, rep, SourceMismatch, x.ISDN, dataset.RecommendationsFile, "advance_amount")
			only(t, rep, SourceMismatch)
			// the changed bytes are a note; the changed row is the finding
			if n := rep.Class(SourceMismatch).Count; n != 3 {
				t.Errorf("%d source_mismatch findings, want 3 (one row per file, no file-checksum finding):\n%s", n, dump(rep))
			}
			if !slices.ContainsFunc(rep.Notes, func(n string) bool {
				return strings.HasPrefix(n, dataset.RecommendationsFile+": the bytes differ")
			}) {
				t.Errorf("no note about the changed bytes: %q", rep.Notes)
			}
		}, true},
	}
	// One load for every case: each drift is detected, then repaired (the
	// PostgreSQL-side ones by making Redis follow PostgreSQL) before the next.
	src := copyDir(t, dir)
	w := load(t, src)
	checkClean(t, w)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.inject(t, w)
			// The report of a repair run is the verify before the repair.
			o := Options{Buckets: 16, Repair: true}
			if tc.source {
				o.Source = src
			}
			rep := w.run(t, o)
			if rep.Clean {
				t.Fatalf("drift not detected:\n%s", dump(rep))
			}
			tc.check(t, w, rep)
			switch after := rep.Repair.After; {
			case tc.source:
				if after.Clean || !slices.ContainsFunc(rep.Repair.NotRepairable, func(s string) bool { return strings.HasPrefix(s, SourceMismatch) }) {
					t.Errorf("source drift: repair must leave it and say so:\n%s", dump(rep))
				}
			case !after.Clean:
				t.Fatalf("repair left mismatches:\n%s", dump(after))
			}
		})
	}
}

func copyDir(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	for _, p := range []string{dataset.RecommendationsFile, dataset.ProfilesFile, dataset.MonthlyFile} {
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, p), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// snapshot is every key of the namespace with its type, value and whether it has a TTL.
func snapshot(t *testing.T, w *world) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	keys, err := w.rdb.Keys(ctx, w.keys.Pattern()).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		typ := w.rdb.Type(ctx, k).Val()
		var v any
		switch typ {
		case "hash":
			v = w.rdb.HGetAll(ctx, k).Val()
		case "zset":
			v = w.rdb.ZRangeWithScores(ctx, k, 0, -1).Val()
		case "set":
			m := w.rdb.SMembers(ctx, k).Val()
			slices.Sort(m)
			v = m
		default:
			v = w.rdb.Get(ctx, k).Val()
		}
		out[k] = fmt.Sprintf("%s %v ttl=%v", typ, v, w.rdb.PTTL(ctx, k).Val() > 0)
	}
	return out
}

func TestRepair(t *testing.T) {
	dir := dataDir(t)
	recs := firstRecs(t, dir, 8)
	w := load(t, dir)
	k := w.keys
	otherRisk := "HIGH"
	if recs[6].BadDebtRisk == "HIGH" {
		otherRisk = "LOW"
	}
	orphan := dataset.ISDNFor(77, 3)
	// Every Redis-side drift class, plus PostgreSQL-side changes Redis must follow.
	w.redis(t, "HSET", k.Rec(recs[0].ISDN), "bad_debt_risk", "LOW", "service_type", "Nope")
	w.redis(t, "HSET", k.Profile(recs[1].ISDN), dataset.PFKPI, `{"oops":1}`)
	w.exec(t, "UPDATE recommendations SET customer_value_score = 3.5 WHERE isdn = $1", recs[2].ISDN)
	w.exec(t, "UPDATE subscriber_monthly_arpu SET arpu_sms = arpu_sms + 1 WHERE isdn = $1", recs[2].ISDN)
	w.exec(t, "UPDATE recommendations SET priority_score = 12.5, service_type = 'QuickAdvance', cluster_group = 4 WHERE isdn = $1", recs[3].ISDN)
	w.redis(t, "DEL", k.Rec(recs[4].ISDN), k.Profile(recs[4].ISDN))
	w.redis(t, "HSET", k.Rec(orphan), "isdn", orphan)
	w.redis(t, "SET", k.Namespace()+":junk", "x")
	w.redis(t, "ZREM", k.ServiceIndex(recs[5].ServiceType), recs[5].ISDN)
	w.redis(t, "SADD", k.RiskIndex(otherRisk), recs[6].ISDN)
	w.redis(t, "SADD", k.ClusterIndex(99), orphan)
	w.redis(t, "ZADD", k.ServiceIndex(recs[7].ServiceType), 0.25, recs[7].ISDN)
	w.redis(t, "PERSIST", k.Rec(recs[7].ISDN))
	w.redis(t, "HSET", k.Stats(), dataset.StatRecKeys, "1", dataset.StatIndexRiskMembers, "2")

	before := snapshot(t, w)
	dry := w.run(t, Options{Repair: true, DryRun: true})
	if dry.Clean || dry.Repair == nil || dry.Repair.After != nil || dry.Repair.Plan.Total() == 0 {
		t.Fatalf("dry run: %s", dump(dry))
	}
	if after := snapshot(t, w); !maps.Equal(before, after) {
		t.Fatalf("--dry-run changed Redis")
	}
	for _, c := range []string{MissingInRedis, OrphanInRedis, FieldMismatch, IndexMismatch, TTL, Stats} {
		if dry.Class(c).Count == 0 {
			t.Errorf("class %s not found before repair:\n%s", c, dump(dry))
		}
	}

	rep := w.run(t, Options{Repair: true})
	if rep.Repair.After == nil || !rep.Repair.After.Clean {
		t.Fatalf("repair left mismatches:\n%s\nafter:\n%s", dump(rep), dump(rep.Repair.After))
	}
	p := rep.Repair.Plan
	// The orphan rec hash is deleted; ns:junk is outside the key scheme:
	// counted as foreign, never deleted.
	if p.RecRewrites != 4 || p.ProfileRewrites != 3 || p.KeysDeleted != 1 || p.TTLFixed != 2 {
		t.Errorf("plan = %+v, want 4 rec and 3 profile rewrites, 1 deletion, 2 TTLs", p)
	}
	if rep.ForeignKeys != 1 || w.rdb.Exists(context.Background(), k.Namespace()+":junk").Val() != 1 {
		t.Errorf("foreign keys = %d (want 1); %s:junk must survive the repair", rep.ForeignKeys, k.Namespace())
	}
	again := w.run(t, Options{})
	if !again.Clean {
		t.Fatalf("second verify not clean:\n%s", dump(again))
	}
	ttl := w.rdb.PTTL(context.Background(), k.Rec(recs[4].ISDN)).Val()
	if ttl <= 0 || ttl > loader.DefaultTTL {
		t.Errorf("repaired key TTL = %v, want within (0, %v]", ttl, loader.DefaultTTL)
	}
}

func TestSample(t *testing.T) {
	dir := dataDir(t)
	x := firstRecs(t, dir, 1)[0]
	w := load(t, dir)
	rep := w.run(t, Options{Sample: 50, Seed: 7})
	if s := rep.Sample; s == nil || s.Checked != 50 || s.Mismatched != 0 || s.Low != 0 || s.High <= 0 || s.High > 0.1 {
		t.Fatalf("clean sample: %+v", rep.Sample)
	}
	w.redis(t, "HSET", w.keys.Rec(x.ISDN), "arpu_trend", "NEW", "arpu_growth_rate", "")
	w.redis(t, "PERSIST", w.keys.Profile(x.ISDN))
	rep = w.run(t, Options{Sample: testSubscribers * 2}) // more than there are: everyone
	s := rep.Sample
	if s.Checked != testSubscribers || s.Mismatched != 1 || s.Rate != 1.0/testSubscribers || !(s.Low < s.Rate && s.Rate < s.High) {
		t.Fatalf("sample of everyone: %+v\n%s", s, dump(rep))
	}
	want(t, rep, TTL, x.ISDN, w.keys.Profile(x.ISDN), "ttl")
	if x.ArpuTrend != "NEW" {
		want(t, rep, FieldMismatch, x.ISDN, w.keys.Rec(x.ISDN), "arpu_trend")
	}
}

func TestExpiredDuringScanIsNotCorruption(t *testing.T) {
	dir := dataDir(t)
	x := firstRecs(t, dir, 1)[0]
	w := load(t, dir)
	o := Options{Keys: w.keys}
	o.defaults()
	// SCAN returned the key, then it expired before HGETALL: simulate with a
	// key list naming a key that is gone.
	w.redis(t, "DEL", w.keys.Rec(x.ISDN))
	sc := &redisScan{members: map[string]int64{}}
	tl := &tally{side: sRedis, mask: uint64(o.Buckets - 1), d: newDigest(o.Buckets)}
	if err := digestHashes(context.Background(), w.rdb, &o, []string{w.keys.Rec(x.ISDN)}, tl, sc); err != nil {
		t.Fatal(err)
	}
	if len(sc.expired) != 1 || sc.expired[0].ISDN != x.ISDN || sc.recKeys != 0 || tl.d.total(cRec).n != 0 {
		t.Fatalf("expired = %+v, rec keys %d, digested %d", sc.expired, sc.recKeys, tl.d.total(cRec).n)
	}
	pl := newPlan()
	pl.expired[w.keys.Rec(x.ISDN)] = true
	var got []Finding
	pr := &pgRows{recs: map[string]dataset.Recommendation{x.ISDN: x}}
	compareSubscriber(w.keys, pl, x.ISDN, pr, hashRead{ttl: -2}, hashRead{ttl: -2}, expectedMembers(w.keys, &x),
		func(f Finding) { got = append(got, f) })
	if len(got) != 0 || !slices.Contains(pl.rewriteRec, x.ISDN) {
		t.Fatalf("findings %+v, rewrite %v: an expired key must be rewritten by repair but not reported as missing", got, pl.rewriteRec)
	}
}

func TestStoreUnreachable(t *testing.T) {
	pg := testenv.NewMigratedPG(t)
	bad := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	defer bad.Close()
	if _, err := Run(context.Background(), pg.Pool, bad, Options{Keys: dataset.NewKeys("ut360test-unreachable")}); err == nil {
		t.Fatal("verify against an unreachable Redis returned no error")
	}
}
