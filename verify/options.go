package verify

import (
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"time"

	"github.com/ut360/ut360/dataset"
)

// Defaults of Options.
const (
	DefaultTTL         = 168 * time.Hour
	DefaultBuckets     = 1 << 15
	DefaultWorkers     = 4
	DefaultMaxExamples = 20
)

// ErrUsage marks invalid Options (exit code 2).
var ErrUsage = errors.New("usage")

// Options configures Run. Zero fields take the documented defaults.
type Options struct {
	// Keys is the Redis key scheme (namespace) to verify; the zero value means dataset.NewKeys("").
	Keys dataset.Keys
	// TTL is the longest TTL a per-subscriber key may carry (default 168h, the loader's default).
	TTL time.Duration
	// Buckets is the number of checksum buckets, rounded up to a power of two (default 32768).
	Buckets int
	// Source, if set, is a folder with the three source files, checked against PostgreSQL too.
	Source string
	// Sample, if > 0, checks this many random subscribers instead of everything.
	Sample int
	// Seed makes the sample reproducible (0: random).
	Seed uint64
	// Repair rewrites what is wrong in Redis from PostgreSQL, then verifies again.
	Repair bool
	// DryRun, with Repair, only reports the plan.
	DryRun bool
	// Workers is the number of Redis readers (default 4).
	Workers int
	// MaxExamples is the number of example findings kept per class (default 20).
	MaxExamples int
	// Log receives progress lines (default: discarded).
	Log *slog.Logger
}

func (o *Options) defaults() {
	if o.Keys == (dataset.Keys{}) {
		o.Keys = dataset.NewKeys("")
	}
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.Buckets == 0 {
		o.Buckets = DefaultBuckets
	}
	if o.Buckets > 1 {
		o.Buckets = 1 << bits.Len(uint(o.Buckets-1))
	}
	if o.Workers == 0 {
		o.Workers = DefaultWorkers
	}
	if o.MaxExamples == 0 {
		o.MaxExamples = DefaultMaxExamples
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every usage error at once, wrapped in ErrUsage.
func (o *Options) Validate() error {
	var errs []error
	if o.Keys != (dataset.Keys{}) {
		if err := dataset.ValidateNamespace(o.Keys.Namespace()); err != nil {
			errs = append(errs, err)
		}
	}
	if o.TTL < 0 {
		errs = append(errs, fmt.Errorf("--ttl must be > 0, got %s", o.TTL))
	}
	if o.Buckets < 0 || o.Buckets > 1<<24 {
		errs = append(errs, fmt.Errorf("--buckets must be 1-16777216, got %d", o.Buckets))
	}
	if o.Sample < 0 {
		errs = append(errs, fmt.Errorf("--sample must be > 0, got %d", o.Sample))
	}
	if o.Workers < 0 || o.MaxExamples < 0 {
		errs = append(errs, errors.New("workers and max examples must be >= 0"))
	}
	if o.DryRun && !o.Repair {
		errs = append(errs, errors.New("--dry-run needs --repair"))
	}
	if o.Repair && o.Sample > 0 {
		errs = append(errs, errors.New("--repair needs a full verify; drop --sample"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrUsage, errors.Join(errs...))
	}
	return nil
}
