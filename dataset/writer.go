package dataset

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Format is a file format.
type Format int

// The two formats the pipeline delivers.
const (
	CSV Format = iota
	Parquet
)

// ParquetRowGroup is the number of rows per Parquet row group the writer emits.
const ParquetRowGroup = 128 * 1024

// arrowBatch is the number of rows the writer builds in Arrow memory before
// encoding them into the current (buffered, compressed) row group: small
// batches keep the builders' memory low whatever the row-group size.
const arrowBatch = 16 * 1024

// Writer streams records of one Kind into a CSV or Parquet file. It writes to
// a temporary file next to the target and renames it into place on Commit, so
// a failed write never leaves a half-written file under the real name.
type Writer[T any] struct {
	kind   *Kind[T]
	path   string
	tmp    *os.File
	bw     *bufio.Writer
	cw     *csv.Writer
	pw     *pqarrow.FileWriter
	rb     *array.RecordBuilder
	n      int
	closed bool
}

// Create starts writing path in format f.
func Create[T any](kind *Kind[T], path string, f Format) (*Writer[T], error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, unwrapPathErr(err))
	}
	w := &Writer[T]{kind: kind, path: path, tmp: tmp, bw: bufio.NewWriterSize(tmp, 1<<20)}
	switch f {
	case CSV:
		w.cw = csv.NewWriter(w.bw)
		err = w.cw.Write(kind.Columns)
	case Parquet:
		props := parquet.NewWriterProperties(kind.parquetProps()...)
		sc := kind.arrowSchema()
		w.pw, err = pqarrow.NewFileWriter(sc, w.bw, props, pqarrow.NewArrowWriterProperties())
		w.rb = array.NewRecordBuilder(memory.DefaultAllocator, sc)
	}
	if err != nil {
		w.Abort()
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	return w, nil
}

// parquetProps are the writer settings of k's Parquet file. Money columns
// (ARPU amounts) are written without a dictionary (nearly every value is
// distinct, so hashing them is wasted work) and BYTE_STREAM_SPLIT, which lets
// zstd see the exponent and high mantissa bytes together. Scores, shares and
// rates have few distinct values and keep the dictionary. A column whose
// values are all distinct (the profile's isdn) skips the dictionary too.
func (k *Kind[T]) parquetProps() []parquet.WriterProperty {
	props := []parquet.WriterProperty{
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithCompressionLevel(1),
		parquet.WithDictionaryDefault(true),
		parquet.WithMaxRowGroupLength(ParquetRowGroup),
		parquet.WithStats(true),
	}
	for i, c := range k.Columns {
		switch {
		case k.Types[i] == tF64 && isMoney(c):
			props = append(props, parquet.WithDictionaryFor(c, false),
				parquet.WithEncodingFor(c, parquet.Encodings.ByteStreamSplit))
		case c == "isdn" && k.uniqueISDN():
			props = append(props, parquet.WithDictionaryFor(c, false))
		}
	}
	return props
}

func isMoney(col string) bool {
	return col == "topup_avg_amount" || strings.HasPrefix(col, "arpu_") && col != "arpu_growth_rate"
}

// Write appends one record.
func (w *Writer[T]) Write(r *T) error {
	if w.cw != nil {
		return w.cw.Write(w.kind.Values(r))
	}
	appendArrow(w.rb, any(r))
	w.n++
	if w.n == arrowBatch {
		return w.flush()
	}
	return nil
}

func (w *Writer[T]) flush() error {
	if w.n == 0 {
		return nil
	}
	rec := w.rb.NewRecordBatch()
	defer rec.Release()
	w.n = 0
	return w.pw.WriteBuffered(rec)
}

// Commit finishes the file and renames it into place.
func (w *Writer[T]) Commit() error {
	err := w.finish()
	if err == nil {
		err = os.Chmod(w.tmp.Name(), 0o644) // CreateTemp makes 0600
	}
	if err == nil {
		err = os.Rename(w.tmp.Name(), w.path)
	}
	if err != nil {
		os.Remove(w.tmp.Name())
		return fmt.Errorf("write %s: %w", w.path, err)
	}
	return nil
}

