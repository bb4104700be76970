package verify

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/redisconn"
)

// z95 is the normal quantile of a two-sided 95% interval.
const z95 = 1.959963984540054

// Wilson returns the Wilson score interval of x successes in n trials at
// normal quantile z: better behaved than the normal approximation near 0.
func Wilson(x, n int, z float64) (low, high float64) {
	if n == 0 {
		return 0, 1
	}
	nf, p := float64(n), float64(x)/float64(n)
	den := 1 + z*z/nf
	center := (p + z*z/(2*nf)) / den
	half := z / den * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf))
	return math.Max(0, center-half), math.Min(1, center+half)
}

// sampleISDNs picks n distinct random subscribers from recommendations.
func sampleISDNs(ctx context.Context, pool *pgxpool.Pool, n int, seed uint64) ([]string, error) {
	var total int64
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM recommendations").Scan(&total); err != nil {
		return nil, fmt.Errorf("postgres: count recommendations: %w", err)
	}
	if total == 0 {
		return nil, nil
	}
	// Bernoulli sampling with headroom, then an exact n by shuffling.
	pct := math.Min(100, 100*float64(n)*1.3/float64(total)+0.01)
	rows, err := pool.Query(ctx, "SELECT isdn FROM recommendations TABLESAMPLE BERNOULLI ($1) REPEATABLE ($2)", pct, float64(seed%1e9))
	if err != nil {
		return nil, fmt.Errorf("postgres: sample recommendations: %w", err)
	}
	var isdns []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return nil, fmt.Errorf("postgres: sample recommendations: %w", err)
		}
		isdns = append(isdns, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: sample recommendations: %w", err)
	}
	if len(isdns) < n && int64(len(isdns)) < total { // unlucky draw: take every row and shuffle
		return sampleISDNs(ctx, pool, int(min(int64(n), total)), seed+1)
	}
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	r.Shuffle(len(isdns), func(i, j int) { isdns[i], isdns[j] = isdns[j], isdns[i] })
	return isdns[:min(n, len(isdns))], nil
}

// runSample checks o.Sample random subscribers (rows, hashes, TTLs, index
// memberships) and estimates the mismatch rate.
func runSample(ctx context.Context, pool *pgxpool.Pool, rdb redis.UniversalClient, o *Options) (*Report, error) {
	start := time.Now()
	rep := newReport(o, "sample")
	seed := o.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	isdns, err := sampleISDNs(ctx, pool, o.Sample, seed)
	if err != nil {
		return nil, err
	}
	indexKeys, err := listIndexKeys(ctx, rdb, o.Keys)
	if err != nil {
		return nil, err
	}
	journal, err := readSwapJournal(ctx, rdb, o.Keys)
	if err != nil {
		return nil, err
	}
	if journal != nil {
		rep.add(unfinishedSwap(o.Keys, journal))
	}
	pgGen, err := pgGeneration(ctx, pool)
	if err != nil {
		return nil, err
	}
	var made string
	err = retry(ctx, rdb, func() (err error) {
		made, err = rdb.HGet(ctx, o.Keys.Stats(), dataset.StatPGGeneration).Result()
		return err
	})
	if err != nil && err != redis.Nil && !isServerError(err) {
		return nil, fmt.Errorf("redis: read %s: %w", o.Keys.Stats(), err)
	}
	checkGeneration(rep, o.Keys, map[string]string{dataset.StatPGGeneration: made}, pgGen)
	bad := map[string]bool{}
	pl := newPlan()
	for s := 0; s < len(isdns); s += fetchBatch {
		batch := isdns[s:min(s+fetchBatch, len(isdns))]
		err := compareBatch(ctx, pool, rdb, o.Keys, indexKeys, batch, pl, func(isdn string, _ Finding) { bad[isdn] = true }, rep.add, o.TTL)
		if err != nil {
			return nil, err
		}
	}
	rep.RowsChecked.PGRecommendations = int64(len(isdns))
	rep.RowsChecked.RedisRecKeys = int64(len(isdns))
	rep.RowsChecked.RedisProfileKeys = int64(len(isdns))
	low, high := Wilson(len(bad), len(isdns), z95)
	rep.Sample = &SampleReport{Requested: o.Sample, Checked: len(isdns), Mismatched: len(bad), Low: low, High: high,
		Confidence: 0.95, Method: "Wilson score",
		Note: fmt.Sprintf("seed %d; orphans, meta:stats and source files need a full verify", seed)}
	if len(isdns) > 0 {
		rep.Sample.Rate = float64(len(bad)) / float64(len(isdns))
	}
	rep.finish(start)
	return rep, nil
}

// listIndexKeys returns every index key of the namespace's key scheme, from
// every master of a cluster.
func listIndexKeys(ctx context.Context, rdb redis.UniversalClient, k dataset.Keys) ([]string, error) {
	pattern := strings.TrimSuffix(k.Pattern(), "*") + "idx:*"
	var mu sync.Mutex
	var out []string
	err := redisconn.ForEachMasterScan(ctx, rdb, pattern, scanCount, func(_ context.Context, _ string, keys []string) error {
		mu.Lock()
		defer mu.Unlock()
		for _, key := range keys {
			if f, _ := classify(k, key); f == famIndex {
				out = append(out, key)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redis: scan %s: %w", pattern, err)
	}
	return out, nil
}
