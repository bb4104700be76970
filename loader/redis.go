package loader

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/ut360/ut360/dataset"
)

// redisStage writes the new snapshot under "<ns>:stage:" (see swap.go for
// how it is swapped in).
type redisStage struct {
	rdb       redis.UniversalClient
	clustered bool
	live      dataset.Keys
	ttl       time.Duration
	gen       int64         // this load's generation
	limit     *rate.Limiter // commands per second (nil: unlimited)
	dump      *respDump

	lockKey, lockVal string
	stopLock         context.CancelFunc
	lockDone         chan struct{}

	mu      sync.Mutex
	indexes map[string]int64 // staged index key (live name) → members
	family  map[string]int64 // "service" / "risk" / "cluster" → members

	recKeys, profileKeys atomic.Int64
	bar                  func(int)
}

// marker exists while a staging area is being filled; a load that finds it
// removes the leftovers of an interrupted one first.
func (s *redisStage) marker() string { return s.live.StagePrefix() + "active" }

const lockTTL = 30 * time.Second

// redisOptions are the Redis side's settings of a load.
type redisOptions struct {
	keys dataset.Keys
	ttl  time.Duration
	gen  int64
	rate int // commands per second, 0: unlimited
	dump io.Writer
}

// openRedis takes the namespace's load lock.
func openRedis(ctx context.Context, rdb redis.UniversalClient, o redisOptions) (_ *redisStage, err error) {
	s := &redisStage{rdb: rdb, live: o.keys, ttl: o.ttl, gen: o.gen,
		indexes: map[string]int64{}, family: map[string]int64{}, bar: func(int) {}}
	_, s.clustered = rdb.(*redis.ClusterClient)
	if o.rate > 0 {
		s.limit = rate.NewLimiter(rate.Limit(o.rate), max(o.rate/10, 1))
	}
	if o.dump != nil {
		s.dump = &respDump{w: bufio.NewWriterSize(o.dump, 1<<20)}
		rdb.AddHook(s.dump)
	}
	s.lockKey = o.keys.LoadLock()
	if s.dump != nil {
		s.dump.skip = s.lockKey
	}
	s.lockVal = strconv.FormatInt(time.Now().UnixNano(), 36)
	ok, err := rdb.SetNX(ctx, s.lockKey, s.lockVal, lockTTL).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	if !ok {
		return nil, fmt.Errorf("redis: another ut360 load into namespace %q is running (lock %s, expires within %s if it died)",
			o.keys.Namespace(), s.lockKey, lockTTL)
	}
	lctx, stop := context.WithCancel(context.Background())
	s.stopLock, s.lockDone = stop, make(chan struct{})
	go s.keepLock(lctx)
	return s, nil
}

