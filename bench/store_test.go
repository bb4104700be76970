package bench

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/testenv"
	"github.com/ut360/ut360/loader"
)

const testSubscribers = 2000

// stores is a private schema and namespace loaded with a small dataset.
type stores struct {
	pg    *testenv.PG
	rd    *testenv.Redis
	bench *redis.Client // rd's server, connected as ut360 bench connects
	pool  *pgxpool.Pool // sized for the open model's workers
}

// asBench returns a client with c's options in RESP2, as `ut360 bench`
// connects unless the URL asks for protocol=3: so the tests run the lean
// connection that users get (a RESP3 client keeps go-redis throughout).
func asBench(t testing.TB, c *redis.Client) *redis.Client {
	opt := *c.Options()
	opt.Protocol = 2
	b := redis.NewClient(&opt)
	t.Cleanup(func() { b.Close() })
	return b
}

// asBenchCluster is asBench for a Redis Cluster.
func asBenchCluster(t testing.TB, cc *redis.ClusterClient) *redis.ClusterClient {
	opt := *cc.Options()
	opt.Protocol = 2
	b := redis.NewClusterClient(&opt)
	t.Cleanup(func() { b.Close() })
	return b
}

func loadedStores(t *testing.T) *stores {
	t.Helper()
	ctx := context.Background()
	pg := testenv.NewMigratedPG(t)
	rd := testenv.NewRedis(t)
	dir := t.TempDir()
	if _, err := dataset.Generate(ctx, dataset.GenOptions{Subscribers: testSubscribers, Out: dir}); err != nil {
		t.Fatal(err)
	}
	if _, err := loader.Load(ctx, pg.Pool, rd.Client, loader.Options{Data: dir, Postgres: true, Redis: true,
		Keys: dataset.NewKeys(rd.Namespace), RejectsPath: "-"}); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, pg.URL+"&pool_max_conns=40")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return &stores{pg: pg, rd: rd, bench: asBench(t, rd.Client), pool: pool}
}

func (s *stores) options(t *testing.T) Options {
	return Options{Out: t.TempDir(), Namespace: s.rd.Namespace, Pool: s.pool, Redis: s.bench,
		Version: "test", Commit: "test", Interval: 250 * time.Millisecond}
}

func (s *stores) count(t *testing.T, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := s.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// lockRecommendations holds an ACCESS EXCLUSIVE lock on recommendations from
// at for hold, as a stalled server would.
func (s *stores) lockRecommendations(t *testing.T, at time.Time, hold time.Duration) {
	ctx := context.Background()
	if sleepUntil(ctx, at) != nil {
		return
	}
	conn, err := pgx.Connect(ctx, s.pg.URL)
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Error(err)
		return
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE recommendations IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Error(err)
	}
	time.Sleep(hold)
	if err := tx.Commit(ctx); err != nil {
		t.Error(err)
	}
}

