package capacity

import (
	"fmt"
	"math"
)

// Documented footprint at reference scale (SPEC §5).
const (
	ReferenceSubscribers = 214_000
	DocRedisBytes        = 1.2e9
	DocPGBytes           = 350e6
)

// KeyOverheadBytes is what MEMORY USAGE does not count for a key with a TTL:
// its entry and bucket in the main dictionary and in the expires dictionary
// (2 × (24-byte dictEntry + 8-byte bucket)). Used only when no measured
// used_memory delta of a load is available to calibrate against.
const KeyOverheadBytes = 64

// Options of Project.
type Options struct {
	// Sizes are the subscriber counts to project to (default 1M, 5M, 10M).
	Sizes []int64
	// MaxMemoryUse is the share of maxmemory the data may fill (default 0.8).
	MaxMemoryUse float64
	// DiskHeadroom multiplies PostgreSQL's peak disk (default 1.3).
	DiskHeadroom float64
	// MasterMaxMemory is the maxmemory of one Redis Cluster master to size
	// a cluster with (bytes). Measured on a cluster, 0 means the masters'
	// common maxmemory, else DefaultMasterMaxMemory; measured on one server,
	// 0 means no cluster sizing.
	MasterMaxMemory int64 `json:",omitempty"`
}

// Projection is the projected cost at one subscriber count.
type Projection struct {
	Subscribers int64 `json:"subscribers"`
	RedisBytes  int64 `json:"redis_bytes"`
	// RedisMaxMemory is the recommended maxmemory (data ≤ MaxMemoryUse of it), rounded up to 256 MiB.
	RedisMaxMemory int64 `json:"redis_maxmemory"`
	PGBytes        int64 `json:"pg_bytes"`
	// PGPeakBytes is the disk during a load: the old snapshot stays until the new one is swapped in.
	PGPeakBytes int64 `json:"pg_peak_bytes"`
	// PGDiskBytes is the recommended disk: peak × headroom.
	PGDiskBytes   int64   `json:"pg_disk_bytes"`
	LoadSeconds   float64 `json:"load_seconds,omitempty"`
	VerifySeconds float64 `json:"verify_seconds,omitempty"`
}

// Plan is the measurement with its projections and recommendations.
type Plan struct {
	FormatVersion int           `json:"format_version"`
	Measured      *Measurement  `json:"measured"`
	Options       Options       `json:"options"`
	Model         string        `json:"model"`
	RedisPerSub   float64       `json:"redis_bytes_per_subscriber_model"`
	PGPerSub      float64       `json:"pg_bytes_per_subscriber_model"`
	Projections   []Projection  `json:"projections"`
	Eviction      string        `json:"eviction_policy"`
	EvictionWhy   string        `json:"eviction_policy_reason"`
	Reference     ReferenceNote `json:"reference"`
	// Cluster says how many Redis Cluster masters each size needs (nil when
	// measured on one server without Options.MasterMaxMemory).
	Cluster *ClusterPlan `json:"cluster,omitempty"`
}

// ReferenceNote compares the measurement, scaled to the reference size, with SPEC §5.
type ReferenceNote struct {
	Subscribers     int64   `json:"subscribers"`
	RedisBytes      int64   `json:"redis_bytes"`
	RedisVsDoc      float64 `json:"redis_ratio_to_documented"`
	PGBytes         int64   `json:"pg_bytes"`
	PGVsDoc         float64 `json:"pg_ratio_to_documented"`
	DocRedisBytes   int64   `json:"documented_redis_bytes"`
	DocPGBytes      int64   `json:"documented_pg_bytes"`
	RedisAimBytes   int64   `json:"redis_aim_bytes"`
	RedisMeetsAim   bool    `json:"redis_meets_aim"`
	ExtrapolatedRef bool    `json:"extrapolated"`
}

// FormatVersion of the capacity JSON.
const FormatVersion = 1

