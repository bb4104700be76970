package verify

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/dataset"
)

// indexOp is one index member to add, remove or rescore.
type indexOp struct {
	isdn string
	m    member
}

// plan is what a repair must write to Redis: built by the comparison, applied
// by repair. Everything is derived from PostgreSQL.
type plan struct {
	rewriteRec     []string // ISDNs whose rec hash is rewritten
	rewriteProfile []string // ISDNs whose profile hash is rewritten
	deleteKeys     []string // orphans and unreadable index keys
	ttlKeys        []string // keys whose TTL is reset
	indexAdd       []indexOp
	indexRemove    []indexOp
	indexRescore   []indexOp
	stats          map[string]string // meta:stats fields to set
	expired        map[string]bool   // keys that expired during the scan
	unrepairable   bool              // monthly rows without a profile row
}

// keepOwned drops from the plan every write to a key outside the
// namespace's key scheme (see classify): repair never touches another
// namespace's keys, the loader's meta and staging keys, or keys no ut360
// wrote, whatever the comparison found.
func (p *plan) keepOwned(k dataset.Keys) {
	p.deleteKeys = slices.DeleteFunc(p.deleteKeys, func(key string) bool { return !owned(k, key) })
	p.ttlKeys = slices.DeleteFunc(p.ttlKeys, func(key string) bool { return !owned(k, key) })
	p.rewriteRec = slices.DeleteFunc(p.rewriteRec, func(isdn string) bool { return !dataset.ValidISDN(isdn) })
	p.rewriteProfile = slices.DeleteFunc(p.rewriteProfile, func(isdn string) bool { return !dataset.ValidISDN(isdn) })
	for _, ops := range []*[]indexOp{&p.indexAdd, &p.indexRemove, &p.indexRescore} {
		*ops = slices.DeleteFunc(*ops, func(op indexOp) bool { return !owned(k, op.m.Key) })
	}
}

func newPlan() *plan { return &plan{stats: map[string]string{}, expired: map[string]bool{}} }

func (p *plan) actions() RepairActions {
	return RepairActions{RecRewrites: len(p.rewriteRec), ProfileRewrites: len(p.rewriteProfile), KeysDeleted: len(p.deleteKeys),
		TTLFixed: len(p.ttlKeys), IndexAdded: len(p.indexAdd), IndexRemoved: len(p.indexRemove),
		IndexRescored: len(p.indexRescore), StatsFields: len(p.stats)}
}

// examples describes up to n planned actions, one line each.
func (p *plan) examples(k dataset.Keys, n int) []string {
	out := []string{}
	push := func(s string) {
		if len(out) < n {
			out = append(out, s)
		}
	}
	for _, key := range p.deleteKeys {
		push("UNLINK " + key)
	}
	for _, isdn := range p.rewriteRec {
		push("rewrite " + k.Rec(isdn) + " from recommendations")
	}
	for _, isdn := range p.rewriteProfile {
		push("rewrite " + k.Profile(isdn) + " from subscriber_360_profiles + subscriber_monthly_arpu")
	}
	for _, key := range p.ttlKeys {
		push("PEXPIREAT " + key)
	}
	for _, op := range p.indexRemove {
		push("remove " + op.isdn + " from " + op.m.Key)
	}
	for _, op := range slices.Concat(p.indexAdd, p.indexRescore) {
		if op.m.ZSet {
			push("ZADD " + op.m.Key + " " + dataset.CanonFloat(op.m.Score) + " " + op.isdn)
		} else {
			push("SADD " + op.m.Key + " " + op.isdn)
		}
	}
	for f, v := range p.stats {
		push("HSET meta:stats " + f + " " + v)
	}
	return out
}

