package loader

// The cross-store swap protocol: how a staged snapshot replaces the live one
// in PostgreSQL and Redis without stopping readers, and how a load that died
// at any step is finished (or undone) by the next one.
//
// Each load has a generation G (the Unix nanoseconds of its start). The
// journal is the Redis hash "<ns>:meta:swap" {state, generation, started,
// postgres}; PostgreSQL records the generation of its live tables as the
// comment of the recommendations table, set on the staging copy so that it
// becomes live with the table in the same commit.
//
//	step            PostgreSQL                Redis                                 a crash here leaves / the next load
//	──────────────  ────────────────────────  ────────────────────────────────────  ─────────────────────────────────────
//	1 stage         live = old; staging       live = old; "<ns>:stage:*" filling,   staging leftovers, no journal /
//	                schema filling            no TTL; marker "<ns>:stage:active"    removes them (SCAN + UNLINK)
//	2 check         indexes built, comment    staged snapshot proved complete       journal state=staged /
//	                "ut360 generation G"      (every key, every index cardinality); PostgreSQL live is G → roll Redis
//	                                          drop set and staged meta:stats        forward; otherwise roll back
//	                                          written; journal state=staged         (discard the staging area)
//	3 PG swap       live = new (G)            as 2                                  as 2 (PostgreSQL is G: forward)
//	4 Redis swap    new                       journal state=swapping; subscribers   mixed generations / roll forward:
//	                                          renamed in small scripts (rec+profile rename what is still staged, then
//	                                          of a subscriber together), then each  the rest of the steps
//	                                          index key, then leavers unlinked
//	5 commit        new                       meta:stats := staged stats (G)        journal swapping / clean up
//	6 clean up      new                       journal, drop set, marker deleted     nothing
//
// Readers of Redis see, during step 4 only (the mixed window, reported by the
// load): each subscriber's rec and profile hashes together old or new (one
// script renames both), each index key whole old or whole new, meta:stats
// old. A reader that needs one generation reads meta:stats' "generation"
// before and after its reads (or checks that "<ns>:meta:swap" is absent).
// A journal at a generation older than the live meta:stats is stale and is
// rolled back, never applied.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/redisconn"
)

// Journal states and fields.
const (
	swapStaged   = "staged"   // staging proved complete; nothing live changed
	swapSwapping = "swapping" // live keys are changing: only forward from here

	jState, jGeneration, jStarted, jPostgres = "state", "generation", "started", "postgres"
)

// ErrSwapUnfinished marks a swap that stopped part-way; the journal in Redis
// records it and the next load (or --resume) finishes it.
var ErrSwapUnfinished = errors.New("redis swap unfinished")

// unitSubscribers is how many subscribers one swap script renames: small
// enough that a script runs well under a millisecond, so readers between two
// scripts wait little; large enough to keep the swap short.
const unitSubscribers = 64

// unitsInFlight is how many swap scripts are pipelined per round trip; on a
// cluster the pipeline is split among the masters and a unit holds one
// slot's keys (about 26 at 214,000 subscribers), so more are sent at once.
func (s *redisStage) unitsInFlight() int {
	if s.clustered {
		return 96
	}
	return 16
}

// swapKeys renames staged keys onto their live names. KEYS are pairs
// (staged, live); ARGV[1] is the TTL in milliseconds of the renamed keys (0:
// none); ARGV[2] "unlink" first UNLINKs the live key, so that a large old
// value (an index set) is freed in the background instead of by RENAME,
// inside the script. A pair whose staged key is gone (renamed by an earlier,
// interrupted run) is skipped, so the script is idempotent. A small hash is
// renamed over its old value directly: freeing it costs less than UNLINK.
var swapKeys = redis.NewScript(`
local n = 0
for i = 1, #KEYS, 2 do
  if ARGV[2] == 'unlink' then
    if redis.call('EXISTS', KEYS[i]) == 1 then
      redis.call('UNLINK', KEYS[i+1])
      redis.call('RENAME', KEYS[i], KEYS[i+1])
      n = n + 1
    end
  else
    local r = redis.pcall('RENAME', KEYS[i], KEYS[i+1])
    if type(r) == 'table' and r.err then
      if not string.find(r.err, 'no such key') then return redis.error_reply(r.err) end
    else
      if ARGV[1] ~= '0' then redis.call('PEXPIRE', KEYS[i+1], ARGV[1]) end
      n = n + 1
    end
  end
end
return n`)

