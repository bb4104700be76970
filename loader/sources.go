package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ut360/ut360/dataset"
)

// pgSource streams the live tables back, ordered by isdn, for a refresh of
// Redis from PostgreSQL (--from postgres). Each row is validated like a file
// row, so both paths write the same bytes.
type pgSource[T any] struct {
	tx    pgx.Tx // the reader's transaction on the refresh's snapshot
	rows  pgx.Rows
	n     int64
	table string
	scan  func(pgx.Rows) (T, error)
	check func(*T) *dataset.FieldError
}

func (s *pgSource[T]) Next() (T, int64, error) {
	var zero T
	if !s.rows.Next() {
		if err := s.rows.Err(); err != nil {
			return zero, s.n, fmt.Errorf("postgres: read %s: %w", s.table, err)
		}
		return zero, s.n, io.EOF
	}
	s.n++
	v, err := s.scan(s.rows)
	if err != nil {
		return zero, s.n, &dataset.RowError{File: s.table, Pos: s.n, Field: fieldErr("*", "", err.Error())}
	}
	if fe := s.check(&v); fe != nil {
		return zero, s.n, &dataset.RowError{File: s.table, Pos: s.n, Field: fe}
	}
	return v, s.n, nil
}

// Close ends the read and its transaction (read only: nothing to commit).
func (s *pgSource[T]) Close() error {
	s.rows.Close()
	if err := endRead(s.tx); err != nil {
		return fmt.Errorf("postgres: end read of %s: %w", s.table, err)
	}
	return nil
}

// endRead rolls a read-only transaction back (its context may be the
// cancelled one of the load, so it gets its own) and returns its connection.
func endRead(tx pgx.Tx) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tx.Rollback(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return err
	}
	return nil
}

// pgSnapshot is the one snapshot of the three live tables that a refresh
// from PostgreSQL reads, shared by its readers (they run concurrently, each
// on its own connection). A coordinator connection holds, until close:
//
//   - the schema's load lock (pgLockKey) in shared mode, so no ut360 load
//     into the schema runs meanwhile (it takes the lock exclusively), while
//     other refreshes may;
//   - a REPEATABLE READ, READ ONLY transaction that locked the three live
//     tables in ACCESS SHARE mode before taking its snapshot, so no swap can
//     replace a table under the readers, and that exported its snapshot.
//
// Every reader is a REPEATABLE READ, READ ONLY transaction that imports the
// exported snapshot (SET TRANSACTION SNAPSHOT) before its one query: all
// three tables are read as of the same instant, whatever commits meanwhile.
type pgSnapshot struct {
	pool *pgxpool.Pool

	mu     sync.Mutex
	conn   *pgxpool.Conn // the coordinator
	tx     pgx.Tx        // its transaction
	schema string        // the live schema (first of search_path)
	id     string        // the exported snapshot
}

// refreshLockWait bounds the wait of a refresh for its ACCESS SHARE locks
// (only DDL on the live tables, e.g. a migration, can make it wait).
const refreshLockWait = time.Minute

// snapshotID is the shape of pg_export_snapshot()'s result, checked before
// it is put in SET TRANSACTION SNAPSHOT (which takes no parameters).
var snapshotID = regexp.MustCompile(`^[0-9A-Fa-f-]+$`)

// open takes the lock and exports the snapshot, on the first call only.
func (p *pgSnapshot) open(ctx context.Context) (err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.id != "" {
		return nil
	}
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	p.conn = conn
	defer func() {
		if err != nil {
			p.closeLocked()
		}
	}()
	var schema *string
	var got bool
	if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if schema == nil {
		return errors.New("postgres: no schema of the search_path exists (create it, then `ut360 migrate up` and load it)")
	}
	p.schema = *schema
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock_shared("+pgLockKey+")", p.schema).Scan(&got); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if !got {
		p.schema = "" // nothing to unlock
		return fmt.Errorf("postgres: %w into schema %q: a refresh from PostgreSQL must not read it mid-swap; retry when it has ended", ErrLoadRunning, *schema)
	}
	if p.tx, err = conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	live := make([]string, len(pgTables))
	for i, t := range pgTables {
		live[i] = qi(p.schema, t)
	}
	// LOCK TABLE takes no snapshot: the snapshot is taken by the export,
	// after the locks are held.
	for _, q := range []string{
		fmt.Sprintf("SET LOCAL lock_timeout = '%dms'", refreshLockWait.Milliseconds()),
		"LOCK TABLE " + strings.Join(live, ", ") + " IN ACCESS SHARE MODE",
	} {
		if _, err := p.tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("postgres: refresh snapshot: %s: %w", q, err)
		}
	}
	var id string
	if err := p.tx.QueryRow(ctx, "SELECT pg_export_snapshot()").Scan(&id); err != nil {
		return fmt.Errorf("postgres: refresh snapshot: %w", err)
	}
	if !snapshotID.MatchString(id) {
		return fmt.Errorf("postgres: unexpected snapshot id %q", id)
	}
	p.id = id
	return nil
}

