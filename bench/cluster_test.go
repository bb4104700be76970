package bench

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/testenv"
	"github.com/ut360/ut360/loader"
	"github.com/ut360/ut360/scenarios"
)

// clusterStores loads a small dataset into a private schema and a private
// namespace of the local Redis Cluster (make cluster). The test fails when
// the cluster is unreachable.
func clusterStores(t *testing.T, n int) (*redis.ClusterClient, string, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	cc := testenv.Cluster(t)
	ns := testenv.ClusterNamespace(t, cc)
	pg := testenv.NewMigratedPG(t)
	dir := t.TempDir()
	if _, err := dataset.Generate(ctx, dataset.GenOptions{Subscribers: n, Out: dir}); err != nil {
		t.Fatal(err)
	}
	if _, err := loader.Load(ctx, pg.Pool, cc, loader.Options{Data: dir, Postgres: true, Redis: true,
		Keys: dataset.NewKeys(ns), RejectsPath: "-"}); err != nil {
		t.Fatalf("load into the cluster: %v", err)
	}
	pool, err := pgxpool.New(ctx, pg.URL+"&pool_max_conns=12")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return asBenchCluster(t, cc), ns, pool
}

// TestClusterAllScenarios runs every built-in scenario briefly against the
// local Redis Cluster (and PostgreSQL): every scenario × store succeeds
// without an error, and the Redis targets report their commands per master,
// which add up to what the operations sent and sit where the keys' slots are.
func TestClusterAllScenarios(t *testing.T) {
	cc, ns, pool := clusterStores(t, 1500)
	ctx := context.Background()
	run, err := RunScenarios(ctx, Options{Out: t.TempDir(), Namespace: ns, Pool: pool, Redis: cc,
		Version: "test", Commit: "test", Duration: 400 * time.Millisecond, WarmupSet: true, Concurrency: 4,
		Interval: 200 * time.Millisecond}, mustBuiltin(t))
	if err != nil && !errors.Is(err, ErrThresholds) { // a short run on a shared machine may miss a p99
		t.Fatalf("bench on the cluster: %v", err)
	}
	masters := clusterMasters(t, cc)
	var names []string
	for _, sr := range run.Summary.Scenarios {
		names = append(names, sr.Scenario.Name)
		for _, r := range sr.Results {
			where := sr.Scenario.Name + "/" + r.Target
			if r.Ops == 0 || r.Errors != 0 {
				t.Errorf("%s: %d ops, %d errors %v, notes %v", where, r.Ops, r.Errors, r.ErrorKinds, r.Notes)
			}
			if r.Target == TargetPostgres {
				if r.Nodes != nil {
					t.Errorf("%s: per-master figures on PostgreSQL", where)
				}
				continue
			}
			checkNodes(t, where, r, masters)
			var cmds int64
			for _, n := range r.Nodes {
				cmds += n.Commands
			}
			want := r.Ops
			if sr.Scenario.Keys.Batch > 1 && sr.Scenario.Redis != nil && sr.Scenario.Redis.PerKey {
				want *= int64(sr.Scenario.Keys.Batch)
			}
			if cmds != want {
				t.Errorf("%s: %d commands counted per master, want %d", where, cmds, want)
			}
			// An index key sits whole on one master: every command goes there.
			if sr.Scenario.Keys.Distribution == "none" {
				key := strings.ReplaceAll(sr.Scenario.Redis.Commands[0][1], "{ns}", ns)
				owner, err := cc.MasterForKey(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range r.Nodes {
					if (n.Addr == owner.Options().Addr) != (n.Commands == r.Ops) {
						t.Errorf("%s: %s got %d of %d commands; %s is on %s", where, n.Addr, n.Commands, r.Ops, key, owner.Options().Addr)
					}
				}
			} else if r.Ops >= 300 {
				// Keys drawn uniformly spread over the masters by their slots.
				for _, n := range r.Nodes {
					if n.Share < 0.15 {
						t.Errorf("%s: master %s got %.0f%% of the commands", where, n.Addr, 100*n.Share)
					}
				}
			}
		}
	}
	want, _ := fs.Glob(scenarios.FS, "*.yaml")
	for i, w := range want {
		want[i] = strings.TrimSuffix(w, ".yaml")
	}
	slices.Sort(names)
	if !slices.Equal(names, want) {
		t.Errorf("scenarios run %v, built in %v", names, want)
	}
	md, err := os.ReadFile(filepath.Join(run.Dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "Per Redis Cluster master") {
		t.Errorf("report.md has no per-master table")
	}
}

func mustBuiltin(t *testing.T) []*Scenario {
	t.Helper()
	scs, err := LoadFiles(nil, true)
	if err != nil {
		t.Fatal(err)
	}
	return scs
}

func clusterMasters(t *testing.T, cc *redis.ClusterClient) []string {
	t.Helper()
	r, err := newClusterRoute(context.Background(), cc)
	if err != nil {
		t.Fatal(err)
	}
	return r.masters
}

func checkNodes(t *testing.T, where string, r *TargetResult, masters []string) {
	t.Helper()
	var addrs []string
	slots := 0
	for _, n := range r.Nodes {
		addrs = append(addrs, n.Addr)
		slots += n.Slots
	}
	if !slices.Equal(addrs, masters) || slots != 16384 {
		t.Errorf("%s: per-master figures for %v (%d slots), masters %v", where, addrs, slots, masters)
	}
}

// TestClusterWorkerFollowsRedirect gives a worker a wrong slot map (every
// slot on the next master): its pinned connection gets MOVED, the operation
// still succeeds through the ClusterClient, and the worker stays with the
// ClusterClient from then on.
func TestClusterWorkerFollowsRedirect(t *testing.T) {
	cc := testenv.Cluster(t)
	ns := testenv.ClusterNamespace(t, cc)
	ctx := context.Background()
	keys := dataset.NewKeys(ns)
	isdns := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	for _, k := range isdns {
		if err := cc.HSet(ctx, keys.Rec(k), "isdn", k).Err(); err != nil {
			t.Fatal(err)
		}
	}
	bc := asBenchCluster(t, cc)
	route, err := newClusterRoute(ctx, bc)
	if err != nil {
		t.Fatal(err)
	}
	if len(route.masters) < 2 {
		t.Fatalf("the test cluster has %d masters", len(route.masters))
	}
	for s := range route.owner {
		route.owner[s] = uint16((int(route.owner[s]) + 1) % len(route.masters))
	}
	op := &RedisOp{Commands: [][]string{{"HGETALL", "{ns}:rec:{isdn}"}}, Decode: "none"}
	tg := newRedisTarget(bc, op, ns, route)
	w, err := tg.newWorker(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	for _, k := range isdns {
		res, err := w.do(ctx, []string{k})
		if err != nil || res.items != 1 {
			t.Fatalf("HGETALL %s: %+v, %v", keys.Rec(k), res, err)
		}
	}
	if !w.(*redisWorker).unpinned {
		t.Errorf("the worker did not notice the redirection")
	}
}

func TestRedirected(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{proto("MOVED 3999 127.0.0.1:7002"), true},
		{proto("ASK 3999 127.0.0.1:7002"), true},
		{proto("CLUSTERDOWN The cluster is down"), true},
		{proto("WRONGTYPE Operation against a key holding the wrong kind of value"), false},
		{errDecode, false},
		{context.DeadlineExceeded, false},
		{errors.New("dial tcp 127.0.0.1:7001: connect: connection refused"), true},
	} {
		if got := redirected(c.err); got != c.want {
			t.Errorf("redirected(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// proto is a Redis error reply.
type proto string

func (e proto) Error() string { return string(e) }
func (proto) RedisError()     {}
