package dataset

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// randomCell appends a value to b that is valid for the column now and then
// and an edge or fault otherwise: NULL, NaN, ±Inf, -0, out of range,
// invalid UTF-8 or ISDN, an unknown enumeration value, a mid-month date.
func randomCell(r *rand.Rand, b array.Builder, v any, fault bool) {
	if fault && r.IntN(3) == 0 {
		b.AppendNull()
		return
	}
	if fault {
		switch x := v.(type) {
		case string:
			v = []string{"", "\xff", x + "x", "LOW", "Ổn định", ISDNFor(9, r.IntN(4)), "QUJD"}[r.IntN(7)]
		case float64:
			v = []float64{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1), -1, 100.5, 1.5, 1e-7, 1e21}[r.IntN(9)]
		case int64:
			v = []int64{-1, 0, math.MaxInt64}[r.IntN(3)]
		case int32:
			v = []int32{-1, math.MaxInt32, math.MinInt32}[r.IntN(3)]
		case arrow.Date32:
			v = x + arrow.Date32(1+r.IntN(27))
		case []string:
			v = [][]string{{}, {"\xff"}, {"", "a\"b"}}[r.IntN(3)]
		}
	}
	switch x := v.(type) {
	case string:
		b.(*array.StringBuilder).Append(x)
	case float64:
		b.(*array.Float64Builder).Append(x)
	case int64:
		b.(*array.Int64Builder).Append(x)
	case int32:
		b.(*array.Int32Builder).Append(x)
	case arrow.Date32:
		b.(*array.Date32Builder).Append(x)
	case []string:
		lb := b.(*array.ListBuilder)
		lb.Append(true)
		for _, s := range x {
			lb.ValueBuilder().(*array.StringBuilder).Append(s)
		}
	}
}

// goodCells returns, per column, the valid Arrow values of recs.
func goodCells[T any](t *testing.T, kind *Kind[T], recs []T) [][]any {
	t.Helper()
	b := array.NewRecordBuilder(memory.DefaultAllocator, kind.arrowSchema())
	defer b.Release()
	for i := range recs {
		appendArrow(b, any(&recs[i]))
	}
	batch := b.NewRecordBatch()
	defer batch.Release()
	out := make([][]any, len(kind.Columns))
	for c := range out {
		for i := range len(recs) {
			switch a := batch.Column(c).(type) {
			case *array.String:
				out[c] = append(out[c], a.Value(i))
			case *array.Float64:
				out[c] = append(out[c], a.Value(i))
			case *array.Int64:
				out[c] = append(out[c], a.Value(i))
			case *array.Int32:
				out[c] = append(out[c], a.Value(i))
			case *array.Date32:
				out[c] = append(out[c], a.Value(i))
			case *array.List:
				l := []string{}
				s, e := a.ValueOffsets(i)
				for j := s; j < e; j++ {
					l = append(l, a.ListValues().(*array.String).Value(int(j)))
				}
				out[c] = append(out[c], l)
			default:
				t.Fatalf("column %s: unexpected array %T", kind.Columns[c], a)
			}
		}
	}
	return out
}

// checkFastPath builds a batch of random rows and checks, row by row, that
// whatever the fast path accepts equals what the text path parses.
func checkFastPath[T any](t *testing.T, kind *Kind[T], recs []T, rows int) {
	t.Helper()
	good := goodCells(t, kind, recs)
	r := rand.New(rand.NewPCG(1, 2))
	b := array.NewRecordBuilder(memory.DefaultAllocator, kind.arrowSchema())
	defer b.Release()
	for range rows {
		// Half the rows are clean; the others have a fault in about one cell in ten.
		faulty := r.IntN(2) == 0
		for c := range kind.Columns {
			randomCell(r, b.Field(c), good[c][r.IntN(len(good[c]))], faulty && r.IntN(10) == 0)
		}
	}
	batch := b.NewRecordBatch()
	defer batch.Release()
	cols := batch.Columns()
	accepted, agreed := 0, 0
	vals := make([]string, len(cols))
	for i := range rows {
		for c := range cols {
			vals[c] = canonCell(cols[c], i)
		}
		want, fe := kind.Parse(vals)
		got, ok := kind.fromArrow(cols, i)
		if !ok {
			continue
		}
		accepted++
		if fe != nil {
			t.Errorf("row %d: fast path accepts what the text path rejects (%v): %q", i, fe, vals)
			continue
		}
		// %v tells -0 from 0, which DeepEqual does not.
		if !reflect.DeepEqual(got, want) || fmt.Sprintf("%v", got) != fmt.Sprintf("%v", want) {
			t.Errorf("row %d: fast path %+v, text path %+v", i, got, want)
			continue
		}
		agreed++
	}
	if accepted < rows/3 {
		t.Fatalf("fast path accepted only %d of %d rows: the test data is too broken to test it", accepted, rows)
	}
	t.Logf("%s: fast path accepted %d of %d rows, all equal to the text path: %v", kind.Name, accepted, rows, agreed == accepted)
}

func TestArrowFastPathMatchesParse(t *testing.T) {
	var profiles []Profile
	var months []Monthly
	for i := range 200 {
		s := GenSubscriber(11, i, 6)
		profiles = append(profiles, s.Profile)
		months = append(months, s.Monthly...)
	}
	checkFastPath(t, &Profiles, profiles, 20000)
	checkFastPath(t, &Monthlies, months, 20000)
}
