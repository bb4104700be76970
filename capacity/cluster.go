package capacity

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/dataset"
)

// On a Redis Cluster the per-subscriber keys (rec and profile hashes) are
// spread over the masters by hash slot, while each index key (and
// meta:stats) sits whole on the one master that owns its slot. So a master's
// share is its slots' share of the per-subscriber bytes plus the index keys
// it happens to own, and the biggest index key bounds how small a master can
// be. A load holds two copies of every key at its peak (the staged snapshot
// sits in the live key's slot, so on the same master).

// clusterSlots is the number of hash slots of a Redis Cluster.
const clusterSlots = 16384

// DefaultMasterMaxMemory is the maxmemory per master that cluster sizing
// assumes when none is given and the masters do not all have the same one.
const DefaultMasterMaxMemory = 8 << 30

// IndexKey is one key measured whole (an index key or meta:stats).
type IndexKey struct {
	Key   string  `json:"key"`
	Slot  uint16  `json:"slot"`
	Bytes float64 `json:"bytes"`
	// Master is the master holding the key ("" on a single server).
	Master string `json:"master,omitempty"`
}

// Master is one master of a Redis Cluster as measured.
type Master struct {
	Addr string `json:"addr"`
	// Slots is the number of hash slots the master owns.
	Slots int `json:"slots"`
	// SampledShare is the share of the sampled subscribers' rec and profile
	// hashes that live on this master (expected: Slots / 16384).
	SampledShare float64 `json:"sampled_share"`
	UsedMemory   int64   `json:"used_memory"`
	UsedDataset  int64   `json:"used_memory_dataset"`
	MaxMemory    int64   `json:"maxmemory"`
	// IndexKeys are the whole keys (index keys, meta:stats) on this master.
	IndexKeys  []string `json:"index_keys"`
	IndexBytes float64  `json:"index_bytes"`
	// Bytes estimates what the namespace holds on this master: its slot
	// share of the per-subscriber keys plus its whole keys.
	Bytes float64 `json:"bytes"`
}

// ClusterMeasurement is the per-master part of a measurement on a cluster.
type ClusterMeasurement struct {
	Masters []Master `json:"masters"`
	// Biggest is the biggest index key.
	Biggest IndexKey `json:"biggest_index_key"`
}

// forMasters calls fn on the one server, or on every master of a cluster
// (concurrently).
func forMasters(ctx context.Context, rdb redis.UniversalClient, fn func(context.Context, *redis.Client) error) error {
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, fn)
	case *redis.Client:
		return fn(ctx, c)
	}
	return fmt.Errorf("redis: %T is not supported: want *redis.Client or *redis.ClusterClient", rdb)
}

// measureInfo reads INFO memory and server on every master: the version,
// used_memory and used_memory_dataset (summed over the masters), and the
// masters themselves on a cluster.
func measureInfo(ctx context.Context, rdb redis.UniversalClient, m *Measurement) ([]Master, error) {
	var mu sync.Mutex
	var masters []Master
	err := forMasters(ctx, rdb, func(ctx context.Context, c *redis.Client) error {
		info, err := c.Info(ctx, "memory", "server").Result()
		if err != nil {
			return fmt.Errorf("redis: INFO on %s: %w", c.Options().Addr, err)
		}
		ms := Master{Addr: c.Options().Addr}
		ms.UsedMemory, _ = strconv.ParseInt(infoField(info, "used_memory"), 10, 64)
		ms.UsedDataset, _ = strconv.ParseInt(infoField(info, "used_memory_dataset"), 10, 64)
		ms.MaxMemory, _ = strconv.ParseInt(infoField(info, "maxmemory"), 10, 64)
		mu.Lock()
		defer mu.Unlock()
		m.RedisVersion = infoField(info, "redis_version")
		m.RedisUsedMemory += ms.UsedMemory
		m.RedisUsedDataset += ms.UsedDataset
		masters = append(masters, ms)
		return nil
	})
	slices.SortFunc(masters, func(a, b Master) int { return strings.Compare(a.Addr, b.Addr) })
	return masters, err
}

// measureWholeKeys measures every whole key (index keys and meta:stats) one
// by one, and on a cluster names the master of each.
func measureWholeKeys(ctx context.Context, rdb redis.UniversalClient, keys []string, owner []string) ([]IndexKey, error) {
	pipe := rdb.Pipeline()
	mem := make([]*redis.IntCmd, len(keys))
	for i, key := range keys {
		mem[i] = pipe.MemoryUsage(ctx, key, 0)
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, fmt.Errorf("redis: MEMORY USAGE of the index keys: %w", err)
	}
	out := make([]IndexKey, len(keys))
	for i, key := range keys {
		out[i] = IndexKey{Key: key, Slot: dataset.Slot(key), Bytes: float64(mem[i].Val())}
		if owner != nil {
			out[i].Master = owner[out[i].Slot]
		}
	}
	return out, nil
}