func parseString(t *testing.T, yaml string) *Scenario {
	t.Helper()
	sc, err := Parse(t.Name()+".yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func TestAgainstStores(t *testing.T) {
	s := loadedStores(t)
	t.Run("builtin", func(t *testing.T) { testBuiltin(t, s) })
	t.Run("stall", func(t *testing.T) { testStall(t, s) })
	t.Run("redis reconnect", func(t *testing.T) { testRedisReconnect(t, s) })
	t.Run("pacing", func(t *testing.T) { testPacing(t, s) })
	t.Run("keys", func(t *testing.T) { testKeySources(t, s) })
	t.Run("fails closed", func(t *testing.T) { testFailsClosed(t, s) })
}

// Every built-in scenario for about a second against the loaded stores.
func testBuiltin(t *testing.T, s *stores) {
	ctx := context.Background()
	o := s.options(t)
	o.Builtin, o.Duration, o.Warmup, o.WarmupSet, o.Concurrency = true, 700*time.Millisecond, 100*time.Millisecond, true, 2
	procs := runtime.GOMAXPROCS(0)
	o.Procs = procs + 1 // a value the run must set, record and undo
	run, err := RunFiles(ctx, o)
	if now := runtime.GOMAXPROCS(0); now != procs {
		t.Errorf("GOMAXPROCS after the run = %d, want it restored to %d", now, procs)
	}
	if err != nil && !errors.Is(err, ErrThresholds) {
		t.Fatal(err)
	}
	if run.Passed != (err == nil) {
		t.Errorf("Passed = %v but err = %v", run.Passed, err)
	}
	env := run.Summary.Environment
	if env.Subscribers != testSubscribers || env.KeySet != testSubscribers || env.Fingerprint == "" ||
		env.PostgresVersion == "" || env.RedisVersion == "" || env.Namespace != s.rd.Namespace || env.Cores < 1 || env.GOMAXPROCS != o.Procs {
		t.Errorf("environment = %+v", env)
	}
	campaignRows := min(10000, s.count(t, `SELECT count(*) FROM recommendations WHERE bad_debt_risk = 'LOW' AND customer_value_score >= 70 AND advance_readiness_score >= 80`))
	groups := s.count(t, `SELECT count(DISTINCT (service_type, bad_debt_risk)) FROM recommendations`)
	low := s.count(t, `SELECT count(*) FROM recommendations WHERE bad_debt_risk = 'LOW'`)
	// Rows (or non-empty replies) each operation must return.
	perOp := map[string]int64{
		"isdn_lookup/redis": 1, "isdn_lookup/postgres": 1, "profile_360/redis": 1, "profile_360/postgres": 1,
		"top100_priority/redis": 1, "top100_priority/postgres": 100, "bulk_1000/redis": 1000, "bulk_1000/postgres": 1000,
		"campaign/postgres": campaignRows, "analytics/postgres": groups, "risk_members/redis": 1, "risk_members/postgres": low,
		"cache_aside/cache_aside": 1,
	}
	seen := 0
	for _, sr := range run.Summary.Scenarios {
		for _, r := range sr.Results {
			id := sr.Scenario.Name + "/" + r.Target
			seen++
			want, ok := perOp[id]
			if !ok {
				t.Errorf("unexpected result %s", id)
				continue
			}
			if r.Ops < 2 || r.Errors != 0 || r.NotFound != 0 || r.Items != want*r.Ops {
				t.Errorf("%s: ops %d errors %d (%v) not found %d items %d, want items = %d × ops", id, r.Ops, r.Errors, r.ErrorKinds, r.NotFound, r.Items, want)
			}
			if r.Workers != 2 || r.Latency.Count != r.Ops || r.Corrected == nil || r.Corrected.Count < r.Ops || r.Latency.P50 <= 0 || r.Latency.P99 < r.Latency.P50 {
				t.Errorf("%s: workers %d, latency %+v, corrected %+v", id, r.Workers, r.Latency, r.Corrected)
			}
			for _, ext := range []string{".hgrm", ".corrected.hgrm", ".hlog"} {
				data, err := os.ReadFile(filepath.Join(run.Dir, sr.Scenario.Name+"."+r.Target+ext))
				if err != nil {
					t.Error(err)
					continue
				}
				if ext == ".hlog" && (!strings.Contains(string(data), "#[StartTime: ") || !strings.Contains(string(data), "Tag="+r.Target+",")) {
					t.Errorf("%s%s: no interval histograms:\n%s", id, ext, data)
				}
			}
			if id == "cache_aside/cache_aside" {
				if share := float64(r.CacheMisses) / float64(r.Ops); share < 0.03 || share > 0.25 {
					t.Errorf("cache misses %d of %d ops, want about 10%%", r.CacheMisses, r.Ops)
				}
			}
		}
		if len(sr.Thresholds) == 0 {
			t.Errorf("%s: no thresholds evaluated", sr.Scenario.Name)
		}
	}
	if seen != len(perOp) {
		t.Errorf("%d scenario × store results, want %d", seen, len(perOp))
	}
	for _, f := range []string{run.SummaryJSON, run.ReportMD, run.ReportHTML, run.JUnit} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("report %s: %v", f, err)
		}
	}
	// Cache-aside repopulated what it evicted with the loader's bytes and a TTL.
	keys := dataset.NewKeys(s.rd.Namespace)
	rows, err := s.pool.Query(ctx, recSQL[:strings.Index(recSQL, "WHERE")]+"ORDER BY isdn LIMIT 300")
	if err != nil {
		t.Fatal(err)
	}
	isdns, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) { v, err := r.Values(); return v[0].(string), err })
	if err != nil {
		t.Fatal(err)
	}
	for _, isdn := range isdns {
		h, err := s.rd.Client.HGetAll(ctx, keys.Rec(isdn)).Result()
		if err != nil {
			t.Fatal(err)
		}
		rec, fe := dataset.RecommendationFromHash(h)
		if fe != nil || rec.ISDN != isdn {
			t.Fatalf("%s after cache_aside: %v %+v", isdn, fe, h)
		}
		if ttl := s.rd.Client.TTL(ctx, keys.Rec(isdn)).Val(); ttl <= 0 {
			t.Fatalf("%s has no TTL after cache_aside (%v)", isdn, ttl)
		}
	}
}