// markGeneration comments the staging recommendations table with the
// generation; the swap moves the table, comment included, into place.
func (s *pgStage) markGeneration(ctx context.Context, gen int64) error {
	_, err := s.pool.Exec(ctx, fmt.Sprintf("COMMENT ON TABLE %s IS '%s'", qi(s.stage, tRecs), dataset.GenerationComment(gen)))
	return err
}

// recoverOnly is --resume / --rollback: recover, load nothing.
func (l *load) recoverOnly(ctx context.Context) (*Summary, error) {
	rs, err := openRedis(ctx, l.rdb, redisOptions{keys: l.o.Keys, ttl: l.o.TTL, gen: l.gen, rate: l.o.RedisRate})
	if err != nil {
		return nil, err
	}
	defer rs.release()
	msg, err := rs.recover(ctx, l.o.Recover, l.pgGeneration(ctx), l.o.Log)
	if err != nil {
		return nil, err
	}
	return &Summary{Recovered: msg}, nil
}

// pgGeneration is PostgreSQL's live generation for recovery, -1 when the
// load has no PostgreSQL connection or cannot read it.
func (l *load) pgGeneration(ctx context.Context) int64 {
	if l.pool == nil {
		return -1
	}
	g, err := PGGeneration(ctx, l.pool)
	if err != nil {
		return -1
	}
	return g
}

