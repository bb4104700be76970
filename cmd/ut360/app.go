package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/urfave/cli/v2"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/exitcode"
	"github.com/ut360/ut360/internal/progress"
	"github.com/ut360/ut360/internal/redact"
	"github.com/ut360/ut360/internal/redisconn"
	"github.com/ut360/ut360/migrations"
)

// version and commit are set with -ldflags "-X main.version=… -X main.commit=…"
// (the Makefile does); without them the commit comes from Go's VCS build info.
var (
	version = "0.1.0"
	commit  = ""
)

// Defaults of the connection flags.
const (
	defaultPG    = "postgres://postgres@127.0.0.1:5432/ut360?sslmode=disable"
	defaultRedis = "redis://127.0.0.1:6379/0"
)

// Commit is the VCS revision the binary was built from ("unknown" outside git).
func Commit() string {
	if commit != "" {
		return commit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" && dirty {
			rev += "-dirty"
		}
		if rev != "" {
			return rev
		}
	}
	return "unknown"
}

// Version is "version (commit)".
func Version() string { return version + " (" + Commit() + ")" }

// env carries the process's streams into subcommands (tests run in-process).
type env struct {
	stdout, stderr io.Writer
	log            *slog.Logger
}

func envOf(c *cli.Context) *env { return c.App.Metadata["env"].(*env) }

// NewApp builds the CLI; tests call it in-process through run.
func NewApp(stdout, stderr io.Writer) *cli.App {
	var stopProfile func() // set by --cpuprofile
	e := &env{stdout: stdout, stderr: stderr,
		log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	app := &cli.App{
		Name:    "ut360",
		Usage:   "load, verify and benchmark subscriber-advance recommendations in PostgreSQL and Redis",
		Version: Version(),
		Description: `ut360 moves the daily recommendation files into PostgreSQL (source of truth)
and Redis (hot cache), proves both stores agree, and replays the documented
access patterns as benchmark scenarios.

Typical day:
   ut360 gen --out data/                 # or use the pipeline's files
   ut360 migrate up
   ut360 load --data data/
   ut360 verify
   ut360 bench --all --duration 10s

Exit codes: 0 ok · 1 a check failed (mismatch, threshold, regression) ·
2 usage or bad input · 3 runtime fault (store unreachable, I/O) · 130 interrupted.`,
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		Metadata:        map[string]any{"env": e},
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "pg", Value: defaultPG, EnvVars: []string{"UT360_PG_URL", "DATABASE_URL"},
				Usage: "PostgreSQL URL; its search_path (e.g. ?search_path=tenant1) picks the schema"},
			&cli.StringFlag{Name: "redis", Value: defaultRedis, EnvVars: []string{"UT360_REDIS_URL", "REDIS_URL"},
				Usage: "Redis URL: redis://[:password@]host:port/db, or a cluster: redis+cluster://host1:port1,host2:port2"},
			&cli.StringFlag{Name: "namespace", Value: dataset.DefaultNamespace, EnvVars: []string{"UT360_NAMESPACE"},
				Usage: "Redis key prefix, so tenants and tests do not collide"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress output"},
			&cli.BoolFlag{Name: "verbose", Usage: "debug logging"},
			&cli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile of the whole command to `FILE` (read it with go tool pprof)"},
		},
		Before: func(c *cli.Context) error {
			if err := dataset.ValidateNamespace(c.String("namespace")); err != nil {
				return exitcode.Wrap(exitcode.Usage, fmt.Errorf("--namespace: %w", err))
			}
			if c.Bool("verbose") {
				e.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
				redisLogger.Store(e.log)
			}
			if p := c.String("cpuprofile"); p != "" {
				f, err := os.Create(p)
				if err != nil {
					return usageErr("--cpuprofile: %v", err)
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					f.Close()
					return usageErr("--cpuprofile: %v", err)
				}
				stopProfile = func() { pprof.StopCPUProfile(); f.Close() }
			}
			return nil
		},
		After: func(*cli.Context) error {
			if stopProfile != nil {
				stopProfile()
			}
			return nil
		},
		ExitErrHandler: func(*cli.Context, error) {}, // run maps errors to exit codes; never os.Exit inside
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return exitcode.Wrap(exitcode.Usage, err)
		},
	}
	app.Commands = commands()
	for _, c := range app.Commands {
		setUsageHandler(c)
	}
	return app
}

func setUsageHandler(c *cli.Command) {
	c.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return exitcode.Wrap(exitcode.Usage, err) }
	for _, s := range c.Subcommands {
		setUsageHandler(s)
	}
}