// slotOwners maps every hash slot to the address of its master.
func slotOwners(ctx context.Context, cc *redis.ClusterClient) ([]string, error) {
	ranges, err := cc.ClusterSlots(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: CLUSTER SLOTS: %w", err)
	}
	owner := make([]string, clusterSlots)
	for _, r := range ranges {
		if len(r.Nodes) == 0 {
			continue
		}
		for s := r.Start; s <= r.End && s < clusterSlots; s++ {
			owner[s] = r.Nodes[0].Addr
		}
	}
	return owner, nil
}

// measureCluster fills m.Cluster: each master's slots, its share of the
// sampled subscribers' keys, its whole keys and its estimated bytes.
func measureCluster(m *Measurement, k dataset.Keys, owner []string, masters []Master, isdns []string) {
	slots := map[string]int{}
	for _, a := range owner {
		slots[a]++
	}
	sampled := map[string]int{}
	for _, isdn := range isdns {
		sampled[owner[dataset.Slot(k.Rec(isdn))]]++
		sampled[owner[dataset.Slot(k.Profile(isdn))]]++
	}
	var spread float64 // the per-subscriber families, spread by slot
	for _, f := range m.Families {
		if f.Name == "rec" || f.Name == "profile" {
			spread += f.TotalBytes
		}
	}
	cm := &ClusterMeasurement{}
	for _, ms := range masters {
		ms.Slots = slots[ms.Addr]
		if len(isdns) > 0 {
			ms.SampledShare = float64(sampled[ms.Addr]) / float64(2*len(isdns))
		}
		ms.IndexKeys = []string{}
		for _, ik := range m.IndexKeys {
			if ik.Master == ms.Addr {
				ms.IndexKeys = append(ms.IndexKeys, ik.Key)
				ms.IndexBytes += ik.Bytes
			}
		}
		ms.Bytes = spread*float64(ms.Slots)/clusterSlots + ms.IndexBytes
		cm.Masters = append(cm.Masters, ms)
	}
	for _, ik := range m.IndexKeys {
		if !isStats(ik.Key) && ik.Bytes > cm.Biggest.Bytes {
			cm.Biggest = ik
		}
	}
	m.Cluster = cm
}

// isStats reports whether a whole key is meta:stats, whose size does not
// grow with the subscribers.
func isStats(key string) bool { return strings.HasSuffix(key, ":meta:stats") }

// ClusterPlan says how many masters each projected size needs.
type ClusterPlan struct {
	// MasterMaxMemory is the maxmemory of one master the sizing assumes.
	MasterMaxMemory int64 `json:"master_maxmemory"`
	// MaxMemorySource says where MasterMaxMemory comes from.
	MaxMemorySource string `json:"master_maxmemory_source"`
	// Usable is what the data may fill of it (Options.MaxMemoryUse).
	Usable int64 `json:"usable_bytes"`
	// SpreadPerSub is the per-subscriber bytes spread over the masters by
	// slot (rec and profile hashes with their dictionary overhead).
	SpreadPerSub float64         `json:"spread_bytes_per_subscriber"`
	Sizes        []ClusterSizing `json:"sizes"`
	Model        string          `json:"model"`
}

// ClusterSizing is the cluster needed at one subscriber count.
type ClusterSizing struct {
	Subscribers int64 `json:"subscribers"`
	// MastersNeeded is the fewest masters (slots split evenly, as
	// redis-cli --cluster create does) whose busiest master stays within
	// Usable at the 2× peak of a load; 0 when no number of masters does (one
	// index key alone is too big).
	MastersNeeded int `json:"masters_needed"`
	// BusiestPeakBytes is the busiest master's peak with MastersNeeded masters.
	BusiestPeakBytes int64 `json:"busiest_master_peak_bytes"`
	// SteadyMasters is the fewest masters without the load's peak.
	SteadyMasters int `json:"masters_needed_steady"`
	// BiggestIndexBytes is the biggest index key at this size.
	BiggestIndexBytes int64 `json:"biggest_index_key_bytes"`
	// Measured projects the measured cluster's masters (their real slots and
	// index keys) to this size; empty on a single server.
	Measured []MasterProjection `json:"measured_masters,omitempty"`
}

// MasterProjection is one measured master at a projected size.
type MasterProjection struct {
	Addr      string `json:"addr"`
	Bytes     int64  `json:"bytes"`
	PeakBytes int64  `json:"peak_bytes"`
	Fits      bool   `json:"fits"`
}

// maxMasters bounds the search for a number of masters.
const maxMasters = 1000