func (w *Writer[T]) finish() error {
	w.closed = true
	var err error
	if w.cw != nil {
		w.cw.Flush()
		err = w.cw.Error()
	} else {
		err = w.flush()
		w.rb.Release()
		if cerr := w.pw.Close(); err == nil {
			err = cerr
		}
	}
	if ferr := w.bw.Flush(); err == nil {
		err = ferr
	}
	if cerr := w.tmp.Close(); err == nil {
		err = cerr
	}
	return err
}

// Abort discards the temporary file. It is safe after Commit.
func (w *Writer[T]) Abort() {
	if !w.closed {
		w.closed = true
		if w.rb != nil {
			w.rb.Release()
		}
		w.tmp.Close()
	}
	os.Remove(w.tmp.Name())
}

func appendNullFloat(b *array.Float64Builder, v NullFloat) {
	if v.Valid {
		b.Append(v.V)
	} else {
		b.AppendNull()
	}
}

func appendList(b *array.ListBuilder, l []string) {
	b.Append(true)
	vb := b.ValueBuilder().(*array.StringBuilder)
	for _, s := range l {
		vb.Append(s)
	}
}

func appendArrow(rb *array.RecordBuilder, rec any) {
	s := func(i int) *array.StringBuilder { return rb.Field(i).(*array.StringBuilder) }
	i64 := func(i int) *array.Int64Builder { return rb.Field(i).(*array.Int64Builder) }
	i32 := func(i int) *array.Int32Builder { return rb.Field(i).(*array.Int32Builder) }
	f := func(i int) *array.Float64Builder { return rb.Field(i).(*array.Float64Builder) }
	l := func(i int) *array.ListBuilder { return rb.Field(i).(*array.ListBuilder) }
	switch r := rec.(type) {
	case *Recommendation:
		s(0).Append(r.ISDN)
		s(1).Append(r.SubscriberType)
		s(2).Append(r.ServiceType)
		i64(3).Append(r.AdvanceAmount)
		i64(4).Append(r.RevenuePerAdvance)
		i32(5).Append(r.ClusterGroup)
		s(6).Append(r.BadDebtRisk)
		f(7).Append(r.ArpuAvg6m)
		appendNullFloat(f(8), r.ArpuGrowthRate)
		s(9).Append(r.ArpuTrend)
		f(10).Append(r.CustomerValueScore)
		f(11).Append(r.AdvanceReadinessScore)
		f(12).Append(r.PriorityScore)
	case *Profile:
		s(0).Append(r.ISDN)
		s(1).Append(r.SubscriberType)
		s(2).Append(r.ServiceType)
		i64(3).Append(r.AdvanceAmount)
		f(4).Append(r.ArpuAvg6m)
		f(5).Append(r.ArpuMin6m)
		f(6).Append(r.ArpuMax6m)
		f(7).Append(r.ArpuStd6m)
		f(8).Append(r.ArpuLastMonth)
		appendNullFloat(f(9), r.ArpuGrowthRate)
		s(10).Append(r.ArpuTrend)
		f(11).Append(r.RevenueCallShare)
		f(12).Append(r.RevenueSmsShare)
		f(13).Append(r.RevenueDataShare)
		i32(14).Append(r.TopupCount6m)
		f(15).Append(r.TopupAvgAmount)
		i32(16).Append(r.DaysSinceLastTopup)
		s(17).Append(r.RiskLevel)
		f(18).Append(r.RiskScore)
		appendList(l(19), r.RiskFactors)
		f(20).Append(r.CustomerValueScore)
		f(21).Append(r.AdvanceReadinessScore)
		f(22).Append(r.EngagementScore)
		f(23).Append(r.PriorityScore)
		i32(24).Append(r.ClusterGroup)
		s(25).Append(r.ClusterLabel)
		i32(26).Append(r.MonthsActive)
		appendList(l(27), r.InsightStrengths)
		appendList(l(28), r.InsightRecommendations)
	case *Monthly:
		s(0).Append(r.ISDN)
		rb.Field(1).(*array.Date32Builder).Append(arrow.Date32FromTime(r.DataMonth))
		f(2).Append(r.ArpuCall)
		f(3).Append(r.ArpuSms)
		f(4).Append(r.ArpuData)
		f(5).Append(r.ArpuTotal)
	default:
		panic(fmt.Sprintf("dataset: no Arrow layout for %T", rec))
	}
}
