package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/exitcode"
	"github.com/ut360/ut360/verify"
)

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:  "verify",
		Usage: "prove PostgreSQL and Redis (and optionally the files) agree, row by row, through bucketed checksums",
		Description: `Compares every recommendations row with its rec hash, every profile row and its
monthly rows with its profile hash (decoded through the canonical encoding),
the index sets and scores, TTLs and meta:stats; with --source the files
against PostgreSQL too. Subscribers are bucketed by a hash of the ISDN; each
store is streamed once into per-bucket checksums and only differing buckets
are drilled into, down to ISDN and field.

Examples:
   ut360 verify                                   # full check, summary on stdout
   ut360 verify --source data/ --report results/verify-report.json
   ut360 verify --sample 10000                    # estimate with a 95% interval
   ut360 verify --repair --dry-run                # print what a repair would write
   ut360 verify --repair                          # rewrite Redis from PostgreSQL, verify again

Exit codes: 0 clean (or repaired clean) · 1 mismatches remain · 2 bad usage or
unreadable --source · 3 a store unreachable.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "source", Usage: "folder with the three source files: check files → PostgreSQL too"},
			&cli.IntFlag{Name: "sample", Usage: "check N random subscribers only and estimate the mismatch rate"},
			&cli.Uint64Flag{Name: "seed", Usage: "seed of --sample (0: random; the report names the seed used)"},
			&cli.BoolFlag{Name: "repair", Usage: "rewrite wrong or missing Redis data from PostgreSQL, then verify again"},
			&cli.BoolFlag{Name: "dry-run", Usage: "with --repair: print the plan, write nothing"},
			&cli.StringFlag{Name: "report", Usage: "write the JSON report to `PATH` and Markdown next to it (PATH with .md)"},
			&cli.StringFlag{Name: "metrics", Usage: "also write the outcome to `FILE` in the Prometheus text format (node_exporter textfile collector, Pushgateway)"},
			&cli.DurationFlag{Name: "ttl", Value: verify.DefaultTTL, Usage: "longest TTL a subscriber key may carry"},
			&cli.IntFlag{Name: "buckets", Value: verify.DefaultBuckets, Usage: "checksum buckets (rounded up to a power of two)"},
			&cli.IntFlag{Name: "workers", Value: verify.DefaultWorkers, Usage: "concurrent Redis readers"},
			&cli.BoolFlag{Name: "floor", Hidden: true, Usage: "benchmark helper: measure the raw read floor (COPY out + pipelined HGETALL), print JSON"},
		},
		Action: runVerify,
	}
}

func runVerify(c *cli.Context) error {
	e := envOf(c)
	if c.NArg() > 0 {
		return usageErr("verify takes no arguments, got %q", c.Args().First())
	}
	o := verify.Options{Keys: dataset.NewKeys(c.String("namespace")), TTL: c.Duration("ttl"), Buckets: c.Int("buckets"),
		Source: c.String("source"), Sample: c.Int("sample"), Seed: c.Uint64("seed"), Repair: c.Bool("repair"),
		DryRun: c.Bool("dry-run"), Workers: c.Int("workers"), Log: e.log}
	if c.IsSet("sample") && o.Sample <= 0 {
		return usageErr("--sample must be > 0, got %d", o.Sample)
	}
	if c.IsSet("ttl") && o.TTL <= 0 || c.IsSet("buckets") && o.Buckets <= 0 || c.IsSet("workers") && o.Workers <= 0 {
		return usageErr("--ttl, --buckets and --workers must be > 0")
	}
	if err := o.Validate(); err != nil {
		return exitcode.Wrap(exitcode.Usage, err)
	}
	if o.Source != "" {
		if st, err := os.Stat(o.Source); err != nil || !st.IsDir() {
			return usageErr("--source %s: not a readable folder", o.Source)
		}
	}
	// Verify keeps O(buckets) state plus batches in flight, but without a
	// limit the collector let the heap outgrow the 512 MB budget at 1,000,000
	// subscribers; a soft limit keeps it inside (docs/figures.md).
	limitMemory(heapLimit)
	pool, rdb, closeStores, err := connectStores(c)
	if err != nil {
		return err
	}
	defer closeStores()
	if c.Bool("floor") {
		f, err := verify.ReadFloor(c.Context, pool, rdb, o.Keys, o.Workers)
		if err != nil {
			return fmt.Errorf("verify --floor: %w", err)
		}
		return json.NewEncoder(e.stdout).Encode(f)
	}

	rep, err := verify.Run(c.Context, pool, rdb, o)
	switch {
	case errors.Is(err, verify.ErrUsage), errors.Is(err, verify.ErrBadInput):
		return exitcode.Wrap(exitcode.Usage, fmt.Errorf("verify: %w", err))
	case err != nil:
		return fmt.Errorf("verify: %w", err)
	}
	if err := rep.WriteText(e.stdout); err != nil {
		return err
	}
	if path := c.String("report"); path != "" {
		md, err := rep.WriteFiles(path)
		if err != nil {
			return exitcode.Wrap(exitcode.Fault, err)
		}
		fmt.Fprintf(e.stdout, "report: %s (Markdown: %s)\n", path, md)
	}
	if sum := os.Getenv("GITHUB_STEP_SUMMARY"); sum != "" {
		if f, err := os.OpenFile(sum, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			_ = rep.WriteMarkdown(f)
			f.Close()
		}
	}
	final := rep
	if rep.Repair != nil && rep.Repair.After != nil {
		final = rep.Repair.After
	}
	if path := c.String("metrics"); path != "" {
		if err := final.WriteMetrics(path); err != nil {
			return exitcode.Wrap(exitcode.Fault, err)
		}
	}
	if !final.Clean {
		return exitcode.Wrap(exitcode.CheckFailed, fmt.Errorf("verify: %d mismatches", final.Mismatches))
	}
	return nil
}
