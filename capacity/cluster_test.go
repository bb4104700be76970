package capacity

import (
	"context"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/progress"
	"github.com/ut360/ut360/internal/testenv"
	"github.com/ut360/ut360/loader"
)

// TestEvenSlots: the even split is redis-cli --cluster create's (three
// masters: 0-5460, 5461-10922, 10923-16383).
func TestEvenSlots(t *testing.T) {
	if got := evenSlots(3); !slices.Equal(got, []int{0, 5461, 10923}) {
		t.Errorf("evenSlots(3) = %v", got)
	}
	for _, k := range []int{1, 2, 7, 100, maxMasters} {
		first := evenSlots(k)
		if first[0] != 0 || !slices.IsSorted(first) || len(slices.Compact(slices.Clone(first))) != k || first[k-1] >= clusterSlots {
			t.Errorf("evenSlots(%d) = %v…", k, first[:min(k, 5)])
		}
	}
}

// TestSingleServerPlanUnchanged: measured on one server, the plan sizes no
// cluster unless a master's maxmemory is given.
func TestSingleServerPlanUnchanged(t *testing.T) {
	m := &Measurement{Subscribers: 100_000, PGBytes: 200e6, PGBytesPerSub: 2000, RedisBytesPerSub: 1500,
		IndexKeys: []IndexKey{{Key: "ut360:idx:risk:LOW", Slot: 100, Bytes: 2e6}, {Key: "ut360:idx:risk:HIGH", Slot: 9000, Bytes: 1e6},
			{Key: "ut360:meta:stats", Slot: 12000, Bytes: 900}}}
	p := Project(m, Options{})
	var md strings.Builder
	p.Markdown(&md, "")
	if p.Cluster != nil || strings.Contains(md.String(), "Redis Cluster") {
		t.Fatalf("a single-server plan sized a cluster: %+v", p.Cluster)
	}
	p = Project(m, Options{MasterMaxMemory: 1 << 30})
	cp := p.Cluster
	if cp == nil || len(cp.Sizes) != 3 || cp.Usable != 858993459 {
		t.Fatalf("cluster plan %+v", cp)
	}
	for _, cs := range cp.Sizes {
		// The fewest masters: the busiest stays within the usable memory at
		// the 2× peak with that many, and not with one fewer.
		k := cs.MastersNeeded
		if k == 0 || 2*p.busiest(cp, cs.Subscribers, k) > float64(cp.Usable) ||
			k > 1 && 2*p.busiest(cp, cs.Subscribers, k-1) <= float64(cp.Usable) || cs.SteadyMasters > k || len(cs.Measured) != 0 {
			t.Errorf("sizing %+v", cs)
		}
	}
	// 10M subscribers: 15.9 GB spread by slot plus a 200 MB index key on one
	// master, twice at the peak, in 0.86 GB usable: 2 × (15.9 GB / k + 0.2 GB)
	// ≤ 0.86 GB gives k ≥ 70.
	if n := cp.Sizes[2].MastersNeeded; n < 69 || n > 72 {
		t.Errorf("10M needs %d masters of 1 GiB", n)
	}
	// An index key too big for any master: no number of masters suffices.
	m.IndexKeys[0].Bytes = 50e6 // 5 GB at 10M, 10 GB at the peak
	if cs := Project(m, Options{MasterMaxMemory: 1 << 30}).Cluster.Sizes[2]; cs.MastersNeeded != 0 {
		t.Errorf("a 5 GB index key in 1 GiB masters: %+v", cs)
	}
}

