package verify

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/progress"
	"github.com/ut360/ut360/internal/redisconn"
	"github.com/ut360/ut360/internal/testenv"
	"github.com/ut360/ut360/loader"
)

// clusterWorld is a private PostgreSQL schema and a namespace on the test
// Redis Cluster (`make cluster`), loaded by the loader.
type clusterWorld struct {
	*world
	cc *redis.ClusterClient
}

func loadCluster(t *testing.T, cc *redis.ClusterClient, dir string) *clusterWorld {
	t.Helper()
	pg := testenv.NewMigratedPG(t)
	w := &clusterWorld{world: &world{pool: pg.Pool, keys: dataset.NewKeys(testenv.ClusterNamespace(t, cc)), dir: dir}, cc: cc}
	_, err := loader.Load(context.Background(), w.pool, cc, loader.Options{Data: dir, Postgres: true, Redis: true,
		Keys: w.keys, RejectsPath: "-", Progress: progress.Quiet, Out: io.Discard})
	if err != nil {
		t.Fatalf("load into the cluster: %v", err)
	}
	return w
}

func (w *clusterWorld) run(t *testing.T, o Options) *Report {
	t.Helper()
	o.Keys = w.keys
	rep, err := Run(context.Background(), w.pool, w.cc, o)
	if err != nil {
		t.Fatalf("verify on the cluster: %v", err)
	}
	return rep
}

func (w *clusterWorld) do(t *testing.T, args ...any) {
	t.Helper()
	if err := w.cc.Do(context.Background(), args...).Err(); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
}

// wantAll asserts that a report read every subscriber of the dataset.
func wantAll(t *testing.T, rep *Report) {
	t.Helper()
	rc := rep.RowsChecked
	if rc.RedisRecKeys != testSubscribers || rc.RedisProfileKeys != testSubscribers || rc.RedisIndexMembers != 3*testSubscribers {
		t.Errorf("rows checked %+v: want %d rec and profile keys and %d index members (every master scanned once)",
			rc, testSubscribers, 3*testSubscribers)
	}
}

// TestVerifyOnCluster: a load into the 3-master cluster verifies clean (full,
// --source, --sample), every kind of drift is found on keys spread over the
// masters, and --repair (no multi-slot command) makes it clean again.
func TestVerifyOnCluster(t *testing.T) {
	dir := dataDir(t)
	w := loadCluster(t, testenv.Cluster(t), dir)
	ctx := context.Background()
	rep := w.run(t, Options{Source: dir, Buckets: 64})
	if !rep.Clean || rep.DifferingBuckets != 0 {
		t.Fatalf("clean load on the cluster reported mismatches:\n%s", dump(rep))
	}
	wantAll(t, rep)
	if rep.RowsChecked.SourceRecommendations != testSubscribers {
		t.Errorf("--source read %d recommendations", rep.RowsChecked.SourceRecommendations)
	}
	if rep := w.run(t, Options{Sample: 100, Seed: 5}); !rep.Clean || rep.Sample.Checked != 100 {
		t.Fatalf("sample on the cluster: %+v\n%s", rep.Sample, dump(rep))
	}

	// Drift on subscribers whose keys sit on different masters.
	recs := firstRecs(t, dir, 40)
	byNode := map[string]dataset.Recommendation{}
	for _, r := range recs {
		m, err := w.cc.MasterForKey(ctx, w.keys.Rec(r.ISDN))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := byNode[m.Options().Addr]; !ok {
			byNode[m.Options().Addr] = r
		}
	}
	if len(byNode) < 3 {
		t.Fatalf("the first 40 subscribers' rec hashes sit on %d masters", len(byNode))
	}
	var drifted []dataset.Recommendation
	for _, r := range byNode {
		drifted = append(drifted, r)
	}
	a, b, c := drifted[0], drifted[1], drifted[2]
	k := w.keys
	orphan := dataset.ISDNFor(91, 1)
	w.do(t, "HSET", k.Rec(a.ISDN), "advance_amount", "1")
	w.do(t, "DEL", k.Profile(b.ISDN))
	w.do(t, "PERSIST", k.Rec(c.ISDN))
	w.do(t, "ZREM", k.ServiceIndex(c.ServiceType), c.ISDN)
	w.do(t, "HSET", k.Rec(orphan), "isdn", orphan)
	w.do(t, "HSET", k.Stats(), dataset.StatRecKeys, "7")
	w.do(t, "SET", k.Namespace()+":junk", "x")
	rep = w.run(t, Options{})
	want(t, rep, FieldMismatch, a.ISDN, k.Rec(a.ISDN), "advance_amount")
	want(t, rep, MissingInRedis, b.ISDN, k.Profile(b.ISDN), "")
	want(t, rep, TTL, c.ISDN, k.Rec(c.ISDN), "ttl")
	want(t, rep, IndexMismatch, c.ISDN, k.ServiceIndex(c.ServiceType), "score")
	want(t, rep, OrphanInRedis, orphan, k.Rec(orphan), "")
	want(t, rep, Stats, "", k.Stats(), dataset.StatRecKeys)
	only(t, rep, FieldMismatch, MissingInRedis, TTL, IndexMismatch, OrphanInRedis, Stats)
	if rep.ForeignKeys != 1 {
		t.Errorf("foreign keys %d, want 1", rep.ForeignKeys)
	}
	if rep := w.run(t, Options{Sample: testSubscribers * 2}); rep.Sample.Mismatched != 3 {
		t.Errorf("sample of everyone on the cluster: %d subscribers mismatched, want 3:\n%s", rep.Sample.Mismatched, dump(rep))
	}

	rep = w.run(t, Options{Repair: true})
	if rep.Repair.After == nil || !rep.Repair.After.Clean {
		t.Fatalf("repair on the cluster left mismatches:\n%s\nafter:\n%s", dump(rep), dump(rep.Repair.After))
	}
	if p := rep.Repair.Plan; p.RecRewrites != 1 || p.ProfileRewrites != 1 || p.KeysDeleted != 1 || p.TTLFixed != 2 || p.IndexAdded != 1 {
		t.Errorf("repair plan %+v, want 1 rec and 1 profile rewrite, 1 deletion, 2 TTLs (the orphan has none), 1 member added", p)
	}
	again := w.run(t, Options{Source: dir})
	if !again.Clean {
		t.Fatalf("verify after repair on the cluster:\n%s", dump(again))
	}
	wantAll(t, again)
	if ttl := w.cc.PTTL(ctx, k.Rec(c.ISDN)).Val(); ttl <= 0 || ttl > loader.DefaultTTL {
		t.Errorf("repaired TTL %v", ttl)
	}
	if w.cc.Exists(ctx, k.Namespace()+":junk").Val() != 1 {
		t.Errorf("the foreign key was touched")
	}
}

