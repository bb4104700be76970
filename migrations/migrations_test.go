package migrations_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ut360/ut360/internal/testenv"
	"github.com/ut360/ut360/migrations"
)

func connect(t *testing.T, u string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	return conn
}

// schemaSnapshot lists, from the catalog, every column, constraint and index
// of the tables in schema, one line each, sorted.
func schemaSnapshot(t *testing.T, conn *pgx.Conn, schema string) []string {
	t.Helper()
	ctx := context.Background()
	queries := []string{
		`SELECT format('column %s.%s %s nullable=%s default=%s collation=%s', table_name, column_name,
		        format_type(a.atttypid, a.atttypmod), is_nullable, coalesce(column_default, ''), coalesce(collation_name, ''))
		   FROM information_schema.columns c
		   JOIN pg_attribute a ON a.attrelid = format('%I.%I', c.table_schema, c.table_name)::regclass
		                      AND a.attname = c.column_name
		  WHERE c.table_schema = $1`,
		`SELECT format('constraint %s %s %s %s', cl.relname, co.conname, co.contype, pg_get_constraintdef(co.oid))
		   FROM pg_constraint co JOIN pg_class cl ON cl.oid = co.conrelid
		   JOIN pg_namespace n ON n.oid = cl.relnamespace WHERE n.nspname = $1`,
		`SELECT format('index %s %s', tablename, indexdef) FROM pg_indexes WHERE schemaname = $1`,
	}
	var out []string
	for _, q := range queries {
		rows, err := conn.Query(ctx, q, schema)
		if err != nil {
			t.Fatalf("catalog query: %v", err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("catalog query: %v", err)
		}
		out = append(out, lines...)
	}
	slices.Sort(out)
	return out
}

func tables(t *testing.T, conn *pgx.Conn, schema string) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(),
		`SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename`, schema)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestUpDownUp(t *testing.T) {
	ctx := context.Background()
	pg := testenv.NewPG(t)
	conn := connect(t, pg.URL)

	if err := migrations.Up(ctx, conn); err != nil {
		t.Fatalf("up: %v", err)
	}
	first := schemaSnapshot(t, conn, pg.Schema)
	checkSchema(t, first)
	st, err := migrations.Current(ctx, conn)
	if err != nil || st.Current != 5 || st.Latest != 5 || len(st.Names) != 5 {
		t.Fatalf("status after up: %+v, %v", st, err)
	}
	// Up again is a no-op.
	if err := migrations.Up(ctx, conn); err != nil {
		t.Fatalf("second up: %v", err)
	}
	// 005's down removes the campaign index, and only it.
	hasCampaignIdx := func() bool {
		return slices.ContainsFunc(schemaSnapshot(t, conn, pg.Schema), func(l string) bool {
			return strings.Contains(l, "INDEX recommendations_campaign_idx")
		})
	}
	if err := migrations.Down(ctx, conn, 4); err != nil {
		t.Fatalf("down to 4: %v", err)
	}
	if hasCampaignIdx() || len(schemaSnapshot(t, conn, pg.Schema)) != len(first)-1 {
		t.Errorf("down to 4 should remove recommendations_campaign_idx only")
	}
	if err := migrations.Up(ctx, conn); err != nil || !hasCampaignIdx() {
		t.Fatalf("up from 4: %v (campaign index present: %v)", err, hasCampaignIdx())
	}
	// 004 compares ISDNs byte by byte; its down returns them to the default.
	isdnCollations := func() []string {
		var out []string
		for _, l := range schemaSnapshot(t, conn, pg.Schema) {
			if strings.Contains(l, ".isdn text") {
				out = append(out, l[strings.Index(l, "collation="):])
			}
		}
		return out
	}
	if got := isdnCollations(); !slices.Equal(got, []string{"collation=C", "collation=C", "collation=C"}) {
		t.Errorf("isdn collations after up: %v", got)
	}
	if err := migrations.Down(ctx, conn, 3); err != nil {
		t.Fatalf("down to 3: %v", err)
	}
	if got := isdnCollations(); !slices.Equal(got, []string{"collation=", "collation=", "collation="}) {
		t.Errorf("isdn collations after down to 3: %v", got)
	}
	if err := migrations.Up(ctx, conn); err != nil {
		t.Fatalf("up from 3: %v", err)
	}

	// One step down removes the last table only.
	if err := migrations.Down(ctx, conn, 2); err != nil {
		t.Fatalf("down to 2: %v", err)
	}
	if got := tables(t, conn, pg.Schema); slices.Contains(got, "subscriber_monthly_arpu") || !slices.Contains(got, "recommendations") {
		t.Errorf("tables at version 2: %v", got)
	}
	if err := migrations.Down(ctx, conn, 0); err != nil {
		t.Fatalf("down to 0: %v", err)
	}
	if got := tables(t, conn, pg.Schema); !slices.Equal(got, []string{migrations.VersionTable}) {
		t.Errorf("tables at version 0: %v, want only %s", got, migrations.VersionTable)
	}
	if err := migrations.Up(ctx, conn); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if again := schemaSnapshot(t, conn, pg.Schema); !slices.Equal(first, again) {
		t.Errorf("up → down → up changed the schema:\nfirst:\n%s\nagain:\n%s",
			strings.Join(first, "\n"), strings.Join(again, "\n"))
	}
	if err := migrations.Down(ctx, conn, 6); err == nil {
		t.Error("down to a version beyond the last one succeeded")
	}
}

