package verify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/ut360/ut360/dataset"
)

// ErrBadInput marks a problem with what the user pointed verify at (a missing
// or unreadable source file): exit code 2, not a store fault.
var ErrBadInput = errors.New("bad input")

// fileScan holds the direct observations of reading the source files.
type fileScan struct {
	mu     sync.Mutex
	rows   [nClass]int64
	faults []Finding // rows the readers rejected
	sha256 map[string]string
}

// streamFile reads every record of one file; bad rows go to onFault.
func streamFile[T any](ctx context.Context, kind *dataset.Kind[T], path string, fn func(*T), onFault func(*dataset.RowError)) error {
	r, err := dataset.Open(ctx, kind, path)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	defer r.Close()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, _, err := r.Next()
		var re *dataset.RowError
		switch {
		case err == io.EOF:
			return nil
		case errors.As(err, &re):
			onFault(re)
		case err != nil:
			return fmt.Errorf("%w: %w", ErrBadInput, err)
		default:
			fn(&rec)
		}
	}
}

// digestFiles streams the three source files of dir into tallies made by mk;
// in pass 1 (fs != nil) it also hashes the files and keeps rejected rows.
func digestFiles(ctx context.Context, dir string, mk func() *tally, fs *fileScan) ([]*tally, error) {
	rp, pp, mp := dataset.Files(dir)
	ts := []*tally{mk(), mk(), mk()}
	fault := func(re *dataset.RowError) {
		if fs != nil {
			fs.mu.Lock()
			fs.faults = append(fs.faults, Finding{Class: SourceMismatch, Key: filepath.Base(re.File), Detail: "row rejected by the reader: " + re.Error()})
			fs.mu.Unlock()
		}
	}
	count := func(c class) {
		if fs != nil {
			fs.rows[c]++ // one goroutine per class
		}
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return streamFile(ctx, &dataset.Recommendations, rp, func(r *dataset.Recommendation) { count(cRec); addRecFacts(ts[0], r) }, fault)
	})
	g.Go(func() error {
		return streamFile(ctx, &dataset.Profiles, pp, func(p *dataset.Profile) { count(cProfile); ts[1].add(cProfile, p.ISDN, p.Hash()) }, fault)
	})
	g.Go(func() error {
		return streamFile(ctx, &dataset.Monthlies, mp, func(m *dataset.Monthly) { count(cMonthly); ts[2].add(cMonthly, m.ISDN, m.Hash()) }, fault)
	})
	if fs != nil {
		fs.sha256 = map[string]string{}
		for _, p := range []string{rp, pp, mp} {
			g.Go(func() error {
				sum, err := fileSHA256(p)
				if err != nil {
					return err
				}
				fs.mu.Lock()
				fs.sha256[filepath.Base(p)] = sum
				fs.mu.Unlock()
				return nil
			})
		}
	}
	return ts, g.Wait()
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// fileRows is what the files hold for a few subscribers (drill-down examples).
type fileRows = pgRows

// readFileRows reads the rows of the given subscribers from the files.
func readFileRows(ctx context.Context, dir string, want map[string]bool) (*fileRows, error) {
	out := &fileRows{recs: map[string]dataset.Recommendation{}, profiles: map[string]dataset.Profile{},
		months: map[string][]dataset.Monthly{}}
	rp, pp, mp := dataset.Files(dir)
	skip := func(*dataset.RowError) {}
	if err := streamFile(ctx, &dataset.Recommendations, rp, func(r *dataset.Recommendation) {
		if want[r.ISDN] {
			out.recs[r.ISDN] = *r
		}
	}, skip); err != nil {
		return nil, err
	}
	if err := streamFile(ctx, &dataset.Profiles, pp, func(p *dataset.Profile) {
		if want[p.ISDN] {
			out.profiles[p.ISDN] = *p
		}
	}, skip); err != nil {
		return nil, err
	}
	if err := streamFile(ctx, &dataset.Monthlies, mp, func(m *dataset.Monthly) {
		if want[m.ISDN] {
			out.months[m.ISDN] = append(out.months[m.ISDN], *m)
		}
	}, skip); err != nil {
		return nil, err
	}
	for _, ms := range out.months {
		sortMonths(ms)
	}
	return out, nil
}