// begin removes the leftovers of a load that died while staging (the
// marker says there are some) and sets the marker for this one.
func (s *redisStage) begin(ctx context.Context) error {
	n, err := s.rdb.Exists(ctx, s.marker()).Result()
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	if n > 0 {
		if err := s.cleanup(ctx); err != nil {
			return fmt.Errorf("redis: remove leftovers of an interrupted load: %w", err)
		}
	}
	if err := s.rdb.Set(ctx, s.marker(), s.lockVal, 0).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// pace waits until n more commands may be sent under the rate limit.
func (s *redisStage) pace(ctx context.Context, n int) error {
	if s.limit == nil {
		return nil
	}
	for n > 0 {
		k := min(n, s.limit.Burst())
		if err := s.limit.WaitN(ctx, k); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

var refreshLock = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`)
var releaseLock = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`)

func (s *redisStage) keepLock(ctx context.Context) {
	defer close(s.lockDone)
	t := time.NewTicker(lockTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := refreshLock.Run(ctx, s.rdb, []string{s.lockKey}, s.lockVal, lockTTL.Milliseconds()).Int()
			if err == nil && n == 0 {
				return // lost (owned reports it); a refresh must not take it back
			}
		}
	}
}

// owned fails when the load lock is no longer this load's: it expired while
// the process stalled, and another load may be filling the same staging
// keys. Checked before the swap is queued and right before PostgreSQL
// commits, so a load that lost its lock applies nothing.
func (s *redisStage) owned(ctx context.Context) error {
	v, err := s.rdb.Get(ctx, s.lockKey).Result()
	switch {
	case err == nil && v == s.lockVal:
		return nil
	case err != nil && !errors.Is(err, redis.Nil):
		return fmt.Errorf("redis: check the load lock: %w", err)
	}
	return fmt.Errorf("redis: lost the load lock %s (it expired; another load may be running): nothing applied", s.lockKey)
}

// release stops refreshing the lock and deletes it (if still ours).
func (s *redisStage) release() {
	if s.stopLock == nil {
		return
	}
	s.stopLock()
	<-s.lockDone
	s.stopLock = nil
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	releaseLock.Run(ctx, s.rdb, []string{s.lockKey}, s.lockVal)
	if s.dump != nil {
		s.dump.flush()
	}
}

// discard removes the staging keys this load may have written: those of
// every subscriber in subs and every index key, then the marker. It needs no
// SCAN of the keyspace.
func (s *redisStage) discard(ctx context.Context, subs *subscribers) error {
	var keys []string
	flush := func(force bool) error {
		if len(keys) == 0 || (!force && len(keys) < 4000) {
			return nil
		}
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error { s.unlink(ctx, p, keys); return nil })
		keys = keys[:0]
		return err
	}
	s.mu.Lock()
	for k := range s.indexes {
		keys = append(keys, s.live.Stage(k))
	}
	s.mu.Unlock()
	for i := range subs.len() {
		isdn := subs.isdn(int32(i))
		keys = append(keys, s.live.Stage(s.live.Rec(isdn)), s.live.Stage(s.live.Profile(isdn)))
		if err := flush(false); err != nil {
			return err
		}
	}
	if err := flush(true); err != nil {
		return err
	}
	return s.rdb.Del(ctx, s.marker()).Err()
}

// cleanup removes every staging key (SCAN + UNLINK, on every master) and
// the marker: the leftovers of a load that died without discarding them.
func (s *redisStage) cleanup(ctx context.Context) error {
	err := s.scan(ctx, s.live.StagePattern(), func(keys []string) error {
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error { s.unlink(ctx, p, keys); return nil })
		return err
	})
	if err != nil {
		return err
	}
	return s.rdb.Del(ctx, s.marker()).Err()
}

func strArgs(cmd string, key string, fields []string, extra int) []any {
	a := make([]any, 0, 2+len(fields)+extra)
	a = append(a, cmd, key)
	for _, f := range fields {
		a = append(a, f)
	}
	return a
}

func (s *redisStage) addIndex(family, key string, n int64) {
	s.mu.Lock()
	s.indexes[key] += n
	s.family[family] += n
	s.mu.Unlock()
}

// writeRecs stages rec hashes and the index members of each batch. Staged
// keys carry no TTL (they cannot expire, nor be evicted under a volatile-*
// policy, before the swap); the swap sets the TTL of the live key.
func (s *redisStage) writeRecs(ctx context.Context, ch <-chan []dataset.Recommendation) error {
	return eachBatch(ctx, ch, func(batch []dataset.Recommendation) error {
		// One ZADD/SADD per index key and batch, with all its members:
		// three commands per subscriber fewer for both the loader and Redis.
		type indexWrite struct {
			family, live string
			n            int64 // members
			args         []any // the ZADD/SADD command
		}
		writes := map[string]*indexWrite{} // by staging key
		add := func(family, cmd, live string, m ...any) {
			key := s.live.Stage(live)
			w := writes[key]
			if w == nil {
				w = &indexWrite{family: family, live: live, args: []any{cmd, key}}
				writes[key] = w
			}
			w.n++
			w.args = append(w.args, m...)
		}
		for i := range batch {
			r := &batch[i]
			add("service", "ZADD", s.live.ServiceIndex(r.ServiceType), dataset.CanonFloat(r.PriorityScore), r.ISDN)
			add("risk", "SADD", s.live.RiskIndex(r.BadDebtRisk), r.ISDN)
			add("cluster", "SADD", s.live.ClusterIndex(r.ClusterGroup), r.ISDN)
		}
		// Index keys are recorded before they are written, so that a
		// failed load knows every staging key to remove.
		for _, w := range writes {
			s.addIndex(w.family, w.live, w.n)
		}
		if err := s.pace(ctx, len(batch)+len(writes)); err != nil {
			return err
		}
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range batch {
				r := &batch[i]
				p.Do(ctx, strArgs("HSET", s.live.Stage(s.live.Rec(r.ISDN)), r.RecFields(), 0)...)
			}
			for _, k := range slices.Sorted(maps.Keys(writes)) {
				p.Do(ctx, writes[k].args...)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("redis: stage recommendations: %w", err)
		}
		s.recKeys.Add(int64(len(batch)))
		s.bar(len(batch))
		return nil
	})
}

