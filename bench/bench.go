package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/progress"
	"github.com/ut360/ut360/scenarios"
)

// Options configure a bench run. Connections are made by the caller and
// passed in; only the stores the scenarios use are needed.
type Options struct {
	// Files are scenario files to run (in order).
	Files []string
	// Builtin adds the built-in scenarios (scenarios/*.yaml, compiled in), as --all.
	Builtin bool
	// Duration, when > 0, replaces every scenario's duration (and its count).
	Duration time.Duration
	// Warmup, when ≥ 0 and WarmupSet, replaces every scenario's warmup.
	Warmup    time.Duration
	WarmupSet bool
	// Concurrency, when > 0, replaces the closed model's concurrency.
	Concurrency int
	// Targets, when not empty, restricts the run to these targets.
	Targets []string
	// Out is the results folder (default "results"); the run writes Out/<run>/.
	Out string
	// Tag names the run (appended to the run folder's name, recorded in summary.json).
	Tag string
	// Namespace is the Redis key prefix ({ns}; default "ut360").
	Namespace string
	// KeysFile, when set, replaces the loaded ISDNs by the lines of this file.
	KeysFile string
	// Pool connects to PostgreSQL; MaxConns must cover the largest concurrency.
	Pool *pgxpool.Pool
	// Redis connects to Redis; its pool size must cover the largest concurrency.
	Redis redis.UniversalClient
	// Version and Commit describe the ut360 binary for summary.json.
	Version, Commit string
	// Progress selects live progress (bars on a TTY); Stderr receives it.
	Progress progress.Mode
	Stderr   io.Writer
	// Log receives progress lines and debug interval figures (default: discard).
	Log *slog.Logger
	// Interval is the .hlog interval (default 1s).
	Interval time.Duration
	// Procs, when > 0, is GOMAXPROCS during the run. 0 leaves a GOMAXPROCS
	// set in the environment alone, and otherwise runs one P per worker of
	// the largest scenario: at least the current GOMAXPROCS (the cores, or
	// the container's CPU quota) and at most 8 times it. The setting is
	// process-wide; the previous value is restored after the run, as a fixed
	// value (which ends Go's automatic updates of it).
	Procs int

	stall func(sc string, target string, recStart time.Time) // test hook
	grace time.Duration                                      // test hook: end of run to hard stop
}

// Run is a finished bench run.
type Run struct {
	// Dir is the run's folder under Options.Out.
	Dir string
	// Summary is what summary.json holds.
	Summary *Summary
	// ReportHTML, ReportMD, SummaryJSON and JUnit are the report files' paths.
	ReportHTML, ReportMD, SummaryJSON, JUnit string
	// Passed tells whether every threshold held.
	Passed bool
}

// ErrThresholds is returned (with the Run) when a threshold missed (exit 1).
var ErrThresholds = errors.New("thresholds missed")

// ErrNoData is returned when the stores hold no loaded subscribers.
var ErrNoData = errors.New("no loaded subscribers")

// LoadFiles parses scenario files and, with builtin, the built-in scenarios.
// Every problem of every file is reported at once (a joined error of
// *ScenarioError values, all matching ErrScenario).
func LoadFiles(files []string, builtin bool) ([]*Scenario, error) {
	var out []*Scenario
	var errs []error
	add := func(name string, data []byte) {
		sc, err := Parse(name, data)
		if err != nil {
			errs = append(errs, err)
			return
		}
		out = append(out, sc)
	}
	if builtin {
		names, _ := fs.Glob(scenarios.FS, "*.yaml")
		for _, n := range names {
			data, err := scenarios.FS.ReadFile(n)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			add(path.Join("scenarios", n), data)
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, &ScenarioError{[]error{&Problem{File: f, Msg: errors.Unwrap(err).Error()}}})
			continue
		}
		add(f, data)
	}
	seen := map[string]string{}
	for _, sc := range out {
		if prev, ok := seen[sc.Name]; ok {
			errs = append(errs, &ScenarioError{[]error{sc.problem("name", "scenario %q is also defined in %s", sc.Name, prev)}})
		}
		seen[sc.Name] = sc.file
	}
	if len(out) == 0 && len(errs) == 0 {
		errs = append(errs, &ScenarioError{[]error{&Problem{File: "(arguments)", Msg: "no scenario given: name files or use --all"}}})
	}
	return out, errors.Join(errs...)
}

