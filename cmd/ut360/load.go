package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/urfave/cli/v2"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/exitcode"
	"github.com/ut360/ut360/loader"
)

func loadCommand() *cli.Command {
	return &cli.Command{
		Name:  "load",
		Usage: "validate the three daily files and swap them into PostgreSQL and Redis atomically",
		Description: `Reads recommendations_final_filtered.csv, subscriber_360_profile.parquet and
subscriber_monthly_summary.parquet from --data (CSV or Parquet, recognised by
content), validates every row and loads both stores concurrently.

PostgreSQL: binary COPY into staging tables in the schema "<schema>_ut360_stage"
(given the live tables' grants), indexes and keys built after the copy,
ANALYZE, then one short transaction swaps the staging tables in; it waits at
most 100 ms for its locks and retries (--pg-swap-wait), so readers never queue
behind it for long. Views on the live tables are refused up front (exit 2). Pending
migrations are applied first, so the tables need not exist (the database
must: ` + "`ut360 migrate up`" + ` creates it).
Redis: hashes and index keys are written under "<ns>:stage:" (no TTL until
they are live), proved complete, then swapped in by small scripts that never
block readers: each subscriber's rec and profile hashes together, then each
index key, then the keys of subscribers who left are removed, and meta:stats
(with the new "generation") is written last as the commit point. A journal
(<ns>:meta:swap) lets the next load finish a swap that was interrupted
(docs/load.md has the protocol). --redis-rate bounds the load's pressure on a
serving Redis. Before writing, the server's hash-max-listpack-value is raised
to 4096 when lower (--tune-redis).

Rejected rows go to --rejects as JSON lines (file, line or row, column, value,
reason). More than --max-rejects of them, or any file fault (missing file,
wrong header or column type, corrupt Parquet, empty file): nothing is applied
and the exit code is 2. A store fault exits 3, Ctrl-C 130; the previous
snapshot stays in place and a rerun completes.

Examples:
   ut360 load --data data/
   ut360 load --data data/ --to postgres --max-rejects 100 --rejects /tmp/rejects.jsonl
   ut360 load --to redis --from postgres        # daily Redis refresh from the source of truth
   ut360 load --data data/ --redis-rate 50000   # spare a busy Redis
   ut360 load --resume                          # only finish an interrupted swap`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data", Aliases: []string{"d"}, Value: "data", Usage: "folder with the three files"},
			&cli.StringFlag{Name: "to", Value: "postgres,redis", Usage: "stores to load: postgres, redis or both (comma-separated)"},
			&cli.StringFlag{Name: "from", Value: "files", Usage: "files, or postgres (refresh Redis from PostgreSQL; needs --to redis)"},
			&cli.IntFlag{Name: "max-rejects", Value: 0, Usage: "rejected rows tolerated; more and nothing is loaded"},
			&cli.StringFlag{Name: "rejects", Usage: "JSON-lines rejects file (default <data>/rejects.jsonl; removed when empty; - for none)"},
			&cli.DurationFlag{Name: "ttl", Value: loader.DefaultTTL, Usage: "lifetime of per-subscriber Redis keys"},
			&cli.BoolFlag{Name: "tune-redis", Value: true, Usage: "raise Redis hash-max-listpack-value to 4096 (CONFIG SET) so profile hashes stay " +
				"listpack-encoded, ~18% less memory; never lowers it; --tune-redis=false leaves the server alone"},
			&cli.DurationFlag{Name: "pg-swap-wait", Value: loader.DefaultPGSwapWait, Usage: "how long the PostgreSQL swap retries (100 ms attempts) while long readers hold the live tables; then nothing is applied, exit 3"},
			&cli.IntFlag{Name: "redis-rate", Usage: "at most this many Redis key writes per second (hash and index writes, renames, deletions) while staging and swapping (0: unlimited)"},
			&cli.BoolFlag{Name: "resume", Usage: "only finish the swap an interrupted load left (the journal <ns>:meta:swap), then exit"},
			&cli.BoolFlag{Name: "rollback", Usage: "only discard the staged snapshot an interrupted load left, if its swap had not started, then exit"},
			&cli.StringFlag{Name: "dump-resp", Hidden: true, Usage: "also write every Redis command as RESP to this file (benchmark floor)"},
			&cli.StringFlag{Name: "summary-json", Hidden: true, Usage: "also write the summary as JSON to this file (benchmark)"},
		},
		Action: func(c *cli.Context) error {
			e := envOf(c)
			o := loader.Options{Data: c.String("data"), MaxRejects: c.Int("max-rejects"), RejectsPath: c.String("rejects"),
				TTL: c.Duration("ttl"), Keys: dataset.NewKeys(c.String("namespace")), Progress: progressMode(c),
				Log: e.log, Out: e.stderr, Version: Version(), RedisRate: c.Int("redis-rate"), PGSwapWait: c.Duration("pg-swap-wait")}
			switch {
			case c.Bool("resume") && c.Bool("rollback"):
				return usageErr("--resume and --rollback exclude each other")
			case c.Bool("resume"):
				o.Recover = loader.RecoverForward
			case c.Bool("rollback"):
				o.Recover = loader.RecoverRollback
			}
			for _, s := range strings.Split(c.String("to"), ",") {
				switch strings.TrimSpace(s) {
				case "postgres", "pg":
					o.Postgres = true
				case "redis":
					o.Redis = true
				default:
					return usageErr("--to: unknown store %q (want postgres, redis)", s)
				}
			}
			switch c.String("from") {
			case "files":
			case "postgres", "pg":
				o.FromPostgres = true
			default:
				return usageErr("--from: want files or postgres, got %q", c.String("from"))
			}
			if o.FromPostgres || o.Recover != loader.RecoverAuto {
				o.Data = ""
			} else if st, err := os.Stat(o.Data); err != nil || !st.IsDir() {
				return usageErr("--data %s: not a folder", o.Data)
			}
			if p := c.String("dump-resp"); p != "" {
				f, err := os.Create(p)
				if err != nil {
					return usageErr("--dump-resp: %v", err)
				}
				defer f.Close()
				o.DumpRESP = f
			}
			var (
				pool *pgxpool.Pool
				rdb  redis.UniversalClient
			)
			if o.Postgres || o.FromPostgres {
				p, err := pgPool(c)
				if err != nil {
					return err
				}
				defer p.Close()
				pool = p
			}
			if o.Redis {
				r, err := redisClient(c)
				if err != nil {
					return err
				}
				defer r.Close()
				rdb = r
				if c.Bool("tune-redis") {
					if _, err := loader.TuneRedis(c.Context, r, loader.ListpackValue, e.log); err != nil {
						return exitcode.Wrap(exitcode.Fault, err)
					}
				}
			}
			tuneGC()
			sum, err := loader.Load(c.Context, pool, rdb, o)
			switch {
			case err == nil:
				sum.Write(e.stdout)
				if p := c.String("summary-json"); p != "" {
					b, _ := json.MarshalIndent(sum, "", "  ")
					if err := os.WriteFile(p, b, 0o644); err != nil {
						return exitcode.Wrap(exitcode.Fault, fmt.Errorf("--summary-json: %w", err))
					}
				}
				return nil
			case errors.Is(err, loader.ErrNothingToRecover):
				fmt.Fprintln(e.stdout, "nothing to recover: no unfinished swap in namespace", o.Keys.Namespace())
				return nil
			case errors.Is(err, loader.ErrBadInput), errors.Is(err, loader.ErrOptions):
				return exitcode.Wrap(exitcode.Usage, fmt.Errorf("load: %w", err))
			case c.Context.Err() != nil:
				return exitcode.Wrap(exitcode.Interrupted, fmt.Errorf("load interrupted; the previous snapshot is in place: %w", err))
			}
			return exitcode.Wrap(exitcode.Fault, fmt.Errorf("load: %w", err))
		},
	}
}