// PGGeneration is the generation of PostgreSQL's live snapshot in the
// schema of q's search_path (0: not recorded, e.g. loaded before
// generations existed).
func PGGeneration(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (int64, error) {
	var c *string
	err := q.QueryRow(ctx, dataset.PGGenerationQuery).Scan(&c)
	if err != nil || c == nil {
		return 0, err
	}
	return dataset.ParseGenerationComment(*c), nil
}

// forUnits calls fn with batches of at most unitsInFlight() swap units of
// subs. A unit is a list of pairs (staged, live) that one script renames: on
// a single server the rec and profile hashes of unitSubscribers subscribers
// in load order (atomic per subscriber); on a cluster the keys of one hash
// slot (atomic per slot), at most 2*unitSubscribers pairs.
func (s *redisStage) forUnits(subs *subscribers, fn func(units [][]string) error) error {
	var batch [][]string
	emit := func(u []string) error {
		if batch = append(batch, u); len(batch) < s.unitsInFlight() {
			return nil
		}
		err := fn(batch)
		batch = batch[:0]
		return err
	}
	add := func(u []string, live string) []string { return append(u, s.live.Stage(live), live) }
	if !s.clustered {
		for lo := 0; lo < subs.len(); lo += unitSubscribers {
			u := make([]string, 0, 4*unitSubscribers)
			for i := lo; i < min(lo+unitSubscribers, subs.len()); i++ {
				isdn := subs.isdn(int32(i))
				if u = add(u, s.live.Rec(isdn)); subs.hasProfile.has(int32(i)) {
					u = add(u, s.live.Profile(isdn))
				}
			}
			if err := emit(u); err != nil {
				return err
			}
		}
	} else {
		// Bucket by slot: subscriber index << 1 | 1 for its profile.
		slots := make([][]int32, dataset.SlotCount)
		for i := range subs.len() {
			isdn := subs.isdn(int32(i))
			sl := dataset.Slot(s.live.Rec(isdn))
			slots[sl] = append(slots[sl], int32(i)<<1)
			if subs.hasProfile.has(int32(i)) {
				sl = dataset.Slot(s.live.Profile(isdn))
				slots[sl] = append(slots[sl], int32(i)<<1|1)
			}
		}
		for _, members := range slots {
			for lo := 0; lo < len(members); lo += 2 * unitSubscribers {
				u := make([]string, 0, 4*unitSubscribers)
				for _, m := range members[lo:min(lo+2*unitSubscribers, len(members))] {
					isdn := subs.isdn(m >> 1)
					if m&1 == 0 {
						u = add(u, s.live.Rec(isdn))
					} else {
						u = add(u, s.live.Profile(isdn))
					}
				}
				if err := emit(u); err != nil {
					return err
				}
			}
		}
	}
	if len(batch) == 0 {
		return nil
	}
	return fn(batch)
}

// prove checks, before anything live changes, that the staging area holds
// the whole snapshot: every rec and profile hash read, every index key with
// the members written. A key evicted, expired or deleted since it was
// written fails the load here with both stores on the previous snapshot.
func (s *redisStage) prove(ctx context.Context, subs *subscribers) error {
	var recs, profs, wantProfs int64
	var recCmds, profCmds []*redis.IntCmd
	err := s.forUnits(subs, func(units [][]string) error {
		recCmds, profCmds = recCmds[:0], profCmds[:0]
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, u := range units {
				var rk, pk []string
				for i := 0; i < len(u); i += 2 {
					if strings.HasPrefix(u[i+1], s.live.RecPrefix()) {
						rk = append(rk, u[i])
					} else {
						pk = append(pk, u[i])
					}
				}
				wantProfs += int64(len(pk))
				if len(rk) > 0 {
					recCmds = append(recCmds, p.Exists(ctx, rk...))
				}
				if len(pk) > 0 {
					profCmds = append(profCmds, p.Exists(ctx, pk...))
				}
			}
			return nil
		})
		for _, c := range recCmds {
			recs += c.Val()
		}
		for _, c := range profCmds {
			profs += c.Val()
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("redis: check the staged snapshot: %w", err)
	}
	if recs != int64(subs.len()) || profs != wantProfs {
		return fmt.Errorf("redis: staged snapshot incomplete before the swap: %d of %d rec hashes, %d of %d profile hashes "+
			"(keys evicted or deleted while loading? check maxmemory and its policy); nothing applied", recs, subs.len(), profs, wantProfs)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cards := map[string]*redis.IntCmd{}
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for k := range s.indexes {
			if strings.HasPrefix(k, s.live.ServiceIndex("")) {
				cards[k] = p.ZCard(ctx, s.live.Stage(k))
			} else {
				cards[k] = p.SCard(ctx, s.live.Stage(k))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis: check the staged indexes: %w", err)
	}
	for k, c := range cards {
		if c.Val() != s.indexes[k] {
			return fmt.Errorf("redis: staged index %s incomplete before the swap: %d of %d members; nothing applied", k, c.Val(), s.indexes[k])
		}
	}
	return nil
}

// plan writes what the swap needs besides the staged keys, then the journal
// (state staged): the drop set (live keys the new snapshot no longer has:
// leavers' hashes, profiles of subscribers without one, index keys of
// vanished values) and the new meta:stats, staged. It returns the leavers.
func (s *redisStage) plan(ctx context.Context, subs *subscribers, stats map[string]string, withPG bool) (leavers int64, err error) {
	if err := s.owned(ctx); err != nil {
		return 0, err
	}
	if s.clustered {
		// A slot moving between masters would split a unit across nodes.
		slots, err := redisconn.MigratingSlots(ctx, s.rdb)
		if err != nil {
			return 0, fmt.Errorf("redis: check for migrating slots: %w", err)
		}
		if len(slots) > 0 {
			return 0, fmt.Errorf("redis: %d hash slots are migrating (first %d): refusing to swap during a resharding; nothing applied, rerun when it has finished", len(slots), slots[0])
		}
	}
	old, err := s.liveIndexKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("redis: list live index keys: %w", err)
	}
	drop := s.dropKey()
	var buf []any
	flush := func(force bool) error {
		if len(buf) == 0 || (!force && len(buf) < 1000) {
			return nil
		}
		err := s.rdb.SAdd(ctx, drop, buf...).Err()
		buf = buf[:0]
		return err
	}
	s.mu.Lock()
	for _, k := range old {
		if _, ok := s.indexes[k]; !ok {
			buf = append(buf, k)
		}
	}
	s.mu.Unlock()
	for i := range subs.len() {
		if !subs.hasProfile.has(int32(i)) {
			buf = append(buf, s.live.Profile(subs.isdn(int32(i))))
			if err := flush(false); err != nil {
				return 0, fmt.Errorf("redis: write the drop set: %w", err)
			}
		}
	}
	// Leavers: every subscriber is in exactly one risk index, so the old
	// risk sets list the previous snapshot.
	for _, k := range old {
		if !strings.HasPrefix(k, s.live.RiskIndex("")) {
			continue
		}
		it := s.rdb.SScan(ctx, k, 0, "", 1000).Iterator()
		for it.Next(ctx) {
			isdn := it.Val()
			if _, ok := subs.lookup(isdn); ok {
				continue
			}
			leavers++
			buf = append(buf, s.live.Rec(isdn), s.live.Profile(isdn))
			if err := flush(false); err != nil {
				return 0, fmt.Errorf("redis: write the drop set: %w", err)
			}
		}
		if err := it.Err(); err != nil {
			return 0, fmt.Errorf("redis: read the previous snapshot's members of %s: %w", k, err)
		}
	}
	if err := flush(true); err != nil {
		return 0, fmt.Errorf("redis: write the drop set: %w", err)
	}
	stats[dataset.StatGeneration] = strconv.FormatInt(s.gen, 10)
	args := make([]any, 0, 2*len(stats))
	for f, v := range stats {
		args = append(args, f, v)
	}
	staged := s.stagedStats()
	if err := s.rdb.HSet(ctx, staged, args...).Err(); err != nil {
		return 0, fmt.Errorf("redis: stage meta:stats: %w", err)
	}
	pg := "0"
	if withPG {
		pg = "1"
	}
	err = s.rdb.HSet(ctx, s.live.SwapJournal(), jState, swapStaged, jGeneration, s.gen,
		jStarted, time.Now().UTC().Format(time.RFC3339), jPostgres, pg).Err()
	if err != nil {
		return 0, fmt.Errorf("redis: write the swap journal: %w", err)
	}
	return leavers, nil
}

// dropKey is the staged set of live keys the swap unlinks (see plan).
func (s *redisStage) dropKey() string { return s.live.Stage(s.live.Namespace() + ":meta:drop") }

// stagedStats is the staged meta:stats, renamed onto the live one at commit.
func (s *redisStage) stagedStats() string { return s.live.Stage(s.live.Stats()) }

// planned fails unless this load still holds the lock and the journal is
// its own: checked right before PostgreSQL commits.
func (s *redisStage) planned(ctx context.Context) error {
	if err := s.owned(ctx); err != nil {
		return err
	}
	g, err := s.rdb.HGet(ctx, s.live.SwapJournal(), jGeneration).Result()
	if err != nil || g != strconv.FormatInt(s.gen, 10) {
		return fmt.Errorf("redis: the swap journal of this load is gone (%q, %v): nothing applied", g, err)
	}
	return nil
}

// abandon removes what a load that stops before its swap has staged: its
// staged keys, the drop set, the staged meta:stats, then its journal.
func (s *redisStage) abandon(ctx context.Context, subs *subscribers) error {
	if err := s.discard(ctx, subs); err != nil {
		return err
	}
	// Two keys of different slots: one UNLINK each on a cluster.
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		s.unlink(ctx, p, []string{s.dropKey(), s.stagedStats()})
		return nil
	})
	if err != nil {
		return err
	}
	if g := s.rdb.HGet(ctx, s.live.SwapJournal(), jGeneration).Val(); g == strconv.FormatInt(s.gen, 10) {
		return s.rdb.Del(ctx, s.live.SwapJournal()).Err()
	}
	return nil
}

