// Package migrations holds the versioned SQL of the PostgreSQL schema (SPEC §2),
// embedded in the binary and applied with jackc/tern under an advisory lock.
//
// Every statement uses unqualified names: the schema is chosen by the
// connection's search_path, so tests run the same files in a private schema.
package migrations

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed *.sql
var files embed.FS

// VersionTable records the applied version, in the connection's schema.
const VersionTable = "ut360_schema_version"

// Status is the applied and the latest known migration version.
type Status struct {
	Current int32
	Latest  int32
	Names   []string
}

func migrator(ctx context.Context, conn *pgx.Conn) (*migrate.Migrator, error) {
	m, err := migrate.NewMigrator(ctx, conn, VersionTable)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	if err := m.LoadMigrations(files); err != nil {
		return nil, fmt.Errorf("migrations: load: %w", err)
	}
	return m, nil
}

// Up applies every pending migration.
func Up(ctx context.Context, conn *pgx.Conn) error {
	m, err := migrator(ctx, conn)
	if err != nil {
		return err
	}
	return m.Migrate(ctx)
}

// Down reverts to version target (0 removes every table).
func Down(ctx context.Context, conn *pgx.Conn, target int32) error {
	m, err := migrator(ctx, conn)
	if err != nil {
		return err
	}
	return m.MigrateTo(ctx, target)
}

// Current returns the applied and latest versions.
func Current(ctx context.Context, conn *pgx.Conn) (Status, error) {
	m, err := migrator(ctx, conn)
	if err != nil {
		return Status{}, err
	}
	v, err := m.GetCurrentVersion(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("migrations: %w", err)
	}
	s := Status{Current: v, Latest: int32(len(m.Migrations))}
	for _, mg := range m.Migrations {
		s.Names = append(s.Names, mg.Name)
	}
	return s, nil
}

// EnsureDatabase creates the database named in pgURL when it does not exist,
// connecting to the "postgres" maintenance database to do so.
func EnsureDatabase(ctx context.Context, pgURL string) error {
	cfg, err := pgx.ParseConfig(pgURL)
	if err != nil {
		return fmt.Errorf("parse PostgreSQL URL: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		return conn.Close(ctx)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "3D000" { // invalid_catalog_name
		return err
	}
	u, perr := url.Parse(pgURL)
	if perr != nil || u.Scheme == "" {
		return fmt.Errorf("database %q does not exist and the URL is not a postgres:// URL: %w", cfg.Database, err)
	}
	u.Path = "/postgres"
	admin, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{cfg.Database}.Sanitize())
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		return fmt.Errorf("create database %s: %w", cfg.Database, err)
	}
	return nil
}
