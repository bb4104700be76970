package redisconn_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/redisconn"
	"github.com/ut360/ut360/internal/testenv"
)

// TestMain silences go-redis's log (dial failures while a node is down).
func TestMain(m *testing.M) {
	redis.SetLogger(quiet{})
	os.Exit(m.Run())
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// TestSlotMatchesClusterKeyslot checks dataset.Slot, which the loader's
// staging names rely on, against the server's own CLUSTER KEYSLOT.
func TestSlotMatchesClusterKeyslot(t *testing.T) {
	cc := testenv.Cluster(t)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "ab{}:+/=xyz0123456789{}"
	keys := []string{"", "{", "}", "{}", "{}{a}", "a{b}c", "a{b{c}d}", "{{}}", "ut360:rec:++/hZFPrCDRre55vsZqqxQ==", "é{ü}"}
	for range 5000 {
		b := make([]byte, 1+r.IntN(24))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		keys = append(keys, string(b))
	}
	for range 500 {
		b := make([]byte, 1+r.IntN(12)) // arbitrary bytes, invalid UTF-8 included
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		keys = append(keys, string(b))
	}
	cmds := make([]*redis.IntCmd, len(keys))
	_, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.ClusterKeySlot(ctx, k)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if got, want := dataset.Slot(k), cmds[i].Val(); int64(got) != want {
			t.Errorf("Slot(%q) = %d, CLUSTER KEYSLOT = %d", k, got, want)
		}
	}
}

