package verify

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// FormatVersion is the version of the JSON report layout; it changes when a
// field changes meaning or disappears.
const FormatVersion = 1

// Classes of findings.
const (
	// MissingInRedis: a PostgreSQL row has no rec/profile hash in Redis.
	MissingInRedis = "missing_in_redis"
	// OrphanInRedis: a rec or profile hash of the namespace's key scheme has no PostgreSQL row.
	OrphanInRedis = "orphan_in_redis"
	// FieldMismatch: a hash differs from its row; Fields names the fields and both values.
	FieldMismatch = "field_mismatch"
	// IndexMismatch: an index member missing, stale (no row / wrong index) or with the wrong score.
	IndexMismatch = "index_mismatch"
	// TTL: a per-subscriber key without TTL, or with a TTL longer than configured.
	TTL = "ttl"
	// Stats: a meta:stats count or the fingerprint disagrees with what the stores hold.
	Stats = "stats"
	// SourceMismatch: a row of a source file disagrees with PostgreSQL (or the
	// reader rejected it). Files whose bytes changed but whose rows are the
	// same are a note (Report.Notes), not a finding.
	SourceMismatch = "source_mismatch"
	// UnexplainedBucket: a bucket whose digests differ in the first pass, but
	// in which the drill-down finds no subscriber that differs (the data
	// changed during the run, or verify could not attribute a difference).
	UnexplainedBucket = "unexplained_bucket"
	// UnfinishedSwap: the loader's swap journal (<ns>:meta:swap) exists: a swap
	// is in progress or was interrupted, and Redis may mix two generations.
	UnfinishedSwap = "unfinished_swap"
	// GenerationMismatch: PostgreSQL's live generation (the comment of its
	// recommendations table) differs from the one meta:stats says the Redis
	// snapshot was made from (pg_generation); both must be known.
	GenerationMismatch = "generation_mismatch"
)

// Classes lists every class in report order.
var Classes = []string{MissingInRedis, OrphanInRedis, FieldMismatch, IndexMismatch, TTL, Stats, SourceMismatch,
	UnexplainedBucket, UnfinishedSwap, GenerationMismatch}

// FieldDiff is one field that differs. Expected is the upstream side
// (PostgreSQL for Redis checks, the file for source checks), Actual the other.
type FieldDiff struct {
	Field    string `json:"field"`
	Expected string `json:"expected"`
	Actual   string `json:"actual"`
}

// Finding is one mismatch.
type Finding struct {
	Class  string      `json:"class"`
	ISDN   string      `json:"isdn,omitempty"`
	Key    string      `json:"key,omitempty"`
	Fields []FieldDiff `json:"fields,omitempty"`
	Detail string      `json:"detail,omitempty"`
}

// ClassReport sums up one class.
type ClassReport struct {
	Class string `json:"class"`
	Count int64  `json:"count"`
	// Fields counts findings per field name (field_mismatch, source_mismatch).
	Fields map[string]int64 `json:"fields,omitempty"`
	// Examples are the first findings (at most Options.MaxExamples).
	Examples []Finding `json:"examples"`
}

// RowsChecked counts what was read from each store.
type RowsChecked struct {
	PGRecommendations     int64 `json:"pg_recommendations"`
	PGProfiles            int64 `json:"pg_profiles"`
	PGMonthly             int64 `json:"pg_monthly"`
	RedisRecKeys          int64 `json:"redis_rec_keys"`
	RedisProfileKeys      int64 `json:"redis_profile_keys"`
	RedisIndexMembers     int64 `json:"redis_index_members"`
	SourceRecommendations int64 `json:"source_recommendations,omitempty"`
	SourceProfiles        int64 `json:"source_profiles,omitempty"`
	SourceMonthly         int64 `json:"source_monthly,omitempty"`
}

// Total is the number of rows, hashes and members read.
func (r RowsChecked) Total() int64 {
	return r.PGRecommendations + r.PGProfiles + r.PGMonthly + r.RedisRecKeys + r.RedisProfileKeys +
		r.RedisIndexMembers + r.SourceRecommendations + r.SourceProfiles + r.SourceMonthly
}

