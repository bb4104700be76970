package verify

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/internal/redisconn"
)

// On a Redis Cluster a failover makes the dead master's keys unreachable for
// a few seconds (cluster-node-timeout plus about a second), and every node
// may answer CLUSTERDOWN while the cluster state is "fail". verify's reads and
// repair's writes are safe to repeat (reads, whole-hash rewrites, set
// operations), so on a cluster a batch that failed for that reason is run
// again until the shard has a master again. The SCAN itself is restarted on
// the new master by redisconn.ForEachMasterScan, which never passes a key
// twice, so a failover causes no false finding.

// failoverPoll is the pause between two attempts of a batch during a failover.
const failoverPoll = 200 * time.Millisecond

// transient reports whether err is what a failover causes: a network error,
// or a reply saying the cluster or a master is (still) down or moving.
func transient(err error) bool {
	return redisconn.IsNetworkError(err) || redis.IsClusterDownError(err) || redis.IsTryAgainError(err) ||
		redis.IsMasterDownError(err) || redis.IsLoadingError(err) || redis.IsReadOnlyError(err)
}

// retry runs fn; on a cluster it runs it again while it fails with a
// transient error, for up to redisconn.FailoverWait (and the context). On a
// single server the first error is returned, as before.
func retry(ctx context.Context, rdb redis.UniversalClient, fn func() error) error {
	err := fn()
	if _, ok := rdb.(*redis.ClusterClient); !ok || err == nil {
		return err
	}
	deadline := time.Now().Add(redisconn.FailoverWait)
	for err != nil && transient(err) && time.Now().Before(deadline) {
		t := time.NewTimer(failoverPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		err = fn()
	}
	return err
}

// firstFault is the first error of cmds that is not a reply error of its own
// key (WRONGTYPE and the like, which the comparison reports): a network or
// cluster fault that fails the whole batch.
func firstFault(cmds ...redis.Cmder) error {
	for _, c := range cmds {
		if err := c.Err(); err != nil && err != redis.Nil && !isServerError(err) {
			return err
		}
	}
	return nil
}
