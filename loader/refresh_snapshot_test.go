package loader

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ut360/ut360/dataset"
)

// changeAllThree commits, from another connection, a change to every live
// table: amounts raised, subscriber drop removed, subscriber add inserted (a
// copy of subscriber clone's rows).
func changeAllThree(t *testing.T, pool *pgxpool.Pool, drop, clone, add string) {
	t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{"UPDATE recommendations SET advance_amount = advance_amount + 1000", nil},
			{"UPDATE subscriber_360_profiles SET advance_amount = advance_amount + 1000", nil},
			{"UPDATE subscriber_monthly_arpu SET arpu_call = arpu_call + 1, arpu_total = arpu_total + 1", nil},
			{"DELETE FROM subscriber_monthly_arpu WHERE isdn = $1", []any{drop}},
			{"DELETE FROM subscriber_360_profiles WHERE isdn = $1", []any{drop}},
			{"DELETE FROM recommendations WHERE isdn = $1", []any{drop}},
			{"INSERT INTO recommendations SELECT (jsonb_populate_record(r, jsonb_build_object('isdn', $2::text))).* FROM recommendations r WHERE isdn = $1", []any{clone, add}},
			{"INSERT INTO subscriber_360_profiles SELECT (jsonb_populate_record(r, jsonb_build_object('isdn', $2::text))).* FROM subscriber_360_profiles r WHERE isdn = $1", []any{clone, add}},
			{"INSERT INTO subscriber_monthly_arpu SELECT (jsonb_populate_record(r, jsonb_build_object('isdn', $2::text))).* FROM subscriber_monthly_arpu r WHERE isdn = $1", []any{clone, add}},
		} {
			if _, err := tx.Exec(ctx, q.sql, q.args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("change the live tables: %v", err)
	}
}

func fileRows(t *testing.T, dir string) ([]dataset.Recommendation, []dataset.Profile, []dataset.Monthly) {
	t.Helper()
	return readAll(t, &dataset.Recommendations, filepath.Join(dir, dataset.RecommendationsFile)),
		readAll(t, &dataset.Profiles, filepath.Join(dir, dataset.ProfilesFile)),
		readAll(t, &dataset.Monthlies, filepath.Join(dir, dataset.MonthlyFile))
}

