package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Scenario is one benchmark: which keys, how much load, what each store runs
// and the thresholds the results must meet. It is decoded strictly from YAML
// (see Parse); the JSON form goes into summary.json as "the scenario as run".
type Scenario struct {
	// Name identifies the scenario in reports; lower-case letters, digits, '_' and '-'.
	Name string `yaml:"name" json:"name"`
	// Description says what access pattern the scenario replays.
	Description string `yaml:"description" json:"description"`
	// Keys selects the ISDNs each operation works on.
	Keys KeySpec `yaml:"keys" json:"keys"`
	// Load is the load model: closed or open, warmup, duration or count.
	Load LoadSpec `yaml:"load" json:"load"`
	// Redis is the operation against Redis (optional).
	Redis *RedisOp `yaml:"redis" json:"redis,omitempty"`
	// Postgres is the operation against PostgreSQL (optional).
	Postgres *PostgresOp `yaml:"postgres" json:"postgres,omitempty"`
	// CacheAside is the read path of SPEC §6: Redis first, PostgreSQL on a
	// miss, then repopulate Redis (optional).
	CacheAside *CacheAsideOp `yaml:"cache_aside" json:"cache_aside,omitempty"`
	// Thresholds are the pass/fail criteria.
	Thresholds Thresholds `yaml:"thresholds" json:"thresholds"`

	file  string
	lines map[string]int
}

// KeySpec selects keys from the loaded ISDNs.
type KeySpec struct {
	// Distribution is uniform (default), zipfian or hotset; none for
	// operations that take no key.
	Distribution string `yaml:"distribution" json:"distribution"`
	// Theta is the zipfian skew, 0 < theta < 1 (default 0.99, as YCSB).
	Theta float64 `yaml:"theta" json:"theta,omitempty"`
	// HotFraction is the share of the keys that form the hot set (hotset; default 0.01).
	HotFraction Ratio `yaml:"hot_fraction" json:"hot_fraction,omitempty"`
	// HotShare is the share of operations that go to the hot set (hotset; default 0.9).
	HotShare Ratio `yaml:"hot_share" json:"hot_share,omitempty"`
	// Missing is the share of keys that do not exist (valid-looking random ISDNs).
	Missing Ratio `yaml:"missing" json:"missing"`
	// Batch is the number of keys per operation (default 1); {isdns} binds them all.
	Batch int `yaml:"batch" json:"batch"`
	// Seed makes the key sequence repeatable (default 1).
	Seed uint64 `yaml:"seed" json:"seed"`
	// NotFound says what an operation that finds nothing (an empty hash, no
	// row, an empty set) is: "error" (default; kind not_found) unless every
	// key it drew was made up by Missing, or "allowed" (counted, no error).
	// With distribution none an empty reply is an error too: the data is not there.
	NotFound string `yaml:"not_found" json:"not_found,omitempty"`
}

// Values of KeySpec.NotFound.
const (
	NotFoundError   = "error"
	NotFoundAllowed = "allowed"
)

// LoadSpec is the load model.
type LoadSpec struct {
	// Model is closed (a fixed number of workers, each issuing the next
	// operation when the last one finished) or open (operations arrive at a
	// fixed rate whatever the server does).
	Model string `yaml:"model" json:"model"`
	// Concurrency is the number of workers of the closed model (default 8).
	Concurrency int `yaml:"concurrency" json:"concurrency,omitempty"`
	// ThinkTime is the pause of a closed-model worker between operations.
	ThinkTime Duration `yaml:"think_time" json:"think_time,omitempty"`
	// Rate is the open model's arrival rate, operations per second.
	Rate float64 `yaml:"rate" json:"rate,omitempty"`
	// MaxInFlight bounds the open model's concurrent operations (default 64).
	MaxInFlight int `yaml:"max_in_flight" json:"max_in_flight,omitempty"`
	// Warmup runs the same load first, unrecorded (default 1s).
	Warmup Duration `yaml:"warmup" json:"warmup"`
	// Duration is how long operations are recorded (default 10s).
	Duration Duration `yaml:"duration" json:"duration"`
	// Count, when > 0, stops after this many recorded operations instead.
	Count int `yaml:"count" json:"count,omitempty"`
}

// RedisOp is the Redis side of a scenario.
type RedisOp struct {
	// Commands are argument lists with placeholders {ns}, {isdn}; more than
	// one are sent as one pipeline.
	Commands [][]string `yaml:"commands" json:"commands"`
	// PerKey runs the commands once for every key of the batch, all in one pipeline.
	PerKey bool `yaml:"per_key" json:"per_key,omitempty"`
	// Decode checks each reply: none (default), rec (the rec hash, SPEC use case
	// 1) or profile (the profile hash's JSON, SPEC use case 2).
	Decode string `yaml:"decode" json:"decode,omitempty"`
}

