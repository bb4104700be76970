package main

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ut360/ut360/bench"
	"github.com/ut360/ut360/internal/exitcode"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:      "bench",
		Usage:     "replay YAML scenarios against Redis and PostgreSQL; HDR percentiles, thresholds, reports",
		ArgsUsage: "[FILE...]",
		Description: `Runs each scenario against the stores it names (one after the other), records
one HdrHistogram per worker (1 µs – 60 s, 3 digits) merged per scenario × store,
checks the thresholds and writes results/<run>/: summary.json, report.md,
report.html, junit.xml, <scenario>.<store>.hgrm and .hlog.

Open model: latency counts from each operation's intended start, so a server
stall shows in the tail. Closed model: raw latency plus the coordinated-
omission-corrected figures. Keys are drawn from the loaded ISDNs (PostgreSQL's
recommendations, read once at start).

On a Redis Cluster (--redis redis+cluster://…) every scenario runs as on one
server; each worker keeps a connection per master and routes by slot, and the
results add commands/s per master (summary.json results[].nodes; docs/cluster.md).

Every operation the scenario asked for is accounted for: in the open model
the ones never sent or cut off at the end of the run are failures (in
error_rate, their latency to the end of the run in the tail); a target with no
successful operation fails every latency threshold; an operation that finds
nothing although its key is loaded is an error (kind not_found) unless the
scenario sets keys.not_found: allowed.

Examples:
   ut360 bench --all --duration 3s               # every built-in scenario
   ut360 bench scenarios/isdn_lookup.yaml --target redis --duration 5s
   ut360 bench --all --metrics results/bench.prom   # Prometheus text file too
   ut360 bench compare results/BASE results/NEW --max-regression 10%

Exit codes: 0 all thresholds held · 1 a threshold missed · 2 bad scenario or
usage · 3 store unreachable or I/O fault · 130 interrupted.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Usage: "run every built-in scenario (scenarios/*.yaml, compiled in)"},
			&cli.DurationFlag{Name: "duration", Usage: "recorded duration of every scenario (replaces the files' duration/count)"},
			&cli.DurationFlag{Name: "warmup", Value: -1, DefaultText: "from the file", Usage: "unrecorded warmup of every scenario"},
			&cli.IntFlag{Name: "concurrency", Usage: "workers of every closed-model scenario (replaces the files' concurrency)"},
			&cli.StringSliceFlag{Name: "target", Usage: "run only these stores: redis, postgres, cache_aside (repeatable)"},
			&cli.StringFlag{Name: "out", Value: "results", Usage: "results folder; the run writes OUT/<timestamp>[-tag]/"},
			&cli.StringFlag{Name: "tag", Usage: "name of the run (in the folder name and summary.json)"},
			&cli.IntFlag{Name: "procs", DefaultText: "one per worker, ≥ cores, ≤ 8 per core", Usage: "Go scheduler threads (GOMAXPROCS) during the run; without it, a GOMAXPROCS set in the environment is kept"},
			&cli.StringFlag{Name: "keys-file", Usage: "draw keys from this file (one ISDN or key suffix a line) instead of the loaded ISDNs"},
			&cli.StringFlag{Name: "metrics", Usage: "also write the results to `FILE` in the Prometheus text format (node_exporter textfile collector, Pushgateway)"},
		},
		Action:      benchAction,
		Subcommands: []*cli.Command{benchCompareCommand()},
	}
}

func benchAction(c *cli.Context) error {
	e := envOf(c)
	scs, err := bench.LoadFiles(c.Args().Slice(), c.Bool("all"))
	if err != nil {
		return scenarioErr(e.stderr, err)
	}
	for _, t := range c.StringSlice("target") {
		if !slices.Contains(bench.Targets, t) {
			return usageErr("--target %q: must be one of %s", t, strings.Join(bench.Targets, ", "))
		}
	}
	o := bench.Options{Duration: c.Duration("duration"), Concurrency: c.Int("concurrency"),
		Targets: c.StringSlice("target"), Out: c.String("out"), Tag: c.String("tag"),
		Namespace: c.String("namespace"), KeysFile: c.String("keys-file"), Procs: c.Int("procs"),
		Version: version, Commit: Commit(), Progress: progressMode(c), Stderr: e.stderr, Log: e.log}
	if c.Duration("duration") < 0 || c.Int("concurrency") < 0 || c.Int("procs") < 0 {
		return usageErr("--duration, --concurrency and --procs must be ≥ 0")
	}
	if w := c.Duration("warmup"); w >= 0 {
		o.Warmup, o.WarmupSet = w, true
	}
	tuneGC()
	pgNeeded, redisNeeded, workers := bench.Needs(scs, o)
	if pgNeeded {
		if err := withParam(c, "pg", "pool_max_conns", workers+2); err != nil {
			return err
		}
		if o.Pool, err = pgPool(c); err != nil {
			return err
		}
		defer o.Pool.Close()
	}
	if redisNeeded {
		if err := withParam(c, "redis", "pool_size", workers+2); err != nil {
			return err
		}
		// RESP2 unless the URL says otherwise: what redis-benchmark and
		// memtier_benchmark speak, so figures compare like with like (go-redis
		// defaults to RESP3, whose map replies and push checks cost the
		// client more per call; docs/figures.md).
		if !strings.Contains(c.String("redis"), "protocol=") {
			if err := withParam(c, "redis", "protocol", 2); err != nil {
				return err
			}
		}
		rdb, err := redisClient(c)
		if err != nil {
			return err
		}
		defer rdb.Close()
		o.Redis = rdb
	}
	run, err := bench.RunScenarios(c.Context, o, scs)
	switch {
	case errors.Is(err, bench.ErrScenario):
		return scenarioErr(e.stderr, err)
	case errors.Is(err, bench.ErrNoData):
		return exitcode.Wrap(exitcode.Usage, err)
	case err != nil && !errors.Is(err, bench.ErrThresholds):
		return err
	}
	if werr := bench.WriteText(e.stdout, run); werr != nil {
		return werr
	}
	if p := c.String("metrics"); p != "" {
		if err := bench.WriteMetrics(p, run.Summary); err != nil {
			return exitcode.Wrap(exitcode.Fault, err)
		}
	}
	if !run.Passed {
		msg := fmt.Sprintf("bench: thresholds missed (see %s)", run.ReportMD)
		for _, sr := range run.Summary.Scenarios {
			for _, r := range sr.Results {
				if len(r.Notes) > 0 {
					msg += fmt.Sprintf("; %s/%s: %s", sr.Scenario.Name, r.Target, r.Notes[0])
				}
			}
		}
		return exitcode.Wrap(exitcode.CheckFailed, errors.New(msg))
	}
	return nil
}

// scenarioErr prints every scenario problem on its own line (exit 2).
func scenarioErr(stderr interface{ Write([]byte) (int, error) }, err error) error {
	var n int
	for _, line := range strings.Split(err.Error(), "\n") {
		if strings.TrimSpace(line) != "" {
			fmt.Fprintln(stderr, line)
			n++
		}
	}
	return exitcode.Wrap(exitcode.Usage, fmt.Errorf("bench: %d problem(s) in scenario files", n))
}

// withParam raises a pool-size parameter of a connection URL to at least n
// (an explicit larger value in the URL is kept).
func withParam(c *cli.Context, flag, param string, n int) error {
	raw := c.String(flag)
	if !strings.Contains(raw, "://") { // PostgreSQL keyword/value form
		if !strings.Contains(raw, param+"=") {
			return c.Set(flag, raw+" "+param+"="+strconv.Itoa(n))
		}
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return usageErr("--%s: %v", flag, err)
	}
	q := u.Query()
	if v, err := strconv.Atoi(q.Get(param)); err == nil && v >= n {
		return nil
	}
	q.Set(param, strconv.Itoa(n))
	u.RawQuery = q.Encode()
	return c.Set(flag, u.String())
}

func benchCompareCommand() *cli.Command {
	return &cli.Command{
		Name:      "compare",
		Usage:     "compare two bench runs; exit 1 on a regression or a missing scenario (the CI performance gate)",
		ArgsUsage: "BASE NEW",
		Description: `BASE and NEW are run folders (or their summary.json). For every scenario ×