// testRedisReconnect: when the server drops the workers' connections mid-run,
// each worker counts the failed call and carries on with a new connection.
func testRedisReconnect(t *testing.T, s *stores) {
	ctx := context.Background()
	opt := *s.bench.Options()
	opt.ClientName = "benchkill-" + testenv.ID()
	rdb := redis.NewClient(&opt)
	defer rdb.Close()
	sc := parseString(t, `name: reconnect
keys: {distribution: uniform}
load: {model: closed, concurrency: 2, warmup: 100ms, duration: 1500ms}
redis:
  commands: [[HGETALL, "{ns}:rec:{isdn}"]]
  decode: rec
`)
	o := s.options(t)
	o.Redis = rdb
	var killedN atomic.Int64 // set by the stall goroutine, which the run does not wait for
	o.stall = func(_, _ string, recStart time.Time) {
		if sleepUntil(ctx, recStart.Add(500*time.Millisecond)) != nil {
			return
		}
		n, err := testenv.KillClients(ctx, s.rd.Client, opt.ClientName)
		if err != nil {
			t.Error(err)
		}
		killedN.Store(int64(n))
	}
	run, err := RunScenarios(ctx, o, []*Scenario{sc})
	if err != nil {
		t.Fatal(err)
	}
	r := run.Summary.Scenarios[0].Results[0]
	killed := int(killedN.Load())
	if killed < 2 {
		t.Fatalf("killed %d connections, want the two workers'", killed)
	}
	// One failed call per killed connection, not one per remaining call.
	if r.Errors < 1 || r.Errors > int64(killed) || r.Ops < 100 {
		t.Errorf("after %d connections were killed: %d errors %v, %d ops", killed, r.Errors, r.ErrorKinds, r.Ops)
	}
}

// The reduced stall check: a 500 ms lock on recommendations during an
// open-model run shows in p99.9; a closed-model run's raw p99.9 hides it and
// its coordinated-omission-corrected p99.9 shows it again.
func testStall(t *testing.T, s *stores) {
	ctx := context.Background()
	const body = `
keys: {distribution: uniform}
postgres:
  queries:
    - sql: SELECT isdn, bad_debt_risk FROM recommendations WHERE isdn = $1
      args: ["{isdn}"]
`
	open := parseString(t, "name: stall-open\nload: {model: open, rate: 400, max_in_flight: 32, warmup: 200ms, duration: 2s}"+body)
	closed := parseString(t, "name: stall-closed\nload: {model: closed, concurrency: 1, warmup: 200ms, duration: 3s}"+body)
	o := s.options(t)
	o.stall = func(_, _ string, recStart time.Time) {
		s.lockRecommendations(t, recStart.Add(500*time.Millisecond), 500*time.Millisecond)
	}
	run, err := RunScenarios(ctx, o, []*Scenario{open, closed})
	if err != nil {
		t.Fatal(err)
	}
	op, cl := run.Summary.Scenarios[0].Results[0], run.Summary.Scenarios[1].Results[0]
	t.Logf("open: ops %d late %d p99 %.1f p99.9 %.1f max %.1f ms; service p99.9 %.1f", op.Ops, op.Late, op.Latency.P99, op.Latency.P999, op.Latency.Max, op.Service.P999)
	t.Logf("closed: ops %d raw p99.9 %.1f max %.1f ms; corrected p99.9 %.1f (interval %.3f ms)", cl.Ops, cl.Latency.P999, cl.Latency.Max, cl.Corrected.P999, cl.CorrectionInterval)
	if op.Errors != 0 || op.Ops < 700 || op.Ops > 820 {
		t.Errorf("open model: %d ops, %d errors; want about 400/s × 2 s", op.Ops, op.Errors)
	}
	if op.Latency.P999 < 400 || op.Late == 0 {
		t.Errorf("open model hides the stall: p99.9 %.1f ms, late %d", op.Latency.P999, op.Late)
	}
	if cl.Latency.Max < 400 {
		t.Errorf("closed model never saw the stall: max %.1f ms", cl.Latency.Max)
	}
	if cl.Ops < 2000 {
		t.Fatalf("closed model ran only %d operations; the raw p99.9 cannot hide one stalled sample below 2000", cl.Ops)
	}
	if cl.Latency.P999 >= 400 {
		t.Errorf("closed model raw p99.9 %.1f ms shows the stall; expected it hidden", cl.Latency.P999)
	}
	if cl.Corrected.P999 < 400 {
		t.Errorf("corrected p99.9 %.1f ms hides the stall", cl.Corrected.P999)
	}
}

