package loader

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/ut360/ut360/dataset"
)

// Rows reach PostgreSQL as a binary COPY stream written here, through pgx's
// pgconn.CopyFrom. pgx.CopyFrom (kept as the fallback) boxes every value in
// an interface and plans its encoding per value: at 214,000 subscribers that
// was a quarter of the loader's CPU, on a machine whose two cores the
// servers also need. The encoders below write the same binary wire formats
// pgx does, straight from the typed records.

// pgBinType is a column type the binary encoders write.
type pgBinType string

const (
	binText    pgBinType = "text"
	binNumeric pgBinType = "numeric"
	binInt4    pgBinType = "integer"
	binFloat8  pgBinType = "double precision"
	binDate    pgBinType = "date"
	binJSONB   pgBinType = "jsonb"
)

// binaryTypes are the column types each encoder writes, in column order.
// openPG compares them with the staging tables; on any difference (a schema
// changed by hand) that table is loaded through pgx.CopyFrom instead.
var binaryTypes = map[string][]pgBinType{
	tRecs: {binText, binText, binText, binNumeric, binNumeric, binInt4, binText, binFloat8, binFloat8, binText,
		binFloat8, binFloat8, binFloat8},
	tProfiles: {binText, binText, binText, binNumeric,
		binFloat8, binFloat8, binFloat8, binFloat8, binFloat8, binFloat8, binText,
		binFloat8, binFloat8, binFloat8,
		binInt4, binFloat8, binInt4,
		binText, binFloat8, binJSONB,
		binFloat8, binFloat8, binFloat8, binFloat8,
		binInt4, binText, binInt4,
		binJSONB, binJSONB},
	tMonthly: {binText, binDate, binFloat8, binFloat8, binFloat8, binFloat8},
}

// binaryCopy can be turned off by tests to exercise the pgx.CopyFrom path.
var binaryCopy = true

// columnTypes reads the types of a staging table's columns, in cols order.
func (s *pgStage) columnTypes(ctx context.Context, table string, cols []string) ([]pgBinType, error) {
	rows, err := s.lock.Query(ctx, `SELECT a.attname, format_type(a.atttypid, NULL) FROM pg_attribute a
		WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`, qi(s.stage, table))
	if err != nil {
		return nil, fmt.Errorf("postgres: read column types of %s: %w", table, err)
	}
	defer rows.Close()
	byName := map[string]pgBinType{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, err
		}
		byName[name] = pgBinType(typ)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: read column types of %s: %w", table, err)
	}
	out := make([]pgBinType, len(cols))
	for i, c := range cols {
		out[i] = byName[c]
	}
	return out, nil
}

// copyWriter is the COPY stream being built: binary tuples, big-endian.
type copyWriter struct{ b []byte }

// copyHeader starts a binary COPY stream: signature, flags, extension length.
const copyHeader = "PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00"

func (w *copyWriter) tuple(n int) { w.b = binary.BigEndian.AppendUint16(w.b, uint16(n)) }
func (w *copyWriter) size(n int)  { w.b = binary.BigEndian.AppendUint32(w.b, uint32(n)) }
func (w *copyWriter) null()       { w.b = binary.BigEndian.AppendUint32(w.b, math.MaxUint32) } // length -1

func (w *copyWriter) text(s string) {
	w.size(len(s))
	w.b = append(w.b, s...)
}

func (w *copyWriter) int4(v int32) {
	w.size(4)
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(v))
}

func (w *copyWriter) float8(v float64) {
	w.size(8)
	w.b = binary.BigEndian.AppendUint64(w.b, math.Float64bits(v))
}

func (w *copyWriter) nullFloat8(v dataset.NullFloat) {
	if !v.Valid {
		w.null()
		return
	}
	w.float8(v.V)
}

// pgEpochDay is day 0 of PostgreSQL's binary date format (2000-01-01) in
// days since the Unix epoch.
const pgEpochDay = 10957