// profileHash is a profile with its monthly rows, encoded by the writer.
type profileHash struct {
	p      *dataset.Profile
	months []dataset.Monthly
}

// redisWriters is the number of concurrent staging pipelines per key family:
// while one waits for Redis, another encodes (JSON of the profile hashes).
const redisWriters = 3

// writeProfiles encodes and stages profile hashes (no TTL, as writeRecs).
func (s *redisStage) writeProfiles(ctx context.Context, ch <-chan []profileHash) error {
	return eachBatch(ctx, ch, func(batch []profileHash) error {
		if err := s.pace(ctx, len(batch)); err != nil {
			return err
		}
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range batch {
				key := s.live.Stage(s.live.Profile(batch[i].p.ISDN))
				p.Do(ctx, strArgs("HSET", key, profileFields(batch[i].p, batch[i].months), 0)...)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("redis: stage profiles: %w", err)
		}
		s.profileKeys.Add(int64(len(batch)))
		s.bar(len(batch))
		return nil
	})
}

// liveIndexKeys lists the index keys of the live snapshot: from meta:stats,
// or by SCAN when meta:stats does not list them.
func (s *redisStage) liveIndexKeys(ctx context.Context) ([]string, error) {
	v, err := s.rdb.HGet(ctx, s.live.Stats(), dataset.StatIndexKeys).Result()
	if err == nil {
		var keys []string
		if json.Unmarshal([]byte(v), &keys) == nil {
			return keys, nil
		}
	} else if !errors.Is(err, redis.Nil) {
		return nil, err
	}
	var keys []string
	err = s.scan(ctx, dataset.NewKeys(s.live.Namespace()+":idx").Pattern(), func(k []string) error {
		keys = append(keys, k...)
		return nil
	})
	return keys, err
}

// respDump is a go-redis hook writing every command in RESP form.
type respDump struct {
	mu   sync.Mutex
	w    *bufio.Writer
	skip string // the lock key: a replay must not take the lock
}

func (d *respDump) write(cmds ...redis.Cmder) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range cmds {
		args := c.Args()
		if d.skipped(c) {
			continue
		}
		fmt.Fprintf(d.w, "*%d\r\n", len(args))
		for _, a := range args {
			s := fmt.Sprint(a)
			fmt.Fprintf(d.w, "$%d\r\n%s\r\n", len(s), s)
		}
	}
}

func (d *respDump) flush() {
	d.mu.Lock()
	d.w.Flush()
	d.mu.Unlock()
}

// DialHook is part of redis.Hook.
func (d *respDump) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook records single commands.
func (d *respDump) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		d.write(cmd)
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook records pipelines.
func (d *respDump) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		d.write(cmds...)
		return next(ctx, cmds)
	}
}

// skipped leaves connection set-up chatter, scripts and the load lock out
// of the dump.
func (d *respDump) skipped(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "hello", "client", "ping", "auth", "select", "eval", "evalsha", "script", "scan":
		return true
	}
	args := cmd.Args()
	return len(args) > 1 && fmt.Sprint(args[1]) == d.skip
}