// apply puts the command-line overrides into a scenario.
func (o *Options) apply(sc *Scenario) error {
	if o.Duration > 0 {
		sc.Load.Duration, sc.Load.Count = Duration(o.Duration), 0
	}
	if o.WarmupSet {
		sc.Load.Warmup = Duration(o.Warmup)
	}
	if o.Concurrency > 0 && sc.Load.Model == "closed" {
		sc.Load.Concurrency = o.Concurrency
	}
	if errs := sc.Validate(); len(errs) > 0 {
		return &ScenarioError{errs}
	}
	return nil
}

// workersOf is the number of concurrent operations a scenario needs.
func workersOf(sc *Scenario) int {
	if sc.Load.Model == "open" {
		return sc.Load.MaxInFlight
	}
	return sc.Load.Concurrency
}

// targetsOf lists the scenario's targets after the --target filter.
func (o *Options) targetsOf(sc *Scenario) []string {
	var out []string
	for _, t := range sc.TargetNames() {
		if len(o.Targets) == 0 || slices.Contains(o.Targets, t) {
			out = append(out, t)
		}
	}
	return out
}

// Needs tells which stores the scenarios use (after the Targets filter) and
// the largest number of concurrent operations one of them runs, so that the
// caller can size its connection pools.
func Needs(scs []*Scenario, o Options) (pg, rd bool, workers int) {
	for _, sc := range scs {
		ts := o.targetsOf(sc)
		if len(ts) == 0 {
			continue
		}
		pg = pg || slices.Contains(ts, TargetPostgres) || slices.Contains(ts, TargetCacheAside)
		rd = rd || slices.Contains(ts, TargetRedis) || slices.Contains(ts, TargetCacheAside)
		w := workersOf(sc)
		if o.Concurrency > 0 && sc.Load.Model == "closed" {
			w = o.Concurrency
		}
		workers = max(workers, w)
	}
	return pg, rd, workers
}

// runProcs is the run's GOMAXPROCS given the current one (see Options.Procs).
// With fewer Ps than workers, a worker whose reply has arrived can wait
// behind a P whose thread the OS has descheduled for a server process, and
// that wait lands in the tail: one P per worker lowers PostgreSQL's p99 at the
// same throughput, at the cost of a higher p50 (see docs/figures.md).
func (o *Options) runProcs(current, workers int) int {
	switch {
	case o.Procs > 0:
		return o.Procs
	case os.Getenv("GOMAXPROCS") != "":
		return current
	}
	return min(max(current, workers), 8*current)
}

// RunFiles loads the scenarios of o.Files (and the built-ins with o.Builtin),
// runs each against its stores, writes the reports under o.Out and evaluates
// the thresholds. A missed threshold returns the Run and ErrThresholds; a bad
// scenario returns an error matching ErrScenario.
func RunFiles(ctx context.Context, o Options) (*Run, error) {
	scs, err := LoadFiles(o.Files, o.Builtin)
	if err != nil {
		return nil, err
	}
	return RunScenarios(ctx, o, scs)
}

