package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/internal/redact"
	"github.com/ut360/ut360/internal/redisconn"
)

// DefaultRedisCluster is the cluster `make cluster` starts (scripts/cluster.sh,
// docs/cluster.md); UT360_REDIS_CLUSTER_URL overrides it.
const DefaultRedisCluster = "redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003"

const clusterHint = "start it with `make cluster` (scripts/cluster.sh up, which also restarts a missing node), or set UT360_REDIS_CLUSTER_URL"

// clusterLockWait bounds the wait for the cross-process cluster lock.
const clusterLockWait = 5 * time.Minute

// ClusterURL is the URL of the test cluster: UT360_REDIS_CLUSTER_URL, else
// DefaultRedisCluster.
func ClusterURL() string { return getenv("UT360_REDIS_CLUSTER_URL", DefaultRedisCluster) }

// Cluster connects to the test cluster (redisconn.Open, so failovers are
// picked up quickly) and closes the client when the test ends. The test
// FAILS, never skips, when the cluster is unreachable or not healthy
// (cluster_state other than ok on a node).
//
// For the length of the test it holds a shared lock on the cluster (a file
// in the temporary directory, named after the URL), which keeps out a
// ClusterExclusive test of any test process: `go test ./...` runs packages
// in parallel, and one package killing a master must not fail another's
// test. A test takes Cluster or ClusterExclusive, once.
func Cluster(t testing.TB) *redis.ClusterClient {
	t.Helper()
	return openCluster(t, syscall.LOCK_SH)
}

// ClusterExclusive is Cluster for a test that disturbs the cluster (kills a
// node, sets a slot MIGRATING): it waits until no other test holds the
// cluster and keeps every other Cluster test out until it ends. It must
// leave the cluster healthy again (restart what it killed).
func ClusterExclusive(t testing.TB) *redis.ClusterClient {
	t.Helper()
	return openCluster(t, syscall.LOCK_EX)
}

func openCluster(t testing.TB, how int) *redis.ClusterClient {
	t.Helper()
	u := ClusterURL()
	cfg, err := redisconn.Parse(u)
	if err != nil {
		t.Fatalf("UT360_REDIS_CLUSTER_URL: %v", err)
	}
	if cfg.Cluster == nil {
		t.Fatalf("UT360_REDIS_CLUSTER_URL %s is not a cluster URL (redis+cluster://host:port,…)", redact.URL(u))
	}
	// Lock before connecting: a fault test may have a node down right now.
	lockCluster(t, cfg.Cluster.Addrs[0], how)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rdb, err := redisconn.Open(ctx, u)
	if err != nil {
		t.Fatalf("Redis Cluster at %s: %v — %s", redact.URL(u), err, clusterHint)
	}
	cc := rdb.(*redis.ClusterClient) // Open of a cluster URL
	t.Cleanup(func() { cc.Close() })
	err = cc.ForEachShard(ctx, func(ctx context.Context, c *redis.Client) error {
		info, err := c.ClusterInfo(ctx).Result()
		if err != nil {
			return fmt.Errorf("%s: %w", c.Options().Addr, err)
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return fmt.Errorf("%s: cluster_state is not ok", c.Options().Addr)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Redis Cluster at %s is not healthy: %v — %s", redact.URL(u), err, clusterHint)
	}
	// Under the lock no test has a slot open, so one open now was left by a
	// test process that died (the state survives restarts in nodes.conf);
	// every load would refuse to swap.
	slots, err := redisconn.MigratingSlots(ctx, cc)
	if err != nil {
		t.Fatalf("Redis Cluster at %s: %v", redact.URL(u), err)
	}
	if len(slots) > 0 {
		t.Fatalf("Redis Cluster at %s has %d hash slot(s) left migrating or importing (first %d), so every load refuses to swap: "+
			"`make cluster` (scripts/cluster.sh up) makes them stable when no test holds the cluster", redact.URL(u), len(slots), slots[0])
	}
	return cc
}

// lockCluster takes the cross-process lock of the cluster whose first seed
// address is addr (flock: how is LOCK_SH or LOCK_EX) and releases it when the
// test ends. scripts/cluster.sh takes the same file, to know that no test
// holds the cluster before it touches slots.
func lockCluster(t testing.TB, addr string, how int) {
	t.Helper()
	path := filepath.Join(os.TempDir(), "ut360-cluster-"+strings.ReplaceAll(addr, ":", "_")+".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("cluster lock: %v", err)
	}
	deadline := time.Now().Add(clusterLockWait)
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if err != syscall.EWOULDBLOCK || time.Now().After(deadline) {
			f.Close()
			t.Fatalf("cluster lock %s: %v (another test process has held it for %v)", path, err, clusterLockWait)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() { f.Close() }) // closing the file releases the lock
}

// ClusterNamespace picks a unique key namespace on the cluster (or any
// client) and deletes its keys, on every master, when the test ends.
func ClusterNamespace(t testing.TB, rdb redis.UniversalClient) string {
	t.Helper()
	ns := "ut360test-" + ID()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := deleteMatching(ctx, rdb, ns+":*"); err != nil {
			t.Errorf("cleanup of namespace %s: %v", ns, err)
		}
	})
	return ns
}

// deleteMatching unlinks every key matching the pattern on every master, one
// key per command (keys of different slots cannot share one UNLINK).
func deleteMatching(ctx context.Context, rdb redis.UniversalClient, match string) error {
	return redisconn.ForEachMasterScan(ctx, rdb, match, 5000, func(ctx context.Context, _ string, keys []string) error {
		_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				p.Unlink(ctx, k)
			}
			return nil
		})
		return err
	})
}
