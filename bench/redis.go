package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/dataset"
)

// redisTarget runs a scenario's Redis commands.
type redisTarget struct {
	rdb redis.UniversalClient
	op  *RedisOp
	// cmds are op's commands with {ns} filled in once; only {isdn} varies.
	cmds [][]string
	// isHGetAll marks the commands that are HGETALL of one key: sent typed,
	// their replies read straight into a map[string]string.
	isHGetAll []bool
	// route is the slot map when rdb is a Redis Cluster (nil otherwise).
	route *clusterRoute
}

func newRedisTarget(rdb redis.UniversalClient, op *RedisOp, ns string, route *clusterRoute) *redisTarget {
	t := &redisTarget{rdb: rdb, op: op, route: route}
	for _, c := range op.Commands {
		filled := make([]string, len(c))
		for i, a := range c {
			filled[i] = strings.ReplaceAll(a, "{ns}", ns)
		}
		t.cmds = append(t.cmds, filled)
		t.isHGetAll = append(t.isHGetAll, len(filled) == 2 && strings.EqualFold(filled[0], "HGETALL"))
	}
	return t
}

// newWorker gives each worker its own connection for the whole run, like a
// redis-benchmark client: taking one from the shared pool per operation
// costs a health-check syscall and pool bookkeeping every time. On a Redis
// Cluster the worker holds one connection per master and routes a
// single-command operation by its key's slot itself; pipelines (several
// commands, or one per key of a batch) go through the ClusterClient, which
// splits them by node.
func (t *redisTarget) newWorker(context.Context, int) (worker, error) {
	if c, ok := t.rdb.(*redis.Client); ok {
		conn := c.Conn()
		return &redisWorker{t: t, rdb: conn, conn: conn}, nil
	}
	w := &redisWorker{t: t, rdb: t.rdb}
	if t.route != nil {
		w.conns = make([]*redis.Conn, len(t.route.masters))
		w.counts = make([]int64, len(t.route.masters))
	}
	return w, nil
}

// nodeResults reports the per-master figures of a cluster run (nil on one server).
func (t *redisTarget) nodeResults(counts []int64, seconds float64) []NodeResult {
	if t.route == nil {
		return nil
	}
	return t.route.nodeResults(counts, seconds)
}

// redisCmds is what a worker sends through: the shared client or its own connection.
type redisCmds interface {
	redis.Cmdable
	Do(ctx context.Context, args ...any) *redis.Cmd
}

type redisWorker struct {
	noBefore
	t    *redisTarget
	rdb  redisCmds
	conn *redis.Conn // the worker's own connection, if t.rdb is a *redis.Client

	// On a cluster: the worker's connection to each master (made on first
	// use), and the commands of the current operation per master.
	conns  []*redis.Conn
	counts []int64
	// unpinned: a redirection or a broken connection was met (the slot map
	// changed, a master failed); from then on every operation goes through
	// the ClusterClient, which follows redirections and reloads its map.
	unpinned bool
}

func (w *redisWorker) close() {
	if w.conn != nil {
		_ = w.conn.Close()
	}
	for _, c := range w.conns {
		if c != nil {
			_ = c.Close()
		}
	}
}

// expand fills {isdn} into one command.
func expand(cmd []string, isdn string) []any {
	args := make([]any, len(cmd))
	for i, a := range cmd {
		args[i] = fillISDN(a, isdn)
	}
	return args
}

func fillISDN(a, isdn string) string {
	if strings.IndexByte(a, '{') < 0 {
		return a
	}
	return strings.ReplaceAll(a, "{isdn}", isdn)
}

func (w *redisWorker) do(ctx context.Context, keys []string) (opResult, error) {
	res, err := w.send(ctx, keys)
	if err != nil && w.conn != nil && brokenConn(err) {
		// A redis.Conn that hit a network error fails every later call; the
		// shared pool would have replaced it, so the worker does the same.
		_ = w.conn.Close()
		w.conn = w.t.rdb.(*redis.Client).Conn()
		w.rdb = w.conn
	}
	return res, err
}

