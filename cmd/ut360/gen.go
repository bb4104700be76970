package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/exitcode"
	"github.com/ut360/ut360/internal/progress"
)

func genCommand() *cli.Command {
	return &cli.Command{
		Name:  "gen",
		Usage: "write a deterministic synthetic dataset (the three files of the daily pipeline)",
		Description: `Writes recommendations_final_filtered.csv, subscriber_360_profile.parquet and
subscriber_monthly_summary.parquet. The same flags give byte-identical files;
subscriber i depends only on (seed, i), so a smaller --subscribers is a prefix
of a larger one. Files appear only when all three are complete.

Examples:
   ut360 gen --out data/                          # reference scale: 214,000 subscribers
   ut360 gen --subscribers 1000000 --out data1m/ --force
   ut360 gen --day 2 --out day2/                  # the next day: 10% left, 10% joined, 10% changed`,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "subscribers", Aliases: []string{"n"}, Value: dataset.DefaultSubscribers, Usage: "number of subscribers (> 0)"},
			&cli.IntFlag{Name: "months", Aliases: []string{"m"}, Value: dataset.DefaultMonths, Usage: "monthly rows per established subscriber (1-24)"},
			&cli.Uint64Flag{Name: "seed", Value: dataset.DefaultSeed, Usage: "random seed (> 0)"},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Value: "data", Usage: "output folder (created if missing)"},
			&cli.BoolFlag{Name: "force", Usage: "overwrite existing files"},
			&cli.IntFlag{Name: "day", Value: 1, Usage: "a later day of the same population: each day --churn of the subscribers leave, as many join, as many change amount"},
			&cli.Float64Flag{Name: "churn", Value: dataset.DefaultChurn, Usage: "share of subscribers leaving, joining and changing per --day (0-0.5]"},
		},
		Action: func(c *cli.Context) error {
			e := envOf(c)
			o := dataset.GenOptions{Subscribers: c.Int("subscribers"), Months: c.Int("months"), Seed: c.Uint64("seed"),
				Out: c.String("out"), Force: c.Bool("force"), Day: c.Int("day"), Churn: c.Float64("churn")}
			// Checked here, not only in dataset: GenOptions reads 0 as "default".
			switch {
			case o.Subscribers <= 0:
				return usageErr("--subscribers must be > 0, got %d", o.Subscribers)
			case o.Months < 1 || o.Months > 24:
				return usageErr("--months must be 1-24, got %d", o.Months)
			case o.Seed == 0:
				return usageErr("--seed must be > 0")
			}
			limitMemory(genMemoryLimit)
			pg := progress.New(c.Context, e.stderr, progressMode(c), e.log)
			bar := pg.Add("gen subscribers", int64(o.Subscribers))
			o.Progress = func(done int) { bar.Set(int64(done)) }
			start := time.Now()
			st, err := dataset.Generate(c.Context, o)
			bar.Done()
			pg.Wait()
			if errors.Is(err, dataset.ErrBadOptions) {
				return exitcode.Wrap(exitcode.Usage, err)
			}
			if err != nil {
				return fmt.Errorf("gen: %w", err)
			}
			fmt.Fprintf(e.stdout, "wrote %d subscribers, %d monthly rows to %s in %s\n",
				st.Subscribers, st.MonthlyRows, o.Out, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
}