store it sets NEW against BASE per percentile (p50 p90 p99 p99.9), throughput
and error rate, and says which rule decided each row:

  beyond noise     worse by more than --max-regression and the two runs' 99%
                   confidence intervals of the percentile do not overlap: REGRESSION
  within noise     worse by more, but the intervals overlap: reported, not a
                   regression (with --strict: REGRESSION, rule "strict")
  point estimate   throughput (its slowdown BASE÷NEW − 1: a halving is +100%), or runs
                   without histograms: worse by more is a REGRESSION
  error rate rose  NEW's error rate above BASE's by more than 0.1 percentage point
  no successful operation   NEW has none where BASE had some

A scenario × store in BASE but not in NEW fails. A scenario defined
differently (load model, rate or concurrency, keys, commands, queries) or run
on other data (subscribers, key set, fingerprint) is refused with the
difference named, unless --allow-changed. With --thresholds, NEW's own
thresholds count too.

Either side may list several runs, comma-separated: each scenario × store then
keeps that side's steadiest run (one that met its thresholds, then the lowest
mean latency), since noise on a shared machine only ever slows a run down.

Examples:
   ut360 bench compare results/BASE results/NEW --max-regression 10%
   ut360 bench compare results/B1,results/B2 results/N1,results/N2
   ut360 bench compare base/summary.json new/summary.json --strict
   ut360 bench compare BASE NEW --metric p50,throughput,error_rate --max-regression 100%