// brokenConn tells a connection fault from a Redis error reply, a decode
// failure or the end of the run.
func brokenConn(err error) bool {
	var reply redis.Error
	return !errors.As(err, &reply) && !errors.Is(err, errDecode) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

func (w *redisWorker) send(ctx context.Context, keys []string) (opResult, error) {
	t := w.t
	key := ""
	if len(keys) > 0 {
		key = keys[0]
	}
	if t.route != nil {
		return w.sendCluster(ctx, keys, key)
	}
	if len(t.cmds) == 1 && !t.op.PerKey {
		return t.result(t.issue(ctx, w.rdb, 0, key))
	}
	return w.pipeline(ctx, keys, key)
}

// sendCluster runs one operation on a Redis Cluster and counts its commands
// per master.
func (w *redisWorker) sendCluster(ctx context.Context, keys []string, key string) (opResult, error) {
	t := w.t
	clear(w.counts)
	if len(t.cmds) == 1 && !t.op.PerKey {
		n := t.route.node(commandKey(t.cmds[0], key))
		w.counts[n]++
		if !w.unpinned {
			if w.conns[n] == nil {
				w.conns[n] = t.route.clients[n].Conn()
			}
			res, err := t.result(t.issue(ctx, w.conns[n], 0, key))
			if !redirected(err) {
				res.nodes = w.counts
				return res, err
			}
			_ = w.conns[n].Close()
			w.conns[n], w.unpinned = nil, true
		}
		res, err := t.result(t.issue(ctx, t.rdb, 0, key))
		res.nodes = w.counts
		return res, err
	}
	each := []string{key}
	if t.op.PerKey {
		each = keys
	}
	for _, k := range each {
		for i := range t.cmds {
			w.counts[t.route.node(commandKey(t.cmds[i], k))]++
		}
	}
	res, err := w.pipeline(ctx, keys, key)
	res.nodes = w.counts
	return res, err
}

// pipeline sends the operation's commands (once, or once per key) in one
// pipeline: through the worker's connection on one server, through the
// ClusterClient (split by node) on a cluster.
func (w *redisWorker) pipeline(ctx context.Context, keys []string, key string) (opResult, error) {
	t := w.t
	pipe := w.rdb.Pipeline()
	each := []string{key} // the commands once, or once per key
	if t.op.PerKey {
		each = keys
	}
	for _, k := range each {
		for i := range t.cmds {
			t.issue(ctx, pipe, i, k)
		}
	}
	cmds, err := pipe.Exec(ctx)
	if err != nil && !errors.Is(err, redis.Nil) {
		return opResult{}, err
	}
	var res opResult
	for _, c := range cmds {
		r, err := t.result(c)
		if err != nil {
			return opResult{}, err
		}
		res.items += r.items
	}
	return res, nil
}

// issue sends command i for key k through c (the connection or a pipeline).
func (t *redisTarget) issue(ctx context.Context, c redisCmds, i int, k string) redis.Cmder {
	if t.isHGetAll[i] {
		return c.HGetAll(ctx, fillISDN(t.cmds[i][1], k))
	}
	return c.Do(ctx, expand(t.cmds[i], k)...)
}

// result checks the reply of a command sent by issue.
func (t *redisTarget) result(c redis.Cmder) (opResult, error) {
	switch c := c.(type) {
	case *redis.MapStringStringCmd:
		h, err := c.Result()
		if err != nil {
			return opResult{}, err
		}
		return t.hash(h)
	case *redis.Cmd:
		return t.reply(c)
	}
	return opResult{}, fmt.Errorf("bench: unexpected command %T", c)
}

// reply checks one reply: an empty one counts as not found; with decode set
// the reply must decode as the data contract says.
func (t *redisTarget) reply(c *redis.Cmd) (opResult, error) {
	v, err := c.Result()
	if errors.Is(err, redis.Nil) {
		return opResult{}, nil
	}
	if err != nil {
		return opResult{}, err
	}
	if isEmptyReply(v) {
		return opResult{}, nil
	}
	if t.op.Decode == "rec" || t.op.Decode == "profile" {
		h, err := stringMap(v)
		if err != nil {
			return opResult{}, err
		}
		return t.hash(h)
	}
	return opResult{items: 1}, nil
}

// hash checks a hash reply; an empty one counts as not found.
func (t *redisTarget) hash(h map[string]string) (opResult, error) {
	if len(h) == 0 {
		return opResult{}, nil
	}
	switch t.op.Decode {
	case "rec":
		rec, fe := dataset.RecommendationFromHash(h)
		if fe != nil {
			return opResult{}, fmt.Errorf("%w: rec hash: %v", errDecode, fe)
		}
		_ = rec.BadDebtRisk == "LOW" // use case 1: the offer decision
	case "profile":
		if _, _, fe := dataset.ProfileFromHash(h); fe != nil {
			return opResult{}, fmt.Errorf("%w: profile hash: %v", errDecode, fe)
		}
	}
	return opResult{items: 1}, nil
}

func isEmptyReply(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case map[any]any:
		return len(x) == 0
	}
	return false
}

// stringMap reads a hash reply in RESP3 (map) or RESP2 (flat list) form.
func stringMap(v any) (map[string]string, error) {
	switch x := v.(type) {
	case map[any]any:
		m := make(map[string]string, len(x))
		for k, val := range x {
			ks, ok1 := k.(string)
			vs, ok2 := val.(string)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("%w: hash reply holds a non-string", errDecode)
			}
			m[ks] = vs
		}
		return m, nil
	case []any:
		if len(x)%2 != 0 {
			return nil, fmt.Errorf("%w: hash reply of odd length", errDecode)
		}
		m := make(map[string]string, len(x)/2)
		for i := 0; i < len(x); i += 2 {
			ks, ok1 := x[i].(string)
			vs, ok2 := x[i+1].(string)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("%w: hash reply holds a non-string", errDecode)
			}
			m[ks] = vs
		}
		return m, nil
	}
	return nil, fmt.Errorf("%w: reply of type %T is not a hash", errDecode, v)
}
