package bench

import (
	"context"
	"errors"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"
)

// A target is one store's side of a scenario; each worker gets its own
// connection-holding worker from it.
type target interface {
	newWorker(ctx context.Context, w int) (worker, error)
}

// A worker runs operations one at a time.
type worker interface {
	// before runs unrecorded set-up of an operation (cache-aside eviction).
	before(ctx context.Context, keys []string) error
	// do runs one recorded operation.
	do(ctx context.Context, keys []string) (opResult, error)
	close()
}

// opResult is what one operation found.
type opResult struct {
	items int  // replies or rows that were not empty
	miss  bool // cache-aside: Redis missed, PostgreSQL answered
	// nodes counts the operation's commands per Redis Cluster master (nil on
	// one server); it is the worker's buffer, read before its next operation.
	nodes []int64
}

// nodeReporter is a target that can report per-master figures of a Redis
// Cluster run from the summed per-master command counts.
type nodeReporter interface {
	nodeResults(counts []int64, seconds float64) []NodeResult
}

// noBefore is embedded by workers without unrecorded set-up.
type noBefore struct{}

func (noBefore) before(context.Context, []string) error { return nil }

// errDecode marks a reply that did not decode as the data contract says.
var errDecode = errors.New("decode")

// errorKind names the class of an operation's error for the error counts.
func errorKind(err error) string {
	var pgErr *pgconn.PgError
	var rErr redis.Error
	var nErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "timeout"
	case errors.Is(err, errDecode):
		return "decode"
	case errors.As(err, &pgErr):
		return "postgres:" + pgErr.Code
	case errors.As(err, &rErr):
		msg := rErr.Error()
		if i := strings.IndexByte(msg, ' '); i > 0 {
			msg = msg[:i]
		}
		return "redis:" + msg
	case errors.As(err, &nErr) && nErr.Timeout():
		return "timeout"
	case errors.As(err, &nErr):
		return "network"
	}
	return "other"
}
