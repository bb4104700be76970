package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/dataset"
)

// recSQL reads one recommendation row in the column order of the rec hash.
const recSQL = `SELECT isdn, subscriber_type, service_type, advance_amount, revenue_per_advance,
       cluster_group, bad_debt_risk, arpu_avg_6m, arpu_growth_rate, arpu_trend,
       customer_value_score, advance_readiness_score, priority_score
FROM recommendations WHERE isdn = $1`

// cacheAsideTarget is the read path of SPEC §6 on the rec family: HGETALL the
// rec hash; on a miss read the row from PostgreSQL and write the hash back
// (the same bytes the loader writes, through dataset.RecFields) with the TTL.
type cacheAsideTarget struct {
	rdb  redis.UniversalClient
	pool *pgxpool.Pool
	op   *CacheAsideOp
	keys dataset.Keys
	seed uint64
	// route is the slot map on a Redis Cluster (nil on one server): the
	// per-master counts of the rec keys read.
	route *clusterRoute
}

// nodeResults reports the per-master figures of a cluster run (nil on one server).
func (t *cacheAsideTarget) nodeResults(counts []int64, seconds float64) []NodeResult {
	if t.route == nil {
		return nil
	}
	return t.route.nodeResults(counts, seconds)
}

func (t *cacheAsideTarget) newWorker(ctx context.Context, w int) (worker, error) {
	c, err := t.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: acquire a connection: %w", err)
	}
	cw := &cacheAsideWorker{t: t, conn: c, rng: rand.New(rand.NewPCG(t.seed, uint64(w)+0xCAC4E))}
	if t.route != nil {
		cw.counts = make([]int64, len(t.route.masters))
	}
	return cw, nil
}

type cacheAsideWorker struct {
	t      *cacheAsideTarget
	conn   *pgxpool.Conn
	rng    *rand.Rand
	counts []int64 // cluster: the operation's rec key, per master
}

func (w *cacheAsideWorker) do(ctx context.Context, keys []string) (opResult, error) {
	res, err := w.read(ctx, keys)
	if w.t.route != nil {
		clear(w.counts)
		w.counts[w.t.route.node(w.t.keys.Rec(keys[0]))]++
		res.nodes = w.counts
	}
	return res, err
}

func (w *cacheAsideWorker) close() { w.conn.Release() }

// before evicts the key for the configured share of operations, as if it had
// expired; it is not part of the recorded latency.
func (w *cacheAsideWorker) before(ctx context.Context, keys []string) error {
	if w.t.op.Miss > 0 && w.rng.Float64() < float64(w.t.op.Miss) {
		return w.t.rdb.Unlink(ctx, w.t.keys.Rec(keys[0])).Err()
	}
	return nil
}

// read is the SPEC §6 read path of one key. On a cluster the write-back's
// MULTI holds one key, so one slot.
func (w *cacheAsideWorker) read(ctx context.Context, keys []string) (opResult, error) {
	key := w.t.keys.Rec(keys[0])
	h, err := w.t.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return opResult{}, err
	}
	if len(h) > 0 {
		if _, fe := dataset.RecommendationFromHash(h); fe != nil {
			return opResult{}, fmt.Errorf("%w: rec hash: %v", errDecode, fe)
		}
		return opResult{items: 1}, nil
	}
	var r dataset.Recommendation
	err = w.conn.QueryRow(ctx, recSQL, keys[0]).Scan(r.ScanDest()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return opResult{miss: true}, nil
	}
	if err != nil {
		return opResult{}, err
	}
	fields := r.RecFields()
	args := make([]any, len(fields))
	for i, f := range fields {
		args[i] = f
	}
	pipe := w.t.rdb.TxPipeline() // HSET and EXPIRE together: never a hash without TTL
	pipe.HSet(ctx, key, args...)
	pipe.Expire(ctx, key, w.t.op.TTL.D())
	if _, err := pipe.Exec(ctx); err != nil {
		return opResult{}, err
	}
	return opResult{items: 1, miss: true}, nil
}
