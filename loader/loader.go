// Package loader moves one snapshot of the three SPEC §1 files into
// PostgreSQL (source of truth) and Redis (cache), validated and atomically.
//
// A load runs in three steps:
//
//  1. Stage. Every row is parsed and validated; valid rows stream into
//     staging copies that readers never see: PostgreSQL tables in a private
//     staging schema (binary COPY, indexes built after the copy), Redis keys
//     under "<ns>:stage:" (hashes with their TTL, index sets). Rejected rows go
//     to the rejects file as JSON lines.
//  2. Check. Over --max-rejects rejects, or a file fault, or a store fault, or
//     a cancelled context: the staging copies are removed and the live
//     snapshot is untouched.
//  3. Swap. PostgreSQL: one short transaction drops the live tables and moves
//     the staging tables (with their indexes, constraints and statistics) into
//     the live schema. Redis: one MULTI/EXEC renames every staging key onto its
//     live name, deletes index keys of values that vanished and rewrites
//     meta:stats. Readers see the old snapshot or the new one, never a mix.
//
// The profile hash of a subscriber needs its monthly rows. When the profile
// and monthly inputs come in the order of the recommendations (as the
// generator and the pipeline write them, and as PostgreSQL returns them
// ordered by isdn) they are merged while streaming, holding one subscriber at
// a time; otherwise the monthly rows are held in a compact in-memory form (48
// bytes a row) and the profile and monthly inputs are read again.
package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/dataset"
	"github.com/ut360/ut360/internal/progress"
)

// ErrBadInput marks a load refused because of its input: a file fault (it
// also matches dataset.ErrFile then) or more rejected rows than MaxRejects.
// Nothing was applied to either store. The CLI maps it to exit code 2.
var ErrBadInput = errors.New("bad input")

// DefaultTTL is the lifetime of per-subscriber keys (SPEC §3: 7 days).
const DefaultTTL = 168 * time.Hour

// Options of Load; zero values take the documented defaults.
type Options struct {
	Data         string        // folder with the three SPEC §1 files
	Postgres     bool          // load PostgreSQL
	Redis        bool          // load Redis
	FromPostgres bool          // refresh Redis from PostgreSQL instead of files (--to redis --from postgres)
	MaxRejects   int           // rejected rows tolerated (default 0)
	RejectsPath  string        // JSON-lines rejects file ("" = <Data>/rejects.jsonl; "-" = none)
	TTL          time.Duration // per-subscriber key TTL (default 168h)
	Keys         dataset.Keys  // Redis key scheme (namespace)
	Progress     progress.Mode
	Log          *slog.Logger
	Out          io.Writer // where bars/summary go

	// Version is written to meta:stats ut360_version (default "dev").
	Version string
	// DumpRESP, when set, receives every command sent to Redis in RESP form,
	// ready for `redis-cli --pipe` (the benchmark's raw floor).
	DumpRESP io.Writer
	// Files overrides the paths of the three files (default: SPEC §1 names in Data).
	Files *Files
	// RedisRate bounds the key writes per second (hash and index writes,
	// renames, deletions) the load sends to Redis while staging and
	// swapping, to spare a serving Redis (default 0: unlimited).
	RedisRate int
	// PGSwapWait bounds how long the PostgreSQL swap retries for its locks
	// while readers hold the live tables (default DefaultPGSwapWait, 2 min;
	// each attempt waits at most 100 ms, so readers never queue longer).
	PGSwapWait time.Duration
	// Recover, when RecoverForward or RecoverRollback, only finishes or
	// discards an earlier load's unfinished swap and loads nothing
	// (--resume / --rollback). The default recovers automatically, then loads.
	Recover Recovery
}

// Files names the three input files.
type Files struct{ Recommendations, Profiles, Monthly string }

// StoreSummary is the outcome for one store.
type StoreSummary struct {
	Rows       int64         // rows (PostgreSQL) or keys (Redis) written
	Duration   time.Duration // from start until the store's snapshot was swapped in
	RowsPerSec float64
}

// Summary is what a load did.
type Summary struct {
	Source                                      string // "files" or "postgres"
	Subscribers                                 int64  // recommendations loaded
	Profiles                                    int64
	MonthlyRows                                 int64
	RecKeys                                     int64 // Redis rec hashes
	ProfileKeys                                 int64 // Redis profile hashes
	ServiceMembers, RiskMembers, ClusterMembers int64
	IndexKeys                                   []string // live index keys after the load
	Rejects                                     int
	RejectsPath                                 string        // "" when no rejects file was written
	Fingerprint                                 string        // dataset.Fingerprint String()
	Unordered                                   bool          // the inputs were not in recommendation order (slower fallback used)
	Leavers                                     int64         // subscribers of the previous Redis snapshot not in this one (their keys removed)
	SwapWindow                                  time.Duration // Redis: first live key changed → meta:stats committed (mixed generations)
	LeaverRemoval                               time.Duration // Redis: unlinking leavers' and vanished keys, within SwapWindow
	Recovered                                   string        // what was done with an earlier load's unfinished swap ("" nothing)
	Postgres                                    *StoreSummary
	Redis                                       *StoreSummary
	Duration                                    time.Duration
}

