package loader

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgOpts loads PostgreSQL only, without a rejects file.
func pgOpts(dir string) Options { return Options{Data: dir, Postgres: true, RejectsPath: "-"} }

// holdTable starts a transaction on pool that reads table (so it holds
// ACCESS SHARE on it until the transaction ends) and returns its end.
func holdTable(t *testing.T, pool *pgxpool.Pool, table string) (end func()) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	end = func() { once.Do(func() { _ = tx.Rollback(ctx) }) }
	t.Cleanup(end)
	return end
}

// exclusiveRequests counts ACCESS EXCLUSIVE locks on schema.table, granted or
// queued.
func exclusiveRequests(t *testing.T, pool *pgxpool.Pool, schema, table string, granted bool) int {
	t.Helper()
	var n int
	err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_locks WHERE relation = to_regclass($1)
		AND mode = 'AccessExclusiveLock' AND granted = $2`, qi(schema, table), granted).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// readerWaits runs short readers of table (one every 20 ms) until stop is
// closed and returns the longest wait and how many ran.
func readerWaits(t *testing.T, pool *pgxpool.Pool, table string, stop <-chan struct{}) (longest time.Duration, n int) {
	t.Helper()
	ctx := context.Background()
	conn, err := pool.Acquire(ctx) // connected up front: only the wait is timed
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for {
		t0 := time.Now()
		var c int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&c); err != nil {
			t.Errorf("reader: %v", err)
			return longest, n
		}
		longest, n = max(longest, time.Since(t0)), n+1
		select {
		case <-stop:
			return longest, n
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// pgLoaded is a private schema loaded (PostgreSQL only) with n subscribers of seed 1.
func pgLoaded(t *testing.T, n int) *stores {
	t.Helper()
	s := newStores(t)
	s.load(t, pgOpts(gen(t, n, 1)))
	return s
}

// wantRecs checks how many recommendations are live.
func wantRecs(t *testing.T, s *stores, want int64, when string) {
	t.Helper()
	if got := countRows(t, s.pg.Pool, tRecs); got != want {
		t.Errorf("%d recommendations %s, want %d", got, when, want)
	}
}

func countRows(t *testing.T, pool *pgxpool.Pool, table string) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPGSwapReaderWait is issue 12 point 7: a reader holds the live table
// for 10 s; a load's swap starts meanwhile; readers started during the swap
// wait at most 1 s (the swap queues for its lock at most swapLockTimeout at a
// time), and the swap completes soon after the long reader ends.
func TestPGSwapReaderWait(t *testing.T) {
	t.Parallel()
	const longRead = 10 * time.Second
	s := newStores(t)
	ctx := context.Background()
	a, b := gen(t, 300, 1), gen(t, 200, 2)
	s.load(t, pgOpts(a))

	endLong := holdTable(t, s.pg.Pool, tRecs)
	longStart := time.Now()
	longEnded := make(chan time.Time, 1)
	go func() {
		time.Sleep(longRead)
		longEnded <- time.Now()
		endLong()
	}()
	loadErr := make(chan error, 1)
	go func() {
		_, err := Load(ctx, s.pool, nil, pgOpts(b))
		loadErr <- err
	}()
	// Wait for the swap's ACCESS EXCLUSIVE request to queue behind the reader.
	for exclusiveRequests(t, s.pg.Pool, s.pg.Schema, tRecs, false) == 0 {
		if time.Since(longStart) > longRead-2*time.Second {
			t.Fatal("the load's swap did not ask for its locks within 8 s")
		}
		time.Sleep(2 * time.Millisecond)
	}
	swapStart := time.Since(longStart)
	stop := make(chan struct{})
	var longest time.Duration
	var n int
	done := make(chan struct{})
	go func() {
		defer close(done)
		longest, n = readerWaits(t, s.pg.Pool, tRecs, stop)
	}()
	err := <-loadErr
	loadEnd := time.Now()
	close(stop)
	<-done
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	var longEnd time.Time
	select {
	case longEnd = <-longEnded:
	default:
		t.Fatal("the load completed while the long reader still held the table")
	}
	t.Logf("swap asked for its locks %s into the 10 s read; %d readers during the swap, longest wait %s; swap done %s after the long reader ended",
		swapStart.Round(time.Millisecond), n, longest.Round(time.Millisecond), loadEnd.Sub(longEnd).Round(time.Millisecond))
	if longest > time.Second {
		t.Errorf("a reader started during the swap waited %s (want ≤ 1 s)", longest)
	}
	if n < 50 {
		t.Errorf("only %d readers ran during the swap", n)
	}
	if d := loadEnd.Sub(longEnd); d > 3*time.Second {
		t.Errorf("the swap completed %s after the long reader ended (want within the backoff cap, ~1 s)", d)
	}
	wantRecs(t, s, 200, "after the load")
}

// openStage opens a load's PostgreSQL side directly (the load lock and an
// empty staging copy) so a test can drive the swap.
func openStage(t *testing.T, s *stores) *pgStage {
	t.Helper()
	st, err := openPG(context.Background(), s.pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.close)
	return st
}

func stageExists(t *testing.T, s *stores) bool {
	t.Helper()
	var n int
	if err := s.pg.Pool.QueryRow(context.Background(), "SELECT count(*) FROM pg_namespace WHERE nspname = $1", s.pg.Schema+stageSuffix).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// TestPGSwapGivesUp: while a reader never lets go, the swap retries with
// short lock waits until its budget is spent, then fails with nothing
// applied; readers kept running meanwhile; after cleanup and once the reader
// ends, a new load completes.
func TestPGSwapGivesUp(t *testing.T) {
	t.Parallel()
	s := newStores(t)
	ctx := context.Background()
	a, b := gen(t, 300, 1), gen(t, 200, 2)
	s.load(t, pgOpts(a))
	endLong := holdTable(t, s.pg.Pool, tMonthly)

	st := openStage(t, s)
	st.swapWait = 1500 * time.Millisecond
	stop, done := make(chan struct{}), make(chan struct{})
	var longest time.Duration
	go func() { defer close(done); longest, _ = readerWaits(t, s.pg.Pool, tMonthly, stop) }()
	calls := 0
	t0 := time.Now()
	err := st.swap(ctx, func() error { calls++; return nil })
	took := time.Since(t0)
	close(stop)
	<-done
	var pe *pgconn.PgError
	switch {
	case err == nil:
		t.Fatal("the swap succeeded while a reader held a live table")
	case !errors.As(err, &pe) || pe.Code != sqlLockNotAvailable:
		t.Fatalf("want a lock_timeout error, got %v", err)
	case !strings.Contains(err.Error(), "nothing applied") || !strings.Contains(err.Error(), "attempts"):
		t.Errorf("error does not say what happened: %v", err)
	}
	t.Logf("gave up after %s, %d attempts; longest reader wait %s; error: %v", took.Round(time.Millisecond), st.swapAttempts, longest.Round(time.Millisecond), err)
	if took < st.swapWait || took > st.swapWait+2*time.Second {
		t.Errorf("gave up after %s with a budget of %s", took, st.swapWait)
	}
	if st.swapAttempts < 3 {
		t.Errorf("%d attempts in %s", st.swapAttempts, st.swapWait)
	}
	if calls != 0 {
		t.Errorf("beforeCommit called %d times without the locks", calls)
	}
	if longest > time.Second {
		t.Errorf("a reader waited %s during the retries", longest)
	}
	wantRecs(t, s, 300, "after the failed swap")
	// What the load does after a failed swap: drop the staging schema.
	if err := st.cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if stageExists(t, s) {
		t.Error("staging schema left behind")
	}
	st.close()
	endLong()
	s.load(t, pgOpts(b))
	wantRecs(t, s, 200, "after the rerun")
}

// TestPGSwapBeforeCommit: beforeCommit runs once, in the attempt that got
// the locks, while they are held; its error aborts the swap (not retried).
func TestPGSwapBeforeCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("once-with-locks", func(t *testing.T) {
		t.Parallel()
		s := pgLoaded(t, 100)
		endLong := holdTable(t, s.pg.Pool, tProfiles)
		time.AfterFunc(700*time.Millisecond, endLong)
		st := openStage(t, s)
		var calls, locked int
		err := st.swap(ctx, func() error {
			calls++
			locked = exclusiveRequests(t, s.pg.Pool, s.pg.Schema, tRecs, true)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if calls != 1 || locked != 1 || st.swapAttempts < 2 {
			t.Errorf("beforeCommit called %d times (want 1), with %d exclusive locks on %s (want 1), after %d attempts (want ≥ 2)",
				calls, locked, tRecs, st.swapAttempts)
		}
		wantRecs(t, s, 0, "after swapping in the empty staging tables")
	})
	t.Run("error-aborts", func(t *testing.T) {
		t.Parallel()
		s := pgLoaded(t, 100)
		st := openStage(t, s)
		cause := errors.New("redis swap gone")
		calls := 0
		err := st.swap(ctx, func() error { calls++; return cause })
		if !errors.Is(err, cause) || calls != 1 || st.swapAttempts != 1 {
			t.Errorf("swap = %v after %d calls and %d attempts; want the hook's error, 1 call, 1 attempt", err, calls, st.swapAttempts)
		}
		wantRecs(t, s, 100, "after the aborted swap")
		if !stageExists(t, s) {
			t.Error("the rolled-back swap should leave the staging schema for the caller to drop")
		}
		if err := st.cleanup(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// TestPGDependentViewsRefused: a view and a materialized view (in another
// schema) on live tables make the load exit 2 before anything is staged,
// naming both; once they are dropped the load completes.
func TestPGDependentViewsRefused(t *testing.T) {
	t.Parallel()
	s := newStores(t)
	ctx := context.Background()
	a, b := gen(t, 200, 1), gen(t, 150, 2)
	s.load(t, s.opts(a))
	before := s.snapshot(t)
	other := s.pg.Schema + "_views" // created (and dropped) by this test only
	ddl := []string{
		"CREATE VIEW low_risk AS SELECT isdn, advance_amount FROM recommendations WHERE bad_debt_risk = 'LOW'",
		"CREATE SCHEMA " + other,
		fmt.Sprintf("CREATE MATERIALIZED VIEW %s.arpu_by_month AS SELECT data_month, sum(arpu_total) AS total FROM %s GROUP BY 1",
			other, qi(s.pg.Schema, tMonthly)),
	}
	for _, q := range ddl {
		if _, err := s.pg.Pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() { _, _ = s.pg.Pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+other+" CASCADE") })

	t0 := time.Now()
	_, err := Load(ctx, s.pool, s.rdb, s.opts(b))
	took := time.Since(t0)
	var de *DependentObjectsError
	if !errors.Is(err, ErrBadInput) || !errors.As(err, &de) {
		t.Fatalf("want a DependentObjectsError matching ErrBadInput (exit 2), got %v", err)
	}
	wantViews := []string{s.pg.Schema + ".low_risk", other + ".arpu_by_month"} // byte order: '.' < '_'
	if !slices.Equal(de.Views, wantViews) {
		t.Errorf("views %q, want %q", de.Views, wantViews)
	}
	for _, w := range append(wantViews, "materialized view", "drop them before the load") {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("message lacks %q: %v", w, err)
		}
	}
	t.Logf("refused in %s: %v", took.Round(time.Millisecond), err)
	if left := s.stageLeft(t, probeISDNs...); len(left) > 0 {
		t.Errorf("staging left behind: %v", left)
	}
	if after := s.snapshot(t); after != before {
		t.Errorf("stores changed by a refused load: %+v → %+v", before, after)
	}

	if _, err := s.pg.Pool.Exec(ctx, "DROP VIEW low_risk; DROP MATERIALIZED VIEW "+other+".arpu_by_month"); err != nil {
		t.Fatal(err)
	}
	s.load(t, s.opts(b))
	wantRecs(t, s, 150, "after dropping the views")
}

// TestPGDependentObjects: other dependents that would make DROP TABLE fail
// are refused too, and a view created after the load's check (during
// staging) is reported by the swap the same way.
func TestPGDependentObjects(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("foreign-key-and-row-type", func(t *testing.T) {
		t.Parallel()
		s := pgLoaded(t, 50)
		for _, q := range []string{
			"CREATE TABLE campaign_sent (isdn text REFERENCES recommendations (isdn))",
			"CREATE FUNCTION top_offers() RETURNS SETOF recommendations LANGUAGE sql AS 'SELECT * FROM recommendations LIMIT 10'",
		} {
			if _, err := s.pg.Pool.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		_, err := Load(ctx, s.pool, nil, pgOpts(gen(t, 40, 2)))
		var de *DependentObjectsError
		if !errors.Is(err, ErrBadInput) || !errors.As(err, &de) || len(de.Objects) != 2 || len(de.Views) != 0 {
			t.Fatalf("want 2 dependent objects (no view), got %v", err)
		}
		for _, w := range []string{"campaign_sent", "top_offers"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("message lacks %q: %v", w, err)
			}
		}
		wantRecs(t, s, 50, "after the refusal")
	})
	t.Run("view-created-during-staging", func(t *testing.T) {
		t.Parallel()
		s := pgLoaded(t, 50)
		st := openStage(t, s)
		if _, err := s.pg.Pool.Exec(ctx, "CREATE VIEW late AS SELECT count(*) FROM subscriber_360_profiles"); err != nil {
			t.Fatal(err)
		}
		err := st.swap(ctx, nil)
		var de *DependentObjectsError
		if !errors.Is(err, ErrBadInput) || !errors.As(err, &de) || !slices.Equal(de.Views, []string{s.pg.Schema + ".late"}) {
			t.Fatalf("want the late view reported, got %v", err)
		}
		wantRecs(t, s, 50, "after the refusal")
		if err := st.cleanup(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