// expireAt is when repaired keys expire: with the rest of the snapshot
// (loaded_at + ttl_seconds from meta:stats) when that is in the future and
// within the configured TTL, otherwise now + the configured TTL.
func expireAt(stats map[string]string, ttl time.Duration, now time.Time) time.Time {
	secs, err1 := strconv.ParseInt(stats[dataset.StatTTLSeconds], 10, 64)
	loaded, ok := parseTime(stats[dataset.StatLoadedAt])
	if err1 == nil && ok {
		at := loaded.Add(time.Duration(secs) * time.Second)
		if at.After(now) && at.Sub(now) <= ttl {
			return at
		}
	}
	return now.Add(ttl)
}

func parseTime(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), true
	}
	return time.Time{}, false
}

// repair plans and (unless dry run) applies the Redis writes that make Redis
// agree with PostgreSQL again. It never writes to PostgreSQL.
func repair(ctx context.Context, pool *pgxpool.Pool, rdb redis.UniversalClient, o *Options, st *state, rep *Report) (*RepairReport, error) {
	p := st.plan
	p.keepOwned(o.Keys)
	want, err := pgIndexKeys(ctx, pool, o.Keys)
	if err != nil {
		return nil, err
	}
	if v := st.stats[dataset.StatIndexKeys]; v == "" || !sameKeySet(v, want) {
		p.stats[dataset.StatIndexKeys] = dataset.IndexKeysJSON(want)
	}
	rr := &RepairReport{DryRun: o.DryRun, Plan: p.actions(), Examples: p.examples(o.Keys, o.MaxExamples)}
	if rep.Class(SourceMismatch).Count > 0 {
		rr.NotRepairable = append(rr.NotRepairable, SourceMismatch+" (PostgreSQL is repaired by `ut360 load`, never by verify)")
	}
	if p.unrepairable {
		rr.NotRepairable = append(rr.NotRepairable, MissingInRedis+" for monthly rows without a profile row")
	}
	if rep.Class(UnfinishedSwap).Count > 0 {
		rr.NotRepairable = append(rr.NotRepairable, UnfinishedSwap+" (the loader recovers it: `ut360 load --resume`, `--rollback` or the next load)")
	}
	if rep.Class(GenerationMismatch).Count > 0 {
		rr.NotRepairable = append(rr.NotRepairable, GenerationMismatch+" (Redis is remade from PostgreSQL's generation by `ut360 load --to redis --from postgres`)")
	}
	if rep.Class(UnexplainedBucket).Count > 0 {
		rr.NotRepairable = append(rr.NotRepairable, UnexplainedBucket+" (nothing to rewrite was found; verify again)")
	}
	if o.DryRun {
		return rr, nil
	}
	at := expireAt(st.stats, o.TTL, time.Now())
	k := o.Keys
	// One key per command: keys of different cluster slots cannot share one.
	for start := 0; start < len(p.deleteKeys); start += fetchBatch {
		err := pipeline(ctx, rdb, func(pp redis.Pipeliner) {
			for _, key := range p.deleteKeys[start:min(start+fetchBatch, len(p.deleteKeys))] {
				pp.Unlink(ctx, key)
			}
		})
		if err != nil {
			return nil, fmt.Errorf("repair: unlink: %w", err)
		}
	}
	if err := rewrite(ctx, pool, rdb, p.rewriteRec, at, func(pr *pgRows, isdn string) (string, []string) {
		if r, ok := pr.recs[isdn]; ok {
			return k.Rec(isdn), r.RecFields()
		}
		return "", nil
	}); err != nil {
		return nil, err
	}
	if err := rewrite(ctx, pool, rdb, p.rewriteProfile, at, func(pr *pgRows, isdn string) (string, []string) {
		if pf, ok := pr.profiles[isdn]; ok {
			return k.Profile(isdn), pf.ProfileFields(pr.months[isdn])
		}
		return "", nil
	}); err != nil {
		return nil, err
	}
	err = pipeline(ctx, rdb, func(pp redis.Pipeliner) {
		for _, key := range p.ttlKeys {
			pp.PExpireAt(ctx, key, at)
		}
		for _, op := range p.indexRemove {
			if op.m.ZSet {
				pp.ZRem(ctx, op.m.Key, op.isdn)
			} else {
				pp.SRem(ctx, op.m.Key, op.isdn)
			}
		}
		for _, op := range slices.Concat(p.indexAdd, p.indexRescore) {
			if op.m.ZSet {
				pp.ZAdd(ctx, op.m.Key, redis.Z{Score: op.m.Score, Member: op.isdn})
			} else {
				pp.SAdd(ctx, op.m.Key, op.isdn)
			}
		}
		if len(p.stats) > 0 {
			pp.HSet(ctx, k.Stats(), p.stats)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("repair: index, TTL and stats writes: %w", err)
	}
	o.Log.Info("verify: repaired", "actions", rr.Plan.Total())
	return rr, nil
}

// rewriteHash replaces one hash atomically (KEYS[1]; ARGV[1] the expiry in
// Unix milliseconds, then field, value, …), so a reader never sees it
// half-written. A script of one key is one slot: it runs on a cluster too,
// where a MULTI over several keys would be refused (CROSSSLOT).
var rewriteHash = redis.NewScript(`
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1`)

// rewrite replaces whole hashes with their PostgreSQL rows, each in one
// script (rewriteHash), pipelined per batch.
func rewrite(ctx context.Context, pool *pgxpool.Pool, rdb redis.UniversalClient, isdns []string, at time.Time,
	fields func(*pgRows, string) (string, []string)) error {
	for start := 0; start < len(isdns); start += fetchBatch {
		batch := isdns[start:min(start+fetchBatch, len(isdns))]
		pr, err := fetchPG(ctx, pool, batch)
		if err != nil {
			return err
		}
		err = pipeline(ctx, rdb, func(pp redis.Pipeliner) {
			for _, isdn := range batch {
				key, fv := fields(pr, isdn)
				if key == "" {
					continue // the row vanished since the comparison
				}
				args := make([]any, 0, len(fv)+1)
				args = append(args, at.UnixMilli())
				for _, v := range fv {
					args = append(args, v)
				}
				// EVAL, not EVALSHA: a master promoted by a failover may not
				// have the script cached.
				rewriteHash.Eval(ctx, pp, []string{key}, args...)
			}
		})
		if err != nil {
			return fmt.Errorf("repair: rewrite hashes: %w", err)
		}
	}
	return nil
}

// pipeline sends the single-key commands fill queues in one pipeline (split
// by node on a cluster), run again after a failover; every command is safe to
// repeat. The first error of any command is returned.
func pipeline(ctx context.Context, rdb redis.UniversalClient, fill func(redis.Pipeliner)) error {
	return retry(ctx, rdb, func() error {
		_, err := rdb.Pipelined(ctx, func(pp redis.Pipeliner) error { fill(pp); return nil })
		return err
	})
}

// pgIndexKeys lists the index keys PostgreSQL's rows imply.
func pgIndexKeys(ctx context.Context, pool *pgxpool.Pool, k dataset.Keys) ([]string, error) {
	rows, err := pool.Query(ctx, `SELECT DISTINCT 's', service_type FROM recommendations
UNION ALL SELECT DISTINCT 'r', bad_debt_risk FROM recommendations
UNION ALL SELECT DISTINCT 'c', cluster_group::text FROM recommendations`)
	if err != nil {
		return nil, fmt.Errorf("postgres: index keys: %w", err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var kind, v string
		if err := rows.Scan(&kind, &v); err != nil {
			return nil, fmt.Errorf("postgres: index keys: %w", err)
		}
		switch kind {
		case "s":
			keys = append(keys, k.ServiceIndex(v))
		case "r":
			keys = append(keys, k.RiskIndex(v))
		default:
			keys = append(keys, k.IndexPrefix()+idxCluster+":"+v)
		}
	}
	return keys, rows.Err()
}