// PostgresOp is the PostgreSQL side of a scenario.
type PostgresOp struct {
	// Queries run in order as one batch (one round trip); every row is read.
	Queries []Query `yaml:"queries" json:"queries"`
}

// Query is one SQL statement with bound parameters.
type Query struct {
	// SQL is sent verbatim; values go in $1, $2 … never into the text.
	SQL string `yaml:"sql" json:"sql"`
	// Args are the values of $1, $2 …: literals or {isdn} (one key) or {isdns} (the batch, as text[]).
	Args []string `yaml:"args" json:"args,omitempty"`
}

// CacheAsideOp is the read path of SPEC §6 on the rec family.
type CacheAsideOp struct {
	// Miss is the share of reads that find the key gone: the key is unlinked
	// (unrecorded) before the read, as if it had expired.
	Miss Ratio `yaml:"miss" json:"miss"`
	// TTL is the expiry given to repopulated keys (default 168h, SPEC §3).
	TTL Duration `yaml:"ttl" json:"ttl"`
}

// Thresholds are per-target limits and relations between targets.
type Thresholds struct {
	// Redis limits the redis target.
	Redis *Limits `yaml:"redis" json:"redis,omitempty"`
	// Postgres limits the postgres target.
	Postgres *Limits `yaml:"postgres" json:"postgres,omitempty"`
	// CacheAside limits the cache_aside target.
	CacheAside *Limits `yaml:"cache_aside" json:"cache_aside,omitempty"`
	// Relative relations such as "redis.p99 <= 0.5 * postgres.p99".
	Relative []string `yaml:"relative" json:"relative,omitempty"`
}

// Limits are upper bounds on latency and errors and a lower bound on throughput.
type Limits struct {
	P50        Duration `yaml:"p50" json:"p50,omitempty"`
	P90        Duration `yaml:"p90" json:"p90,omitempty"`
	P99        Duration `yaml:"p99" json:"p99,omitempty"`
	P999       Duration `yaml:"p99.9" json:"p99.9,omitempty"`
	Max        Duration `yaml:"max" json:"max,omitempty"`
	ErrorRate  *Ratio   `yaml:"error_rate" json:"error_rate,omitempty"`
	Throughput float64  `yaml:"throughput" json:"throughput,omitempty"`
}

// Target names.
const (
	TargetRedis      = "redis"
	TargetPostgres   = "postgres"
	TargetCacheAside = "cache_aside"
)

// Targets lists the target names in run order.
var Targets = []string{TargetRedis, TargetPostgres, TargetCacheAside}

// TargetNames returns the targets the scenario defines, in run order.
func (s *Scenario) TargetNames() []string {
	var out []string
	if s.Redis != nil {
		out = append(out, TargetRedis)
	}
	if s.Postgres != nil {
		out = append(out, TargetPostgres)
	}
	if s.CacheAside != nil {
		out = append(out, TargetCacheAside)
	}
	return out
}

// File is the file the scenario was read from.
func (s *Scenario) File() string { return s.file }

// limits returns the limits for a target (nil when none).
func (t *Thresholds) limits(target string) *Limits {
	switch target {
	case TargetRedis:
		return t.Redis
	case TargetPostgres:
		return t.Postgres
	case TargetCacheAside:
		return t.CacheAside
	}
	return nil
}

// Defaults.
const (
	DefaultConcurrency = 8
	DefaultMaxInFlight = 64
	DefaultWarmup      = Duration(1e9)
	DefaultDuration    = Duration(10e9)
	DefaultTTL         = Duration(168 * 3600e9)
	DefaultTheta       = 0.99
)

// ErrScenario marks a scenario file that cannot be used (exit code 2).
var ErrScenario = errors.New("invalid scenario")

// ScenarioError lists every problem of one scenario file.
type ScenarioError struct{ Problems []error }

