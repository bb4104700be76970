// Package capacity measures what a loaded snapshot costs in Redis memory and
// PostgreSQL disk, and projects memory, disk, load time and verify time to
// larger subscriber counts (1M, 5M, 10M …).
package capacity

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/dataset"
)

// Family is one Redis key family of SPEC §3 as measured.
type Family struct {
	Name     string `json:"name"`
	Keys     int64  `json:"keys"`
	Sampled  int    `json:"sampled"`
	Encoding string `json:"encoding"`
	// AvgKeyBytes is the mean MEMORY USAGE of the sampled keys.
	AvgKeyBytes float64 `json:"avg_key_bytes"`
	// TotalBytes is AvgKeyBytes × Keys (exact for single keys).
	TotalBytes float64 `json:"total_bytes"`
	// BytesPerSubscriber is TotalBytes / subscribers.
	BytesPerSubscriber float64 `json:"bytes_per_subscriber"`
}

// Relation is one PostgreSQL table or index as measured.
type Relation struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"` // table (heap+toast), index, total
	Table string `json:"table"`
	Rows  int64  `json:"rows"`
	Bytes int64  `json:"bytes"`
	// BytesPerRow is Bytes / Rows of its table.
	BytesPerRow float64 `json:"bytes_per_row"`
	// BytesPerSubscriber is Bytes / subscribers.
	BytesPerSubscriber float64 `json:"bytes_per_subscriber"`
}

// Measurement is what capacity measured on the loaded stores.
type Measurement struct {
	Subscribers int64 `json:"subscribers"`
	MonthlyRows int64 `json:"monthly_rows"`
	// Redis key families and their sum.
	Families            []Family `json:"redis_families"`
	RedisBytes          float64  `json:"redis_bytes"`
	RedisBytesPerSub    float64  `json:"redis_bytes_per_subscriber"`
	RedisUsedMemory     int64    `json:"redis_used_memory"`
	RedisUsedDataset    int64    `json:"redis_used_memory_dataset"`
	RedisLoadDelta      int64    `json:"redis_load_used_memory_delta,omitempty"`
	RedisDeltaRatio     float64  `json:"redis_sample_vs_delta_ratio,omitempty"`
	RedisVersion        string   `json:"redis_version"`
	RedisListpackValue  string   `json:"redis_hash_max_listpack_value"`
	RedisListpackEntrys string   `json:"redis_hash_max_listpack_entries"`
	// PostgreSQL relations and their sum.
	Relations        []Relation `json:"pg_relations"`
	PGBytes          int64      `json:"pg_bytes"`
	PGBytesPerSub    float64    `json:"pg_bytes_per_subscriber"`
	PGVersion        string     `json:"pg_version"`
	LoadSeconds      float64    `json:"load_seconds,omitempty"`
	LoadSource       string     `json:"load_source,omitempty"`
	VerifySeconds    float64    `json:"verify_seconds,omitempty"`
	VerifySource     string     `json:"verify_source,omitempty"`
	VerifySubscriber int64      `json:"verify_subscribers,omitempty"`
	// IndexKeys are the index keys and meta:stats, each measured whole.
	IndexKeys []IndexKey `json:"redis_index_keys,omitempty"`
	// Cluster is the per-master view on a Redis Cluster (nil on one server).
	Cluster *ClusterMeasurement `json:"redis_cluster,omitempty"`
}

// MeasureOptions configures Measure.
type MeasureOptions struct {
	// Keys is the Redis key scheme (namespace).
	Keys dataset.Keys
	// Sample is the number of subscribers whose keys are measured (default 2,000).
	Sample int
}

// Measure reads sizes from both stores. The stores must hold a loaded snapshot.
func Measure(ctx context.Context, pool *pgxpool.Pool, rdb redis.UniversalClient, o MeasureOptions) (*Measurement, error) {
	if o.Sample <= 0 {
		o.Sample = 2000
	}
	m := &Measurement{}
	if err := measurePG(ctx, pool, m); err != nil {
		return nil, err
	}
	if m.Subscribers == 0 {
		return nil, fmt.Errorf("no subscribers loaded in PostgreSQL: run `ut360 load` first")
	}
	if err := measureRedis(ctx, rdb, o, m); err != nil {
		return nil, err
	}
	return m, nil
}