// SampleReport is the outcome of --sample: an estimate, not a proof.
type SampleReport struct {
	Requested  int     `json:"requested"`
	Checked    int     `json:"checked"`
	Mismatched int     `json:"mismatched"`
	Rate       float64 `json:"estimated_mismatch_rate"`
	Low        float64 `json:"ci_low"`
	High       float64 `json:"ci_high"`
	Confidence float64 `json:"confidence"`
	Method     string  `json:"method"`
	Note       string  `json:"note"`
}

// RepairActions counts the Redis writes of a repair (planned or applied).
type RepairActions struct {
	RecRewrites     int `json:"rec_rewrites"`
	ProfileRewrites int `json:"profile_rewrites"`
	KeysDeleted     int `json:"keys_deleted"`
	TTLFixed        int `json:"ttl_fixed"`
	IndexAdded      int `json:"index_members_added"`
	IndexRemoved    int `json:"index_members_removed"`
	IndexRescored   int `json:"index_members_rescored"`
	StatsFields     int `json:"stats_fields_set"`
}

// Total is the number of actions.
func (a RepairActions) Total() int {
	return a.RecRewrites + a.ProfileRewrites + a.KeysDeleted + a.TTLFixed + a.IndexAdded + a.IndexRemoved + a.IndexRescored + a.StatsFields
}

// RepairReport says what --repair planned, did, and what the verify after it found.
type RepairReport struct {
	DryRun bool          `json:"dry_run"`
	Plan   RepairActions `json:"plan"`
	// Examples are a few planned actions, human readable.
	Examples []string `json:"examples"`
	// NotRepairable are classes repair cannot fix from PostgreSQL (e.g. source_mismatch).
	NotRepairable []string `json:"not_repairable,omitempty"`
	// After is the verify run after the repair (nil on --dry-run).
	After *Report `json:"after,omitempty"`
}

// Report is the outcome of a verify run.
type Report struct {
	FormatVersion    int            `json:"format_version"`
	Mode             string         `json:"mode"` // "full" or "sample"
	Namespace        string         `json:"namespace"`
	Source           string         `json:"source,omitempty"`
	StartedAt        time.Time      `json:"started_at"`
	DurationSeconds  float64        `json:"duration_seconds"`
	RowsChecked      RowsChecked    `json:"rows_checked"`
	RowsPerSecond    float64        `json:"rows_per_second"`
	Buckets          int            `json:"buckets,omitempty"`
	DifferingBuckets int            `json:"differing_buckets"`
	Fingerprint      string         `json:"pg_fingerprint,omitempty"`
	Clean            bool           `json:"clean"`
	Mismatches       int64          `json:"mismatches"`
	Classes          []*ClassReport `json:"classes"`
	ExpiredDuringRun int64          `json:"expired_during_scan"`
	ExpiredExamples  []string       `json:"expired_examples,omitempty"`
	// ForeignKeys counts the keys under the namespace prefix that are not in
	// its key scheme (e.g. another namespace "<ns>:t2"): never findings, never
	// touched by repair.
	ForeignKeys     int64    `json:"foreign_keys"`
	ForeignExamples []string `json:"foreign_examples,omitempty"`
	// EqualInMeaning counts subscribers whose hashes differ from PostgreSQL's
	// canonical encoding in bytes only where the encoding defines equal
	// meaning (JSON member order or whitespace, float formatting).
	EqualInMeaning int64 `json:"equal_in_meaning"`
	// Notes are observations that are not mismatches (e.g. a source file
	// whose bytes changed while its rows did not).
	Notes  []string      `json:"notes,omitempty"`
	Sample *SampleReport `json:"sample,omitempty"`
	Repair *RepairReport `json:"repair,omitempty"`

	max int
}

func newReport(o *Options, mode string) *Report {
	r := &Report{FormatVersion: FormatVersion, Mode: mode, Namespace: o.Keys.Namespace(), Source: o.Source,
		StartedAt: time.Now().UTC(), max: o.MaxExamples}
	for _, c := range Classes {
		r.Classes = append(r.Classes, &ClassReport{Class: c, Examples: []Finding{}})
	}
	return r
}