// Project projects m linearly per subscriber: every key family and table
// grows with the subscriber count (one rec and one profile key, ~7 monthly
// rows, one membership per index per subscriber); the few fixed keys are
// negligible. Redis uses the load's measured used_memory delta per
// subscriber when meta:stats has it, else the MEMORY USAGE sample plus the
// per-key dictionary overhead.
func Project(m *Measurement, o Options) *Plan {
	if len(o.Sizes) == 0 {
		o.Sizes = []int64{1_000_000, 5_000_000, 10_000_000}
	}
	if o.MaxMemoryUse <= 0 || o.MaxMemoryUse > 1 {
		o.MaxMemoryUse = 0.8
	}
	if o.DiskHeadroom < 1 {
		o.DiskHeadroom = 1.3
	}
	subs := float64(m.Subscribers)
	p := &Plan{FormatVersion: FormatVersion, Measured: m, Options: o, PGPerSub: m.PGBytesPerSub,
		Eviction: "volatile-lru",
		EvictionWhy: "only per-subscriber keys carry a TTL: under memory pressure Redis evicts cold subscribers " +
			"(readers fall back to PostgreSQL and repopulate) and never the indexes or meta:stats, which have none"}
	if m.RedisLoadDelta > 0 {
		p.RedisPerSub = float64(m.RedisLoadDelta) / subs
		p.Model = "redis: measured used_memory delta of the load per subscriber; postgres: measured relation sizes per subscriber"
	} else {
		p.RedisPerSub = m.RedisBytesPerSub + 2*KeyOverheadBytes
		p.Model = fmt.Sprintf("redis: MEMORY USAGE sample per subscriber + %d B dictionary overhead per key (2 keys); postgres: measured relation sizes per subscriber", KeyOverheadBytes)
	}
	for _, n := range o.Sizes {
		p.Projections = append(p.Projections, p.at(n))
	}
	p.Cluster = p.clusterPlan()
	ref := p.at(ReferenceSubscribers)
	p.Reference = ReferenceNote{
		Subscribers: ReferenceSubscribers, RedisBytes: ref.RedisBytes, PGBytes: ref.PGBytes,
		RedisVsDoc: float64(ref.RedisBytes) / DocRedisBytes, PGVsDoc: float64(ref.PGBytes) / DocPGBytes,
		DocRedisBytes: DocRedisBytes, DocPGBytes: DocPGBytes, RedisAimBytes: 400e6,
		RedisMeetsAim: ref.RedisBytes <= 400e6, ExtrapolatedRef: m.Subscribers != ReferenceSubscribers,
	}
	return p
}

// nLogRatio is log(n)/log(m), the extra factor of an n log n cost (1 when m is too small to tell).
func nLogRatio(n, m int64) float64 {
	if m < 2 || n < 2 {
		return 1
	}
	return math.Log(float64(n)) / math.Log(float64(m))
}

func (p *Plan) at(n int64) Projection {
	m, o := p.Measured, p.Options
	scale := float64(n) / float64(m.Subscribers)
	pr := Projection{Subscribers: n}
	pr.RedisBytes = int64(p.RedisPerSub * float64(n))
	const step = 256 << 20
	pr.RedisMaxMemory = int64(math.Ceil(float64(pr.RedisBytes)/o.MaxMemoryUse/step)) * step
	pr.PGBytes = int64(p.PGPerSub * float64(n))
	pr.PGPeakBytes = 2 * pr.PGBytes
	pr.PGDiskBytes = int64(float64(pr.PGPeakBytes) * o.DiskHeadroom)
	if m.LoadSeconds > 0 {
		// A load's sorts and B-tree builds grow as n log n: checked against a
		// real 1,000,000 load, n log n from 214,000 came closer than a linear
		// model (make bench-capacity; docs/figures.md).
		pr.LoadSeconds = m.LoadSeconds * scale * nLogRatio(n, m.Subscribers)
	}
	if m.VerifySeconds > 0 && m.VerifySubscriber > 0 {
		pr.VerifySeconds = m.VerifySeconds * float64(n) / float64(m.VerifySubscriber)
	}
	return pr
}
