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

// newWorker gives each worker its own connections for the whole run, like
// a redis-benchmark client: an operation of one command goes through a
// leanConn (to its key's master on a Redis Cluster, the worker routing by
// slot itself); pipelines (several commands, or one per key of a batch) go
// through the worker's go-redis connection on one server and through the
// ClusterClient, which splits them by node, on a cluster.
func (t *redisTarget) newWorker(context.Context, int) (worker, error) {
	w := &redisWorker{t: t, rdb: t.rdb}
	if c, ok := t.rdb.(*redis.Client); ok {
		w.conn = c.Conn() // connects on first use
		w.rdb, w.opts = w.conn, []*redis.Options{c.Options()}
	}
	if t.route != nil {
		for _, c := range t.route.clients {
			w.opts = append(w.opts, c.Options())
		}
		w.counts = make([]int64, len(t.route.masters))
	}
	w.leans = make([]*leanConn, len(w.opts))
	// A leanConn speaks RESP2; a URL that asks for protocol=3 gets go-redis throughout.
	w.useLean = len(w.opts) > 0 && w.opts[0].Protocol != 3
	if len(t.cmds) == 1 {
		w.args = make([]string, len(t.cmds[0]))
		if t.op.Decode == "rec" || t.op.Decode == "profile" {
			w.hash = map[string]string{}
		}
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

// redisCmds is what a worker pipelines through: its connection or the shared client.
type redisCmds interface {
	redis.Cmdable
	Do(ctx context.Context, args ...any) *redis.Cmd
}

type redisWorker struct {
	noBefore
	t    *redisTarget
	rdb  redisCmds
	conn *redis.Conn // the worker's go-redis connection, if t.rdb is a *redis.Client

	// opts are the options of the server (one) or of each master (cluster,
	// in route order), and leans the worker's leanConn to each, made on
	// first use and dropped when broken.
	opts    []*redis.Options
	leans   []*leanConn
	useLean bool
	args    []string          // a one-command operation's arguments, reused
	hash    map[string]string // its decoded hash reply, reused

	// counts are the current operation's commands per cluster master.
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
	for _, c := range w.leans {
		if c != nil {
			c.close()
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
		if w.useLean {
			return w.lean(ctx, 0, key)
		}
		return t.result(t.issue(ctx, w.rdb, 0, key))
	}
	return w.pipeline(ctx, keys, key)
}

// lean runs the one-command operation for key on the worker's leanConn to
// server (or master) i.
func (w *redisWorker) lean(ctx context.Context, i int, key string) (opResult, error) {
	c := w.leans[i]
	if c == nil {
		var err error
		if c, err = dialLean(ctx, w.opts[i]); err != nil {
			return opResult{}, err
		}
		w.leans[i] = c
	}
	for j, a := range w.t.cmds[0] {
		w.args[j] = fillISDN(a, key)
	}
	clear(w.hash)
	empty, err := c.do(ctx, w.args, w.hash)
	if c.broken {
		c.close()
		w.leans[i] = nil
	}
	return w.t.leanResult(empty, w.hash, err)
}

// leanResult checks a reply read by a leanConn as result checks go-redis's.
func (t *redisTarget) leanResult(empty bool, hash map[string]string, err error) (opResult, error) {
	switch {
	case err != nil:
		return opResult{}, err
	case empty:
		return opResult{}, nil
	case hash != nil:
		return t.hash(hash)
	}
	return opResult{items: 1}, nil
}

// sendCluster runs one operation on a Redis Cluster and counts its commands
// per master.
func (w *redisWorker) sendCluster(ctx context.Context, keys []string, key string) (opResult, error) {
	t := w.t
	clear(w.counts)
	if len(t.cmds) == 1 && !t.op.PerKey {
		n := t.route.node(commandKey(t.cmds[0], key))
		w.counts[n]++
		if !w.unpinned && w.useLean {
			res, err := w.lean(ctx, n, key)
			if !redirected(err) {
				res.nodes = w.counts
				return res, err
			}
			if c := w.leans[n]; c != nil {
				c.close()
				w.leans[n] = nil
			}
			w.unpinned = true
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