// Write prints the summary as a few human-readable lines.
func (s *Summary) Write(w io.Writer) {
	if s.Subscribers == 0 && s.Recovered != "" {
		fmt.Fprintln(w, s.Recovered)
		return
	}
	fmt.Fprintf(w, "loaded from %s in %s: %d recommendations, %d profiles, %d monthly rows; %d rejected",
		s.Source, s.Duration.Round(time.Millisecond), s.Subscribers, s.Profiles, s.MonthlyRows, s.Rejects)
	if s.RejectsPath != "" && s.Rejects > 0 {
		fmt.Fprintf(w, " (see %s)", s.RejectsPath)
	}
	fmt.Fprintln(w)
	if p := s.Postgres; p != nil {
		fmt.Fprintf(w, "  postgres: %d rows in %s (%.0f rows/s)\n", p.Rows, p.Duration.Round(time.Millisecond), p.RowsPerSec)
	}
	if r := s.Redis; r != nil {
		fmt.Fprintf(w, "  redis:    %d rec + %d profile keys, index members service %d / risk %d / cluster %d in %d keys; %s (%.0f keys/s)\n",
			s.RecKeys, s.ProfileKeys, s.ServiceMembers, s.RiskMembers, s.ClusterMembers, len(s.IndexKeys),
			r.Duration.Round(time.Millisecond), r.RowsPerSec)
		fmt.Fprintf(w, "  redis swap: %d leavers removed; mixed generations for %s\n", s.Leavers, s.SwapWindow.Round(time.Millisecond))
	}
	if s.Recovered != "" {
		fmt.Fprintf(w, "  recovered: %s\n", s.Recovered)
	}
	fmt.Fprintf(w, "  fingerprint %s\n", s.Fingerprint)
}

func (o *Options) defaults() {
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.Keys == (dataset.Keys{}) {
		o.Keys = dataset.NewKeys("")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	if o.Files == nil && o.Data != "" {
		r, p, m := dataset.Files(o.Data)
		o.Files = &Files{r, p, m}
	}
	if o.RejectsPath == "" && o.Data != "" && !o.FromPostgres {
		o.RejectsPath = filepath.Join(o.Data, "rejects.jsonl")
	}
	if o.RejectsPath == "-" {
		o.RejectsPath = ""
	}
}

// ErrOptions marks an invalid combination of Options (a usage error).
var ErrOptions = errors.New("invalid load options")

func (o *Options) validate(pool *pgxpool.Pool, rdb redis.UniversalClient) error {
	switch {
	case !o.Postgres && !o.Redis:
		return fmt.Errorf("%w: nothing to load (choose postgres and/or redis)", ErrOptions)
	case o.FromPostgres && (o.Postgres || !o.Redis):
		return fmt.Errorf("%w: --from postgres refreshes Redis only (use --to redis)", ErrOptions)
	case o.Recover != RecoverAuto && !o.Redis:
		return fmt.Errorf("%w: --resume / --rollback recover a Redis swap (use --to redis or both)", ErrOptions)
	case !o.FromPostgres && o.Files == nil && o.Recover == RecoverAuto:
		return fmt.Errorf("%w: no data folder", ErrOptions)
	case (o.Postgres || o.FromPostgres) && pool == nil:
		return fmt.Errorf("%w: no PostgreSQL connection", ErrOptions)
	case o.Redis && rdb == nil:
		return fmt.Errorf("%w: no Redis connection", ErrOptions)
	case o.TTL < time.Second:
		return fmt.Errorf("%w: TTL must be at least 1s, got %s", ErrOptions, o.TTL)
	case o.MaxRejects < 0:
		return fmt.Errorf("%w: max rejects must be >= 0", ErrOptions)
	}
	if o.Redis {
		switch rdb.(type) {
		case *redis.Client, *redis.ClusterClient:
		default:
			return fmt.Errorf("%w: load needs a Redis server or cluster client (got %T)", ErrOptions, rdb)
		}
	}
	if o.RedisRate < 0 {
		return fmt.Errorf("%w: redis rate must be >= 0", ErrOptions)
	}
	return nil
}

// badInput wraps an input fault so that errors.Is matches ErrBadInput (and
// dataset.ErrFile for file faults) while the message stays the cause's.
type badInput struct{ err error }

func (e *badInput) Error() string   { return e.err.Error() }
func (e *badInput) Unwrap() []error { return []error{ErrBadInput, e.err} }

// Load validates the snapshot and swaps it into the selected stores. See the
// package documentation for the steps. The PostgreSQL tables must exist:
// pending migrations are applied first (under tern's advisory lock).
func Load(ctx context.Context, pool *pgxpool.Pool, rdb redis.UniversalClient, o Options) (*Summary, error) {
	o.defaults()
	if err := o.validate(pool, rdb); err != nil {
		return nil, err
	}
	l := &load{o: o, pool: pool, start: time.Now()}
	l.gen = l.start.UnixNano()
	if o.Redis {
		l.rdb = rdb
	}
	if o.Recover != RecoverAuto {
		return l.recoverOnly(ctx)
	}
	return l.run(ctx)
}