Exit codes: 0 no regression · 1 a regression, a scenario missing from NEW or
(--thresholds) a threshold missed · 2 runs not comparable (changed
definitions) or bad usage.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "max-regression", Value: "10%", Usage: "allowed worsening, e.g. 10% or 0.1"},
			&cli.BoolFlag{Name: "strict", Usage: "a change beyond --max-regression is a regression even inside the noise"},
			&cli.BoolFlag{Name: "allow-changed", Usage: "compare scenarios whose definitions or dataset differ instead of refusing"},
			&cli.BoolFlag{Name: "thresholds", Usage: "also fail when NEW missed one of its own thresholds (with several NEW runs: in every run, per scenario × store)"},
			&cli.StringSliceFlag{Name: "metric", DefaultText: strings.Join(bench.CompareMetrics, ","),
				Usage: "compare only these metrics (repeatable or comma-separated): " + strings.Join(bench.CompareMetrics, ", ")},
		},
		Action: func(c *cli.Context) error {
			e := envOf(c)
			if c.NArg() != 2 {
				return usageErr("bench compare needs BASE and NEW (got %d arguments): ut360 bench compare BASE NEW [--max-regression 10%%]", c.NArg())
			}
			maxReg, err := parsePercent(c.String("max-regression"))
			if err != nil {
				return usageErr("--max-regression: %v", err)
			}
			base, err := readRuns(c.Args().Get(0))
			if err != nil {
				return err
			}
			nw, err := readRuns(c.Args().Get(1))
			if err != nil {
				return err
			}
			var metrics []string
			for _, m := range c.StringSlice("metric") {
				for _, x := range strings.Split(m, ",") {
					if x = strings.TrimSpace(x); !slices.Contains(bench.CompareMetrics, x) {
						return usageErr("--metric %q: must be one of %s", x, strings.Join(bench.CompareMetrics, ", "))
					}
					metrics = append(metrics, x)
				}
			}
			cmp := bench.Compare(base, nw, bench.CompareOptions{MaxRegression: maxReg, Strict: c.Bool("strict"),
				AllowChanged: c.Bool("allow-changed"), Metrics: metrics, Thresholds: c.Bool("thresholds")})
			if err := bench.WriteComparison(e.stdout, cmp, c.Args().Get(0), c.Args().Get(1)); err != nil {
				return err
			}
			switch {
			case cmp.Refused():
				var what []string
				for _, ch := range cmp.Changed {
					what = append(what, ch.Scenario+" ("+strings.Join(ch.Diffs, "; ")+")")
				}
				return usageErr("bench compare: BASE and NEW measured different things: %s; rerun BASE with the same scenarios and data, or pass --allow-changed", strings.Join(what, ", "))
			case cmp.Failed():
				var why []string
				if n := cmp.Regressions(); n > 0 {
					why = append(why, fmt.Sprintf("%d regression(s) beyond %s", n, c.String("max-regression")))
				}
				if len(cmp.Missing) > 0 {
					why = append(why, "missing from NEW: "+strings.Join(cmp.Missing, ", "))
				}
				if len(cmp.Missed) > 0 {
					why = append(why, fmt.Sprintf("%d threshold(s) missed by NEW", len(cmp.Missed)))
				}
				return exitcode.Wrap(exitcode.CheckFailed, fmt.Errorf("bench compare: %s", strings.Join(why, "; ")))
			}
			return nil
		},
	}
}

// readRuns reads one side of a comparison: a run folder or summary.json, or
// several comma-separated, folded by bench.BestOf.
func readRuns(arg string) (*bench.Summary, error) {
	var runs []*bench.Summary
	for _, p := range strings.Split(arg, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		s, err := bench.ReadSummary(p)
		if err != nil {
			return nil, exitcode.Wrap(exitcode.Usage, err)
		}
		runs = append(runs, s)
	}
	if len(runs) == 0 {
		return nil, usageErr("bench compare: no run in %q", arg)
	}
	return bench.BestOf(runs), nil
}

func parsePercent(s string) (float64, error) {
	t := strings.TrimSpace(s)
	div := 1.0
	if rest, ok := strings.CutSuffix(t, "%"); ok {
		t, div = rest, 100
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || v < 0 || v != v {
		return 0, fmt.Errorf("want a share such as 10%% or 0.1, got %q", s)
	}
	return v / div, nil
}