// begin starts a reader transaction on the exported snapshot.
func (p *pgSnapshot) begin(ctx context.Context) (pgx.Tx, error) {
	if err := p.open(ctx); err != nil {
		return nil, err
	}
	tx, err := p.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if _, err := tx.Exec(ctx, "SET TRANSACTION SNAPSHOT '"+p.id+"'"); err != nil {
		endRead(tx)
		return nil, fmt.Errorf("postgres: import the refresh snapshot: %w", err)
	}
	return tx, nil
}

// close ends the coordinator's transaction and releases the lock; it may be
// called more than once. The readers must be closed first.
func (p *pgSnapshot) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closeLocked()
}

func (p *pgSnapshot) closeLocked() {
	if p.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ok := true
	if p.tx != nil {
		ok = p.tx.Rollback(ctx) == nil
	}
	if ok && p.schema != "" {
		_, err := p.conn.Exec(ctx, "SELECT pg_advisory_unlock_shared("+pgLockKey+")", p.schema)
		ok = err == nil
	}
	if !ok {
		p.conn.Conn().Close(ctx) // a closed session drops its locks
	}
	p.conn.Release()
	p.conn, p.tx, p.schema, p.id = nil, nil, "", ""
}

// pgInput reads one live table in the snapshot's own transaction.
func pgInput[T any](snap *pgSnapshot, table string, cols []string, order string, scan func(pgx.Rows) (T, error), check func(*T) *dataset.FieldError) input[T] {
	return input[T]{name: table, release: snap.close, open: func(ctx context.Context) (source[T], error) {
		tx, err := snap.begin(ctx)
		if err != nil {
			return nil, err
		}
		q := fmt.Sprintf("SELECT %s FROM %s ORDER BY %s", strings.Join(cols, ", "), qi(snap.schema, table), order)
		rows, err := tx.Query(ctx, q)
		if err != nil {
			endRead(tx)
			return nil, fmt.Errorf("postgres: read %s: %w", table, err)
		}
		return &pgSource[T]{tx: tx, rows: rows, table: table, scan: scan, check: check}, nil
	}}
}

// pgInputs reads the three live tables: recommendations in isdn order (that
// order is the "rec order"), the others in the same order, all from one
// snapshot (pgSnapshot) taken when the first of them is opened and held, with
// the shared load lock, until the inputs are released (releaseInputs).
func (l *load) pgInputs() {
	snap := &pgSnapshot{pool: l.pool}
	l.recs = pgInput(snap, tRecs, dataset.RecommendationColumns, "isdn", func(rows pgx.Rows) (r dataset.Recommendation, err error) {
		return r, rows.Scan(r.ScanDest()...)
	}, (*dataset.Recommendation).Validate)
	l.profiles = pgInput(snap, tProfiles, dataset.ProfileColumns, "isdn", func(rows pgx.Rows) (p dataset.Profile, err error) {
		return p, rows.Scan(p.ScanDest()...)
	}, (*dataset.Profile).Validate)
	l.monthly = pgInput(snap, tMonthly, dataset.MonthlyColumns, "isdn, data_month", func(rows pgx.Rows) (m dataset.Monthly, err error) {
		err = rows.Scan(m.ScanDest()...)
		m.DataMonth = m.DataMonth.UTC()
		return m, err
	}, (*dataset.Monthly).Validate)
}