// Class returns the summary of class c (nil if c is not a class).
func (r *Report) Class(c string) *ClassReport {
	for _, cr := range r.Classes {
		if cr.Class == c {
			return cr
		}
	}
	return nil
}

// add records a finding.
func (r *Report) add(f Finding) {
	cr := r.Class(f.Class)
	cr.Count++
	r.Mismatches++
	for _, fd := range f.Fields {
		if cr.Fields == nil {
			cr.Fields = map[string]int64{}
		}
		cr.Fields[fieldFamily(fd.Field)]++
	}
	if len(cr.Examples) < r.max {
		cr.Examples = append(cr.Examples, f)
	}
}

// fieldFamily folds "monthly_arpu[2026-05-01].arpu_call" into "monthly_arpu.arpu_call".
func fieldFamily(f string) string {
	if i := strings.IndexByte(f, '['); i >= 0 {
		if j := strings.IndexByte(f[i:], ']'); j >= 0 {
			return f[:i] + f[i+j+1:]
		}
	}
	return f
}

func (r *Report) finish(start time.Time) {
	d := time.Since(start)
	r.DurationSeconds = d.Seconds()
	if d > 0 {
		r.RowsPerSecond = float64(r.RowsChecked.Total()) / d.Seconds()
	}
	r.Clean = r.clean()
}

// clean is true only when no class holds a finding.
func (r *Report) clean() bool {
	if r.Mismatches != 0 {
		return false
	}
	for _, c := range r.Classes {
		if c.Count != 0 {
			return false
		}
	}
	return true
}

// WriteJSON writes the machine-readable report.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

func (r *Report) verdict() string {
	switch {
	case r.Clean && r.clean():
		return "CLEAN"
	case r.Repair != nil && r.Repair.After != nil && r.Repair.After.Clean:
		return "REPAIRED"
	}
	return "MISMATCH"
}

// notes are the report's Notes with the foreign-key count and the
// equal-in-meaning count, one line each.
func (r *Report) notes() []string {
	var out []string
	if r.ForeignKeys > 0 {
		out = append(out, fmt.Sprintf("%d keys under %q are outside its key scheme (another namespace sharing the prefix, "+
			"or not ut360's; e.g. %s): counted, never reported as orphans or touched", r.ForeignKeys, r.Namespace+":",
			strings.Join(r.ForeignExamples, ", ")))
	}
	if r.EqualInMeaning > 0 {
		out = append(out, fmt.Sprintf("%d subscribers' hashes differ in bytes from the canonical encoding but not in meaning "+
			"(JSON member order or whitespace, float formatting)", r.EqualInMeaning))
	}
	return append(out, r.Notes...)
}

