package loader

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/migrations"
)

// The three tables of SPEC §2, in the order they are dropped and recreated.
const (
	tRecs     = "recommendations"
	tProfiles = "subscriber_360_profiles"
	tMonthly  = "subscriber_monthly_arpu"
)

var pgTables = []string{tRecs, tProfiles, tMonthly}

// namedDef is a constraint or index of a live table, recreated on the staging copy.
type namedDef struct{ name, def string }

type tableDDL struct {
	keys    []namedDef // primary key / unique / exclusion constraints
	fks     []namedDef // foreign keys (after every key exists)
	indexes []namedDef // plain indexes (CREATE INDEX statements)
}

// pgStage is the staging copy of the three tables in a private schema.
type pgStage struct {
	pool  *pgxpool.Pool
	lock  *pgxpool.Conn // holds the load's advisory lock
	live  string        // the live schema (first of search_path)
	stage string        // the staging schema
	ddl   map[string]*tableDDL
	bar   func(int)
	// binary says per table whether the hand-written binary COPY applies.
	binary map[string]bool
	// swapWait bounds the swap's retries for its locks (0: DefaultPGSwapWait).
	swapWait time.Duration
	// swapAttempts is how many swap transactions were tried.
	swapAttempts int
	log          interface{ Info(string, ...any) }
}

// stageSuffix names the staging schema: "<live schema>_ut360_stage".
const stageSuffix = "_ut360_stage"

func qi(parts ...string) string { return pgx.Identifier(parts).Sanitize() }

// ErrLoadRunning is the error of a load or a refresh from PostgreSQL that
// found another one holding the schema's advisory lock (pgLockKey).
var ErrLoadRunning = errors.New("another ut360 load is running")

// pgLockKey is the advisory lock key of a schema's loads, given the live
// schema as $1. A load holds it exclusively; a refresh from PostgreSQL holds
// it shared (refreshes may run together, never beside a load).
const pgLockKey = "hashtext('ut360 load ' || $1)"

// openPG takes the per-schema load lock, applies pending migrations, refuses
// the load (DependentObjectsError) when other objects depend on the live
// tables, and creates empty staging tables shaped like the live ones
// (without indexes).
func openPG(ctx context.Context, pool *pgxpool.Pool, log interface{ Info(string, ...any) }) (_ *pgStage, err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &pgStage{pool: pool, lock: conn, ddl: map[string]*tableDDL{}, log: log}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	var live *string
	if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&live); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if live == nil {
		return nil, errors.New("postgres: no schema of the search_path exists (create it, then `ut360 migrate up`)")
	}
	s.live = *live
	s.stage = s.live + stageSuffix
	if len(s.stage) > 63 {
		return nil, fmt.Errorf("postgres: schema name %q too long for a staging schema", s.live)
	}
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock("+pgLockKey+")", s.live).Scan(&got); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if !got {
		return nil, fmt.Errorf("postgres: %w (a load into or a refresh from schema %q holds its lock); retry when it has ended", ErrLoadRunning, s.live)
	}
	// Pending migrations first (tern's advisory lock; a no-op when none are
	// pending), so the staging tables copy the current shape.
	if err := migrations.Up(ctx, conn.Conn()); err != nil {
		return nil, fmt.Errorf("postgres: applying pending migrations: %w", err)
	}
	// Objects depending on the live tables would make the swap's DROP TABLE
	// fail after all the staging work: refuse now, before staging.
	if err := s.checkDependents(ctx); err != nil {
		return nil, err
	}
	for _, t := range pgTables {
		d, err := s.captureDDL(ctx, t)
		if err != nil {
			return nil, err
		}
		s.ddl[t] = d
	}
	if err := s.createStage(ctx); err != nil {
		return nil, err
	}
	if err := s.checkBinary(ctx, log); err != nil {
		return nil, err
	}
	return s, nil
}

