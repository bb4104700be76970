package loader

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/ut360/ut360/dataset"
)

// Reject is one line of the rejects file.
type Reject struct {
	File   string `json:"file"`
	Line   int64  `json:"line,omitempty"` // CSV line (the header is line 1)
	Row    int64  `json:"row,omitempty"`  // Parquet row or query row, 1-based
	Column string `json:"column"`
	Value  string `json:"value"`
	Reason string `json:"reason"`
}

func (r Reject) String() string {
	pos := fmt.Sprintf("row %d", r.Row)
	if r.Line > 0 {
		pos = fmt.Sprintf("line %d", r.Line)
	}
	v := r.Value
	if len(v) > 60 {
		v = v[:60] + "…"
	}
	return fmt.Sprintf("%s: %s: column %s: %s (value %q)", r.File, pos, r.Column, r.Reason, v)
}

// rejects collects rejected rows and writes them as JSON lines. A section of
// it can be rewound when a phase is rerun.
type rejects struct {
	mu    sync.Mutex
	path  string
	f     *os.File
	w     *bufio.Writer
	n     int
	first *Reject
	err   error
}

// newRejects truncates path ("" = do not write a file).
func newRejects(path string) (*rejects, error) {
	r := &rejects{path: path}
	if path == "" {
		return r, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, &badInput{fmt.Errorf("rejects file: %w", err)}
	}
	r.f, r.w = f, bufio.NewWriter(f)
	return r, nil
}

// add records a rejected row; csv says whether pos is a line number.
func (r *rejects) add(file string, csv bool, pos int64, fe *dataset.FieldError) {
	rj := Reject{File: file, Column: fe.Column, Value: fe.Value, Reason: fe.Reason}
	if csv {
		rj.Line = pos
	} else {
		rj.Row = pos
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	if r.first == nil {
		r.first = &rj
	}
	if r.w != nil && r.err == nil {
		b, _ := json.Marshal(rj)
		b = append(b, '\n')
		_, r.err = r.w.Write(b)
	}
}

type rejectMark struct {
	n   int
	off int64
}

// mark remembers the current end, for rewind.
func (r *rejects) mark() rejectMark {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := rejectMark{n: r.n}
	if r.w != nil && r.err == nil {
		r.err = r.w.Flush()
		m.off, _ = r.f.Seek(0, 1)
	}
	return m
}

// rewind forgets every reject added after m.
func (r *rejects) rewind(m rejectMark) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n = m.n
	if m.n == 0 {
		r.first = nil
	}
	if r.w != nil && r.err == nil {
		if r.err = r.w.Flush(); r.err == nil {
			if r.err = r.f.Truncate(m.off); r.err == nil {
				_, r.err = r.f.Seek(m.off, 0)
			}
		}
	}
}

func (r *rejects) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// close flushes the file; an empty file is removed so that its absence means
// "nothing rejected".
func (r *rejects) close() error {
	if r.f == nil {
		return nil
	}
	err := r.err
	if err == nil {
		err = r.w.Flush()
	}
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	if r.n == 0 {
		os.Remove(r.path)
	}
	r.f = nil
	if err != nil {
		return fmt.Errorf("rejects file %s: %w", r.path, err)
	}
	return nil
}

// overLimit is the error of a load with more rejects than allowed.
func (r *rejects) overLimit(max int) error {
	where := ""
	if r.path != "" {
		where = "; every rejected row is in " + r.path
	}
	first := ""
	if r.first != nil {
		first = r.first.String() + "; "
	}
	return &badInput{fmt.Errorf("%s%d row(s) rejected, more than --max-rejects %d%s; nothing was loaded",
		first, r.n, max, strings.TrimSpace(where))}
}