func (e *ScenarioError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap lets errors.Is find ErrScenario and each problem.
func (e *ScenarioError) Unwrap() []error { return append([]error{ErrScenario}, e.Problems...) }

// Parse decodes a scenario strictly and validates it. Every problem (unknown
// key, bad value, inconsistent setting) is reported at once, each naming the
// file, line and field; the error is a *ScenarioError.
func Parse(file string, data []byte) (*Scenario, error) {
	d := &strictDecoder{file: file, lines: map[string]int{}}
	s := &Scenario{file: file, lines: d.lines}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	switch err := dec.Decode(&root); {
	case errors.Is(err, io.EOF):
		return nil, &ScenarioError{[]error{&Problem{File: file, Msg: "empty file"}}}
	case err != nil:
		return nil, &ScenarioError{[]error{&Problem{File: file, Line: yamlErrLine(err), Msg: "not YAML: " + yamlErrMsg(err)}}}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &ScenarioError{[]error{&Problem{File: file, Line: extra.Line, Msg: "more than one YAML document"}}}
	}
	if len(root.Content) != 1 {
		return nil, &ScenarioError{[]error{&Problem{File: file, Msg: "empty file"}}}
	}
	d.decode(root.Content[0], reflect0(s), "")
	s.applyDefaults()
	problems := d.problems
	for _, p := range s.Validate() {
		// A field that did not decode holds its zero value; do not report it twice.
		if pr, ok := p.(*Problem); ok && d.failed(pr.Field) {
			continue
		}
		problems = append(problems, p)
	}
	if len(problems) > 0 {
		return nil, &ScenarioError{problems}
	}
	return s, nil
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

func yamlErrLine(err error) int {
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

var yamlPrefixRE = regexp.MustCompile(`^yaml: (line \d+: )?`)

func yamlErrMsg(err error) string { return yamlPrefixRE.ReplaceAllString(err.Error(), "") }

func (s *Scenario) applyDefaults() {
	k := &s.Keys
	if k.Distribution == "" {
		k.Distribution = "uniform"
	}
	if k.Distribution == "zipfian" && k.Theta == 0 {
		k.Theta = DefaultTheta
	}
	if k.Distribution == "hotset" {
		if _, ok := s.lines["keys.hot_fraction"]; !ok {
			k.HotFraction = 0.01
		}
		if _, ok := s.lines["keys.hot_share"]; !ok {
			k.HotShare = 0.9
		}
	}
	if _, ok := s.lines["keys.batch"]; !ok {
		k.Batch = 1
	}
	if _, ok := s.lines["keys.seed"]; !ok {
		k.Seed = 1
	}
	if k.NotFound == "" {
		k.NotFound = NotFoundError
	}
	l := &s.Load
	if l.Model == "" {
		l.Model = "closed"
	}
	if l.Model == "closed" && l.Concurrency == 0 {
		if _, ok := s.lines["load.concurrency"]; !ok {
			l.Concurrency = DefaultConcurrency
		}
	}
	if l.Model == "open" && l.MaxInFlight == 0 {
		if _, ok := s.lines["load.max_in_flight"]; !ok {
			l.MaxInFlight = DefaultMaxInFlight
		}
	}
	if _, ok := s.lines["load.warmup"]; !ok {
		l.Warmup = DefaultWarmup
	}
	if _, ok := s.lines["load.duration"]; !ok && l.Count == 0 {
		l.Duration = DefaultDuration
	}
	if s.CacheAside != nil && s.CacheAside.TTL == 0 {
		s.CacheAside.TTL = DefaultTTL
	}
}

// problem builds a located problem for field.
func (s *Scenario) problem(field, format string, args ...any) error {
	line := s.lines[field]
	for f := field; line == 0 && f != ""; {
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
		line = s.lines[f]
	}
	return &Problem{File: s.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
}

var (
	nameRE        = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	placeholderRE = regexp.MustCompile(`\{[a-z_]*\}`)
	sqlParamRE    = regexp.MustCompile(`\$(\d+)`)
)

// Validate reports every inconsistent or out-of-range setting. Parse calls it;
// call it again after changing a scenario in code.
func (s *Scenario) Validate() []error {
	var errs []error
	add := func(field, format string, args ...any) { errs = append(errs, s.problem(field, format, args...)) }
	if !nameRE.MatchString(s.Name) {
		add("name", "must be lower-case letters, digits, '_' or '-' (got %q)", s.Name)
	}
	k := s.Keys
	switch k.Distribution {
	case "uniform", "none":
	case "zipfian":
		if !(k.Theta > 0 && k.Theta < 1) {
			add("keys.theta", "must be between 0 and 1 exclusive (got %g)", k.Theta)
		}
	case "hotset":
		if !(k.HotFraction > 0 && k.HotFraction < 1) {
			add("keys.hot_fraction", "must be between 0 and 1 exclusive (got %g)", float64(k.HotFraction))
		}
	default:
		add("keys.distribution", "must be uniform, zipfian, hotset or none (got %q)", k.Distribution)
	}
	if k.Distribution != "zipfian" && s.lines["keys.theta"] > 0 {
		add("keys.theta", "only applies to distribution zipfian")
	}
	if k.Distribution != "hotset" {
		for _, f := range []string{"keys.hot_fraction", "keys.hot_share"} {
			if s.lines[f] > 0 {
				add(f, "only applies to distribution hotset")
			}
		}
	}
	if k.NotFound != "" && k.NotFound != NotFoundError && k.NotFound != NotFoundAllowed {
		add("keys.not_found", "must be error or allowed (got %q)", k.NotFound)
	}
	if k.Batch < 1 || k.Batch > 100_000 {
		add("keys.batch", "must be between 1 and 100000 (got %d)", k.Batch)
	}
	errs = append(errs, s.validateLoad()...)
	if s.Redis == nil && s.Postgres == nil && s.CacheAside == nil {
		add("redis", "a scenario needs at least one of redis, postgres, cache_aside")
	}
	usesKeys := false
	if r := s.Redis; r != nil {
		if len(r.Commands) == 0 {
			add("redis.commands", "must list at least one command")
		}
		for i, c := range r.Commands {
			f := fmt.Sprintf("redis.commands[%d]", i)
			if len(c) == 0 || strings.TrimSpace(c[0]) == "" {
				add(f, "must start with a command name")
			}
			for _, a := range c {
				u, e := s.checkPlaceholders(f, a, "{ns}", "{isdn}")
				usesKeys = usesKeys || u
				errs = append(errs, e...)
			}
		}
		if !slices.Contains([]string{"", "none", "rec", "profile"}, r.Decode) {
			add("redis.decode", "must be none, rec or profile (got %q)", r.Decode)
		}
		if k.Batch > 1 && !r.PerKey && usesKeys {
			add("redis.per_key", "must be true when keys.batch > 1 and a command uses {isdn}")
		}
	}
	if p := s.Postgres; p != nil {
		if len(p.Queries) == 0 {
			add("postgres.queries", "must list at least one query")
		}
		for i, q := range p.Queries {
			errs = append(errs, s.validateQuery(fmt.Sprintf("postgres.queries[%d]", i), q, &usesKeys)...)
		}
	}
	if c := s.CacheAside; c != nil {
		usesKeys = true
		if k.Batch != 1 {
			add("keys.batch", "cache_aside reads one key per operation; batch must be 1")
		}
	}
	if usesKeys && k.Distribution == "none" {
		add("keys.distribution", "is none but an operation uses {isdn} or {isdns}")
	}
	errs = append(errs, s.validateThresholds()...)
	return errs
}

func (s *Scenario) validateLoad() []error {
	var errs []error
	add := func(field, format string, args ...any) { errs = append(errs, s.problem(field, format, args...)) }
	l := s.Load
	switch l.Model {
	case "closed":
		if l.Concurrency < 1 || l.Concurrency > 1024 {
			add("load.concurrency", "must be between 1 and 1024 (got %d)", l.Concurrency)
		}
		for _, f := range []string{"load.rate", "load.max_in_flight"} {
			if s.lines[f] > 0 {
				add(f, "only applies to model open")
			}
		}
	case "open":
		if !(l.Rate > 0 && l.Rate <= 1e6) {
			add("load.rate", "the open model needs a rate between 0 and 1000000 operations per second (got %g)", l.Rate)
		}
		if l.MaxInFlight < 1 || l.MaxInFlight > 4096 {
			add("load.max_in_flight", "must be between 1 and 4096 (got %d)", l.MaxInFlight)
		}
		for _, f := range []string{"load.concurrency", "load.think_time"} {
			if s.lines[f] > 0 {
				add(f, "only applies to model closed")
			}
		}
	default:
		add("load.model", "must be closed or open (got %q)", l.Model)
	}
	if l.Count < 0 {
		add("load.count", "must be ≥ 0 (got %d)", l.Count)
	}
	if l.Count > 0 && l.Duration > 0 {
		add("load.count", "give either duration or count, not both")
	}
	if l.Count == 0 && l.Duration <= 0 {
		add("load.duration", "must be > 0 (or give a count)")
	}
	if l.Duration.D().Hours() > 24 || l.Warmup.D().Hours() > 24 {
		add("load.duration", "duration and warmup must each be ≤ 24h")
	}
	return errs
}

// checkPlaceholders reports unknown placeholders in v and whether it uses a key.
func (s *Scenario) checkPlaceholders(field, v string, allowed ...string) (usesKeys bool, errs []error) {
	for _, p := range placeholderRE.FindAllString(v, -1) {
		if !slices.Contains(allowed, p) {
			errs = append(errs, s.problem(field, "unknown placeholder %s (allowed here: %s)", p, strings.Join(allowed, " ")))
		}
		usesKeys = usesKeys || p == "{isdn}" || p == "{isdns}"
	}
	return usesKeys, errs
}

func (s *Scenario) validateQuery(f string, q Query, usesKeys *bool) []error {
	var errs []error
	if strings.TrimSpace(q.SQL) == "" {
		errs = append(errs, s.problem(f+".sql", "must not be empty"))
	}
	if p := placeholderRE.FindString(q.SQL); p != "" && p != "{}" {
		errs = append(errs, s.problem(f+".sql", "placeholder %s in SQL text: values are never spliced into SQL; bind it with $n and args", p))
	}
	maxParam := 0
	for _, m := range sqlParamRE.FindAllStringSubmatch(q.SQL, -1) {
		n, _ := strconv.Atoi(m[1])
		maxParam = max(maxParam, n)
	}
	if maxParam != len(q.Args) {
		errs = append(errs, s.problem(f+".args", "the SQL uses %d parameter(s) ($1…$%d) but %d arg(s) are given", maxParam, maxParam, len(q.Args)))
	}
	for i, a := range q.Args {
		af := fmt.Sprintf("%s.args[%d]", f, i)
		u, e := s.checkPlaceholders(af, a, "{isdn}", "{isdns}")
		*usesKeys = *usesKeys || u
		errs = append(errs, e...)
		if (strings.Contains(a, "{isdn}") || strings.Contains(a, "{isdns}")) && a != "{isdn}" && a != "{isdns}" {
			errs = append(errs, s.problem(af, "a key placeholder must be the whole argument (got %q)", a))
		}
		if a == "{isdn}" && s.Keys.Batch > 1 {
			errs = append(errs, s.problem(af, "{isdn} binds one key but keys.batch is %d; use {isdns}", s.Keys.Batch))
		}
	}
	return errs
}

func (s *Scenario) validateThresholds() []error {
	var errs []error
	targets := s.TargetNames()
	for _, t := range Targets {
		l := s.Thresholds.limits(t)
		if l == nil {
			continue
		}
		f := "thresholds." + t
		if !slices.Contains(targets, t) {
			errs = append(errs, s.problem(f, "the scenario has no %s operation", t))
		}
		if l.Throughput < 0 {
			errs = append(errs, s.problem(f+".throughput", "must be ≥ 0 operations per second"))
		}
	}
	for i, r := range s.Thresholds.Relative {
		f := fmt.Sprintf("thresholds.relative[%d]", i)
		rel, err := ParseRelative(r)
		if err != nil {
			errs = append(errs, s.problem(f, "%v", err))
			continue
		}
		for _, t := range []string{rel.Left.Target, rel.Right.Target} {
			if !slices.Contains(targets, t) {
				errs = append(errs, s.problem(f, "the scenario has no %s operation", t))
			}
		}
	}
	return errs
}

// Metric names a measured figure of one target.
type Metric struct {
	Target string
	Name   string // p50 p90 p99 p99.9 max throughput error_rate
}

func (m Metric) String() string { return m.Target + "." + m.Name }

// Relative is a parsed relation "LEFT op FACTOR * RIGHT".
type Relative struct {
	Left, Right Metric
	Op          string
	Factor      float64
	Text        string
}

var relRE = regexp.MustCompile(`^\s*(\w+)\.(p50|p90|p99|p99\.9|max|throughput)\s*(<=|>=|<|>)\s*(?:([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*\*\s*)?(\w+)\.(p50|p90|p99|p99\.9|max|throughput)\s*$`)

// ParseRelative parses "redis.p99 <= 0.5 * postgres.p99" (the factor is optional).
func ParseRelative(s string) (Relative, error) {
	m := relRE.FindStringSubmatch(s)
	if m == nil {
		return Relative{}, fmt.Errorf("must read like \"redis.p99 <= 0.5 * postgres.p99\" (got %q)", s)
	}
	r := Relative{Left: Metric{m[1], m[2]}, Op: m[3], Factor: 1, Right: Metric{m[5], m[6]}, Text: strings.TrimSpace(s)}
	if m[4] != "" {
		f, err := strconv.ParseFloat(m[4], 64)
		if err != nil || f <= 0 || math.IsInf(f, 0) {
			return Relative{}, fmt.Errorf("factor must be a positive number (got %q)", m[4])
		}
		r.Factor = f
	}
	for _, t := range []string{r.Left.Target, r.Right.Target} {
		if !slices.Contains(Targets, t) {
			return Relative{}, fmt.Errorf("unknown target %q (known: %s)", t, strings.Join(Targets, ", "))
		}
	}
	if r.Left.Target == r.Right.Target {
		return Relative{}, fmt.Errorf("a relative threshold compares two different targets")
	}
	return r, nil
}