// date writes t's day (every data_month is midnight UTC). Days come from
// Unix seconds, not time.Sub, whose Duration saturates ~292 years away.
func (w *copyWriter) date(t time.Time) {
	w.size(4)
	sec := t.Unix()
	day := sec / 86400
	if sec%86400 < 0 {
		day-- // floor before 1970
	}
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(int32(day-pgEpochDay)))
}

// numeric writes an integer in numeric's binary form: digit count, weight
// (of the first base-10000 digit), sign, display scale, then the digits
// without trailing zero digits.
func (w *copyWriter) numeric(v int64) {
	var digits [5]uint16 // an int64 has at most 5 base-10000 digits
	n := 0
	u := uint64(v)
	sign := uint16(0)
	if v < 0 {
		u, sign = -u, 0x4000
	}
	for ; u > 0; u /= 10000 {
		digits[n] = uint16(u % 10000) // least significant first
		n++
	}
	weight := n - 1
	lo := 0
	for lo < n && digits[lo] == 0 {
		lo++ // trailing zero digits are implied by the weight
	}
	if n == 0 {
		weight = 0
	}
	w.size(8 + 2*(n-lo))
	w.b = binary.BigEndian.AppendUint16(w.b, uint16(n-lo))
	w.b = binary.BigEndian.AppendUint16(w.b, uint16(int16(weight)))
	w.b = binary.BigEndian.AppendUint16(w.b, sign)
	w.b = binary.BigEndian.AppendUint16(w.b, 0) // dscale
	for i := n - 1; i >= lo; i-- {
		w.b = binary.BigEndian.AppendUint16(w.b, digits[i])
	}
}

// jsonbList writes a list of strings as jsonb: format version 1, then JSON text.
func (w *copyWriter) jsonbList(l []string) {
	at := len(w.b)
	w.size(0) // patched below
	w.b = append(w.b, 1)
	w.b = dataset.AppendJSONList(w.b, l)
	binary.BigEndian.PutUint32(w.b[at:], uint32(len(w.b)-at-4))
}

func encodeRec(w *copyWriter, r *dataset.Recommendation) {
	w.tuple(13)
	w.text(r.ISDN)
	w.text(r.SubscriberType)
	w.text(r.ServiceType)
	w.numeric(r.AdvanceAmount)
	w.numeric(r.RevenuePerAdvance)
	w.int4(r.ClusterGroup)
	w.text(r.BadDebtRisk)
	w.float8(r.ArpuAvg6m)
	w.nullFloat8(r.ArpuGrowthRate)
	w.text(r.ArpuTrend)
	w.float8(r.CustomerValueScore)
	w.float8(r.AdvanceReadinessScore)
	w.float8(r.PriorityScore)
}

func encodeProfile(w *copyWriter, p *dataset.Profile) {
	w.tuple(29)
	w.text(p.ISDN)
	w.text(p.SubscriberType)
	w.text(p.ServiceType)
	w.numeric(p.AdvanceAmount)
	for _, v := range [...]float64{p.ArpuAvg6m, p.ArpuMin6m, p.ArpuMax6m, p.ArpuStd6m, p.ArpuLastMonth} {
		w.float8(v)
	}
	w.nullFloat8(p.ArpuGrowthRate)
	w.text(p.ArpuTrend)
	for _, v := range [...]float64{p.RevenueCallShare, p.RevenueSmsShare, p.RevenueDataShare} {
		w.float8(v)
	}
	w.int4(p.TopupCount6m)
	w.float8(p.TopupAvgAmount)
	w.int4(p.DaysSinceLastTopup)
	w.text(p.RiskLevel)
	w.float8(p.RiskScore)
	w.jsonbList(p.RiskFactors)
	for _, v := range [...]float64{p.CustomerValueScore, p.AdvanceReadinessScore, p.EngagementScore, p.PriorityScore} {
		w.float8(v)
	}
	w.int4(p.ClusterGroup)
	w.text(p.ClusterLabel)
	w.int4(p.MonthsActive)
	w.jsonbList(p.InsightStrengths)
	w.jsonbList(p.InsightRecommendations)
}

