package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/demo"
	"github.com/ut360/ut360/internal/exitcode"
	"github.com/ut360/ut360/loader"
)

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "the whole job once: gen → migrate → load → verify → bench → capacity, one page to look at",
		Description: `Generates a dataset, migrates, loads both stores, verifies them (files ↔
PostgreSQL ↔ Redis), runs every built-in bench scenario for a few seconds and
plans capacity, then writes results/demo/index.html linking every report and
prints a one-screen summary. Needs PostgreSQL and Redis: ` + "`make demo`" + ` starts
private ones when none answer. Running it again replaces the previous run.
Exit 1 only when verify finds a mismatch; bench thresholds missed in the short
run are marked FAIL on the page (CI gates on ` + "`ut360 bench`" + `).

Examples:
   ut360 demo
   ut360 demo --subscribers 20000 --bench-duration 1s --out results/demo-small`,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "subscribers", Aliases: []string{"n"}, Value: dataset.DefaultSubscribers, Usage: "subscribers to generate"},
			&cli.StringFlag{Name: "data", Value: "results/demo/data", Usage: "folder for the generated files (overwritten)"},
			&cli.StringFlag{Name: "out", Value: "results/demo", Usage: "folder for the reports and index.html"},
			&cli.DurationFlag{Name: "bench-duration", Value: 3 * time.Second, Usage: "recorded time of each bench scenario"},
			&cli.BoolFlag{Name: "skip-bench", Usage: "leave the bench out"},
		},
		Action: func(c *cli.Context) error {
			if c.Int("subscribers") <= 0 {
				return usageErr("--subscribers must be > 0")
			}
			tuneGC() // it loads and benches in this process
			// On a fresh machine the database does not exist yet: create it before connecting.
			if err := ensureDatabase(c); err != nil {
				return err
			}
			pool, rdb, closeStores, err := connectStores(c)
			if err != nil {
				return err
			}
			defer closeStores()
			e := envOf(c)
			res, err := demo.Run(c.Context, pool, rdb, demo.Options{
				Subscribers: c.Int("subscribers"), Data: c.String("data"), Out: c.String("out"),
				BenchDuration: c.Duration("bench-duration"), SkipBench: c.Bool("skip-bench"),
				Keys: dataset.NewKeys(c.String("namespace")), PGURL: c.String("pg"), Version: Version(),
				Progress: progressMode(c), Log: e.log, Stdout: e.stdout, Stderr: e.stderr,
			})
			switch {
			case errors.Is(err, loader.ErrBadInput) || errors.Is(err, dataset.ErrBadOptions):
				return exitcode.Wrap(exitcode.Usage, fmt.Errorf("demo: %w", err))
			case err != nil:
				return exitcode.Wrap(exitcode.Fault, fmt.Errorf("demo: %w", err))
			case res.Failed:
				return exitcode.Wrap(exitcode.CheckFailed, fmt.Errorf("demo: %w — open %s", demo.ErrChecksFailed, res.Index))
			}
			return nil
		},
	}
}
