package redisconn

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// nodeAddr is the address of a single-server client: host:port, or the
// socket path.
func nodeAddr(c *redis.Client) string { return c.Options().Addr }

// unsupported is the error for a UniversalClient that is neither a
// *redis.Client nor a *redis.ClusterClient (a Ring, say).
func unsupported(rdb redis.UniversalClient) error {
	return fmt.Errorf("redis: %T is not supported: want *redis.Client or *redis.ClusterClient", rdb)
}

// Masters lists the addresses of the masters, sorted: every master of a
// cluster (after a fresh read of its slot map), or the one server.
func Masters(ctx context.Context, rdb redis.UniversalClient) ([]string, error) {
	switch c := rdb.(type) {
	case *redis.Client:
		return []string{nodeAddr(c)}, nil
	case *redis.ClusterClient:
		addrs, err := gather(ctx, c, func(_ context.Context, m *redis.Client) ([]string, error) {
			return []string{nodeAddr(m)}, nil
		})
		if err != nil {
			return nil, fmt.Errorf("redis: list masters: %w", err)
		}
		slices.Sort(addrs)
		return addrs, nil
	default:
		return nil, unsupported(rdb)
	}
}

// ConfigSetAll runs CONFIG SET parameter value on every node of a cluster,
// masters and replicas (a replica keeps the setting when it is promoted), or
// on the one server. The error names the first node that refused.
func ConfigSetAll(ctx context.Context, rdb redis.UniversalClient, parameter, value string) error {
	set := func(ctx context.Context, c *redis.Client) error {
		if err := c.ConfigSet(ctx, parameter, value).Err(); err != nil {
			return fmt.Errorf("redis: CONFIG SET %s on %s: %w", parameter, nodeAddr(c), err)
		}
		return nil
	}
	switch c := rdb.(type) {
	case *redis.Client:
		return set(ctx, c)
	case *redis.ClusterClient:
		return c.ForEachShard(ctx, set)
	default:
		return unsupported(rdb)
	}
}

// MigratingSlots lists, sorted, the slots that a master of the cluster holds
// as MIGRATING (to another node) or IMPORTING (from another node), as CLUSTER
// NODES shows them on each master ("[slot->-id]", "[slot-<-id]"): while one
// exists, keys of that slot live on two nodes and a per-slot swap must not
// run. A single server has none.
func MigratingSlots(ctx context.Context, rdb redis.UniversalClient) ([]uint16, error) {
	switch c := rdb.(type) {
	case *redis.Client:
		return nil, nil
	case *redis.ClusterClient:
		slots, err := gather(ctx, c, func(ctx context.Context, m *redis.Client) ([]uint16, error) {
			me, err := myself(ctx, m)
			return me.moving, err
		})
		if err != nil {
			return nil, err
		}
		slices.Sort(slots)
		return slices.Compact(slots), nil
	default:
		return nil, unsupported(rdb)
	}
}

// gather calls fn on every master of cc (ForEachMaster: concurrently, after
// a fresh read of the slot map) and concatenates what fn returns.
func gather[T any](ctx context.Context, cc *redis.ClusterClient, fn func(context.Context, *redis.Client) ([]T, error)) ([]T, error) {
	var mu sync.Mutex
	var all []T
	err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		part, err := fn(ctx, m)
		mu.Lock()
		all = append(all, part...)
		mu.Unlock()
		return err
	})
	return all, err
}

// nodeLine is the "myself" line of CLUSTER NODES.
type nodeLine struct {
	id     string
	slots  []uint16 // first slot of each range the node owns
	moving []uint16 // slots migrating from or importing into the node
}

// myself reads CLUSTER NODES on node c and parses its own line.
func myself(ctx context.Context, c *redis.Client) (nodeLine, error) {
	text, err := c.ClusterNodes(ctx).Result()
	if err != nil {
		return nodeLine{}, fmt.Errorf("redis: CLUSTER NODES on %s: %w", nodeAddr(c), err)
	}
	me, err := parseMyself(text)
	if err != nil {
		return nodeLine{}, fmt.Errorf("redis: CLUSTER NODES on %s: %w", nodeAddr(c), err)
	}
	return me, nil
}

// parseMyself parses the line flagged "myself" of CLUSTER NODES output:
// <id> <addr> <flags> <master> <ping> <pong> <epoch> <link> <slot>…, where a
// slot field is "a-b", "a", "[a->-id]" (migrating) or "[a-<-id]" (importing).
func parseMyself(text string) (nodeLine, error) {
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || !slices.Contains(strings.Split(f[2], ","), "myself") {
			continue
		}
		me := nodeLine{id: f[0]}
		for _, s := range f[8:] {
			if inner, ok := strings.CutPrefix(s, "["); ok {
				n, _, ok := strings.Cut(inner, "-")
				slot, err := strconv.ParseUint(n, 10, 14)
				if !ok || err != nil {
					return nodeLine{}, fmt.Errorf("bad slot field %q", s)
				}
				me.moving = append(me.moving, uint16(slot))
				continue
			}
			first, _, _ := strings.Cut(s, "-")
			slot, err := strconv.ParseUint(first, 10, 14)
			if err != nil {
				return nodeLine{}, fmt.Errorf("bad slot field %q", s)
			}
			me.slots = append(me.slots, uint16(slot))
		}
		return me, nil
	}
	return nodeLine{}, fmt.Errorf("no line flagged myself")
}