// swapTiming is what a swap measured.
type swapTiming struct {
	Window time.Duration // first live key changed → meta:stats committed
	Leaver time.Duration // unlinking the drop set
}

// swap runs steps 4-6 for a planned load: subscribers from subs in order,
// unitSubscribers per script. subs nil: a resumed swap, whose staged keys
// are found by SCAN (one pair per script: atomic per key only).
func (s *redisStage) swap(ctx context.Context, subs *subscribers) (t swapTiming, err error) {
	if err := s.rdb.HSet(ctx, s.live.SwapJournal(), jState, swapSwapping).Err(); err != nil {
		return t, fmt.Errorf("redis: swap: journal: %w", err)
	}
	start := time.Now()
	ttl := strconv.FormatInt(s.ttl.Milliseconds(), 10)
	run := func(units [][]string, ttl string) error { return s.runUnits(ctx, units, ttl, "rename") }
	runUnlink := func(units [][]string) error { return s.runUnits(ctx, units, "0", "unlink") }
	if err := swapKeys.Load(ctx, s.rdb).Err(); err != nil {
		return t, fmt.Errorf("redis: swap: load script: %w", err)
	}
	var idx [][]string
	if subs != nil {
		err := s.forUnits(subs, func(units [][]string) error {
			defer hook("swap-units")
			return run(units, ttl)
		})
		if err != nil {
			return t, fmt.Errorf("redis: swap subscribers: %w", err)
		}
		s.mu.Lock()
		for k := range s.indexes {
			idx = append(idx, []string{s.live.Stage(k), k})
		}
		s.mu.Unlock()
	} else {
		if idx, err = s.resumeUnits(ctx, run, ttl); err != nil {
			return t, fmt.Errorf("redis: resume swap: %w", err)
		}
	}
	hook("swap-subscribers")
	// Each index key on its own: whole old or whole new.
	for lo := 0; lo < len(idx); lo += s.unitsInFlight() {
		if err := runUnlink(idx[lo:min(lo+s.unitsInFlight(), len(idx))]); err != nil {
			return t, fmt.Errorf("redis: swap index keys: %w", err)
		}
	}
	ls := time.Now()
	if err := s.unlinkDropSet(ctx); err != nil {
		return t, fmt.Errorf("redis: remove leavers: %w", err)
	}
	t.Leaver = time.Since(ls)
	hook("swap-before-commit")
	// The commit point: the new meta:stats.
	if err := runUnlink([][]string{{s.stagedStats(), s.live.Stats()}}); err != nil {
		return t, fmt.Errorf("redis: swap meta:stats: %w", err)
	}
	t.Window = time.Since(start)
	if err := s.rdb.Del(ctx, s.live.SwapJournal()).Err(); err != nil {
		return t, fmt.Errorf("redis: swap committed; delete the journal: %w", err)
	}
	if err := s.rdb.Del(ctx, s.marker()).Err(); err != nil {
		return t, fmt.Errorf("redis: swap committed; delete the marker: %w", err)
	}
	return t, nil
}

