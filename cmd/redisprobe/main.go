// Command redisprobe measures what a load costs the readers of a serving
// Redis (or Redis Cluster: redis+cluster://…): one client sends PING (to
// every master in turn on a cluster), sleeps --interval and repeats; another reads
// the rec hashes of a generated dataset (HGETALL, round-robin) as fast as it
// can. On SIGINT/SIGTERM (or after --duration) it prints one JSON object:
// per reader the operations, the longest wait for a reply, p99 and p99.9,
// and for PING the longest gap between two replies.
//
// bench-load runs it around `ut360 load`; it is a benchmark helper, not part
// of the daily cycle.
//
//	redisprobe --redis redis://127.0.0.1:6379/0 --namespace ns --subscribers 214000 --seed 1 --day 2
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/redact"
	"github.com/ut360/ut360/internal/redisconn"
)

// readerStats is one reader's outcome (milliseconds).
type readerStats struct {
	Ops       int64   `json:"ops"`
	Errors    int64   `json:"errors"`
	Empty     int64   `json:"empty,omitempty"` // HGETALL of a key that did not exist
	MaxMS     float64 `json:"max_ms"`
	P50MS     float64 `json:"p50_ms"`
	P99MS     float64 `json:"p99_ms"`
	P999MS    float64 `json:"p999_ms"`
	MaxGapMS  float64 `json:"max_gap_ms,omitempty"` // PING: longest time between two replies, less the interval
	MaxAt     string  `json:"max_at"`               // when the longest wait began (RFC 3339, ms)
	LastError string  `json:"last_error,omitempty"`
}

type reader struct {
	h      *hdrhistogram.Histogram
	st     readerStats
	maxGap time.Duration
	max    time.Duration
	maxAt  time.Time
}

func newReader() *reader { return &reader{h: hdrhistogram.New(1, 60_000_000, 3)} }

func (r *reader) record(start time.Time, d time.Duration, err error) {
	r.st.Ops++
	if d > r.max {
		r.max, r.maxAt = d, start
	}
	if err != nil && err != redis.Nil {
		r.st.Errors++
		r.st.LastError = redact.String(err.Error())
	}
	r.h.RecordValue(max(1, d.Microseconds()))
}

func (r *reader) stats() readerStats {
	ms := func(us int64) float64 { return math.Round(float64(us)) / 1000 }
	s := r.st
	s.MaxMS, s.P50MS = ms(r.h.Max()), ms(r.h.ValueAtQuantile(50))
	s.P99MS, s.P999MS = ms(r.h.ValueAtQuantile(99)), ms(r.h.ValueAtQuantile(99.9))
	s.MaxGapMS = ms(r.maxGap.Microseconds())
	s.MaxAt = r.maxAt.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	return s
}

func main() {
	url := flag.String("redis", "redis://127.0.0.1:6379/0", "Redis URL")
	ns := flag.String("namespace", dataset.DefaultNamespace, "key namespace")
	n := flag.Int("subscribers", dataset.DefaultSubscribers, "subscribers of the generated dataset read by the HGETALL reader")
	seed := flag.Uint64("seed", dataset.DefaultSeed, "seed of the generated dataset")
	interval := flag.Duration("interval", time.Millisecond, "pause between two PINGs")
	duration := flag.Duration("duration", 0, "stop after this long (0: at SIGINT/SIGTERM)")
	ready := flag.String("ready", "", "create this file once the readers run (a script waits for it before it starts the load, and only then may send SIGTERM)")
	flag.Parse()
	if err := run(*url, *ns, *n, *seed, *interval, *duration, *ready); err != nil {
		fmt.Fprintln(os.Stderr, "redisprobe:", redact.String(err.Error()))
		os.Exit(1)
	}
}

func run(url, ns string, n int, seed uint64, interval, duration time.Duration, ready string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	rdb, err := redisconn.Open(ctx, url,
		redisconn.WithOptions(func(o *redis.Options) {
			o.PoolSize, o.MaxRetries, o.ReadTimeout, o.WriteTimeout = 2, -1, time.Minute, time.Minute
		}),
		redisconn.WithClusterOptions(func(o *redis.ClusterOptions) { o.ReadTimeout, o.WriteTimeout = time.Minute, time.Minute }))
	if err != nil {
		return err
	}
	defer rdb.Close()
	// On a cluster every master is pinged in turn: a stall on any node counts.
	ping1 := func(ctx context.Context) error { return rdb.Ping(ctx).Err() }
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		ping1 = func(ctx context.Context) error {
			return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return c.Ping(ctx).Err() })
		}
	}
	// Days 1 and 2 of a generated dataset share their ISDNs but the churn;
	// reading day 1's subscribers covers the stayers, leavers and changes.
	keys := dataset.NewKeys(ns)
	recKeys := make([]string, n)
	for i := range recKeys {
		recKeys[i] = keys.Rec(dataset.ISDNFor(seed, i))
	}
	ping, hget := newReader(), newReader()
	if ready != "" {
		if err := os.WriteFile(ready, nil, 0o644); err != nil {
			return err
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		last := time.Now()
		for ctx.Err() == nil {
			t := time.Now()
			err := ping1(ctx)
			if ctx.Err() != nil {
				return
			}
			now := time.Now()
			ping.record(t, now.Sub(t), err)
			ping.maxGap = max(ping.maxGap, now.Sub(last)-interval)
			last = now
			time.Sleep(interval)
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i = (i + 1) % len(recKeys) {
			t := time.Now()
			h, err := rdb.HGetAll(ctx, recKeys[i]).Result()
			if ctx.Err() != nil {
				return
			}
			hget.record(t, time.Since(t), err)
			if err == nil && len(h) == 0 {
				hget.st.Empty++
			}
		}
	}()
	wg.Wait()
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"seconds": math.Round(time.Since(start).Seconds()*1000) / 1000,
		"ping":    ping.stats(), "hgetall": hget.stats(),
		"interval_ms": float64(interval.Microseconds()) / 1000,
	})
}
