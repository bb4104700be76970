package migrations

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// SchemaError says how the connection's schema and this binary's
// migrations disagree, and what to run.
type SchemaError struct {
	// Schema is the first schema of the search_path ("" when none of them exists).
	Schema string
	// Status has the applied version, the latest known one and every name.
	Status Status
}

// Behind reports whether migrations are pending (else the schema is ahead).
func (e *SchemaError) Behind() bool { return e.Status.Current < e.Status.Latest }

// Pending lists the migrations not applied yet.
func (e *SchemaError) Pending() []string {
	if !e.Behind() {
		return nil
	}
	return e.Status.Names[e.Status.Current:]
}

func (e *SchemaError) Error() string {
	s := e.Status
	switch {
	case e.Schema == "":
		return "no schema of the search_path exists: create it, then run `ut360 migrate up`"
	case !e.Behind():
		return fmt.Sprintf("schema %q is at version %d, ahead of this ut360, which knows %d migrations: use the newer ut360 that migrated it",
			e.Schema, s.Current, s.Latest)
	case s.Current == 0:
		return fmt.Sprintf("schema %q has no ut360 tables (version 0 of %d, every migration pending): run `ut360 migrate up`", e.Schema, s.Latest)
	}
	p := e.Pending()
	what := "migration " + p[0] + " is pending"
	if len(p) > 1 {
		what = "migrations " + strings.Join(p, ", ") + " are pending"
	}
	return fmt.Sprintf("schema %q is at version %d of %d, %s: run `ut360 migrate up`", e.Schema, s.Current, s.Latest, what)
}

// Querier is what Check needs of a connection or a pool.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Names lists the embedded migration files in the order they apply.
func Names() []string {
	names, _ := fs.Glob(files, "*.sql")
	slices.Sort(names)
	return names
}

// Check reads, without writing anything (no version table is created, no
// lock taken), which migrations the first schema of q's search_path has. It
// returns a *SchemaError when the schema and the binary disagree.
func Check(ctx context.Context, q Querier) (Status, error) {
	s := Status{Names: Names()}
	s.Latest = int32(len(s.Names))
	var schema *string
	var exists bool
	if err := q.QueryRow(ctx, "SELECT current_schema(), to_regclass($1) IS NOT NULL", VersionTable).Scan(&schema, &exists); err != nil {
		return s, fmt.Errorf("migrations: %w", err)
	}
	if schema == nil {
		return s, &SchemaError{Status: s}
	}
	if exists {
		if err := q.QueryRow(ctx, "SELECT version FROM "+VersionTable).Scan(&s.Current); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return s, fmt.Errorf("migrations: %w", err)
		}
	}
	if s.Current != s.Latest {
		return s, &SchemaError{Schema: *schema, Status: s}
	}
	return s, nil
}
