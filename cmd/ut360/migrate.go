package main

import (
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/urfave/cli/v2"

	"github.com/ut360/ut360/internal/exitcode"
	"github.com/ut360/ut360/internal/redact"
	"github.com/ut360/ut360/migrations"
)

func migrateCommand() *cli.Command {
	connect := func(c *cli.Context) (*pgx.Conn, error) {
		u := c.String("pg")
		if c.Command.Name == "up" { // only "up" creates the database
			if err := ensureDatabase(c); err != nil {
				return nil, err
			}
		}
		cfg, err := pgx.ParseConfig(u)
		if err != nil {
			return nil, usageErr("--pg %s: %v", redact.URL(u), err)
		}
		conn, err := pgx.ConnectConfig(c.Context, cfg)
		if err != nil {
			return nil, pgConnError(u, cfg.User, cfg.Database, err)
		}
		return conn, nil
	}
	status := func(c *cli.Context, conn *pgx.Conn) error {
		s, err := migrations.Current(c.Context, conn)
		if err != nil {
			return exitcode.Wrap(exitcode.Fault, err)
		}
		fmt.Fprintf(envOf(c).stdout, "schema version %d of %d\n", s.Current, s.Latest)
		for i, n := range s.Names {
			mark := "pending"
			if int32(i) < s.Current {
				mark = "applied"
			}
			fmt.Fprintf(envOf(c).stdout, "  %-8s %s\n", mark, n)
		}
		return nil
	}
	with := func(f func(*cli.Context, *pgx.Conn) error) cli.ActionFunc {
		return func(c *cli.Context) error {
			conn, err := connect(c)
			if err != nil {
				return err
			}
			defer conn.Close(c.Context)
			return f(c, conn)
		}
	}
	return &cli.Command{
		Name:  "migrate",
		Usage: "apply, revert or show the PostgreSQL schema migrations (embedded in the binary)",
		Description: `Migrations run under an advisory lock, so two runs never interleave. "up"
creates the database named in --pg when it does not exist. The schema is the
first one of the connection's search_path.

Examples:
   ut360 migrate up
   ut360 migrate status
   ut360 --pg 'postgres://postgres@127.0.0.1/ut360?search_path=tenant1' migrate up
   ut360 migrate down --to 0     # drops the three tables`,
		Subcommands: []*cli.Command{
			{Name: "up", Usage: "apply every pending migration", Action: with(func(c *cli.Context, conn *pgx.Conn) error {
				if err := migrations.Up(c.Context, conn); err != nil {
					return exitcode.Wrap(exitcode.Fault, fmt.Errorf("migrate up: %w", err))
				}
				return status(c, conn)
			})},
			{Name: "down", Usage: "revert to version --to (default: one step back)",
				Flags: []cli.Flag{&cli.IntFlag{Name: "to", Value: -1, Usage: "target version; 0 removes every table"}},
				Action: with(func(c *cli.Context, conn *pgx.Conn) error {
					to := int32(c.Int("to"))
					if to < 0 {
						s, err := migrations.Current(c.Context, conn)
						if err != nil {
							return exitcode.Wrap(exitcode.Fault, err)
						}
						to = max(0, s.Current-1)
					}
					if err := migrations.Down(c.Context, conn, to); err != nil {
						return exitcode.Wrap(exitcode.Fault, fmt.Errorf("migrate down: %w", err))
					}
					return status(c, conn)
				})},
			{Name: "status", Usage: "show applied and pending migrations", Action: with(status)},
		},
	}
}