// runUnits runs one swapKeys script per unit, pipelined, paced by the
// load's rate limit. NOSCRIPT (a server restarted or failed over since the
// script was loaded) loads it again and retries: the script is idempotent.
func (s *redisStage) runUnits(ctx context.Context, units [][]string, ttl, mode string) error {
	if len(units) == 0 {
		return nil
	}
	n := 0
	for _, u := range units {
		n += len(u) / 2
	}
	if err := s.pace(ctx, n); err != nil {
		return err
	}
	exec := func() error {
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, u := range units {
				swapKeys.EvalSha(ctx, p, u, ttl, mode)
			}
			return nil
		})
		return err
	}
	err := exec()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		if err := swapKeys.Load(ctx, s.rdb).Err(); err != nil {
			return err
		}
		err = exec()
	}
	return err
}

// unlinkDropSet unlinks every live key of the drop set, then the set.
func (s *redisStage) unlinkDropSet(ctx context.Context) error {
	drop := s.dropKey()
	it := s.rdb.SScan(ctx, drop, 0, "", 1000).Iterator()
	var keys []string
	flush := func() error {
		if len(keys) == 0 {
			return nil
		}
		if err := s.pace(ctx, len(keys)); err != nil {
			return err
		}
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for lo := 0; lo < len(keys); lo += 100 {
				s.unlink(ctx, p, keys[lo:min(lo+100, len(keys))])
			}
			return nil
		})
		keys = keys[:0]
		return err
	}
	for it.Next(ctx) {
		keys = append(keys, it.Val())
		if len(keys) == 1000 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := it.Err(); err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	return s.rdb.Unlink(ctx, drop).Err()
}

// unlink queues the UNLINK of keys: one command on a single server, one per
// key on a cluster (a multi-key command must stay within one slot).
func (s *redisStage) unlink(ctx context.Context, p redis.Pipeliner, keys []string) {
	if !s.clustered {
		p.Unlink(ctx, keys...)
		return
	}
	for _, k := range keys {
		p.Unlink(ctx, k)
	}
}

// resumeUnits renames, one pair per script, every staged per-subscriber key
// it finds by SCAN, and returns the staged index keys' pairs for the caller.
func (s *redisStage) resumeUnits(ctx context.Context, run func([][]string, string) error, ttl string) ([][]string, error) {
	var idx, units [][]string
	stats, drop := s.stagedStats(), s.dropKey()
	err := s.scan(ctx, s.live.StagePattern(), func(keys []string) error {
		for _, st := range keys {
			live, ok := s.live.LiveOf(st)
			switch {
			case !ok || st == stats || st == drop:
			case strings.HasPrefix(live, s.live.IndexPrefix()):
				idx = append(idx, []string{st, live})
			case strings.HasPrefix(live, s.live.RecPrefix()) || strings.HasPrefix(live, s.live.ProfilePrefix()):
				units = append(units, []string{st, live})
			}
		}
		if err := run(units, ttl); err != nil {
			return err
		}
		units = units[:0]
		return nil
	})
	return idx, err
}

