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

	"github.com/ut360/ut360/dataset"
)

// redisStage writes the new snapshot under "<ns>:stage:" and swaps it in.
type redisStage struct {
	rdb   *redis.Client
	live  dataset.Keys
	stage dataset.Keys
	ttl   time.Duration
	dump  *respDump

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
func (s *redisStage) marker() string { return s.stage.Namespace() + ":active" }

const lockTTL = 30 * time.Second

func openRedis(ctx context.Context, rdb *redis.Client, keys dataset.Keys, ttl time.Duration, dump io.Writer) (_ *redisStage, err error) {
	s := &redisStage{rdb: rdb, live: keys, stage: dataset.NewKeys(keys.Namespace() + ":stage"), ttl: ttl,
		indexes: map[string]int64{}, family: map[string]int64{}, bar: func(int) {}}
	if dump != nil {
		s.dump = &respDump{w: bufio.NewWriterSize(dump, 1<<20)}
		rdb.AddHook(s.dump)
	}
	s.lockKey = keys.Namespace() + ":meta:load_lock"
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
			keys.Namespace(), s.lockKey, lockTTL)
	}
	lctx, stop := context.WithCancel(context.Background())
	s.stopLock, s.lockDone = stop, make(chan struct{})
	go s.keepLock(lctx)
	defer func() {
		if err != nil {
			s.release()
		}
	}()
	n, err := rdb.Exists(ctx, s.marker()).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	if n > 0 {
		if err := s.cleanup(ctx); err != nil {
			return nil, fmt.Errorf("redis: remove leftovers of an interrupted load: %w", err)
		}
	}
	if err := rdb.Set(ctx, s.marker(), s.lockVal, 0).Err(); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	return s, nil
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

// stageName is the staging name of a live key.
func (s *redisStage) stageName(live string) string {
	return s.stage.Namespace() + live[len(s.live.Namespace()):]
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
		err := s.rdb.Unlink(ctx, keys...).Err()
		keys = keys[:0]
		return err
	}
	s.mu.Lock()
	for k := range s.indexes {
		keys = append(keys, s.stageName(k))
	}
	s.mu.Unlock()
	for i := range subs.len() {
		isdn := subs.isdn(int32(i))
		keys = append(keys, s.stage.Rec(isdn), s.stage.Profile(isdn))
		if err := flush(false); err != nil {
			return err
		}
	}
	if err := flush(true); err != nil {
		return err
	}
	return s.rdb.Del(ctx, s.marker()).Err()
}