// evenSlots returns the first slot of each of k masters when the slots are
// split evenly, as redis-cli --cluster create does.
func evenSlots(k int) []int {
	first := make([]int, k)
	per := float64(clusterSlots) / float64(k)
	cursor, next := 0.0, 0
	for i := range k {
		first[i] = next
		last := int(math.Round(cursor + per - 1))
		if last > clusterSlots-1 || i == k-1 {
			last = clusterSlots - 1
		}
		next = max(last+1, next+1)
		cursor += per
	}
	return first
}

// clusterPlan sizes the cluster at each projected size; nil when there is
// nothing to size (a single server and no MasterMaxMemory given).
func (p *Plan) clusterPlan() *ClusterPlan {
	m, o := p.Measured, p.Options
	cp := &ClusterPlan{MasterMaxMemory: o.MasterMaxMemory, MaxMemorySource: "given: --master-maxmemory"}
	if cp.MasterMaxMemory <= 0 {
		if m.Cluster == nil {
			return nil
		}
		cp.MasterMaxMemory, cp.MaxMemorySource = DefaultMasterMaxMemory, "the default: the masters have no common maxmemory"
		if mm := m.Cluster.Masters; len(mm) > 0 && mm[0].MaxMemory > 0 &&
			!slices.ContainsFunc(mm, func(x Master) bool { return x.MaxMemory != mm[0].MaxMemory }) {
			cp.MasterMaxMemory, cp.MaxMemorySource = mm[0].MaxMemory, "maxmemory of the measured masters"
		}
	}
	cp.Usable = int64(float64(cp.MasterMaxMemory) * o.MaxMemoryUse)
	subs := float64(m.Subscribers)
	whole := 0.0
	for _, ik := range m.IndexKeys {
		whole += ik.Bytes
	}
	cp.SpreadPerSub = max(0, p.RedisPerSub-whole/subs)
	cp.Model = "per-subscriber keys spread over the masters in proportion to their slots; each index key whole on the master of its slot, " +
		"growing with the subscribers; 2× everything at the peak of a load (the staged copy sits in the live key's slot); " +
		"masters needed assume the slots split evenly (redis-cli --cluster create)"
	for _, n := range o.Sizes {
		cs := ClusterSizing{Subscribers: n}
		for _, ik := range m.IndexKeys {
			if !isStats(ik.Key) {
				cs.BiggestIndexBytes = max(cs.BiggestIndexBytes, int64(p.keyBytesAt(ik, n)))
			}
		}
		for k := 1; k <= maxMasters && (cs.MastersNeeded == 0 || cs.SteadyMasters == 0); k++ {
			busiest := p.busiest(cp, n, k)
			if cs.SteadyMasters == 0 && busiest <= float64(cp.Usable) {
				cs.SteadyMasters = k
			}
			if cs.MastersNeeded == 0 && 2*busiest <= float64(cp.Usable) {
				cs.MastersNeeded, cs.BusiestPeakBytes = k, int64(2*busiest)
			}
		}
		if m.Cluster != nil {
			for _, ms := range m.Cluster.Masters {
				b := cp.SpreadPerSub * float64(n) * float64(ms.Slots) / clusterSlots
				for _, ik := range m.IndexKeys {
					if ik.Master == ms.Addr {
						b += p.keyBytesAt(ik, n)
					}
				}
				cs.Measured = append(cs.Measured, MasterProjection{Addr: ms.Addr, Bytes: int64(b), PeakBytes: int64(2 * b),
					Fits: 2*b <= float64(cp.Usable)})
			}
		}
		cp.Sizes = append(cp.Sizes, cs)
	}
	return cp
}

// keyBytesAt is a whole key's size at n subscribers: index keys grow with
// the subscribers, meta:stats does not.
func (p *Plan) keyBytesAt(ik IndexKey, n int64) float64 {
	if isStats(ik.Key) {
		return ik.Bytes
	}
	return ik.Bytes * float64(n) / float64(p.Measured.Subscribers)
}

// busiest is the busiest master's steady bytes at n subscribers on k masters
// with the slots split evenly.
func (p *Plan) busiest(cp *ClusterPlan, n int64, k int) float64 {
	first := evenSlots(k)
	bytes := make([]float64, k)
	for i := range k {
		end := clusterSlots
		if i+1 < k {
			end = first[i+1]
		}
		bytes[i] = cp.SpreadPerSub * float64(n) * float64(end-first[i]) / clusterSlots
	}
	for _, ik := range p.Measured.IndexKeys {
		i, _ := slices.BinarySearch(first, int(ik.Slot)+1)
		bytes[i-1] += p.keyBytesAt(ik, n)
	}
	return slices.Max(bytes)
}
