package loader

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/progress"
)

const batchSize = 1024

// source yields rows of one input (a file reader or a PostgreSQL query).
type source[T any] interface {
	Next() (T, int64, error)
	Close() error
}

// input opens one of the three inputs; name is what rejects and errors call it.
type input[T any] struct {
	name string
	csv  bool // positions are CSV lines
	open func(context.Context) (source[T], error)
	// release closes what open would have handed out when the load ends
	// before asking (nil: nothing held).
	release func()
}

type load struct {
	o     Options
	pool  *pgxpool.Pool
	rdb   redis.UniversalClient
	start time.Time
	gen   int64 // this load's generation (see swap.go)

	recs     input[dataset.Recommendation]
	profiles input[dataset.Profile]
	monthly  input[dataset.Monthly]

	subs *subscribers
	rej  *rejects
	pg   *pgStage
	rs   *redisStage

	recFP, detailFP     dataset.Fingerprint
	nProfiles, nMonthly int64
	unordered           bool
	pgDone, redisDone   time.Duration
	// redisSwapping: the Redis swap has begun changing live keys; from here
	// a failure leaves the journal for the next load to roll forward.
	redisSwapping   bool
	pgBar, redisBar *progress.Bar
}

// testHook, when set by a test, is called at named points of a load
// ("recs-staged", "staged", "built", "swap-queued") to interrupt it there.
var testHook func(point string)

func hook(point string) {
	if testHook != nil {
		testHook(point)
	}
}

// errUnordered ends the streaming detail phase: the inputs are not in
// recommendation order, so the fallback is used.
var errUnordered = errors.New("inputs not in recommendation order")

func (l *load) run(ctx context.Context) (sum *Summary, err error) {
	src := dataset.StatSourceFiles
	if l.o.FromPostgres {
		src = dataset.StatSourcePostgres
		l.pgInputs()
	} else if err := l.fileInputs(ctx); err != nil {
		return nil, err
	}
	defer l.releaseInputs()
	if l.rej, err = newRejects(l.o.RejectsPath); err != nil {
		return nil, err
	}
	defer func() {
		if cerr := l.rej.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	shas := l.hashFiles(ctx)

	pg := progress.New(ctx, l.o.Out, l.o.Progress, l.o.Log)
	defer pg.Wait()
	if l.o.Postgres {
		if l.pg, err = openPG(ctx, l.pool, l.o.Log); err != nil {
			return nil, err
		}
		l.pg.swapWait = l.o.PGSwapWait
		defer l.pg.close()
		l.pgBar = pg.Add("postgres rows", 0)
		l.pg.bar = l.pgBar.Add
	}
	if l.o.Redis {
		if l.rs, err = openRedis(ctx, l.rdb, redisOptions{keys: l.o.Keys, ttl: l.o.TTL, gen: l.gen,
			rate: l.o.RedisRate, dump: l.o.DumpRESP}); err != nil {
			return nil, err
		}
		defer l.rs.release()
		msg, err := l.rs.recover(ctx, l.o.Recover, l.pgGeneration(ctx), l.o.Log)
		if err != nil {
			return nil, err
		}
		if err := l.rs.begin(ctx); err != nil {
			return nil, err
		}
		l.redisBar = pg.Add("redis keys", 0)
		l.rs.bar = l.redisBar.Add
		defer func() {
			if sum != nil {
				sum.Recovered = msg
			}
		}()
	}
	swapped := false
	defer func() {
		if !swapped {
			l.cleanup()
		}
	}()

	if err := l.stage(ctx); err != nil {
		return nil, err
	}
	l.o.Log.Debug("staged", "elapsed", time.Since(l.start))
	hook("staged")
	if n := l.rej.count(); n > l.o.MaxRejects {
		return nil, l.rej.overLimit(l.o.MaxRejects)
	}
	if l.pg != nil {
		if err := l.pg.build(ctx); err != nil {
			return nil, err
		}
		if err := l.pg.markGeneration(ctx, l.gen); err != nil {
			return nil, fmt.Errorf("postgres: record the generation: %w", err)
		}
		l.o.Log.Debug("postgres indexes built", "elapsed", time.Since(l.start))
		hook("built")
	}
	fp := l.recFP
	fp.Merge(l.detailFP)
	sum = l.summary(src, fp.String())
	if l.rs != nil {
		if err := l.rs.prove(ctx, l.subs); err != nil {
			return nil, err
		}
		hook("proved")
		stats := l.stats(ctx, sum, <-shas)
		if sum.Leavers, err = l.rs.plan(ctx, l.subs, stats, l.pg != nil); err != nil {
			return nil, err
		}
		l.o.Log.Debug("redis swap planned", "elapsed", time.Since(l.start), "leavers", sum.Leavers)
		hook("swap-queued")
	}
	if l.pg != nil {
		// Right before PostgreSQL commits, make sure this load still owns
		// the Redis side, so that the next load can tell from the journal
		// and PostgreSQL's generation which way to recover.
		var alive func() error
		if l.rs != nil {
			alive = func() error { return l.rs.planned(ctx) }
		}
		if err := l.pg.swap(ctx, alive); err != nil {
			return nil, err
		}
		swapped = true // PostgreSQL holds the new snapshot from here on
		l.pgDone = time.Since(l.start)
		l.pgBar.Done()
		hook("pg-swapped")
	}
	if l.rs != nil {
		// Past the point of no return: a Ctrl-C must not stop a swap that
		// takes seconds and leave the generations mixed.
		l.redisSwapping = true
		t, err := l.rs.swap(context.WithoutCancel(ctx), l.subs)
		if err != nil {
			return nil, fmt.Errorf("%w: %w (the journal %s records it: the next `ut360 load` or `ut360 load --resume` finishes it)",
				ErrSwapUnfinished, err, l.o.Keys.SwapJournal())
		}
		swapped = true
		sum.SwapWindow, sum.LeaverRemoval = t.Window, t.Leaver
		l.redisDone = time.Since(l.start)
		l.redisBar.Done()
	}
	l.finishSummary(sum)
	return sum, nil
}

// cleanup removes the staging copies after a failed or refused load; it uses
// its own context because ctx may be the reason of the failure.
func (l *load) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if l.pg != nil {
		if err := retry(ctx, l.pg.cleanup); err != nil {
			l.o.Log.Warn("could not drop the PostgreSQL staging schema (the next load drops it)", "err", err)
		}
	}
	l.cleanupRedis()
}

func (l *load) cleanupRedis() {
	if l.rs == nil || l.redisSwapping {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	discard := l.rs.cleanup // SCAN: only when nothing is known yet
	if l.subs != nil {
		discard = func(ctx context.Context) error { return l.rs.abandon(ctx, l.subs) }
	}
	if err := retry(ctx, discard); err != nil {
		l.o.Log.Warn("could not remove the Redis staging keys (the next load removes them)", "err", err)
	}
}

// retry runs an idempotent step up to four times with backoff (a pooled
// connection may have died with the fault that brought us here).
func retry(ctx context.Context, fn func(context.Context) error) error {
	var err error
	for i, wait := 0, 100*time.Millisecond; i < 4; i, wait = i+1, wait*3 {
		if err = fn(ctx); err == nil || ctx.Err() != nil {
			return err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return err
		}
	}
	return err
}
