package dataset

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// ErrFile marks a fault of a whole file (missing, empty, wrong header, wrong
// Parquet type, corrupt): nothing from it can be used.
var ErrFile = errors.New("file fault")

// FileError is a fault of a whole file.
type FileError struct {
	File   string
	Reason string
	Err    error
}

func (e *FileError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.File, e.Reason, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Reason)
}

// Unwrap lets errors.Is(err, ErrFile) match.
func (e *FileError) Unwrap() []error { return []error{ErrFile, e.Err} }

// RowError is a fault of one row: the file, its position and the field.
type RowError struct {
	File  string
	Pos   int64 // CSV line number (1-based, header is line 1) or Parquet row number (1-based)
	Field *FieldError
}

func (e *RowError) Error() string {
	unit := "row"
	if strings.HasSuffix(e.File, ".csv") {
		unit = "line"
	}
	return fmt.Sprintf("%s: %s %d: %v", e.File, unit, e.Pos, e.Field)
}

// Reader streams records of one Kind from a CSV or Parquet file, recognised by
// content (Parquet starts with "PAR1"), not by extension.
type Reader[T any] struct {
	kind *Kind[T]
	path string
	f    *os.File
	next func() ([]string, int64, error) // CSV: the row's cells
	// nextParquet reads the next Parquet row into a record.
	nextParquet func() (T, int64, error)
	stop        func()
}

// Open opens path for streaming. A missing, empty or malformed file is a *FileError.
func Open[T any](ctx context.Context, kind *Kind[T], path string) (*Reader[T], error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &FileError{File: path, Reason: "cannot open", Err: unwrapPathErr(err)}
	}
	r := &Reader[T]{kind: kind, path: path, f: f}
	var magic [4]byte
	n, _ := io.ReadFull(f, magic[:])
	if n == 0 {
		f.Close()
		return nil, &FileError{File: path, Reason: "empty file"}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, &FileError{File: path, Reason: "cannot seek", Err: err}
	}
	if n == 4 && string(magic[:]) == "PAR1" {
		err = r.openParquet(ctx)
	} else {
		err = r.openCSV()
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Path is the file being read.
func (r *Reader[T]) Path() string { return r.path }

// Next returns the next record and its position (CSV line or Parquet row,
// 1-based). A bad row returns a *RowError and reading may go on; any other
// error is fatal for the file. At the end it returns io.EOF.
func (r *Reader[T]) Next() (T, int64, error) {
	if r.nextParquet != nil {
		return r.nextParquet()
	}
	vals, pos, err := r.next()
	if err != nil {
		var zero T
		return zero, pos, err
	}
	return r.parse(vals, pos)
}

func (r *Reader[T]) parse(vals []string, pos int64) (T, int64, error) {
	rec, fe := r.kind.Parse(vals)
	if fe != nil {
		var zero T
		return zero, pos, &RowError{File: r.path, Pos: pos, Field: fe}
	}
	return rec, pos, nil
}

// Close releases the file.
func (r *Reader[T]) Close() error {
	if r.stop != nil {
		r.stop()
	}
	return r.f.Close()
}

func (r *Reader[T]) openCSV() error {
	br := bufio.NewReaderSize(r.f, 1<<20)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	hdr, err := cr.Read()
	if err != nil {
		return &FileError{File: r.path, Reason: "cannot read CSV header", Err: err}
	}
	if !slices.Equal(hdr, r.kind.Columns) {
		for i, c := range r.kind.Columns {
			if i >= len(hdr) || hdr[i] != c {
				return &FileError{File: r.path, Reason: fmt.Sprintf("wrong header: column %d is %q, want %q (header must be %s)",
					i+1, at(hdr, i), c, strings.Join(r.kind.Columns, ","))}
			}
		}
		return &FileError{File: r.path, Reason: fmt.Sprintf("wrong header: %d columns, want %d", len(hdr), len(r.kind.Columns))}
	}
	var line int // line of the last record read
	r.next = func() ([]string, int64, error) {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil, 0, io.EOF
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			line = pe.StartLine
			reason := "malformed CSV: " + pe.Err.Error()
			if pe.Line != pe.StartLine {
				reason += fmt.Sprintf(" (at line %d)", pe.Line)
			}
			return nil, int64(line), &RowError{File: r.path, Pos: int64(line),
				Field: &FieldError{Column: "*", Reason: reason}}
		}
		if err != nil {
			return nil, int64(line), &FileError{File: r.path, Reason: "read", Err: err}
		}
		line, _ = cr.FieldPos(0) // a successful Read has at least one field
		return rec, int64(line), nil
	}
	return nil
}

