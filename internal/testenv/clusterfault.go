package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// ClusterNodePID is the pid of the redis-server at addr (INFO server), after
// checking that it is a loopback redis-server of this machine: for fault
// tests (ClusterExclusive) that kill a node.
func ClusterNodePID(t testing.TB, addr string) int {
	t.Helper()
	host, _, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		t.Fatalf("a fault test kills a local node: %s is not on loopback", addr)
	}
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	info, err := c.Info(context.Background(), "server").Result()
	if err != nil {
		t.Fatalf("INFO on %s: %v", addr, err)
	}
	var pid int
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			pid, _ = strconv.Atoi(v)
		}
	}
	cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if pid == 0 || err != nil || !strings.Contains(string(cmd), "redis-server") {
		t.Fatalf("pid %d of %s is not a local redis-server (%q, %v)", pid, addr, cmd, err)
	}
	return pid
}

// RestartClusterAfter runs RestartCluster when the test ends.
func RestartClusterAfter(t testing.TB, cc *redis.ClusterClient) {
	t.Helper()
	t.Cleanup(func() { RestartCluster(t, cc) })
}

// RestartCluster runs scripts/cluster.sh up (on the cluster's first port):
// it restarts a killed node once its replica has taken over, and waits until
// the cluster is healthy again.
func RestartCluster(t testing.TB, cc *redis.ClusterClient) {
	t.Helper()
	// The first port of the cluster comes from its URL's seed addresses, not
	// from the live nodes: the node killed may be the first one.
	first := 65536
	for _, a := range cc.Options().Addrs {
		_, p, _ := net.SplitHostPort(a)
		if n, err := strconv.Atoi(p); err == nil {
			first = min(first, n)
		}
	}
	script, err := repoFile("scripts/cluster.sh")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(script, "up", "--port", strconv.Itoa(first)).CombinedOutput()
	if err != nil {
		t.Errorf("scripts/cluster.sh up: %v\n%s", err, out)
		return
	}
	t.Logf("scripts/cluster.sh up:\n%s", out)
}

// repoFile finds rel in the module root, the nearest directory above the
// test's working directory that holds go.mod.
func repoFile(rel string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, rel), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%s: no go.mod above the working directory", rel)
		}
		dir = parent
	}
}

// SlotMasters returns the master that owns key's slot and another master,
// with their cluster node IDs: for tests that set a slot MIGRATING or
// IMPORTING by hand, as a resharding does.
func SlotMasters(t testing.TB, cc *redis.ClusterClient, key string) (owner, other *redis.Client, ownerID, otherID string) {
	t.Helper()
	ctx := context.Background()
	owner, err := cc.MasterForKey(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	err = cc.ForEachMaster(ctx, func(_ context.Context, m *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		if m.Options().Addr != owner.Options().Addr {
			other = m // any one will do
		}
		return nil
	})
	if err != nil || other == nil {
		t.Fatalf("a second master: %v", err)
	}
	if ownerID, err = owner.Do(ctx, "CLUSTER", "MYID").Text(); err != nil {
		t.Fatal(err)
	}
	if otherID, err = other.Do(ctx, "CLUSTER", "MYID").Text(); err != nil {
		t.Fatal(err)
	}
	return owner, other, ownerID, otherID
}