func measurePG(ctx context.Context, pool *pgxpool.Pool, m *Measurement) error {
	if err := pool.QueryRow(ctx, "SHOW server_version").Scan(&m.PGVersion); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	tables := []string{"recommendations", "subscriber_360_profiles", "subscriber_monthly_arpu"}
	rows := map[string]int64{}
	for _, t := range tables {
		var n int64
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+t).Scan(&n); err != nil {
			return fmt.Errorf("postgres: count %s (run `ut360 migrate up` and `ut360 load`): %w", t, err)
		}
		rows[t] = n
	}
	m.Subscribers, m.MonthlyRows = rows["recommendations"], rows["subscriber_monthly_arpu"]
	for _, t := range tables {
		var heap, total int64
		// pg_table_size is heap + TOAST + FSM/VM; the indexes are listed one by one below.
		if err := pool.QueryRow(ctx, "SELECT pg_table_size($1::regclass), pg_total_relation_size($1::regclass)", t).Scan(&heap, &total); err != nil {
			return fmt.Errorf("postgres: size of %s: %w", t, err)
		}
		m.Relations = append(m.Relations, rel(t, "table", t, rows[t], heap, m.Subscribers))
		ir, err := pool.Query(ctx, `SELECT i.indexrelid::regclass::text, pg_relation_size(i.indexrelid)
			FROM pg_index i WHERE i.indrelid = $1::regclass ORDER BY 1`, t)
		if err != nil {
			return fmt.Errorf("postgres: indexes of %s: %w", t, err)
		}
		for ir.Next() {
			var name string
			var b int64
			if err := ir.Scan(&name, &b); err != nil {
				ir.Close()
				return err
			}
			m.Relations = append(m.Relations, rel(name, "index", t, rows[t], b, m.Subscribers))
		}
		ir.Close()
		if err := ir.Err(); err != nil {
			return err
		}
		m.Relations = append(m.Relations, rel(t, "total", t, rows[t], total, m.Subscribers))
		m.PGBytes += total
	}
	m.PGBytesPerSub = float64(m.PGBytes) / float64(m.Subscribers)
	return nil
}

func rel(name, kind, table string, rows, bytes, subs int64) Relation {
	r := Relation{Name: name, Kind: kind, Table: table, Rows: rows, Bytes: bytes}
	if rows > 0 {
		r.BytesPerRow = float64(bytes) / float64(rows)
	}
	r.BytesPerSubscriber = float64(bytes) / float64(subs)
	return r
}

// infoField reads one field of an INFO section.
func infoField(info, field string) string {
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), field+":"); ok {
			return v
		}
	}
	return ""
}

func measureRedis(ctx context.Context, rdb redis.UniversalClient, o MeasureOptions, m *Measurement) error {
	k := o.Keys
	// INFO and CONFIG GET on every master of a cluster (one server: itself);
	// used_memory is summed over the masters.
	masters, err := measureInfo(ctx, rdb, m)
	if err != nil {
		return err
	}
	m.RedisListpackValue, m.RedisListpackEntrys = listpackConfig(ctx, rdb)
	stats, err := rdb.HGetAll(ctx, k.Stats()).Result()
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	if d, err := strconv.ParseInt(stats[dataset.StatUsedMemoryDelta], 10, 64); err == nil {
		m.RedisLoadDelta = d
	}
	if ms, err := strconv.ParseFloat(stats[dataset.StatDurationMS], 64); err == nil && ms > 0 {
		m.LoadSeconds, m.LoadSource = ms/1000, "meta:stats duration_ms of the last load"
	}

	// The subscriber sample: ISDNs drawn from PostgreSQL's loaded rows via the
	// service sorted sets would bias by service; the risk sets cover everyone.
	isdns, err := sampleISDNs(ctx, rdb, k, o.Sample)
	if err != nil {
		return err
	}
	subs := float64(m.Subscribers)
	for _, fam := range []struct {
		name string
		key  func(string) string
	}{{"rec", k.Rec}, {"profile", k.Profile}} {
		keys := make([]string, len(isdns))
		for i, s := range isdns {
			keys[i] = fam.key(s)
		}
		f, err := sampleFamily(ctx, rdb, fam.name, keys, m.Subscribers, subs) // one key per subscriber
		if err != nil {
			return err
		}
		m.Families = append(m.Families, f)
	}
	// Index families and meta:stats: every key, measured whole. The loader lists
	// the live index keys in meta:stats, so no SCAN of a possibly huge keyspace.
	var indexKeys []string
	if err := json.Unmarshal([]byte(stats[dataset.StatIndexKeys]), &indexKeys); err != nil {
		return fmt.Errorf("redis: meta:stats %s is not a JSON list (load with this ut360 version): %w", dataset.StatIndexKeys, err)
	}
	sort.Strings(indexKeys)
	wholeKeys := append(indexKeys, k.Stats()) // measured whole, not sampled
	var owner []string                        // the master of each slot, on a cluster
	cc, clustered := rdb.(*redis.ClusterClient)
	if clustered {
		if owner, err = slotOwners(ctx, cc); err != nil {
			return err
		}
	}
	if m.IndexKeys, err = measureWholeKeys(ctx, rdb, wholeKeys, owner); err != nil {
		return err
	}
	for _, fam := range []struct{ name, prefix string }{
		{"idx:service", k.IndexPrefix() + "service:"},
		{"idx:risk", k.IndexPrefix() + "risk:"},
		{"idx:cluster", k.IndexPrefix() + "cluster:"},
		{"meta:stats", k.Stats()},
	} {
		var keys []string
		for _, key := range wholeKeys {
			if strings.HasPrefix(key, fam.prefix) {
				keys = append(keys, key)
			}
		}
		f, err := sampleFamily(ctx, rdb, fam.name, keys, int64(len(keys)), subs) // every key measured
		if err != nil {
			return err
		}
		m.Families = append(m.Families, f)
	}
	for _, f := range m.Families {
		m.RedisBytes += f.TotalBytes
	}
	m.RedisBytesPerSub = m.RedisBytes / subs
	if m.RedisLoadDelta > 0 {
		m.RedisDeltaRatio = m.RedisBytes / float64(m.RedisLoadDelta)
	}
	if clustered {
		measureCluster(m, k, owner, masters, isdns)
	}
	return nil
}