// checkSchema: the SPEC §2 types, keys, checks and indexes are there.
func checkSchema(t *testing.T, snap []string) {
	t.Helper()
	all := strings.Join(snap, "\n")
	for _, want := range []string{
		"column recommendations.advance_amount numeric(12,0) nullable=NO",
		"column recommendations.arpu_growth_rate double precision nullable=YES",
		"column subscriber_monthly_arpu.data_month date nullable=NO",
		"column subscriber_360_profiles.risk_factors jsonb nullable=NO",
		"column subscriber_360_profiles.insight_strengths jsonb",
		"constraint recommendations recommendations_pkey p PRIMARY KEY (isdn)",
		"constraint subscriber_monthly_arpu subscriber_monthly_arpu_pkey p PRIMARY KEY (isdn, data_month)",
		"FOREIGN KEY (isdn) REFERENCES",
		"CHECK ((bad_debt_risk = ANY (ARRAY['LOW'::text, 'MEDIUM'::text, 'HIGH'::text])))",
		"CHECK (((priority_score >= (0)::double precision) AND (priority_score <= (100)::double precision)))",
		"index recommendations CREATE INDEX recommendations_service_type_idx",
		"index recommendations CREATE INDEX recommendations_bad_debt_risk_idx",
		"index recommendations CREATE INDEX recommendations_cluster_group_idx",
		"index recommendations CREATE INDEX recommendations_campaign_idx",
		"index recommendations CREATE INDEX recommendations_priority_score_idx",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("schema lacks %q", want)
		}
	}
}

// TestConstraintsEnforced: the CHECKs and the foreign key reject bad rows.
func TestConstraintsEnforced(t *testing.T) {
	ctx := context.Background()
	pg := testenv.NewMigratedPG(t)
	isdn := "++/hZFPrCDRre55vsZqqxQ=="
	insert := func(risk string, score float64) error {
		_, err := pg.Pool.Exec(ctx, `INSERT INTO recommendations VALUES ($1,'PREPAID','EasyCredit',10000,1000,0,$2,1,NULL,'NEW',$3,1,1)`,
			isdn, risk, score)
		return err
	}
	if err := insert("LOW", 50); err != nil {
		t.Fatalf("a valid row was rejected: %v", err)
	}
	if _, err := pg.Pool.Exec(ctx, `DELETE FROM recommendations`); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		risk  string
		score float64
	}{{"low", 50}, {"LOW", 100.5}, {"LOW", -1}} {
		if err := insert(tc.risk, tc.score); err == nil {
			t.Errorf("risk %q score %v accepted", tc.risk, tc.score)
		}
	}
	_, err := pg.Pool.Exec(ctx, `INSERT INTO subscriber_monthly_arpu VALUES ($1, '2026-10-02', 1, 1, 1, 3)`, isdn)
	if err == nil {
		t.Error("a data_month that is not the first of the month was accepted")
	}
	_, err = pg.Pool.Exec(ctx, `INSERT INTO subscriber_360_profiles (isdn) VALUES ('nope')`)
	if err == nil {
		t.Error("a profile without its recommendation was accepted")
	}
}