func trunc(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

func (f Finding) brief(width int) string {
	var b strings.Builder
	if f.ISDN != "" {
		b.WriteString(f.ISDN)
	} else {
		b.WriteString(f.Key)
	}
	for _, fd := range f.Fields {
		fmt.Fprintf(&b, " %s: %s ≠ %s", fd.Field, trunc(fd.Expected, width), trunc(fd.Actual, width))
	}
	if f.Detail != "" {
		b.WriteString(" — " + f.Detail)
	}
	return b.String()
}

// WriteText writes the one-screen summary.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "verify %s: %s (namespace %s", r.Mode, r.verdict(), r.Namespace)
	if r.Source != "" {
		fmt.Fprintf(&b, ", source %s", r.Source)
	}
	fmt.Fprintf(&b, ")\n")
	rc := r.RowsChecked
	fmt.Fprintf(&b, "  checked  postgres %d recs, %d profiles, %d monthly · redis %d rec, %d profile keys, %d index members",
		rc.PGRecommendations, rc.PGProfiles, rc.PGMonthly, rc.RedisRecKeys, rc.RedisProfileKeys, rc.RedisIndexMembers)
	if r.Source != "" {
		fmt.Fprintf(&b, " · files %d/%d/%d", rc.SourceRecommendations, rc.SourceProfiles, rc.SourceMonthly)
	}
	fmt.Fprintf(&b, "\n  time     %.2fs, %.0f rows/s", r.DurationSeconds, r.RowsPerSecond)
	if r.Buckets > 0 {
		fmt.Fprintf(&b, ", %d of %d buckets differ", r.DifferingBuckets, r.Buckets)
	}
	b.WriteString("\n")
	if s := r.Sample; s != nil {
		fmt.Fprintf(&b, "  sample   %d of %d subscribers mismatched: rate %.4f%% (%.0f%% CI %.4f%%–%.4f%%, %s)\n",
			s.Mismatched, s.Checked, 100*s.Rate, 100*s.Confidence, 100*s.Low, 100*s.High, s.Method)
	}
	for _, c := range r.Classes {
		mark := "ok"
		if c.Count > 0 {
			mark = "!!"
		}
		fmt.Fprintf(&b, "  %s %-16s %d", mark, c.Class, c.Count)
		if len(c.Examples) > 0 {
			fmt.Fprintf(&b, "   e.g. %s", trunc(c.Examples[0].brief(24), 90))
		}
		b.WriteString("\n")
	}
	if c := r.Class(UnfinishedSwap); c != nil && len(c.Examples) > 0 {
		fmt.Fprintf(&b, "  swap     %s\n", c.Examples[0].Detail) // in full: it says what to run
	}
	if c := r.Class(GenerationMismatch); c != nil && len(c.Examples) > 0 {
		fmt.Fprintf(&b, "  stores   %s\n", c.Examples[0].Detail) // in full: it says what to run
	}
	if r.ExpiredDuringRun > 0 {
		fmt.Fprintf(&b, "  note     %d keys expired during the scan (not counted as corruption)\n", r.ExpiredDuringRun)
	}
	for _, n := range r.notes() {
		fmt.Fprintf(&b, "  note     %s\n", n)
	}
	if rp := r.Repair; rp != nil {
		p := rp.Plan
		verb := "repaired"
		if rp.DryRun {
			verb = "would repair (dry run, nothing written)"
		}
		fmt.Fprintf(&b, "  repair   %s: %d rec + %d profile rewrites, %d keys deleted, %d TTLs, index +%d -%d ~%d, %d stats fields\n",
			verb, p.RecRewrites, p.ProfileRewrites, p.KeysDeleted, p.TTLFixed, p.IndexAdded, p.IndexRemoved, p.IndexRescored, p.StatsFields)
		if len(rp.NotRepairable) > 0 {
			fmt.Fprintf(&b, "           not repairable from PostgreSQL: %s\n", strings.Join(rp.NotRepairable, ", "))
		}
		if a := rp.After; a != nil {
			fmt.Fprintf(&b, "  after    %s: %d mismatches\n", a.verdict(), a.Mismatches)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "`", "'").Replace(s)
}

// WriteMarkdown writes the report for a CI job summary.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## ut360 verify — %s\n\n", r.verdict())
	fmt.Fprintf(&b, "Namespace `%s`, mode %s", r.Namespace, r.Mode)
	if r.Source != "" {
		fmt.Fprintf(&b, ", source `%s`", r.Source)
	}
	fmt.Fprintf(&b, "; %.2f s, %.0f rows/s; started %s.\n\n", r.DurationSeconds, r.RowsPerSecond, r.StartedAt.Format(time.RFC3339))
	rc := r.RowsChecked
	b.WriteString("| store | read |\n|---|---:|\n")
	fmt.Fprintf(&b, "| PostgreSQL recommendations | %d |\n| PostgreSQL profiles | %d |\n| PostgreSQL monthly rows | %d |\n",
		rc.PGRecommendations, rc.PGProfiles, rc.PGMonthly)
	fmt.Fprintf(&b, "| Redis rec hashes | %d |\n| Redis profile hashes | %d |\n| Redis index members | %d |\n",
		rc.RedisRecKeys, rc.RedisProfileKeys, rc.RedisIndexMembers)
	if r.Source != "" {
		fmt.Fprintf(&b, "| file recommendations | %d |\n| file profiles | %d |\n| file monthly rows | %d |\n",
			rc.SourceRecommendations, rc.SourceProfiles, rc.SourceMonthly)
	}
	if s := r.Sample; s != nil {
		fmt.Fprintf(&b, "\n**Sample:** %d of %d subscribers mismatched; estimated rate %.4f%% (%.0f%% %s interval %.4f%%–%.4f%%). %s\n",
			s.Mismatched, s.Checked, 100*s.Rate, 100*s.Confidence, s.Method, 100*s.Low, 100*s.High, s.Note)
	}
	b.WriteString("\n| class | count |\n|---|---:|\n")
	for _, c := range r.Classes {
		fmt.Fprintf(&b, "| `%s` | %d |\n", c.Class, c.Count)
	}
	for _, c := range r.Classes {
		if len(c.Examples) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n### `%s` (%d)\n\n", c.Class, c.Count)
		if len(c.Fields) > 0 {
			names := make([]string, 0, len(c.Fields))
			for n := range c.Fields {
				names = append(names, n)
			}
			sort.Strings(names)
			b.WriteString("Fields:")
			for _, n := range names {
				fmt.Fprintf(&b, " `%s` ×%d", n, c.Fields[n])
			}
			b.WriteString("\n\n")
		}
		b.WriteString("| ISDN / key | field | expected | actual | detail |\n|---|---|---|---|---|\n")
		for _, f := range c.Examples {
			id := f.ISDN
			if id == "" {
				id = f.Key
			}
			if len(f.Fields) == 0 {
				fmt.Fprintf(&b, "| `%s` | | | | %s |\n", mdEscape(id), mdEscape(f.Detail))
			}
			for _, fd := range f.Fields {
				fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s | %s |\n", mdEscape(id), mdEscape(fd.Field),
					mdEscape(trunc(fd.Expected, 80)), mdEscape(trunc(fd.Actual, 80)), mdEscape(f.Detail))
			}
		}
	}
	if r.ExpiredDuringRun > 0 {
		fmt.Fprintf(&b, "\n%d keys expired during the scan; they are not counted as corruption.\n", r.ExpiredDuringRun)
	}
	if notes := r.notes(); len(notes) > 0 {
		b.WriteString("\nNotes (not mismatches):\n\n")
		for _, n := range notes {
			fmt.Fprintf(&b, "- %s\n", mdEscape(n))
		}
	}
	if rp := r.Repair; rp != nil {
		p := rp.Plan
		title := "Repair"
		if rp.DryRun {
			title = "Repair plan (dry run, nothing written)"
		}
		fmt.Fprintf(&b, "\n### %s\n\n| action | count |\n|---|---:|\n", title)
		for _, row := range []struct {
			n string
			v int
		}{{"rec hashes rewritten", p.RecRewrites}, {"profile hashes rewritten", p.ProfileRewrites},
			{"keys deleted", p.KeysDeleted}, {"TTLs set", p.TTLFixed}, {"index members added", p.IndexAdded},
			{"index members removed", p.IndexRemoved}, {"index members rescored", p.IndexRescored},
			{"meta:stats fields set", p.StatsFields}} {
			fmt.Fprintf(&b, "| %s | %d |\n", row.n, row.v)
		}
		if len(rp.NotRepairable) > 0 {
			fmt.Fprintf(&b, "\nNot repairable from PostgreSQL: %s.\n", strings.Join(rp.NotRepairable, ", "))
		}
		if a := rp.After; a != nil {
			fmt.Fprintf(&b, "\nVerify after repair: **%s**, %d mismatches.\n", a.verdict(), a.Mismatches)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteFiles writes the JSON report to path and the Markdown one next to it
// (same name, .md), creating the folder; it returns the Markdown path.
func (r *Report) WriteFiles(path string) (string, error) {
	md := strings.TrimSuffix(path, filepath.Ext(path)) + ".md"
	if md == path {
		md = path + ".md"
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	for _, w := range []struct {
		path  string
		write func(io.Writer) error
	}{{path, r.WriteJSON}, {md, r.WriteMarkdown}} {
		f, err := os.Create(w.path)
		if err != nil {
			return "", fmt.Errorf("report: %w", err)
		}
		err = w.write(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", fmt.Errorf("report %s: %w", w.path, err)
		}
	}
	return md, nil
}
