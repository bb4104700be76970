package redisconn

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zeebo/xxh3"
	"golang.org/x/sync/errgroup"

	"github.com/ut360/ut360/dataset"
)

// Scan tuning.
const (
	// defaultScanCount is the SCAN COUNT hint when the caller gives none.
	defaultScanCount = 1000
	// FailoverWait bounds how long ForEachMasterScan waits, after a master
	// failed mid-scan, for a node to take over its slots (a failover takes
	// cluster-node-timeout plus about a second: 15-20 s with Redis's default
	// 15 s timeout, 3.5 s on the local cluster with 2 s).
	FailoverWait = 60 * time.Second
	// maxRestarts bounds the restarts of one shard's scan.
	maxRestarts = 5
	// takeoverPoll is the pause between two looks for a shard's new master.
	takeoverPoll = 200 * time.Millisecond
)

// ScanFunc receives the keys one SCAN call returned on node (host:port of the
// master that answered), repeats removed.
type ScanFunc func(ctx context.Context, node string, keys []string) error

// callbackError carries an error of the caller's ScanFunc, which ends the
// scan without a restart.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }
func (e *callbackError) Unwrap() error { return e.err }

// ForEachMasterScan SCANs (MATCH match, COUNT count; 1000 when count <= 0)
// every master of a cluster, or the one server, and passes each page of keys
// to fn. On a cluster the masters are scanned concurrently: fn is called from
// one goroutine per master at once, and sequentially for one master.
//
// Guarantee. Per shard (the slots one master owns when the scan starts):
//   - every key that matches and exists on the shard for the whole scan is
//     passed to fn exactly once;
//   - no key is ever passed twice: SCAN's own repeats, and the keys a
//     restarted scan finds again, are dropped, by a set of the 64-bit xxh3
//     hashes of the keys already passed (about 16 bytes per key while the
//     scan runs; two keys of a shard sharing a hash, odds about n²/2⁶⁵, would
//     drop the second);
//   - a key added or removed during the scan may or may not be passed.
//
// Failover. When SCAN on a master fails with a network error
// (IsNetworkError) the scan of that shard waits (up to FailoverWait, and the
// context) until its slots are served by a reachable master, the promoted
// replica or the same node back, and scans that node again from cursor 0,
// with the set above still in force: fn sees the rest of the shard, keys
// from the new master's address, and nothing it saw before. So a caller
// counting or checksumming the keys never counts one twice and needs no
// restart handling. A key passed before the failover is not withdrawn even if
// the failover lost it (replication is asynchronous): reading it then finds
// nothing, as for a key that expired after SCAN. A shard's scan restarts at
// most 5 times. On a single server a failed SCAN (after go-redis's own
// retries) is returned: there is no other node to turn to.
//
// An error from fn ends the whole scan and is returned as it is (no restart);
// other errors name the node. The scan does not follow slots that move to
// another shard while it runs (resharding): check MigratingSlots first where
// that matters.
func ForEachMasterScan(ctx context.Context, rdb redis.UniversalClient, match string, count int64, fn ScanFunc) error {
	if count <= 0 {
		count = defaultScanCount
	}
	switch c := rdb.(type) {
	case *redis.Client:
		err := scanNode(ctx, c, match, count, map[uint64]struct{}{}, fn)
		return scanError(nodeAddr(c), err)
	case *redis.ClusterClient:
		shards, err := shardsOf(ctx, c)
		if err != nil {
			return err
		}
		g, gctx := errgroup.WithContext(ctx)
		for _, sh := range shards {
			g.Go(func() error { return scanShard(gctx, c, sh, match, count, fn) })
		}
		return g.Wait()
	default:
		return unsupported(rdb)
	}
}

// scanError returns fn's own error as it is, and names the node otherwise.
func scanError(node string, err error) error {
	var ce *callbackError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ce):
		return ce.err
	}
	return fmt.Errorf("redis: scan %s: %w", node, err)
}

// shard is one master at the start of a scan and a slot it owns, by which its
// successor is found after a failover.
type shard struct {
	master *redis.Client
	slot   uint16
}

// shardsOf reads the slot map afresh and returns one shard per master.
func shardsOf(ctx context.Context, cc *redis.ClusterClient) ([]shard, error) {
	shards, err := gather(ctx, cc, func(ctx context.Context, m *redis.Client) ([]shard, error) {
		me, err := myself(ctx, m)
		if err != nil || len(me.slots) == 0 {
			return nil, err // a master without slots holds no reachable key
		}
		return []shard{{master: m, slot: me.slots[0]}}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("redis: list masters: %w", err)
	}
	return shards, nil
}

// scanShard scans one shard, restarting on its current master after a
// network error.
func scanShard(ctx context.Context, cc *redis.ClusterClient, sh shard, match string, count int64, fn ScanFunc) error {
	seen := map[uint64]struct{}{}
	node := sh.master
	for restarts := 0; ; restarts++ {
		err := scanNode(ctx, node, match, count, seen, fn)
		var ce *callbackError
		if err == nil || errors.As(err, &ce) || !IsNetworkError(err) || ctx.Err() != nil || restarts == maxRestarts {
			return scanError(nodeAddr(node), err)
		}
		next, werr := awaitMaster(ctx, cc, sh.slot)
		if werr != nil {
			return fmt.Errorf("redis: scan %s: %w; no master took over slot %d: %w", nodeAddr(node), err, sh.slot, werr)
		}
		node = next
	}
}

// scanNode walks node's keyspace from cursor 0 and passes fn the keys not in
// seen, adding them to it.
func scanNode(ctx context.Context, node *redis.Client, match string, count int64, seen map[uint64]struct{}, fn ScanFunc) error {
	addr := nodeAddr(node)
	var cursor uint64
	for {
		keys, next, err := node.Scan(ctx, cursor, match, count).Result()
		if err != nil {
			return err
		}
		fresh := keys[:0]
		for _, k := range keys {
			h := xxh3.HashString(k)
			if _, dup := seen[h]; dup {
				continue
			}
			seen[h] = struct{}{}
			fresh = append(fresh, k)
		}
		if len(fresh) > 0 {
			if err := fn(ctx, addr, fresh); err != nil {
				return &callbackError{err}
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// awaitMaster waits until slot is served by a reachable node that says it is
// a master, reading the slot map afresh on every look.
func awaitMaster(ctx context.Context, cc *redis.ClusterClient, slot uint16) (*redis.Client, error) {
	key := "{" + dataset.SlotTag(slot) + "}"
	deadline := time.Now().Add(FailoverWait)
	for {
		// ForEachMaster reloads the slot map synchronously (ReloadState only
		// schedules a reload); the callback has nothing to do.
		_ = cc.ForEachMaster(ctx, func(context.Context, *redis.Client) error { return nil })
		m, err := cc.MasterForKey(ctx, key)
		if err == nil {
			var role []any
			if role, err = m.Do(ctx, "ROLE").Slice(); err == nil {
				if len(role) > 0 && role[0] == "master" {
					return m, nil
				}
				err = fmt.Errorf("%s is not a master yet", nodeAddr(m))
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("after %v: %w", FailoverWait, err)
		}
		t := time.NewTimer(takeoverPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}