// TestConcurrentUp: two `migrate up` at once on a fresh schema both succeed
// and leave the same schema as one run; Up waits for the migration lock
// while someone else holds it.
func TestConcurrentUp(t *testing.T) {
	ctx := context.Background()
	ref := testenv.NewPG(t)
	if err := migrations.Up(ctx, connect(t, ref.URL)); err != nil {
		t.Fatal(err)
	}
	want := schemaSnapshot(t, connect(t, ref.URL), ref.Schema)

	pg := testenv.NewPG(t)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		conn := connect(t, pg.URL)
		wg.Go(func() { errs[i] = migrations.Up(ctx, conn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent up %d: %v", i, err)
		}
	}
	got := schemaSnapshot(t, connect(t, pg.URL), pg.Schema)
	if !slices.Equal(normalise(got, pg.Schema), normalise(want, ref.Schema)) {
		t.Errorf("concurrent up left a different schema:\n%s", strings.Join(got, "\n"))
	}

	// Up blocks while another session holds the migration lock.
	fresh := testenv.NewPG(t)
	holder := connect(t, fresh.URL)
	if err := migrations.Up(ctx, holder); err != nil { // creates the version table
		t.Fatal(err)
	}
	if err := migrations.Down(ctx, holder, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_lock($1)`, ternLock); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	other := connect(t, fresh.URL)
	go func() { done <- migrations.Up(ctx, other) }()
	select {
	case err := <-done:
		t.Fatalf("Up ran while the migration lock was held (err %v)", err)
	case <-time.After(500 * time.Millisecond):
	}
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_unlock($1)`, ternLock); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Up after the lock was released: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Up did not finish after the lock was released")
	}
}

// ternLock is the advisory lock key jackc/tern/v2/migrate takes around every
// migration (its lockNum).
const ternLock = int64(9628173550095224)

func normalise(snap []string, schema string) []string {
	out := make([]string, len(snap))
	for i, s := range snap {
		out[i] = strings.ReplaceAll(s, schema+".", "SCHEMA.")
	}
	return out
}

// TestEnsureDatabase creates a database that does not exist (and drops it:
// this test created it), and is a no-op when it exists.
func TestEnsureDatabase(t *testing.T) {
	ctx := context.Background()
	pg := testenv.NewPG(t)
	u, err := url.Parse(pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	name := "ut360_ensure_" + testenv.ID()
	u.Path = "/" + name
	u.RawQuery = "sslmode=disable"
	if err := migrations.EnsureDatabase(ctx, u.String()); err != nil {
		t.Fatalf("EnsureDatabase(new): %v", err)
	}
	t.Cleanup(func() {
		if _, err := pg.Pool.Exec(context.Background(), fmt.Sprintf("DROP DATABASE IF EXISTS %s", name)); err != nil {
			t.Errorf("cleanup: drop database %s: %v", name, err)
		}
	})
	conn := connect(t, u.String())
	var db string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil || db != name {
		t.Fatalf("connected to %q, %v", db, err)
	}
	conn.Close(ctx)
	if err := migrations.EnsureDatabase(ctx, u.String()); err != nil {
		t.Fatalf("EnsureDatabase(existing): %v", err)
	}
	if err := migrations.EnsureDatabase(ctx, "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2"); err == nil {
		t.Error("EnsureDatabase on a closed port succeeded")
	}
}