func at(l []string, i int) string {
	if i < len(l) {
		return l[i]
	}
	return "(none)"
}

func (r *Reader[T]) openParquet(ctx context.Context) (err error) {
	defer func() { // a corrupt file must not panic the tool
		if p := recover(); p != nil {
			err = &FileError{File: r.path, Reason: "corrupt Parquet file", Err: fmt.Errorf("%v", p)}
		}
	}()
	props := parquet.NewReaderProperties(memory.DefaultAllocator)
	// Stream column chunks instead of reading each whole into one buffer: a
	// corrupt chunk size would otherwise allocate it (16 GiB, found by
	// FuzzParquetReader). Local files lose nothing by streaming.
	props.BufferedStreamEnabled = true
	pf, err := file.NewParquetReader(r.f, file.WithReadProps(props))
	if err != nil {
		return &FileError{File: r.path, Reason: "corrupt or truncated Parquet file", Err: err}
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 16384}, memory.DefaultAllocator)
	if err != nil {
		return &FileError{File: r.path, Reason: "unreadable Parquet schema", Err: err}
	}
	sc, err := fr.Schema()
	if err != nil {
		return &FileError{File: r.path, Reason: "unreadable Parquet schema", Err: err}
	}
	idx := make([]int, len(r.kind.Columns))
	for i, c := range r.kind.Columns {
		fi := sc.FieldIndices(c)
		if len(fi) == 0 {
			return &FileError{File: r.path, Reason: fmt.Sprintf("missing column %q", c)}
		}
		got := sc.Field(fi[0]).Type
		if !arrow.TypeEqual(got, r.kind.Types[i], arrow.CheckMetadata()) && !sameListOfString(got, r.kind.Types[i]) {
			return &FileError{File: r.path, Reason: fmt.Sprintf("column %q has type %s, want %s", c, got, r.kind.Types[i])}
		}
		idx[i] = fi[0]
	}
	rr, err := fr.GetRecordReader(ctx, idx, nil)
	if err != nil {
		return &FileError{File: r.path, Reason: "cannot read Parquet columns", Err: err}
	}
	r.stop = rr.Release
	var (
		rec  arrow.RecordBatch
		i    int
		row  int64
		cols = make([]arrow.Array, len(idx))
		vals = make([]string, len(idx))
	)
	r.nextParquet = func() (out T, pos int64, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = &FileError{File: r.path, Reason: "corrupt Parquet data", Err: fmt.Errorf("%v", p)}
			}
		}()
		for rec == nil || i >= int(rec.NumRows()) {
			if !rr.Next() {
				if err := rr.Err(); err != nil && err != io.EOF {
					return out, row, &FileError{File: r.path, Reason: "corrupt or truncated Parquet data", Err: err}
				}
				return out, row, io.EOF
			}
			rec, i = rr.RecordBatch(), 0
			for c := range cols {
				cols[c] = rec.Column(c)
			}
		}
		row++
		at := i
		i++
		if r.kind.fromArrow != nil {
			if v, ok := r.kind.fromArrow(cols, at); ok {
				return v, row, nil
			}
		}
		for c := range vals {
			vals[c] = canonCell(cols[c], at)
		}
		return r.parse(vals, row)
	}
	return nil
}

// sameListOfString accepts list<string> regardless of the element field's name
// and nullability, which Parquet writers spell differently.
func sameListOfString(got, want arrow.DataType) bool {
	gl, ok1 := got.(*arrow.ListType)
	wl, ok2 := want.(*arrow.ListType)
	return ok1 && ok2 && arrow.TypeEqual(gl.Elem(), wl.Elem())
}

// canonCell is the canonical string of one Arrow cell.
func canonCell(col arrow.Array, i int) string {
	if col.IsNull(i) {
		if _, ok := col.(*array.List); ok {
			return "[]"
		}
		return ""
	}
	switch a := col.(type) {
	case *array.String:
		return a.Value(i)
	case *array.Int64:
		return CanonInt(a.Value(i))
	case *array.Int32:
		return CanonInt(int64(a.Value(i)))
	case *array.Float64:
		return CanonFloat(a.Value(i))
	case *array.Date32:
		return CanonDate(a.Value(i).ToTime())
	case *array.List:
		start, end := a.ValueOffsets(i)
		elems := a.ListValues().(*array.String)
		l := make([]string, 0, end-start)
		for j := start; j < end; j++ {
			l = append(l, elems.Value(int(j)))
		}
		return CanonList(l)
	}
	return ""
}