// commands lists the subcommands; each lives in its own file.
func commands() []*cli.Command {
	return []*cli.Command{genCommand(), migrateCommand(), loadCommand(), verifyCommand(), benchCommand(), capacityCommand(), demoCommand()}
}

// run executes the CLI and maps the outcome to an exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := NewApp(stdout, stderr)
	args, err := normalizeArgs(app, args)
	if err == nil {
		err = app.RunContext(ctx, args)
	}
	if err == nil {
		return exitcode.OK
	}
	code := exitCodeOf(ctx, err)
	msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", " ")
	fmt.Fprintln(stderr, "ut360: "+redact.String(msg))
	return code
}

func exitCodeOf(ctx context.Context, err error) int {
	var ee *exitcode.Error
	switch {
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		// Checked first: whatever a command wrapped its error as, Ctrl-C is 130.
		return exitcode.Interrupted
	case errors.As(err, &ee):
		return ee.Code
	case isUsage(err):
		return exitcode.Usage
	}
	return exitcode.Fault
}

// isUsage recognises urfave/cli's own argument errors (required flags, parse errors).
func isUsage(err error) bool {
	m := err.Error()
	for _, s := range []string{"Required flag", "flag provided but not defined", "invalid value", "No help topic", "invalid boolean"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

func usageErr(format string, args ...any) error {
	return exitcode.Wrap(exitcode.Usage, fmt.Errorf(format, args...))
}

// progressMode picks bars, log lines or nothing.
func progressMode(c *cli.Context) progress.Mode {
	if c.Bool("quiet") {
		return progress.Quiet
	}
	return progress.Auto
}

// pgPool connects to PostgreSQL and checks that the schema has every
// migration (except for the commands that migrate themselves); a failure is a
// runtime fault (exit 3), a malformed URL a usage error (exit 2).
func pgPool(c *cli.Context) (*pgxpool.Pool, error) {
	u := c.String("pg")
	cfg, err := pgxpool.ParseConfig(u)
	if err != nil {
		return nil, usageErr("--pg %s: %v", redact.URL(u), err)
	}
	if !strings.Contains(u, "pool_max_conns") {
		// pgxpool's default (max(4, cores)) is below the bench's default concurrency of 8 and the
		// loader's parallel COPYs; 16 fits both with room for verify's readers.
		cfg.MaxConns = 16
	}
	pool, err := pgxpool.NewWithConfig(c.Context, cfg)
	if err == nil {
		err = pool.Ping(c.Context)
	}
	if err != nil {
		if pool != nil {
			pool.Close()
		}
		return nil, pgConnError(u, cfg.ConnConfig.User, cfg.ConnConfig.Database, err)
	}
	if err := checkSchema(c, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// ensureDatabase creates the database named in --pg when it does not exist
// (a fresh machine); a failure is a runtime fault (exit 3).
func ensureDatabase(c *cli.Context) error {
	u := c.String("pg")
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		return usageErr("--pg %s: %v", redact.URL(u), err)
	}
	if err := migrations.EnsureDatabase(c.Context, u); err != nil {
		return pgConnError(u, cfg.User, cfg.Database, err)
	}
	return nil
}

// connectStores connects to both stores; close releases them.
func connectStores(c *cli.Context) (pool *pgxpool.Pool, rdb redis.UniversalClient, close func(), err error) {
	if _, err := redisconn.Parse(c.String("redis")); err != nil { // a malformed URL is exit 2, whichever store is tried first
		return nil, nil, nil, usageErr("--redis: %v", err)
	}
	if pool, err = pgPool(c); err != nil {
		return nil, nil, nil, err
	}
	if rdb, err = redisClient(c); err != nil {
		pool.Close()
		return nil, nil, nil, err
	}
	return pool, rdb, func() { rdb.Close(); pool.Close() }, nil
}

// redisClient connects to one Redis server (redis://, rediss://, unix://)
// or a Redis Cluster (redis+cluster://h1:p1,h2:p2); a malformed URL is a
// usage error (exit 2), a failure to connect a runtime fault (exit 3).
func redisClient(c *cli.Context) (redis.UniversalClient, error) {
	u := c.String("redis")
	cfg, err := redisconn.Parse(u)
	if err != nil {
		return nil, usageErr("--redis: %v", err)
	}
	rdb, err := redisconn.Open(c.Context, u)
	if err != nil {
		var ue *redisconn.URLError
		if errors.As(err, &ue) {
			return nil, usageErr("--redis: %v", err)
		}
		user := ""
		if cfg.Single != nil {
			user = cfg.Single.Username
		} else if cfg.Cluster != nil {
			user = cfg.Cluster.Username
		}
		return nil, redisConnError(u, user, err)
	}
	return rdb, nil
}
