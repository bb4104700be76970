package loader

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ListpackValue is the hash-max-listpack-value ut360 asks of Redis: the
// largest profile JSON field (insights: up to 8 sentences of 80 characters)
// stays below it, so every profile hash keeps the compact listpack encoding
// instead of a hashtable. docs/troubleshooting.md has the measurement.
const ListpackValue = 4096

// HashtableCostPerSubscriber is what profile hashes cost in Redis memory, per
// subscriber, when hash-max-listpack-value stays at Redis's default (64) and
// they fall back to the hashtable encoding: the used_memory difference per
// subscriber between the two settings (measured; docs/figures.md).
const HashtableCostPerSubscriber = 577

// TuneRedis raises the server's hash-max-listpack-value to at least min
// (CONFIG SET; it never lowers it). It only affects hashes written afterwards,
// so call it before a load. It returns the value in force afterwards.
//
// Raising it is an optimisation, not a correctness need. Where the server
// refuses CONFIG (managed services such as ElastiCache, MemoryDB or Azure
// Cache rename or forbid it) TuneRedis probes the setting instead: it writes
// one short-lived hash with a min-byte field and reads its encoding. When the
// server already keeps it compact, it returns min silently; otherwise it logs
// one warning that says what it costs and how to set it on the server, and
// returns 0 (below min, exact value unknown). Only a connection fault is an
// error.
//
// On a Redis Cluster every node (masters and replicas, which become masters
// on a failover) is tuned; the lowest value in force is returned.
func TuneRedis(ctx context.Context, rdb redis.UniversalClient, min int, log *slog.Logger) (int, error) {
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		lowest := -1
		err := cc.ForEachShard(ctx, func(ctx context.Context, c *redis.Client) error {
			v, err := TuneRedis(ctx, c, min, log)
			mu.Lock()
			if lowest < 0 || v < lowest {
				lowest = v
			}
			mu.Unlock()
			return err
		})
		return max(lowest, 0), err
	}
	cfg, err := rdb.ConfigGet(ctx, "hash-max-listpack-value").Result()
	if err != nil {
		if !isReply(err) {
			return 0, fmt.Errorf("redis: CONFIG GET hash-max-listpack-value: %w", err)
		}
		return untuned(ctx, rdb, min, log, "CONFIG GET", err)
	}
	cur, err := strconv.Atoi(cfg["hash-max-listpack-value"])
	if err != nil {
		// Answered without the parameter (a proxy, a Redis-compatible server):
		// treat as refused.
		return untuned(ctx, rdb, min, log, "CONFIG GET", fmt.Errorf("hash-max-listpack-value %q: %w", cfg["hash-max-listpack-value"], err))
	}
	if cur >= min {
		return cur, nil
	}
	if err := rdb.ConfigSet(ctx, "hash-max-listpack-value", strconv.Itoa(min)).Err(); err != nil {
		if !isReply(err) {
			return 0, fmt.Errorf("redis: CONFIG SET hash-max-listpack-value %d: %w", min, err)
		}
		return untuned(ctx, rdb, min, log, "CONFIG SET", err)
	}
	if log != nil {
		log.Info("raised Redis hash-max-listpack-value so profile hashes stay listpack-encoded", "from", cur, "to", min)
	}
	return min, nil
}

// isReply reports whether err is the server's error reply (an unknown or
// forbidden command, a protected parameter) rather than a connection fault.
func isReply(err error) bool {
	var reply redis.Error
	return errors.As(err, &reply)
}

// untuned is TuneRedis where the server would not run what (CONFIG GET or
// CONFIG SET): it probes the setting and warns once when it costs memory.
func untuned(ctx context.Context, rdb redis.UniversalClient, min int, log *slog.Logger, what string, cause error) (int, error) {
	compact, err := probeListpack(ctx, rdb, min)
	if err != nil && !isReply(err) {
		return 0, fmt.Errorf("redis: probing hash-max-listpack-value: %w", err)
	}
	if compact {
		return min, nil
	}
	if log != nil {
		log.Warn(fmt.Sprintf("Redis refused %s, so ut360 cannot raise hash-max-listpack-value to %d: the load goes on, but profile hashes "+
			"take the hashtable encoding, about %d more bytes of Redis memory per subscriber (~%d MB per million). "+
			"To avoid it, set hash-max-listpack-value %d on the server (redis.conf, or the managed service's parameter group), "+
			"then load again; --tune-redis=false skips this check",
			what, min, HashtableCostPerSubscriber, HashtableCostPerSubscriber, min), "cause", cause.Error())
	}
	return 0, nil
}

// probeListpack reports whether the server keeps a hash with a min-byte
// field listpack-encoded, with a key of its own that lives at most a minute.
func probeListpack(ctx context.Context, rdb redis.UniversalClient, min int) (bool, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	key := "ut360-tune-probe:" + hex.EncodeToString(b[:])
	defer rdb.Del(context.WithoutCancel(ctx), key)
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, "f", strings.Repeat("x", min))
		p.Expire(ctx, key, time.Minute)
		return nil
	}); err != nil {
		return false, err
	}
	enc, err := rdb.ObjectEncoding(ctx, key).Result()
	if err != nil {
		return false, err
	}
	return enc == "listpack" || enc == "ziplist", nil
}