// scan calls fn with batches of the keys matching pattern, on every master
// of a cluster (redisconn.ForEachMasterScan: a failover restarts that
// master's scan on its successor without passing a key twice). Calls to fn
// are serialised.
func (s *redisStage) scan(ctx context.Context, pattern string, fn func([]string) error) error {
	var mu sync.Mutex
	return redisconn.ForEachMasterScan(ctx, s.rdb, pattern, 1000, func(_ context.Context, _ string, keys []string) error {
		mu.Lock()
		defer mu.Unlock()
		return fn(keys)
	})
}

// journal reads the swap journal (nil: none).
func (s *redisStage) journal(ctx context.Context) (map[string]string, error) {
	j, err := s.rdb.HGetAll(ctx, s.live.SwapJournal()).Result()
	if err != nil || len(j) == 0 {
		return nil, err
	}
	return j, nil
}

// Recovery says what a load does with an unfinished swap it finds.
type Recovery int

// Recovery modes (--resume / --rollback; the default recovers on its own).
const (
	RecoverAuto     Recovery = iota // forward when the journal is past the point of no return, else back
	RecoverForward                  // --resume: finish the swap, then stop
	RecoverRollback                 // --rollback: discard a swap that has not started changing live keys
)

// ErrNothingToRecover is returned by --resume / --rollback without a journal.
var ErrNothingToRecover = errors.New("no unfinished swap to recover")

// recover finishes or discards the swap an earlier load left, per the
// protocol's table. pgGen is PostgreSQL's live generation (-1: unknown).
func (s *redisStage) recover(ctx context.Context, mode Recovery, pgGen int64, log interface{ Warn(string, ...any) }) (string, error) {
	j, err := s.journal(ctx)
	if err != nil {
		return "", fmt.Errorf("redis: read the swap journal: %w", err)
	}
	if j == nil {
		if mode != RecoverAuto {
			return "", ErrNothingToRecover
		}
		return "", nil
	}
	gen, _ := strconv.ParseInt(j[jGeneration], 10, 64)
	liveGen, _ := strconv.ParseInt(s.rdb.HGet(ctx, s.live.Stats(), dataset.StatGeneration).Val(), 10, 64)
	forward := j[jState] == swapSwapping || (j[jPostgres] == "1" && pgGen == gen)
	switch {
	case liveGen > gen:
		forward = false // stale: a newer generation is live
	case mode == RecoverRollback && j[jState] == swapSwapping:
		return "", fmt.Errorf("redis: the swap of generation %d had started changing live keys: it can only be finished (ut360 load --resume)", gen)
	case mode == RecoverRollback:
		forward = false
	case mode == RecoverForward && !forward:
		return "", fmt.Errorf("redis: the staged generation %d cannot be applied (PostgreSQL holds generation %d); use --rollback", gen, pgGen)
	}
	if forward {
		log.Warn("finishing the Redis swap an earlier load left unfinished", "generation", gen, "state", j[jState])
		if _, err := s.swap(ctx, nil); err != nil {
			return "", err
		}
		return fmt.Sprintf("finished the unfinished swap of generation %d", gen), nil
	}
	log.Warn("discarding the Redis staging area an earlier load left", "generation", gen, "state", j[jState])
	if err := s.cleanup(ctx); err != nil {
		return "", fmt.Errorf("redis: discard the staged generation %d: %w", gen, err)
	}
	if err := s.rdb.Del(ctx, s.live.SwapJournal()).Err(); err != nil {
		return "", fmt.Errorf("redis: delete the swap journal: %w", err)
	}
	msg := fmt.Sprintf("discarded the staged generation %d", gen)
	if j[jPostgres] == "1" && pgGen == gen {
		msg += fmt.Sprintf("; PostgreSQL holds generation %d, Redis the previous one: run `ut360 load --to redis --from postgres`", gen)
	}
	return msg, nil
}