// RunScenarios is RunFiles for scenarios already parsed.
func RunScenarios(ctx context.Context, o Options, scs []*Scenario) (*Run, error) {
	if o.Out == "" {
		o.Out = "results"
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	keys := dataset.NewKeys(o.Namespace)
	var errs []error
	for _, sc := range scs {
		if err := o.apply(sc); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	needPG, needRedis, maxWorkers := Needs(scs, o)
	needKeys := false
	for _, sc := range scs {
		needKeys = needKeys || len(o.targetsOf(sc)) > 0 && sc.Keys.Distribution != "none"
	}
	if needPG && o.Pool == nil || needRedis && o.Redis == nil {
		return nil, fmt.Errorf("bench: a scenario needs %s but no connection was given", map[bool]string{true: "PostgreSQL", false: "Redis"}[needPG && o.Pool == nil])
	}
	if needPG && int(o.Pool.Config().MaxConns) < maxWorkers {
		return nil, fmt.Errorf("bench: the PostgreSQL pool allows %d connections but a scenario needs %d (add pool_max_conns=%d to the URL)",
			o.Pool.Config().MaxConns, maxWorkers, maxWorkers)
	}
	if c, ok := o.Redis.(*redis.Client); ok && needRedis && c.Options().PoolSize < maxWorkers {
		return nil, fmt.Errorf("bench: the Redis pool holds %d connections but a scenario needs %d (set pool_size=%d in the URL)",
			c.Options().PoolSize, maxWorkers, maxWorkers)
	}
	if c, ok := o.Redis.(*redis.ClusterClient); ok && needRedis && c.Options().PoolSize < maxWorkers {
		return nil, fmt.Errorf("bench: the Redis Cluster pool holds %d connections per node but a scenario needs %d (set pool_size=%d in the URL)",
			c.Options().PoolSize, maxWorkers, maxWorkers)
	}

	var isdns []string
	if needKeys {
		var err error
		if isdns, err = o.loadISDNs(ctx, keys); err != nil {
			return nil, err
		}
	}
	prev := runtime.GOMAXPROCS(0)
	if n := o.runProcs(prev, maxWorkers); n != prev {
		runtime.GOMAXPROCS(n)
		defer runtime.GOMAXPROCS(prev)
	}
	env := o.environment(ctx, keys, len(isdns), needPG, needRedis)

	dir, err := newRunDir(o.Out, o.Tag)
	if err != nil {
		return nil, err
	}
	sum := &Summary{FormatVersion: FormatVersion, Tag: o.Tag, Started: time.Now().UTC(), Environment: env}
	pg := progress.New(ctx, o.Stderr, o.Progress, o.Log)
	defer pg.Wait()
	for _, sc := range scs {
		ts := o.targetsOf(sc)
		if len(ts) == 0 {
			continue
		}
		sr, err := o.runScenario(ctx, sc, ts, isdns, keys, dir, pg)
		if err != nil {
			return nil, err
		}
		sum.Scenarios = append(sum.Scenarios, sr)
	}
	sum.Finished = time.Now().UTC()
	sum.Passed = true
	for _, sr := range sum.Scenarios {
		sum.Passed = sum.Passed && sr.Passed
	}
	run := &Run{Dir: dir, Summary: sum, Passed: sum.Passed}
	if err := run.writeReports(); err != nil {
		return nil, err
	}
	if !run.Passed {
		return run, ErrThresholds
	}
	return run, nil
}

func (o *Options) runScenario(ctx context.Context, sc *Scenario, ts, isdns []string, keys dataset.Keys, dir string, pg *progress.Group) (*ScenarioResult, error) {
	shuffled := shuffleKeys(isdns, sc.Keys.Seed)
	var zipf *zipfian
	if sc.Keys.Distribution == "zipfian" {
		zipf = newZipfian(len(shuffled), sc.Keys.Theta)
	}
	sr := &ScenarioResult{Scenario: sc, File: sc.file}
	byTarget := map[string]*TargetResult{}
	for _, t := range ts {
		var tg target
		var route *clusterRoute
		if cc, ok := o.Redis.(*redis.ClusterClient); ok && t != TargetPostgres {
			var err error
			if route, err = newClusterRoute(ctx, cc); err != nil {
				return nil, err
			}
		}
		switch t {
		case TargetRedis:
			tg = newRedisTarget(o.Redis, sc.Redis, keys.Namespace(), route)
		case TargetPostgres:
			tg = &postgresTarget{pool: o.Pool, op: sc.Postgres}
		case TargetCacheAside:
			tg = &cacheAsideTarget{rdb: o.Redis, pool: o.Pool, op: sc.CacheAside, keys: keys, seed: sc.Keys.Seed, route: route}
		}
		base := filepath.Join(dir, sc.Name+"."+t)
		hlog, err := os.Create(base + ".hlog")
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		var total int64
		if sc.Load.Count > 0 {
			total = int64(sc.Load.Count)
		}
		rs := runSpec{sc: sc, name: t, tg: tg, keys: shuffled, zipf: zipf, hlog: hlog,
			bar: pg.Add(sc.Name+" "+t, total), log: o.Log, interval: o.Interval, grace: o.grace}
		if o.stall != nil {
			rs.stall = func(at time.Time) { o.stall(sc.Name, t, at) }
		}
		o.Log.Debug("bench", "scenario", sc.Name, "target", t, "model", sc.Load.Model, "workers", workersOf(sc),
			"warmup", sc.Load.Warmup.D(), "duration", sc.Load.Duration.D())
		res, err := runTarget(ctx, rs)
		rs.bar.Done()
		if cerr := hlog.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("bench %s %s: %w", sc.Name, t, err)
		}
		if err := writeHgrm(base+".hgrm", res.hist); err != nil {
			return nil, err
		}
		if res.corrected != nil {
			if err := writeHgrm(base+".corrected.hgrm", res.corrected); err != nil {
				return nil, err
			}
		}
		o.Log.Debug("bench result", "scenario", sc.Name, "target", t, "ops", res.Ops, "errors", res.Errors,
			"per_sec", int64(res.Throughput), "p50_ms", res.Latency.P50, "p99_ms", res.Latency.P99, "max_ms", res.Latency.Max)
		sr.Results = append(sr.Results, res)
		byTarget[t] = res
	}
	sr.Thresholds = Evaluate(sc, byTarget)
	sr.Passed = true
	for _, t := range sr.Thresholds {
		sr.Passed = sr.Passed && t.Pass
	}
	return sr, nil
}

// loadISDNs reads the key set once: the lines of KeysFile, else every ISDN
// of PostgreSQL's recommendations (the source of truth), else the members of
// Redis's service indexes.
func (o *Options) loadISDNs(ctx context.Context, keys dataset.Keys) ([]string, error) {
	var out []string
	switch {
	case o.KeysFile != "":
		f, err := os.Open(o.KeysFile)
		if err != nil {
			return nil, fmt.Errorf("keys file: %w", err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if s := strings.TrimSpace(sc.Text()); s != "" {
				out = append(out, s)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("keys file %s: %w", o.KeysFile, err)
		}
	case o.Pool != nil:
		rows, err := o.Pool.Query(ctx, "SELECT isdn FROM recommendations ORDER BY isdn")
		if err != nil {
			return nil, fmt.Errorf("read loaded ISDNs: %w", err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read loaded ISDNs: %w", err)
			}
			out = append(out, s)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read loaded ISDNs: %w", err)
		}
	default:
		for _, s := range dataset.ServiceTypes {
			m, err := o.Redis.ZRange(ctx, keys.ServiceIndex(s), 0, -1).Result()
			if err != nil {
				return nil, fmt.Errorf("read loaded ISDNs: %w", err)
			}
			out = append(out, m...)
		}
		slices.Sort(out)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: the key set is empty (load data with `ut360 load`, check --pg's search_path and --namespace)", ErrNoData)
	}
	return out, nil
}

// newRunDir creates Out/<UTC timestamp>[-tag], adding a suffix when taken.
func newRunDir(out, tag string) (string, error) {
	name := time.Now().UTC().Format("20060102-150405")
	if tag != "" {
		name += "-" + sanitize(tag)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", fmt.Errorf("bench: results folder: %w", err)
	}
	for i := 0; ; i++ {
		dir := filepath.Join(out, name)
		if i > 0 {
			dir = fmt.Sprintf("%s.%d", dir, i)
		}
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, fs.ErrExist) || i > 100 {
			return "", fmt.Errorf("bench: results folder: %w", err)
		}
	}
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
}
