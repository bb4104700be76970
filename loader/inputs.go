// The three inputs of a load (files or PostgreSQL), read as batches of
// rows that fan out to both stores.

package loader

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/ut360/ut360/dataset"
)

// fileInputs opens the three files once up front, so a file fault is found
// before either store is touched, and keeps the readers for the first pass.
func (l *load) fileInputs(ctx context.Context) error {
	f := l.o.Files
	rr, err := dataset.Open(ctx, &dataset.Recommendations, f.Recommendations)
	if err != nil {
		return &badInput{err}
	}
	pr, err := dataset.Open(ctx, &dataset.Profiles, f.Profiles)
	if err != nil {
		rr.Close()
		return &badInput{err}
	}
	mr, err := dataset.Open(ctx, &dataset.Monthlies, f.Monthly)
	if err != nil {
		rr.Close()
		pr.Close()
		return &badInput{err}
	}
	l.recs = fileInput(&dataset.Recommendations, f.Recommendations, rr)
	l.profiles = fileInput(&dataset.Profiles, f.Profiles, pr)
	l.monthly = fileInput(&dataset.Monthlies, f.Monthly, mr)
	return nil
}

// fileInput serves the already open reader first, then reopens the file.
func fileInput[T any](kind *dataset.Kind[T], path string, first *dataset.Reader[T]) input[T] {
	return input[T]{name: path, csv: isCSV(path), open: func(ctx context.Context) (source[T], error) {
		if first != nil {
			r := first
			first = nil
			return r, nil
		}
		r, err := dataset.Open(ctx, kind, path)
		if err != nil {
			return nil, &badInput{err}
		}
		return r, nil
	}, release: func() {
		if first != nil {
			first.Close()
			first = nil
		}
	}}
}

// releaseInputs closes the readers opened up front that no phase took.
func (l *load) releaseInputs() {
	for _, rel := range []func(){l.recs.release, l.profiles.release, l.monthly.release} {
		if rel != nil {
			rel()
		}
	}
}

func isCSV(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [4]byte
	n, _ := io.ReadFull(f, b[:])
	return !(n == 4 && string(b[:]) == "PAR1")
}

// hashFiles computes the sha256 of the source files in the background.
func (l *load) hashFiles(ctx context.Context) <-chan [3]string {
	out := make(chan [3]string, 1)
	if l.o.FromPostgres || !l.o.Redis {
		out <- [3]string{}
		return out
	}
	go func() {
		var res [3]string
		for i, p := range []string{l.o.Files.Recommendations, l.o.Files.Profiles, l.o.Files.Monthly} {
			f, err := os.Open(p)
			if err != nil {
				continue
			}
			h := sha256.New()
			_, err = io.Copy(h, ctxReader{ctx, f})
			f.Close()
			if err == nil {
				res[i] = hex.EncodeToString(h.Sum(nil))
			}
		}
		out <- res
	}()
	return out
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// rowFault handles a non-nil error of source.Next: a row fault becomes a
// reject (nil), anything else ends the load.
func rowFault(rej *rejects, in string, csv bool, err error) error {
	var re *dataset.RowError
	if errors.As(err, &re) {
		rej.add(in, csv, re.Pos, re.Field)
		return nil
	}
	if errors.Is(err, dataset.ErrFile) {
		return &badInput{err}
	}
	return fmt.Errorf("read %s: %w", in, err)
}

func send[T any](ctx context.Context, b T, chans ...chan T) error {
	for _, ch := range chans {
		if ch == nil {
			continue
		}
		select {
		case ch <- b:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func closeAll[T any](chans ...chan T) {
	for _, ch := range chans {
		if ch != nil {
			close(ch)
		}
	}
}

// pump reads an input to its end: row faults become rejects, accept checks
// every parsed row (a FieldError rejects it, an error ends the phase) and
// the accepted items go to every out channel in batches.
func pump[T, I any](ctx context.Context, l *load, in input[T], accept func(*T, int64) (I, *dataset.FieldError, error), out ...chan []I) error {
	defer closeAll(out...)
	src, err := in.open(ctx)
	if err != nil {
		return err
	}
	defer src.Close()
	batch := make([]I, 0, batchSize)
	for n := 0; ; n++ {
		r, pos, err := src.Next()
		if err == io.EOF {
			break
		}
		if n%batchSize == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			if err := rowFault(l.rej, in.name, in.csv, err); err != nil {
				return err
			}
			continue
		}
		it, fe, err := accept(&r, pos)
		if err != nil {
			return err
		}
		if fe != nil {
			l.rej.add(in.name, in.csv, pos, fe)
			continue
		}
		batch = append(batch, it)
		if len(batch) == batchSize {
			if err := send(ctx, batch, out...); err != nil {
				return err
			}
			batch = make([]I, 0, batchSize)
		}
	}
	if len(batch) > 0 {
		return send(ctx, batch, out...)
	}
	return nil
}

// eachBatch calls fn for every batch received until ch closes.
func eachBatch[T any](ctx context.Context, ch <-chan []T, fn func([]T) error) error {
	for {
		select {
		case b, ok := <-ch:
			if !ok {
				return nil
			}
			if err := fn(b); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