// listpackConfig is hash-max-listpack-value and -entries as the masters have
// them (every distinct value, when they differ); managed services refuse
// CONFIG, and the report says so instead of a blank.
func listpackConfig(ctx context.Context, rdb redis.UniversalClient) (value, entries string) {
	var mu sync.Mutex
	var values, entrys []string
	err := forMasters(ctx, rdb, func(ctx context.Context, c *redis.Client) error {
		cfg, err := c.ConfigGet(ctx, "hash-max-listpack-*").Result()
		if err != nil {
			return err
		}
		mu.Lock()
		values, entrys = append(values, cfg["hash-max-listpack-value"]), append(entrys, cfg["hash-max-listpack-entries"])
		mu.Unlock()
		return nil
	})
	if err != nil {
		return "unknown (CONFIG refused)", "unknown"
	}
	distinct := func(vs []string) string {
		slices.Sort(vs)
		return strings.Join(slices.Compact(vs), " / ")
	}
	return distinct(values), distinct(entrys)
}

func sampleISDNs(ctx context.Context, rdb redis.UniversalClient, k dataset.Keys, n int) ([]string, error) {
	cards := make([]int64, len(dataset.RiskLevels))
	var total int64
	for i, level := range dataset.RiskLevels {
		c, err := rdb.SCard(ctx, k.RiskIndex(level)).Result()
		if err != nil {
			return nil, fmt.Errorf("redis: %w", err)
		}
		cards[i], total = c, total+c
	}
	if total == 0 {
		return nil, fmt.Errorf("redis namespace %q holds no subscribers: run `ut360 load` first", k.Namespace())
	}
	var out []string
	for i, level := range dataset.RiskLevels {
		// Proportional to each level's size, so the sample is not biased towards rare levels.
		want := int64(float64(n)*float64(cards[i])/float64(total) + 0.5)
		if want == 0 {
			continue
		}
		members, err := rdb.SRandMemberN(ctx, k.RiskIndex(level), want).Result()
		if err != nil {
			return nil, fmt.Errorf("redis: %w", err)
		}
		out = append(out, members...)
	}
	sort.Strings(out)
	return out, nil
}

// sampleFamily measures keys (a sample of, or all, the family's count keys)
// and scales the mean to the family and per subscriber.
func sampleFamily(ctx context.Context, rdb redis.UniversalClient, name string, keys []string, count int64, subs float64) (Family, error) {
	f := Family{Name: name, Keys: count}
	if len(keys) == 0 {
		return f, nil
	}
	pipe := rdb.Pipeline()
	mem := make([]*redis.IntCmd, len(keys))
	for i, key := range keys {
		mem[i] = pipe.MemoryUsage(ctx, key, 0) // SAMPLES 0: every nested value
	}
	enc := pipe.ObjectEncoding(ctx, keys[0])
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return f, fmt.Errorf("redis: MEMORY USAGE %s: %w", name, err)
	}
	var sum float64
	for _, c := range mem {
		if v, err := c.Result(); err == nil {
			sum += float64(v)
			f.Sampled++
		}
	}
	if f.Sampled > 0 {
		f.AvgKeyBytes = sum / float64(f.Sampled)
	}
	f.TotalBytes = f.AvgKeyBytes * float64(count)
	f.BytesPerSubscriber = f.TotalBytes / subs
	f.Encoding = enc.Val()
	return f, nil
}