// TestSlotTagServerRoundTrip asks the server where "{T}" lives for the tag T
// of every slot.
func TestSlotTagServerRoundTrip(t *testing.T) {
	cc := testenv.Cluster(t)
	ctx := context.Background()
	cmds := make([]*redis.IntCmd, dataset.SlotCount)
	_, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
		for s := range uint16(dataset.SlotCount) {
			cmds[s] = p.ClusterKeySlot(ctx, "ns:stage:{"+dataset.SlotTag(s)+"}:rec:x{y}")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for s, c := range cmds {
		if c.Val() != int64(s) {
			t.Fatalf("SlotTag(%d) = %q: CLUSTER KEYSLOT says %d", s, dataset.SlotTag(uint16(s)), c.Val())
		}
	}
}

// writeKeys writes n string keys ns:k:<i> and returns them.
func writeKeys(t *testing.T, rdb redis.UniversalClient, ns string, n int) map[string]bool {
	t.Helper()
	ctx := context.Background()
	want := make(map[string]bool, n)
	for start := 0; start < n; start += 5000 {
		_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := start; i < min(start+5000, n); i++ {
				k := ns + ":k:" + strconv.Itoa(i)
				want[k] = true
				p.Set(ctx, k, i, time.Hour)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return want
}

// collector gathers what ForEachMasterScan passes, counting repeats.
type collector struct {
	mu      sync.Mutex
	got     map[string]string // key → node
	repeats int
	perNode map[string]int
}

func newCollector() *collector {
	return &collector{got: map[string]string{}, perNode: map[string]int{}}
}

func (c *collector) add(node string, keys []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		if _, dup := c.got[k]; dup {
			c.repeats++
		}
		c.got[k] = node
		c.perNode[node]++
	}
}

// check compares the keys seen with want.
func (c *collector) check(t *testing.T, want map[string]bool) {
	t.Helper()
	if c.repeats > 0 {
		t.Errorf("%d keys passed twice", c.repeats)
	}
	missing, extra := 0, 0
	for k := range want {
		if _, ok := c.got[k]; !ok {
			missing++
		}
	}
	for k := range c.got {
		if !want[k] {
			extra++
		}
	}
	if missing > 0 || extra > 0 || len(c.got) != len(want) {
		t.Errorf("scan saw %d keys, want %d: %d missing, %d not written", len(c.got), len(want), missing, extra)
	}
}

func TestForEachMasterScanSeesEveryKey(t *testing.T) {
	cc := testenv.Cluster(t)
	ns := testenv.ClusterNamespace(t, cc)
	want := writeKeys(t, cc, ns, 30000)
	masters, err := redisconn.Masters(context.Background(), cc)
	if err != nil {
		t.Fatal(err)
	}
	if len(masters) != 3 {
		t.Fatalf("Masters = %v, want 3", masters)
	}
	c := newCollector()
	err = redisconn.ForEachMasterScan(context.Background(), cc, ns+":*", 1000, func(_ context.Context, node string, keys []string) error {
		c.add(node, keys)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c.check(t, want)
	nodes := slices.Sorted(func(yield func(string) bool) {
		for n := range c.perNode {
			if !yield(n) {
				return
			}
		}
	})
	if !slices.Equal(nodes, masters) {
		t.Errorf("keys came from %v, masters are %v", nodes, masters)
	}
	t.Logf("30,000 keys over the masters: %v", c.perNode)

	// The one-node Scan of go-redis sees a part only (the reason for ForEachMasterScan).
	keys, _, err := cc.Scan(context.Background(), 0, ns+":*", 100000).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) >= len(want) {
		t.Errorf("ClusterClient.Scan saw %d of %d keys: expected one node's share", len(keys), len(want))
	}

	// An error of the callback ends the scan as it is.
	stop := fmt.Errorf("stop here")
	if err := redisconn.ForEachMasterScan(context.Background(), cc, ns+":*", 100, func(context.Context, string, []string) error { return stop }); err != stop {
		t.Errorf("callback error came back as %v", err)
	}
}

func TestForEachMasterScanSingleServer(t *testing.T) {
	r := testenv.NewRedis(t)
	want := writeKeys(t, r.Client, r.Namespace, 3000)
	c := newCollector()
	err := redisconn.ForEachMasterScan(context.Background(), r.Client, r.Namespace+":*", 100, func(_ context.Context, node string, keys []string) error {
		c.add(node, keys)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c.check(t, want)
	if masters, err := redisconn.Masters(context.Background(), r.Client); err != nil || len(c.perNode) != 1 || c.perNode[masters[0]] != len(want) {
		t.Errorf("per node %v, masters %v (%v)", c.perNode, masters, err)
	}
	if slots, err := redisconn.MigratingSlots(context.Background(), r.Client); err != nil || len(slots) != 0 {
		t.Errorf("MigratingSlots on one server = %v, %v", slots, err)
	}
}

// TestForEachMasterScanFailover kills (SIGKILL) one master in the middle of
// its scan: the scan must wait for the replica's promotion, scan the new
// master from the start, and end with exactly the keys written, none twice.
// Then the killed node is restarted (scripts/cluster.sh up), rejoins as a
// replica, and the cluster is healthy again.
func TestForEachMasterScanFailover(t *testing.T) {
	cc := testenv.ClusterExclusive(t)
	ctx := context.Background()
	ns := testenv.ClusterNamespace(t, cc)
	want := writeKeys(t, cc, ns, 30000)
	// Every write must be on a replica before a master dies (WAIT), or the
	// failover may lose it (asynchronous replication).
	err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		n, err := m.Wait(ctx, 1, 10*time.Second).Result()
		if err == nil && n < 1 {
			err = fmt.Errorf("WAIT on %s: no replica acknowledged", m.Options().Addr)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	masters, err := redisconn.Masters(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	victim := masters[rand.IntN(len(masters))]
	pid := testenv.ClusterNodePID(t, victim)
	testenv.RestartClusterAfter(t, cc)

	// A separate client with the failover hook writes to a key of the
	// victim's shard until it succeeds: the time a client needs after a kill.
	hooked, err := redisconn.Open(ctx, testenv.ClusterURL())
	if err != nil {
		t.Fatal(err)
	}
	defer hooked.Close()
	probe := keyOn(t, hooked.(*redis.ClusterClient), victim, ns)
	var survivor *redis.Client // a master that stays up, asked when the victim's slots moved
	err = cc.ForEachMaster(ctx, func(_ context.Context, m *redis.Client) error {
		if m.Options().Addr != victim {
			probeMu.Lock()
			survivor = m
			probeMu.Unlock()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	var killed time.Time
	var firstAfter time.Duration
	c := newCollector()
	err = redisconn.ForEachMasterScan(ctx, cc, ns+":k:*", 100, func(_ context.Context, node string, keys []string) error {
		c.add(node, keys)
		if node == victim && killed.IsZero() {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				return fmt.Errorf("kill %d: %w", pid, err)
			}
			killed = time.Now()
			t.Logf("killed %s (pid %d) after its first %d keys", victim, pid, len(keys))
			go writeUntilOK(hooked, probe)
			go watchPromotion(survivor, dataset.Slot(probe), victim)
		}
		if !slices.Contains(masters, node) && firstAfter == 0 {
			firstAfter = time.Since(killed) // the first page from the promoted replica
		}
		return nil
	})
	scanned := time.Since(killed)
	if err != nil {
		t.Fatalf("scan with a failover: %v", err)
	}
	if killed.IsZero() {
		t.Fatal("the victim's scan never called back")
	}
	c.check(t, want)
	var takeover string
	for n := range c.perNode {
		if !slices.Contains(masters, n) {
			takeover = n
		}
	}
	if takeover == "" {
		t.Errorf("no keys came from a new master: per node %v", c.perNode)
	}
	t.Logf("scan restarted on %s: first page %.1f s after the kill, scan done %.1f s after; per node %v",
		takeover, firstAfter.Seconds(), scanned.Seconds(), c.perNode)
	promoted := waitFor(t, "promotion")
	t.Logf("the replica was promoted %.1f s after the kill (as CLUSTER SLOTS on a surviving master shows it)", promoted.Sub(killed).Seconds())
	t.Logf("the scan went on on the new master %.1f s after the promotion", (firstAfter - promoted.Sub(killed)).Seconds())
	t.Logf("a client with WatchFailover wrote to the failed shard again %.1f s after the kill, %.1f s after the promotion",
		waitFor(t, probe).Sub(killed).Seconds(), waitFor(t, probe).Sub(promoted).Seconds())
}

// watchPromotion asks survivor every 20 ms who serves slot, until it is not
// victim, and records when under "promotion".
func watchPromotion(survivor *redis.Client, slot uint16, victim string) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		ranges, err := survivor.ClusterSlots(ctx).Result()
		for _, r := range ranges {
			if err == nil && int(slot) >= r.Start && int(slot) <= r.End && len(r.Nodes) > 0 && r.Nodes[0].Addr != victim {
				probeMu.Lock()
				probeDone["promotion"] = time.Now()
				probeMu.Unlock()
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// keyOn returns a key of the namespace that lives on master addr.
func keyOn(t *testing.T, cc *redis.ClusterClient, addr, ns string) string {
	t.Helper()
	for i := 0; i < 100000; i++ {
		k := ns + ":probe:" + strconv.Itoa(i)
		m, err := cc.MasterForKey(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		if m.Options().Addr == addr {
			return k
		}
	}
	t.Fatalf("no key on %s", addr)
	return ""
}

var (
	probeMu   sync.Mutex
	probeDone = map[string]time.Time{}
)

// writeUntilOK SETs key every 50 ms until a write succeeds, and records when.
func writeUntilOK(rdb redis.UniversalClient, key string) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if rdb.Set(ctx, key, "x", time.Hour).Err() == nil {
			probeMu.Lock()
			probeDone[key] = time.Now()
			probeMu.Unlock()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitFor waits up to 90 s for the event recorded under key.
func waitFor(t *testing.T, key string) time.Time {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		probeMu.Lock()
		d, ok := probeDone[key]
		probeMu.Unlock()
		if ok {
			return d
		}
	}
	t.Fatalf("%s: nothing within 90 s of the kill", key)
	return time.Time{}
}

func TestMigratingSlots(t *testing.T) {
	cc := testenv.ClusterExclusive(t)
	ctx := context.Background()
	if slots, err := redisconn.MigratingSlots(ctx, cc); err != nil || len(slots) != 0 {
		t.Fatalf("before: MigratingSlots = %v, %v", slots, err)
	}
	// Two masters: the owner of slot s and another one.
	const s = 12345
	owner, other, ownerID, otherID := testenv.SlotMasters(t, cc, "{"+dataset.SlotTag(s)+"}")
	t.Cleanup(func() {
		for _, n := range []*redis.Client{owner, other} {
			if err := n.Do(context.Background(), "CLUSTER", "SETSLOT", s, "STABLE").Err(); err != nil {
				t.Errorf("SETSLOT %d STABLE on %s: %v", s, n.Options().Addr, err)
			}
		}
	})
	check := func(step string, want []uint16) {
		t.Helper()
		got, err := redisconn.MigratingSlots(ctx, cc)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: MigratingSlots = %v, %v; want %v", step, got, err, want)
		}
	}
	if err := owner.Do(ctx, "CLUSTER", "SETSLOT", s, "MIGRATING", otherID).Err(); err != nil {
		t.Fatal(err)
	}
	check("migrating", []uint16{s})
	if err := other.Do(ctx, "CLUSTER", "SETSLOT", s, "IMPORTING", ownerID).Err(); err != nil {
		t.Fatal(err)
	}
	check("migrating and importing", []uint16{s})
	if err := owner.Do(ctx, "CLUSTER", "SETSLOT", s, "STABLE").Err(); err != nil {
		t.Fatal(err)
	}
	check("importing only", []uint16{s})
	if err := other.Do(ctx, "CLUSTER", "SETSLOT", s, "STABLE").Err(); err != nil {
		t.Fatal(err)
	}
	check("stable", nil)
}

func TestConfigSetAll(t *testing.T) {
	cc := testenv.ClusterExclusive(t) // changes a setting of every node for a moment
	ctx := context.Background()
	const param = "slowlog-max-len"
	before := map[string]string{}
	var mu sync.Mutex
	get := func(into map[string]string) {
		t.Helper()
		err := cc.ForEachShard(ctx, func(ctx context.Context, c *redis.Client) error {
			v, err := c.ConfigGet(ctx, param).Result()
			mu.Lock()
			into[c.Options().Addr] = v[param]
			mu.Unlock()
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	get(before)
	if len(before) != 6 {
		t.Fatalf("ForEachShard reached %d nodes, want 6", len(before))
	}
	orig := before[cc.Options().Addrs[0]]
	t.Cleanup(func() {
		if err := redisconn.ConfigSetAll(context.Background(), cc, param, orig); err != nil {
			t.Errorf("restore %s: %v", param, err)
		}
	})
	if err := redisconn.ConfigSetAll(ctx, cc, param, "129"); err != nil {
		t.Fatal(err)
	}
	after := map[string]string{}
	get(after)
	for n, v := range after {
		if v != "129" {
			t.Errorf("%s: %s = %s after ConfigSetAll", n, param, v)
		}
	}
	if err := redisconn.ConfigSetAll(ctx, cc, "no-such-parameter", "1"); err == nil || !strings.Contains(err.Error(), "no-such-parameter") {
		t.Errorf("unknown parameter: %v", err)
	}
}