// TestMeasureOnCluster loads a small dataset into the test Redis Cluster
// (`make cluster`), measures it per master and sizes the cluster.
func TestMeasureOnCluster(t *testing.T) {
	ctx := context.Background()
	cc := testenv.Cluster(t)
	pg := testenv.NewMigratedPG(t)
	keys := dataset.NewKeys(testenv.ClusterNamespace(t, cc))
	dir := t.TempDir()
	const n = 3000
	if _, err := dataset.Generate(ctx, dataset.GenOptions{Subscribers: n, Out: dir}); err != nil {
		t.Fatal(err)
	}
	if _, err := loader.Load(ctx, pg.Pool, cc, loader.Options{Data: dir, Postgres: true, Redis: true, Keys: keys,
		RejectsPath: "-", Progress: progress.Quiet, Out: io.Discard}); err != nil {
		t.Fatal(err)
	}
	m, err := Measure(ctx, pg.Pool, cc, MeasureOptions{Keys: keys, Sample: 1000})
	if err != nil {
		t.Fatal(err)
	}
	c := m.Cluster
	if c == nil || len(c.Masters) != 3 {
		t.Fatalf("cluster measurement %+v", c)
	}
	var slots int
	var used int64
	var bytes float64
	for _, ms := range c.Masters {
		slots += ms.Slots
		used += ms.UsedMemory
		bytes += ms.Bytes
		if share := float64(ms.Slots) / clusterSlots; math.Abs(ms.SampledShare-share) > 0.06 {
			t.Errorf("%s owns %.3f of the slots but %.3f of the sampled keys", ms.Addr, share, ms.SampledShare)
		}
	}
	if slots != clusterSlots || used != m.RedisUsedMemory || used <= 0 {
		t.Errorf("slots %d, used_memory %d (measurement %d)", slots, used, m.RedisUsedMemory)
	}
	if math.Abs(bytes-m.RedisBytes) > 0.001*m.RedisBytes {
		t.Errorf("masters' bytes add up to %.0f, the families to %.0f", bytes, m.RedisBytes)
	}
	// Every whole key is named with the master that really holds it.
	for _, ik := range m.IndexKeys {
		owner, err := cc.MasterForKey(ctx, ik.Key)
		if err != nil {
			t.Fatal(err)
		}
		if ik.Master != owner.Options().Addr || ik.Bytes <= 0 {
			t.Errorf("%s: measured on %q (%.0f B), held by %s", ik.Key, ik.Master, ik.Bytes, owner.Options().Addr)
		}
		if !isStats(ik.Key) && ik.Bytes > c.Biggest.Bytes {
			t.Errorf("%s (%.0f B) is bigger than the biggest, %s", ik.Key, ik.Bytes, c.Biggest.Key)
		}
	}
	if !strings.HasPrefix(c.Biggest.Key, keys.IndexPrefix()) {
		t.Errorf("biggest index key %+v", c.Biggest)
	}

	p := Project(m, Options{Sizes: []int64{1_000_000, 10_000_000}})
	cp := p.Cluster
	if cp == nil || cp.MasterMaxMemory <= 0 || len(cp.Sizes) != 2 {
		t.Fatalf("cluster plan %+v", cp)
	}
	one, ten := cp.Sizes[0], cp.Sizes[1]
	if one.MastersNeeded < 1 || ten.MastersNeeded < one.MastersNeeded || len(ten.Measured) != 3 {
		t.Errorf("masters needed: 1M %+v, 10M %+v", one, ten)
	}
	var total int64
	for _, mp := range ten.Measured {
		total += mp.Bytes
	}
	if want := p.RedisPerSub * 10e6; math.Abs(float64(total)-want) > 0.01*want {
		t.Errorf("the measured masters at 10M hold %d B, the plan %0.f B", total, want)
	}
	out := t.TempDir()
	written, err := p.WriteFiles(out)
	if err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(written.Markdown)
	html, _ := os.ReadFile(filepath.Join(out, "capacity.html"))
	for _, want := range []string{"## Redis Cluster", "Biggest index key: `" + c.Biggest.Key, "| 10000000 |", c.Masters[0].Addr} {
		if !strings.Contains(string(md), want) {
			t.Errorf("capacity.md lacks %q", want)
		}
	}
	if !strings.Contains(string(html), "Redis Cluster") {
		t.Errorf("capacity.html lacks the cluster section")
	}
	var text strings.Builder
	p.TextSummary(&text)
	t.Logf("\n%s", text.String())
	if !strings.Contains(text.String(), "cluster at 10000000:") {
		t.Errorf("summary lacks the cluster sizing:\n%s", text.String())
	}
}