// TestVerifyClusterFailover kills (SIGKILL) a master in the middle of verify's
// scan of it: the scan of that master restarts on its promoted replica, the
// reads of its keys wait for the promotion, and the report is clean with every
// key counted once. The killed node is restarted afterwards (scripts/cluster.sh
// up) and rejoins as a replica.
func TestVerifyClusterFailover(t *testing.T) {
	cc := testenv.ClusterExclusive(t)
	dir := dataDir(t)
	w := loadCluster(t, cc, dir)
	ctx := context.Background()
	// Every write must be on a replica before a master dies, or the failover
	// may lose it (asynchronous replication).
	err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		if n, err := m.Wait(ctx, 1, 10*time.Second).Result(); err != nil || n < 1 {
			return fmt.Errorf("WAIT on %s: %d replicas, %w", m.Options().Addr, n, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	masters, err := redisconn.Masters(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	testenv.RestartClusterAfter(t, cc)

	// Small pages, so that each master's scan takes several SCAN calls.
	defer func(n int64) { scanCount, scanPage = n, nil }(scanCount)
	scanCount = 40
	var (
		mu     sync.Mutex
		killed time.Time
		victim string
		nodes  = map[string]int{}
	)
	scanPage = func(node string, keys []string) {
		mu.Lock()
		defer mu.Unlock()
		nodes[node] += len(keys)
		if !killed.IsZero() {
			return
		}
		victim = node
		pid := testenv.ClusterNodePID(t, node)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Errorf("kill %d: %v", pid, err)
			return
		}
		killed = time.Now()
		t.Logf("killed master %s (pid %d) after its first page of %d keys", node, pid, len(keys))
	}
	rep := w.run(t, Options{})
	took := time.Since(killed)
	if killed.IsZero() {
		t.Fatal("the scan never called back")
	}
	if !rep.Clean {
		t.Fatalf("verify with a failover during its scan reported mismatches:\n%s", dump(rep))
	}
	wantAll(t, rep)
	var takeover string
	for n := range nodes {
		if !slices.Contains(masters, n) {
			takeover = n
		}
	}
	if takeover == "" {
		t.Errorf("no page came from a promoted replica: keys per node %v (victim %s)", nodes, victim)
	}
	t.Logf("verify finished clean %.1f s after the kill; the scan of %s went on on %s; keys per node %v",
		took.Seconds(), victim, takeover, nodes)
}
