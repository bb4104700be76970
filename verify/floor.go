package verify

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/redisconn"
)

// Floor is the raw read floor of a verify: the time to stream every row out of
// PostgreSQL (COPY ... TO STDOUT, discarded) and every rec/profile hash out of
// Redis (SCAN + pipelined HGETALL, not decoded), with no comparison.
type Floor struct {
	PGSeconds    float64 `json:"pg_seconds"`
	PGBytes      int64   `json:"pg_bytes"`
	RedisSeconds float64 `json:"redis_seconds"`
	RedisHashes  int64   `json:"redis_hashes"`
	// Seconds is the wall time with both stores read concurrently, as verify does.
	Seconds float64 `json:"seconds"`
}

type countWriter struct{ n atomic.Int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n.Add(int64(len(p))); return len(p), nil }

// ReadFloor measures the raw read floor for namespace k with workers Redis readers.
func ReadFloor(ctx context.Context, pool *pgxpool.Pool, rdb redis.UniversalClient, k dataset.Keys, workers int) (Floor, error) {
	if workers <= 0 {
		workers = DefaultWorkers
	}
	var f Floor
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		t := time.Now()
		var cw countWriter
		tg, tctx := errgroup.WithContext(gctx)
		for _, table := range []string{"recommendations", "subscriber_360_profiles", "subscriber_monthly_arpu"} {
			tg.Go(func() error {
				conn, err := pool.Acquire(tctx)
				if err != nil {
					return fmt.Errorf("postgres: %w", err)
				}
				defer conn.Release()
				_, err = conn.Conn().PgConn().CopyTo(tctx, &cw, "COPY "+table+" TO STDOUT")
				if err != nil {
					return fmt.Errorf("postgres: copy %s: %w", table, err)
				}
				return nil
			})
		}
		err := tg.Wait()
		f.PGSeconds, f.PGBytes = time.Since(t).Seconds(), cw.n.Load()
		return err
	})
	g.Go(func() error {
		t := time.Now()
		n, err := floorRedis(gctx, rdb, k, workers)
		f.RedisSeconds, f.RedisHashes = time.Since(t).Seconds(), n
		return err
	})
	err := g.Wait()
	f.Seconds = time.Since(start).Seconds()
	return f, err
}

func floorRedis(ctx context.Context, rdb redis.UniversalClient, k dataset.Keys, workers int) (int64, error) {
	batches := make(chan []string, workers)
	var n atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(batches)
		var mu sync.Mutex
		var batch []string
		err := redisconn.ForEachMasterScan(gctx, rdb, k.Pattern(), scanCount, func(ctx context.Context, _ string, keys []string) error {
			mu.Lock()
			for _, key := range keys {
				if strings.HasPrefix(key, k.RecPrefix()) || strings.HasPrefix(key, k.ProfilePrefix()) {
					batch = append(batch, key)
				}
			}
			var full []string
			if len(batch) >= fetchKeys {
				full, batch = batch, nil
			}
			mu.Unlock()
			if full == nil {
				return nil
			}
			return send(ctx, batches, full)
		})
		if err != nil {
			return fmt.Errorf("redis: scan: %w", err)
		}
		if len(batch) > 0 {
			return send(gctx, batches, batch)
		}
		return nil
	})
	for range workers {
		g.Go(func() error {
			for batch := range batches {
				_, err := rdb.Pipelined(gctx, func(p redis.Pipeliner) error {
					for _, key := range batch {
						p.HGetAll(gctx, key)
					}
					return nil
				})
				if err != nil {
					return fmt.Errorf("redis: hgetall: %w", err)
				}
				n.Add(int64(len(batch)))
			}
			return nil
		})
	}
	err := g.Wait()
	return n.Load(), err
}