func encodeMonthly(w *copyWriter, m *dataset.Monthly) {
	w.tuple(6)
	w.text(m.ISDN)
	w.date(m.DataMonth)
	w.float8(m.ArpuCall)
	w.float8(m.ArpuSms)
	w.float8(m.ArpuData)
	w.float8(m.ArpuTotal)
}

// copyReader turns a chanSource into a binary COPY stream, 64 KiB at a time.
type copyReader[T any] struct {
	src  *chanSource[T]
	w    copyWriter
	off  int
	done bool
}

func (r *copyReader[T]) Read(p []byte) (int, error) {
	for r.off == len(r.w.b) {
		if r.done {
			return 0, io.EOF
		}
		r.w.b, r.off = r.w.b[:0], 0
		for len(r.w.b) < 64<<10 {
			if !r.src.Next() {
				if err := r.src.Err(); err != nil {
					return 0, err
				}
				r.w.b = binary.BigEndian.AppendUint16(r.w.b, 0xffff) // trailer
				r.done = true
				break
			}
			r.src.enc(&r.w, &r.src.batch[r.src.i])
		}
	}
	n := copy(p, r.w.b[r.off:])
	r.off += n
	return n, nil
}

// copyIn streams rows into a staging table with binary COPY: the
// hand-written encoder when the table's column types are the expected ones,
// pgx.CopyFrom otherwise.
func copyIn[T any](ctx context.Context, s *pgStage, table string, cols []string, src *chanSource[T]) (int64, error) {
	if !s.binary[table] {
		n, err := s.pool.CopyFrom(ctx, []string{s.stage, table}, cols, src)
		if err != nil {
			return n, fmt.Errorf("postgres: copy into %s: %w", table, err)
		}
		return n, nil
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("postgres: copy into %s: %w", table, err)
	}
	defer conn.Release()
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = qi(c)
	}
	sql := fmt.Sprintf("COPY %s (%s) FROM STDIN (FORMAT binary, FREEZE)", qi(s.stage, table), strings.Join(quoted, ", "))
	rd := &copyReader[T]{src: src, w: copyWriter{b: append(make([]byte, 0, 80<<10), copyHeader...)}}
	// COPY FREEZE into a table truncated in the same transaction writes the
	// rows frozen and (PostgreSQL 14+) marks the pages all-visible, so
	// index-only scans work right after the swap (the campaign query over
	// migration 005's index is several times slower until the pages are
	// all-visible; docs/figures.md) and no later VACUUM rewrites the pages to
	// set hint bits or freeze them. On an error the pool drops the
	// connection, which is still inside the transaction.
	pc := conn.Conn().PgConn()
	if err := pc.Exec(ctx, "BEGIN; TRUNCATE "+qi(s.stage, table)).Close(); err != nil {
		return 0, fmt.Errorf("postgres: copy into %s: %w", table, err)
	}
	tag, err := pc.CopyFrom(ctx, rd, sql)
	if err == nil {
		err = pc.Exec(ctx, "COMMIT").Close()
	}
	if err != nil {
		return tag.RowsAffected(), fmt.Errorf("postgres: copy into %s: %w", table, err)
	}
	return tag.RowsAffected(), nil
}

// checkBinary decides per table whether the binary encoders apply.
func (s *pgStage) checkBinary(ctx context.Context, log interface{ Info(string, ...any) }) error {
	s.binary = map[string]bool{}
	for t, cols := range map[string][]string{tRecs: dataset.RecommendationColumns, tProfiles: dataset.ProfileColumns, tMonthly: dataset.MonthlyColumns} {
		got, err := s.columnTypes(ctx, t, cols)
		if err != nil {
			return err
		}
		s.binary[t] = binaryCopy && slices.Equal(got, binaryTypes[t])
		if binaryCopy && !s.binary[t] {
			log.Info("column types differ from the migrations; loading through pgx.CopyFrom", "table", t, "types", got)
		}
	}
	return nil
}