// The open model keeps its rate: operations start at their intended times.
func testPacing(t *testing.T, s *stores) {
	sc := parseString(t, `name: pace
keys: {distribution: none}
load: {model: open, rate: 500, max_in_flight: 8, warmup: 200ms, duration: 1s}
redis:
  commands: [[PING]]
`)
	counted := parseString(t, `name: pace-count
keys: {distribution: none}
load: {model: open, rate: 1000, max_in_flight: 4, warmup: 0s, count: 300}
redis:
  commands: [[PING]]
`)
	start := time.Now()
	run, err := RunScenarios(context.Background(), s.options(t), []*Scenario{sc, counted})
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	r := run.Summary.Scenarios[0].Results[0]
	if r.Ops != 500 || r.Unsent != 0 || r.Items != 500 {
		t.Errorf("rate 500/s for 1 s: %d ops, %d unsent, %d items", r.Ops, r.Unsent, r.Items)
	}
	c := run.Summary.Scenarios[1].Results[0]
	if c.Ops != 300 || c.Elapsed < 0.25 || c.Elapsed > 0.6 {
		t.Errorf("count 300 at 1000/s: %d ops in %.3f s", c.Ops, c.Elapsed)
	}
	if el < 1400*time.Millisecond || el > 5*time.Second {
		t.Errorf("run took %v, want about 1.2 s + 0.3 s", el)
	}
}

// Keys come from PostgreSQL, else Redis's service indexes, else a file;
// keys.missing draws ISDNs that are not loaded.
func testKeySources(t *testing.T, s *stores) {
	ctx := context.Background()
	o := s.options(t)
	fromPG, err := o.loadISDNs(ctx, dataset.NewKeys(s.rd.Namespace))
	if err != nil {
		t.Fatal(err)
	}
	o.Pool = nil
	fromRedis, err := o.loadISDNs(ctx, dataset.NewKeys(s.rd.Namespace))
	if err != nil {
		t.Fatal(err)
	}
	if len(fromPG) != testSubscribers || strings.Join(fromPG, ",") != strings.Join(fromRedis, ",") {
		t.Errorf("PostgreSQL gave %d keys, Redis %d, not the same", len(fromPG), len(fromRedis))
	}
	if _, err := o.loadISDNs(ctx, dataset.NewKeys("ut360test-nothing-"+testenv.ID())); !errors.Is(err, ErrNoData) {
		t.Errorf("empty namespace: %v", err)
	}
	file := filepath.Join(t.TempDir(), "keys.txt")
	os.WriteFile(file, []byte(fromPG[0]+"\n\n"+fromPG[1]+"\n"), 0o644)
	o.KeysFile = file
	sc := parseString(t, `name: missing
keys: {missing: 50%, seed: 3}
load: {concurrency: 2, warmup: 0s, count: 400}
redis:
  commands: [[HGETALL, "{ns}:rec:{isdn}"]]
  decode: rec
`)
	run, err := RunScenarios(ctx, o, []*Scenario{sc})
	if err != nil {
		t.Fatal(err)
	}
	r := run.Summary.Scenarios[0].Results[0]
	if r.Ops != 400 || r.Errors != 0 || r.NotFound != r.MissingKeys || r.Items != 400-r.MissingKeys || r.MissingKeys < 140 || r.MissingKeys > 260 {
		t.Errorf("50%% missing keys: ops %d, missing %d, not found %d, items %d", r.Ops, r.MissingKeys, r.NotFound, r.Items)
	}
}
