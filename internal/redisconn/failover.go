package redisconn

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// WatchFailover makes cc reload its slot map as soon as a command fails with
// a network error (IsNetworkError), on the cluster client and on every node
// client cc creates from now on. go-redis reloads the map only on MOVED/ASK,
// READONLY, or every ClusterStateReloadInterval (60 s by default): after a
// master dies its slots keep pointing at it, and a connection refused does
// not trigger a reload (go-redis issue #3979). With this hook a failover is
// picked up within about a second of the replica's promotion.
//
// The reload is go-redis's ReloadState: asynchronous, and coalesced (at most
// one reload runs, then a 200 ms pause), so a burst of errors costs one
// CLUSTER SLOTS every 200 ms or so. Open installs it; call it yourself only
// on a ClusterClient made otherwise, before its first command (node clients
// created earlier are covered through the cluster-level hook alone).
func WatchFailover(cc *redis.ClusterClient) {
	h := reloadHook{reload: func() { cc.ReloadState(context.Background()) }}
	cc.AddHook(h)
	cc.OnNewNode(func(node *redis.Client) { node.AddHook(h) })
}

// reloadHook calls reload after a command or pipeline that failed with a
// network error.
type reloadHook struct{ reload func() }

func (h reloadHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h reloadHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if IsNetworkError(err) {
			h.reload()
		}
		return err
	}
}

func (h reloadHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if IsNetworkError(err) {
			h.reload()
		}
		return err
	}
}

// IsNetworkError reports whether err is a connection fault, the kind a
// failover causes: a failed dial (connection refused), a reset or closed
// connection (EOF, ECONNRESET, EPIPE) or an I/O timeout. Errors of the
// caller's own context (canceled, deadline) and Redis reply errors are not.
func IsNetworkError(err error) bool {
	if err == nil {
		return false
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
