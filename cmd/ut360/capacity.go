package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/ut360/ut360/capacity"
	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/exitcode"
)

// defaultVerifyReport is where `ut360 demo` leaves its verify report.
const defaultVerifyReport = "results/demo/verify/verify.json"

func capacityCommand() *cli.Command {
	return &cli.Command{
		Name:  "capacity",
		Usage: "measure what the loaded snapshot costs and project memory, disk and time to larger scales",
		Description: `Run against loaded stores. Measures Redis bytes per subscriber for each key
family (MEMORY USAGE over a sample, calibrated by the load's used_memory delta
when meta:stats has it) and PostgreSQL bytes per row for each table and index,
then projects memory, disk, load and verify time to --subscribers, recommends
Redis maxmemory and eviction policy and PostgreSQL disk, and compares with the
documented footprint (Redis ~1.2 GB, PostgreSQL ~350 MB at 214,000).

On a Redis Cluster (--redis redis+cluster://…) it measures and projects per
master: per-subscriber keys spread by hash slot, each index key whole on one
master (the biggest is named), and says how many masters of --master-maxmemory
each size needs, including the 2× peak of a load.

Writes capacity.md, capacity.json and capacity.svg (chart) into --report.

Examples:
   ut360 capacity
   ut360 capacity --subscribers 1M,2.5M,10M --report results/capacity
   ut360 capacity --master-maxmemory 8gb`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "subscribers", Value: "1M,5M,10M", Usage: "sizes to project to (K and M suffixes)"},
			&cli.StringFlag{Name: "report", Value: "results/capacity", Usage: "output folder"},
			&cli.IntFlag{Name: "sample", Value: 2000, Usage: "subscribers whose keys are measured with MEMORY USAGE"},
			&cli.Float64Flag{Name: "verify-seconds", Usage: "verify duration to project (default: from --verify-report)"},
			&cli.StringFlag{Name: "verify-report", Usage: "a full verify JSON report to take verify throughput from (default: " + defaultVerifyReport + " when present)"},
			&cli.StringFlag{Name: "master-maxmemory", Usage: "size a Redis Cluster of masters with this maxmemory each, e.g. 8gb (redis.conf units; " +
				"default on a cluster: the masters' own maxmemory, else 8gb; on one server: no cluster sizing)"},
		},
		Action: func(c *cli.Context) error {
			sizes, err := capacity.ParseSizes(c.String("subscribers"))
			if err != nil {
				return usageErr("--subscribers: %v", err)
			}
			if c.Int("sample") <= 0 {
				return usageErr("--sample must be > 0")
			}
			var masterMem int64
			if v := c.String("master-maxmemory"); v != "" {
				if masterMem, err = capacity.ParseMemory(v); err != nil {
					return usageErr("--master-maxmemory: %v", err)
				}
			}
			verifyReport := c.String("verify-report")
			if verifyReport == "" {
				if _, err := os.Stat(defaultVerifyReport); err == nil {
					verifyReport = defaultVerifyReport
				}
			}
			pool, rdb, closeStores, err := connectStores(c)
			if err != nil {
				return err
			}
			defer closeStores()
			m, err := capacity.Measure(c.Context, pool, rdb, capacity.MeasureOptions{
				Keys: dataset.NewKeys(c.String("namespace")), Sample: c.Int("sample")})
			if err != nil {
				return exitcode.Wrap(exitcode.Fault, fmt.Errorf("capacity: %w", err))
			}
			if err := capacity.AttachVerify(m, verifyReport, c.Float64("verify-seconds")); err != nil {
				return usageErr("capacity: %v", err)
			}
			plan := capacity.Project(m, capacity.Options{Sizes: sizes, MasterMaxMemory: masterMem})
			written, err := plan.WriteFiles(c.String("report"))
			if err != nil {
				return exitcode.Wrap(exitcode.Fault, fmt.Errorf("capacity: write report: %w", err))
			}
			e := envOf(c)
			plan.TextSummary(e.stdout)
			fmt.Fprintf(e.stdout, "report: %s\n", written.Markdown)
			return nil
		},
	}
}