// TestRefreshSnapshotIsolation is issue 12 point 8 at the level of the
// refresh's inputs: once the first input is open, every read of the three
// tables (concurrent or later) returns the rows of that instant although
// another connection changed all three; meanwhile no swap can lock the
// tables and a load into the schema is refused; after the inputs are
// released the changes are visible and a load runs.
func TestRefreshSnapshotIsolation(t *testing.T) {
	t.Parallel()
	s := newStores(t)
	ctx := context.Background()
	dir := gen(t, 300, 1)
	s.load(t, s.opts(dir))
	recs, profs, mons := fileRows(t, dir)
	drop, clone, add := recs[0].ISDN, recs[1].ISDN, dataset.ISDNFor(99, 0)

	l := &load{pool: s.pool}
	l.pgInputs()
	defer l.releaseInputs()
	src, err := l.recs.open(ctx) // takes the snapshot; a reader in progress
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, _, err := src.Next(); err != nil {
		t.Fatal(err)
	}

	changeAllThree(t, s.pg.Pool, drop, clone, add)

	// The swap of a load (ACCESS EXCLUSIVE) cannot get the tables.
	err = pgx.BeginFunc(ctx, s.pg.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '200ms'"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "LOCK TABLE subscriber_monthly_arpu IN ACCESS EXCLUSIVE MODE")
		return err
	})
	if pe := (*pgconn.PgError)(nil); !errors.As(err, &pe) || pe.Code != sqlLockNotAvailable {
		t.Errorf("an exclusive lock on a live table during the refresh: got %v, want a lock timeout", err)
	}
	// A load into the schema is refused while the refresh reads.
	if _, err := Load(ctx, s.pool, nil, pgOpts(gen(t, 50, 2))); !errors.Is(err, ErrLoadRunning) {
		t.Errorf("a load during the refresh: got %v, want ErrLoadRunning", err)
	}

	// Every read, the one in progress and new ones, sees the old rows.
	checkTable(t, l.recs, recs, (*dataset.Recommendation).Values)
	checkTable(t, l.profiles, profs, (*dataset.Profile).Values)
	checkTable(t, l.monthly, mons, (*dataset.Monthly).Values)
	n := int64(1)
	for {
		if _, _, err := src.Next(); err != nil {
			break
		}
		n++
	}
	if n != int64(len(recs)) {
		t.Errorf("the first reader read %d recommendations, want %d", n, len(recs))
	}
	src.Close()
	l.releaseInputs()

	var gone, added int
	if err := s.pg.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM recommendations WHERE isdn = $1),
		(SELECT count(*) FROM subscriber_monthly_arpu WHERE isdn = $2)`, drop, add).Scan(&gone, &added); err != nil {
		t.Fatal(err)
	}
	if gone != 0 || added == 0 {
		t.Errorf("after the refresh the other connection's changes are not visible (%d, %d)", gone, added)
	}
	s.load(t, pgOpts(gen(t, 50, 2))) // the lock was released
}

// TestRefreshRefusedDuringLoad: a refresh from PostgreSQL refuses to start
// while a load into the schema holds the lock, leaving Redis untouched;
// refreshes share the lock with each other but not with a load.
func TestRefreshRefusedDuringLoad(t *testing.T) {
	t.Parallel()
	s := newStores(t)
	ctx := context.Background()
	s.load(t, s.opts(gen(t, 200, 1)))
	before := s.redisSnapshot(t)
	refresh := Options{Redis: true, FromPostgres: true, Keys: s.keys}

	st := openStage(t, s) // a load into PostgreSQL, staging
	_, err := Load(ctx, s.pool, s.rdb, refresh)
	if !errors.Is(err, ErrLoadRunning) || !strings.Contains(err.Error(), "another ut360 load is running") {
		t.Fatalf("refresh during a load: got %v, want ErrLoadRunning", err)
	}
	t.Logf("refused: %v", err)
	if after := s.redisSnapshot(t); after != before {
		t.Errorf("Redis changed by a refused refresh: %+v → %+v", before, after)
	}
	if err := st.cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	st.close()
	if left := s.stageLeft(t, probeISDNs...); len(left) > 0 {
		t.Errorf("staging left behind: %v", left)
	}

	// Two refreshes at once share the lock; a load is refused meanwhile.
	a, b := &pgSnapshot{pool: s.pool}, &pgSnapshot{pool: s.pool}
	defer a.close()
	defer b.close()
	if err := a.open(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.open(ctx); err != nil {
		t.Fatalf("a second refresh beside the first: %v", err)
	}
	if _, err := openPG(ctx, s.pool, nil); !errors.Is(err, ErrLoadRunning) {
		t.Errorf("a load during two refreshes: got %v, want ErrLoadRunning", err)
	}
	a.close()
	b.close()

	sum, err := Load(ctx, s.pool, s.rdb, refresh)
	if err != nil {
		t.Fatalf("refresh after the load ended: %v", err)
	}
	if sum.Subscribers != 200 {
		t.Errorf("refresh read %d subscribers, want 200", sum.Subscribers)
	}
}

// TestRefreshOneSnapshotDuringChanges: a whole `load --to redis --from
// postgres`, during which (after the recommendations were read, before the
// profiles and monthly rows are) another connection changes all three
// tables: the refresh still writes exactly the snapshot it started on (the
// fingerprint of the files it came from); with separate queries the new
// subscriber's profile would be rejected and the amounts mixed.
func TestRefreshOneSnapshotDuringChanges(t *testing.T) { // not parallel: sets testHook
	s := newStores(t)
	ctx := context.Background()
	dir := gen(t, 300, 1)
	first := s.load(t, s.opts(dir))
	recs, _, mons := fileRows(t, dir)
	drop, clone, add := recs[0].ISDN, recs[1].ISDN, dataset.ISDNFor(99, 0)

	reached := false
	testHook = func(point string) {
		if point == "recs-staged" && !reached {
			reached = true
			changeAllThree(t, s.pg.Pool, drop, clone, add)
		}
	}
	t.Cleanup(func() { testHook = nil })
	t0 := time.Now()
	sum, err := Load(ctx, s.pool, s.rdb, Options{Redis: true, FromPostgres: true, Keys: s.keys})
	testHook = nil
	if !reached {
		t.Fatal(`the load never reached hook point "recs-staged": the test could not change the tables mid-refresh`)
	}
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	t.Logf("refresh with concurrent changes took %s", time.Since(t0).Round(time.Millisecond))
	if sum.Fingerprint != first.Fingerprint || sum.Subscribers != 300 || sum.Profiles != 300 || sum.MonthlyRows != int64(len(mons)) {
		t.Errorf("refresh read %d/%d/%d rows, fingerprint %s; want the snapshot it started on: 300/300/%d, %s",
			sum.Subscribers, sum.Profiles, sum.MonthlyRows, sum.Fingerprint, len(mons), first.Fingerprint)
	}
	if s.rdb.Exists(ctx, s.keys.Rec(add)).Val() != 0 || s.rdb.Exists(ctx, s.keys.Profile(add)).Val() != 0 {
		t.Error("a subscriber inserted after the snapshot reached Redis")
	}
	if s.rdb.Exists(ctx, s.keys.Profile(drop)).Val() != 1 {
		t.Error("a subscriber of the snapshot, deleted after it was taken, is missing from Redis")
	}
}