// cleanup removes every staging key (SCAN + UNLINK) and the marker: the
// leftovers of a load that died without discarding them.
func (s *redisStage) cleanup(ctx context.Context) error {
	it := s.rdb.Scan(ctx, 0, s.stage.Pattern(), 50000).Iterator()
	batch := make([]string, 0, 2000)
	for it.Next(ctx) {
		batch = append(batch, it.Val())
		if len(batch) == cap(batch) {
			if err := s.rdb.Unlink(ctx, batch...).Err(); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := it.Err(); err != nil {
		return err
	}
	if len(batch) > 0 {
		if err := s.rdb.Unlink(ctx, batch...).Err(); err != nil {
			return err
		}
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

// writeRecs stages rec hashes (with TTL) and the index members of each batch.
func (s *redisStage) writeRecs(ctx context.Context, ch <-chan []dataset.Recommendation) error {
	ttl := int64(s.ttl / time.Second)
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
			key := s.stageName(live)
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
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range batch {
				r := &batch[i]
				key := s.stage.Rec(r.ISDN)
				p.Do(ctx, strArgs("HSET", key, r.RecFields(), 0)...)
				p.Do(ctx, "EXPIRE", key, ttl)
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

// writeProfiles encodes and stages profile hashes (with TTL).
func (s *redisStage) writeProfiles(ctx context.Context, ch <-chan []profileHash) error {
	ttl := int64(s.ttl / time.Second)
	return eachBatch(ctx, ch, func(batch []profileHash) error {
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range batch {
				key := s.stage.Profile(batch[i].p.ISDN)
				p.Do(ctx, strArgs("HSET", key, profileFields(batch[i].p, batch[i].months), 0)...)
				p.Do(ctx, "EXPIRE", key, ttl)
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

// redisSwap is a MULTI whose commands are queued on a dedicated connection;
// exec applies them all at once.
type redisSwap struct {
	client *redis.Client
	conn   *redis.Conn
	owned  func(context.Context) error // the load lock is still ours
}

// liveIndexKeys lists the index keys of the live snapshot: from meta:stats,
// or by SCAN when meta:stats does not list them.
func (s *redisStage) liveIndexKeys(ctx context.Context) ([]string, error) {
	v, err := s.rdb.HGet(ctx, s.live.Stats(), StatIndexKeys).Result()
	if err == nil {
		var keys []string
		if json.Unmarshal([]byte(v), &keys) == nil {
			return keys, nil
		}
	} else if !errors.Is(err, redis.Nil) {
		return nil, err
	}
	var keys []string
	it := s.rdb.Scan(ctx, 0, dataset.NewKeys(s.live.Namespace()+":idx").Pattern(), 50000).Iterator()
	for it.Next(ctx) {
		keys = append(keys, it.Val())
	}
	return keys, it.Err()
}

// prepareSwap queues, inside MULTI, the renames of every staged key onto its
// live name, the deletion of vanished index keys and the new meta:stats. It
// uses its own connection without retries: a retried command after a lost
// connection would run outside the MULTI.
func (s *redisStage) prepareSwap(ctx context.Context, subs *subscribers, stats map[string]string) (*redisSwap, error) {
	if err := s.owned(ctx); err != nil {
		return nil, err
	}
	old, err := s.liveIndexKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("redis: list live index keys: %w", err)
	}
	opt := *s.rdb.Options()
	opt.MaxRetries = -1
	opt.PoolSize = 1
	opt.MinIdleConns = 0
	opt.ReadTimeout = 5 * time.Minute // EXEC of a large swap takes a while
	client := redis.NewClient(&opt)
	if s.dump != nil {
		client.AddHook(s.dump)
	}
	sw := &redisSwap{client: client, conn: client.Conn(), owned: s.owned}
	fail := func(err error) (*redisSwap, error) {
		sw.abort()
		return nil, fmt.Errorf("redis: prepare swap: %w", err)
	}
	if err := sw.conn.Do(ctx, "MULTI").Err(); err != nil {
		return fail(err)
	}
	queue := func(fn func(p redis.Pipeliner)) error {
		cmds, err := sw.conn.Pipelined(ctx, func(p redis.Pipeliner) error { fn(p); return nil })
		if err != nil {
			return err
		}
		for _, c := range cmds {
			if c.(*redis.Cmd).Val() != "QUEUED" {
				return fmt.Errorf("%v: not queued: %v", c.Args(), c.(*redis.Cmd).Val())
			}
		}
		return nil
	}
	const chunk = 5000
	for lo := 0; lo < subs.len(); lo += chunk {
		err := queue(func(p redis.Pipeliner) {
			for i := lo; i < min(lo+chunk, subs.len()); i++ {
				isdn := subs.isdn(int32(i))
				p.Do(ctx, "RENAME", s.stage.Rec(isdn), s.live.Rec(isdn))
				if subs.hasProfile.has(int32(i)) {
					p.Do(ctx, "RENAME", s.stage.Profile(isdn), s.live.Profile(isdn))
				} else {
					// No profile in the new snapshot: the previous one's must not survive.
					p.Do(ctx, "DEL", s.live.Profile(isdn))
				}
			}
		})
		if err != nil {
			return fail(err)
		}
	}
	newIdx := slices.Sorted(maps.Keys(s.indexes))
	err = queue(func(p redis.Pipeliner) {
		for _, k := range newIdx {
			p.Do(ctx, "RENAME", s.stageName(k), k)
		}
		for _, k := range old {
			if _, ok := s.indexes[k]; !ok {
				p.Do(ctx, "DEL", k)
			}
		}
		p.Do(ctx, "DEL", s.live.Stats())
		args := []any{"HSET", s.live.Stats()}
		for _, f := range slices.Sorted(maps.Keys(stats)) {
			args = append(args, f, stats[f])
		}
		p.Do(ctx, args...)
		p.Do(ctx, "DEL", s.marker())
	})
	if err != nil {
		return fail(err)
	}
	return sw, nil
}

// alive checks that the MULTI is still open on a live connection (a PING
// inside MULTI answers QUEUED) without applying anything.
func (sw *redisSwap) alive(ctx context.Context) error {
	if v, err := sw.conn.Do(ctx, "PING").Result(); err != nil || v != "QUEUED" {
		return fmt.Errorf("redis: connection of the queued swap lost (%v %v)", v, err)
	}
	return sw.owned(ctx)
}

// exec applies the queued swap atomically.
func (sw *redisSwap) exec(ctx context.Context) error {
	defer sw.abort()
	res, err := sw.conn.Do(ctx, "EXEC").Slice()
	if err != nil {
		return fmt.Errorf("redis: swap: %w", err)
	}
	for _, r := range res {
		if e, ok := r.(error); ok {
			return fmt.Errorf("redis: swap: a command of the MULTI failed: %w", e)
		}
	}
	return nil
}

// abort drops the connection; an un-EXECed MULTI is discarded by the server.
func (sw *redisSwap) abort() {
	if sw.conn != nil {
		sw.conn.Close()
		sw.client.Close()
		sw.conn = nil
	}
}

// indexKeysJSON is the StatIndexKeys value.
func indexKeysJSON(keys []string) string {
	b, _ := json.Marshal(keys)
	return string(b)
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