// captureDDL reads the keys, foreign keys and indexes of a live table, so the
// staging copy gets exactly the migrations' definitions and names.
func (s *pgStage) captureDDL(ctx context.Context, table string) (*tableDDL, error) {
	d := &tableDDL{}
	rel := qi(s.live, table)
	rows, err := s.lock.Query(ctx, `SELECT conname, pg_get_constraintdef(oid), contype = 'f'
		FROM pg_constraint WHERE conrelid = $1::regclass AND contype IN ('p', 'u', 'x', 'f') ORDER BY conname`, rel)
	if err != nil {
		return nil, fmt.Errorf("postgres: read constraints of %s: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var n namedDef
		var fk bool
		if err := rows.Scan(&n.name, &n.def, &fk); err != nil {
			return nil, err
		}
		if fk {
			d.fks = append(d.fks, n)
		} else {
			d.keys = append(d.keys, n)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: read constraints of %s: %w", table, err)
	}
	rows, err = s.lock.Query(ctx, `SELECT c.relname, pg_get_indexdef(i.indexrelid)
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = $1::regclass
		  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid)
		ORDER BY 1`, rel)
	if err != nil {
		return nil, fmt.Errorf("postgres: read indexes of %s: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			return nil, err
		}
		on, using := strings.Index(def, " ON "), strings.Index(def, " USING ")
		if on < 0 || using < on {
			return nil, fmt.Errorf("postgres: cannot rebuild index %s: %s", name, def)
		}
		// "CREATE [UNIQUE] INDEX name ON schema.table USING …" → unqualified table.
		d.indexes = append(d.indexes, namedDef{name: name, def: def[:on] + " ON " + qi(table) + def[using:]})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: read indexes of %s: %w", table, err)
	}
	return d, nil
}

func (s *pgStage) createStage(ctx context.Context) error {
	stmts := []string{"DROP SCHEMA IF EXISTS " + qi(s.stage) + " CASCADE", "CREATE SCHEMA " + qi(s.stage)}
	for _, t := range pgTables {
		stmts = append(stmts, fmt.Sprintf("CREATE TABLE %s (LIKE %s INCLUDING ALL EXCLUDING INDEXES)", qi(s.stage, t), qi(s.live, t)))
	}
	for _, q := range stmts {
		if _, err := s.lock.Exec(ctx, q); err != nil {
			return fmt.Errorf("postgres: create staging tables: %w", err)
		}
	}
	for _, t := range pgTables {
		if err := s.copyGrants(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// copyGrants gives a staging table the privileges others hold on the live
// one (LIKE copies none), so readers keep their access after the swap.
// Column-level grants are not copied.
func (s *pgStage) copyGrants(ctx context.Context, table string) error {
	rows, err := s.lock.Query(ctx, `SELECT a.privilege_type, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END, a.is_grantable
		FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = $1::regclass AND a.grantee <> c.relowner`, qi(s.live, table))
	if err != nil {
		return fmt.Errorf("postgres: read grants on %s: %w", table, err)
	}
	defer rows.Close()
	var grants []string
	for rows.Next() {
		var priv, grantee string
		var grantable bool
		if err := rows.Scan(&priv, &grantee, &grantable); err != nil {
			return err
		}
		g := fmt.Sprintf("GRANT %s ON %s TO %s", priv, qi(s.stage, table), grantee)
		if grantable {
			g += " WITH GRANT OPTION"
		}
		grants = append(grants, g)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: read grants on %s: %w", table, err)
	}
	for _, g := range grants {
		if _, err := s.lock.Exec(ctx, g); err != nil {
			return fmt.Errorf("postgres: %s: %w", g, err)
		}
	}
	return nil
}

// truncate empties staging tables (before a phase is rerun).
func (s *pgStage) truncate(ctx context.Context, tables ...string) error {
	q := make([]string, len(tables))
	for i, t := range tables {
		q[i] = qi(s.stage, t)
	}
	_, err := s.pool.Exec(ctx, "TRUNCATE "+strings.Join(q, ", "))
	return err
}

// inStage runs statements in one transaction with the staging schema as
// search_path, so the captured (unqualified) definitions apply to staging.
func (s *pgStage) inStage(ctx context.Context, stmts ...string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		pre := []string{"SET LOCAL search_path TO " + qi(s.stage), "SET LOCAL maintenance_work_mem = '256MB'"}
		for _, q := range append(pre, stmts...) {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	})
}

func (d *tableDDL) keyStmts(table string) []string {
	var out []string
	for _, k := range d.keys {
		out = append(out, fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s %s", qi(table), qi(k.name), k.def))
	}
	for _, ix := range d.indexes {
		out = append(out, ix.def)
	}
	return out
}

// build adds keys, indexes and foreign keys to the filled staging tables
// (two tables at a time, one per core) and analyzes them, so the statistics
// move in with the tables.
func (s *pgStage) build(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return s.inStage(gctx, append(s.ddl[tRecs].keyStmts(tRecs), "ANALYZE "+qi(tRecs))...)
	})
	g.Go(func() error {
		st := append(s.ddl[tMonthly].keyStmts(tMonthly), "ANALYZE "+qi(tMonthly))
		st = append(st, s.ddl[tProfiles].keyStmts(tProfiles)...)
		return s.inStage(gctx, st...)
	})
	if err := g.Wait(); err != nil {
		return fmt.Errorf("postgres: build staging indexes: %w", err)
	}
	var fks []string
	for _, t := range pgTables {
		for _, fk := range s.ddl[t].fks {
			fks = append(fks, fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s %s", qi(t), qi(fk.name), fk.def))
		}
	}
	if err := s.inStage(ctx, append(fks, "ANALYZE "+qi(tProfiles))...); err != nil {
		return fmt.Errorf("postgres: add foreign keys: %w", err)
	}
	return nil
}

// DefaultPGSwapWait is how long the PostgreSQL swap keeps trying to lock the
// live tables before it gives up (nothing applied, the previous snapshot in
// place). It is the default of pgStage.swapWait.
const DefaultPGSwapWait = 2 * time.Minute

// Lock policy of one swap attempt. An attempt waits at most swapLockTimeout
// for its ACCESS EXCLUSIVE locks: readers that arrive meanwhile queue behind
// the request, so this bounds how long the swap can stall them. Between
// attempts the swap sleeps (exponential backoff with jitter, from
// swapBackoffMin up to swapBackoffMax) and readers run freely.
const (
	swapLockTimeout = 100 * time.Millisecond
	swapBackoffMin  = 50 * time.Millisecond
	swapBackoffMax  = time.Second
)

// SQLSTATEs of a swap attempt that is retried: lock_not_available (the
// lock_timeout fired) and deadlock_detected.
const (
	sqlLockNotAvailable = "55P03"
	sqlDeadlock         = "40P01"
	sqlDependentObjects = "2BP01" // dependent_objects_still_exist
)

// swap replaces the live tables with the staging ones in one short
// transaction, retried while readers hold the live tables (see
// docs/load-postgres.md). Each attempt locks the three live tables in ACCESS
// EXCLUSIVE mode with a lock_timeout of swapLockTimeout, drops them, moves
// the staging tables into the live schema and drops the staging schema;
// beforeCommit (may be nil) is then called once, with the locks held, right
// before COMMIT, so the caller can line up the Redis swap; its error aborts
// the swap. An attempt that cannot get its locks in time is rolled back and
// retried after a backoff until swapWait has passed; then the swap fails
// with nothing applied (the caller removes the staging schema).
func (s *pgStage) swap(ctx context.Context, beforeCommit func() error) error {
	budget := s.swapWait
	if budget <= 0 {
		budget = DefaultPGSwapWait
	}
	start := time.Now()
	backoff := swapBackoffMin
	for attempt := 1; ; attempt++ {
		s.swapAttempts = attempt
		err := s.swapOnce(ctx, beforeCommit)
		if err == nil {
			if attempt > 1 && s.log != nil {
				s.log.Info("postgres swap done after waiting for readers", "attempts", attempt, "waited", time.Since(start).Round(time.Millisecond))
			}
			return nil
		}
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == sqlDependentObjects {
			// A view appeared on a live table after openPG checked.
			if derr := s.checkDependents(ctx); derr != nil {
				return derr
			}
		}
		if !errors.As(err, &pe) || (pe.Code != sqlLockNotAvailable && pe.Code != sqlDeadlock) || ctx.Err() != nil {
			return fmt.Errorf("postgres: swap: %w", err)
		}
		left := budget - time.Since(start)
		if left <= 0 {
			return fmt.Errorf("postgres: swap: readers kept the live tables of schema %q locked for %s (%d attempts, each waiting %s for its locks): "+
				"nothing applied, the previous snapshot is in place; end the long transactions on them (pg_stat_activity, pg_locks) and rerun the load: %w",
				s.live, budget, attempt, swapLockTimeout, err)
		}
		if attempt == 1 && s.log != nil {
			s.log.Info("postgres swap: the live tables are in use; retrying", "lock_timeout", swapLockTimeout, "budget", budget)
		}
		// Equal jitter: half the backoff fixed, half random, so concurrent
		// swaps (other schemas) do not retry in step.
		sleep := min(backoff/2+rand.N(backoff/2+1), left)
		select {
		case <-time.After(sleep):
		case <-ctx.Done():
			return fmt.Errorf("postgres: swap: %w", ctx.Err())
		}
		backoff = min(2*backoff, swapBackoffMax)
	}
}

// swapOnce is one attempt of the swap transaction.
func (s *pgStage) swapOnce(ctx context.Context, beforeCommit func() error) error {
	live := make([]string, len(pgTables))
	for i, t := range pgTables {
		live[i] = qi(s.live, t)
	}
	stmts := []string{
		fmt.Sprintf("SET LOCAL lock_timeout = '%dms'", swapLockTimeout.Milliseconds()),
		"LOCK TABLE " + strings.Join(live, ", ") + " IN ACCESS EXCLUSIVE MODE",
		"DROP TABLE " + strings.Join(live, ", "),
	}
	for _, t := range pgTables {
		stmts = append(stmts, fmt.Sprintf("ALTER TABLE %s SET SCHEMA %s", qi(s.stage, t), qi(s.live)))
	}
	stmts = append(stmts, "DROP SCHEMA "+qi(s.stage))
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, q := range stmts {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		if beforeCommit != nil {
			return beforeCommit()
		}
		return nil
	})
}

// DependentObjectsError refuses a load into PostgreSQL because objects
// outside ut360's three tables depend on them (views, materialized views,
// foreign keys of other tables, functions or columns using a table's row
// type): the swap drops the live tables, which PostgreSQL refuses while such
// objects exist. It matches ErrBadInput (exit code 2); nothing was applied.
type DependentObjectsError struct {
	// Objects are "<kind> <schema-qualified name> (on <table>)", sorted
	// (the name is pg_identify_object's identity).
	Objects []string
	// Views are the schema-qualified views and materialized views among them.
	Views []string
}

func (e *DependentObjectsError) Error() string {
	what := "objects depend"
	if len(e.Views) == len(e.Objects) {
		what = "views depend"
	}
	return fmt.Sprintf("postgres: %s on the live tables: %s; a load replaces the tables (DROP TABLE at the swap), "+
		"which PostgreSQL refuses while they exist: drop them before the load and recreate them after it "+
		"(see docs/load-postgres.md); nothing was applied", what, strings.Join(e.Objects, ", "))
}

// Unwrap makes the error match ErrBadInput.
func (e *DependentObjectsError) Unwrap() error { return ErrBadInput }

// dependentsQuery lists what would make DROP TABLE of the live tables fail:
// every normal dependency on a table or its row type, except the tables' own
// constraints and rules; a view is named by its relation, not its rule.
const dependentsQuery = `WITH live AS (
	SELECT c.oid, c.reltype, c.relname FROM pg_class c WHERE c.oid = ANY($1::text[]::regclass[])
), deps AS (
	SELECT DISTINCT d.classid, d.objid, d.objsubid, l.relname AS on_table
	FROM pg_depend d JOIN live l
	  ON (d.refclassid = 'pg_class'::regclass AND d.refobjid = l.oid)
	  OR (d.refclassid = 'pg_type'::regclass AND d.refobjid = l.reltype)
	WHERE d.deptype = 'n'
)
SELECT DISTINCT o.type, o.identity, deps.on_table, r.oid IS NOT NULL
FROM deps
LEFT JOIN pg_rewrite r ON deps.classid = 'pg_rewrite'::regclass AND r.oid = deps.objid
LEFT JOIN pg_constraint k ON deps.classid = 'pg_constraint'::regclass AND k.oid = deps.objid
CROSS JOIN LATERAL pg_identify_object(
	CASE WHEN r.oid IS NULL THEN deps.classid ELSE 'pg_class'::regclass END,
	COALESCE(r.ev_class, deps.objid),
	CASE WHEN r.oid IS NULL THEN deps.objsubid ELSE 0 END) o
WHERE NOT COALESCE(r.ev_class IN (SELECT oid FROM live), false)
  AND NOT COALESCE(k.conrelid IN (SELECT oid FROM live), false)
ORDER BY 2, 3`

// checkDependents returns a *DependentObjectsError when objects outside the
// three live tables depend on them, nil when none do.
func (s *pgStage) checkDependents(ctx context.Context) error {
	names := make([]string, len(pgTables))
	for i, t := range pgTables {
		names[i] = qi(s.live, t)
	}
	rows, err := s.pool.Query(ctx, dependentsQuery, names)
	if err != nil {
		return fmt.Errorf("postgres: look for objects depending on the live tables: %w", err)
	}
	defer rows.Close()
	e := &DependentObjectsError{}
	for rows.Next() {
		var kind, name, table string
		var rule bool
		if err := rows.Scan(&kind, &name, &table, &rule); err != nil {
			return fmt.Errorf("postgres: look for objects depending on the live tables: %w", err)
		}
		if rule && (kind == "view" || kind == "materialized view") {
			e.Views = append(e.Views, name)
		}
		e.Objects = append(e.Objects, fmt.Sprintf("%s %s (on %s)", kind, name, table))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: look for objects depending on the live tables: %w", err)
	}
	if len(e.Objects) == 0 {
		return nil
	}
	slices.Sort(e.Objects)
	slices.Sort(e.Views)
	e.Views = slices.Compact(e.Views)
	return e
}

// cleanup drops the staging schema (it is ours: created under the lock).
func (s *pgStage) cleanup(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+qi(s.stage)+" CASCADE")
	return err
}

// close releases the advisory lock and its connection.
func (s *pgStage) close() {
	if s.lock == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.lock.Exec(ctx, "SELECT pg_advisory_unlock_all()"); err != nil {
		s.lock.Conn().Close(ctx) // a closed session drops its locks
	}
	s.lock.Release()
	s.lock = nil
}

// Row values for COPY, in the dataset column order (= table column order).

func nullFloat(v dataset.NullFloat) any {
	if !v.Valid {
		return nil
	}
	return v.V
}

func recRow(r *dataset.Recommendation) []any {
	return []any{r.ISDN, r.SubscriberType, r.ServiceType, r.AdvanceAmount, r.RevenuePerAdvance, r.ClusterGroup,
		r.BadDebtRisk, r.ArpuAvg6m, nullFloat(r.ArpuGrowthRate), r.ArpuTrend, r.CustomerValueScore,
		r.AdvanceReadinessScore, r.PriorityScore}
}

func profileRow(p *dataset.Profile) []any {
	return []any{p.ISDN, p.SubscriberType, p.ServiceType, p.AdvanceAmount,
		p.ArpuAvg6m, p.ArpuMin6m, p.ArpuMax6m, p.ArpuStd6m, p.ArpuLastMonth, nullFloat(p.ArpuGrowthRate), p.ArpuTrend,
		p.RevenueCallShare, p.RevenueSmsShare, p.RevenueDataShare,
		p.TopupCount6m, p.TopupAvgAmount, p.DaysSinceLastTopup,
		p.RiskLevel, p.RiskScore, dataset.CanonList(p.RiskFactors),
		p.CustomerValueScore, p.AdvanceReadinessScore, p.EngagementScore, p.PriorityScore,
		p.ClusterGroup, p.ClusterLabel, p.MonthsActive,
		dataset.CanonList(p.InsightStrengths), dataset.CanonList(p.InsightRecommendations)}
}

func monthlyRow(m *dataset.Monthly) []any {
	return []any{m.ISDN, m.DataMonth, m.ArpuCall, m.ArpuSms, m.ArpuData, m.ArpuTotal}
}

// chanSource feeds CopyFrom from a channel of batches.
type chanSource[T any] struct {
	ctx   context.Context
	ch    <-chan []T
	batch []T
	i     int
	row   func(*T) []any        // for pgx.CopyFrom
	enc   func(*copyWriter, *T) // for the binary encoder
	err   error
	count func(int)
}

func (c *chanSource[T]) Next() bool {
	c.i++
	for c.i >= len(c.batch) {
		if c.count != nil && len(c.batch) > 0 {
			c.count(len(c.batch))
		}
		select {
		case b, ok := <-c.ch:
			if !ok {
				c.batch = nil
				return false
			}
			c.batch, c.i = b, 0
		case <-c.ctx.Done():
			c.err = c.ctx.Err()
			return false
		}
	}
	return true
}

func (c *chanSource[T]) Values() ([]any, error) { return c.row(&c.batch[c.i]), nil }
func (c *chanSource[T]) Err() error             { return c.err }

func newChanSource[T any](ctx context.Context, ch <-chan []T, row func(*T) []any, enc func(*copyWriter, *T), count func(int)) *chanSource[T] {
	return &chanSource[T]{ctx: ctx, ch: ch, i: -1, row: row, enc: enc, count: count}
}
