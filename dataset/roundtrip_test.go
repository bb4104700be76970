package dataset

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Edge-case records: NULLs, Unicode (with CSV and JSON metacharacters),
// negative growth, extreme floats (1e300, the smallest subnormal, -0, the
// largest finite double) and integers at their limits.
func edgeRecommendations() []Recommendation {
	base := GenSubscriber(1, 0, 7).Rec
	out := []Recommendation{base}
	r := base
	r.ISDN = ISDNFor(1, 1)
	r.ArpuGrowthRate = NullFloat{} // NULL
	r.ArpuTrend = "NEW"
	out = append(out, r)
	r = base
	r.ISDN = ISDNFor(1, 2)
	r.ArpuGrowthRate = NullFloat{V: -0.9999, Valid: true}
	r.ArpuAvg6m = 1e300
	r.AdvanceAmount = math.MaxInt64
	r.RevenuePerAdvance = 0
	r.ClusterGroup = math.MinInt32
	r.CustomerValueScore, r.AdvanceReadinessScore, r.PriorityScore = 0, 100, 5e-324
	out = append(out, r)
	r = base
	r.ISDN = ISDNFor(1, 3)
	r.ArpuAvg6m = math.Copysign(0, -1)
	r.ArpuGrowthRate = NullFloat{V: -math.MaxFloat64, Valid: true}
	r.ClusterGroup = math.MaxInt32
	r.CustomerValueScore = 33.333333333333336
	out = append(out, r)
	r = base
	r.ISDN = ISDNFor(1, 4)
	r.ArpuGrowthRate = NullFloat{V: math.Copysign(0, -1), Valid: true} // -0 is not NULL
	r.ArpuAvg6m = -5e-324
	out = append(out, r)
	return out
}

func edgeProfiles() []Profile {
	base := GenSubscriber(1, 0, 7).Profile
	out := []Profile{base}
	p := base
	p.ISDN = ISDNFor(1, 1)
	p.ArpuGrowthRate = NullFloat{}
	p.RiskFactors = nil // empty list
	p.InsightStrengths = []string{}
	p.InsightRecommendations = []string{`Trích dẫn "kép", dấu phẩy, xuống
dòng và <thẻ> & ký tự đặc biệt`, "emoji 📱💸 và chữ Hán 漢字", "\\ gạch chéo ngược \t tab", ""}
	// A CR LF inside a quoted CSV field reads back as LF (encoding/csv), so
	// the edge cases use LF only.
	p.ClusterLabel = "Nhãn, có \"ngoặc\"\nvà dòng mới"
	out = append(out, p)
	p = base
	p.ISDN = ISDNFor(1, 2)
	p.AdvanceAmount = math.MaxInt64
	p.ArpuAvg6m, p.ArpuMin6m, p.ArpuMax6m = 1e300, -1e300, math.MaxFloat64
	p.ArpuStd6m, p.ArpuLastMonth = 5e-324, math.Copysign(0, -1)
	p.ArpuGrowthRate = NullFloat{V: -123.456, Valid: true}
	p.TopupCount6m, p.DaysSinceLastTopup = math.MaxInt32, math.MinInt32
	p.ClusterGroup, p.MonthsActive = math.MinInt32, 0
	p.RevenueCallShare, p.RevenueSmsShare, p.RevenueDataShare = 1, 0, 5e-324
	p.RiskScore, p.CustomerValueScore = 100, 0
	p.RiskFactors = []string{"Nợ quá hạn lần trước", "", "a\u2028b\u2029c", "\x7f\x01 control"}
	out = append(out, p)
	return out
}

func edgeMonthlies() []Monthly {
	isdn := ISDNFor(1, 0)
	return []Monthly{
		{ISDN: isdn, DataMonth: LastMonth, ArpuCall: 12345, ArpuSms: 0, ArpuData: 1.5, ArpuTotal: 12346.5},
		{ISDN: isdn, DataMonth: time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), ArpuCall: -1e300, ArpuSms: 5e-324,
			ArpuData: math.Copysign(0, -1), ArpuTotal: math.MaxFloat64},
		{ISDN: isdn, DataMonth: time.Date(1900, 2, 1, 0, 0, 0, 0, time.UTC), ArpuCall: math.Nextafter(0.3, 1), ArpuSms: -2.5},
		{ISDN: ISDNFor(1, 1), DataMonth: time.Date(9999, 12, 1, 0, 0, 0, 0, time.UTC), ArpuTotal: 1e-300},
	}
}

// roundTrip writes recs in format f and reads them back.
func roundTrip[T any](t *testing.T, kind *Kind[T], recs []T, f Format) []T {
	t.Helper()
	ext := ".csv"
	if f == Parquet {
		ext = ".parquet"
	}
	path := filepath.Join(t.TempDir(), kind.Name+ext)
	writeFile(t, kind, path, recs, f)
	return readAll(t, kind, path)
}

// writeFile writes recs to path in format f.
func writeFile[T any](t testing.TB, kind *Kind[T], path string, recs []T, f Format) {
	t.Helper()
	w, err := Create(kind, path, f)
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if err := w.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

func checkRoundTrip[T any](t *testing.T, kind *Kind[T], recs []T) {
	for _, f := range []Format{CSV, Parquet} {
		name := map[Format]string{CSV: "csv", Parquet: "parquet"}[f]
		t.Run(kind.Name+"/"+name, func(t *testing.T) {
			got := roundTrip(t, kind, recs, f)
			if len(got) != len(recs) {
				t.Fatalf("wrote %d records, read %d", len(recs), len(got))
			}
			for i := range recs {
				want := kind.Values(&recs[i])
				if g := kind.Values(&got[i]); !slices.Equal(g, want) {
					t.Errorf("record %d:\n got %q\nwant %q", i, g, want)
				}
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	checkRoundTrip(t, &Recommendations, edgeRecommendations())
	checkRoundTrip(t, &Profiles, edgeProfiles())
	checkRoundTrip(t, &Monthlies, edgeMonthlies())
}

// TestRoundTripExactFields compares decoded fields directly for the values
// whose canonical strings could hide a difference.
func TestRoundTripExactFields(t *testing.T) {
	recs := edgeRecommendations()
	for _, f := range []Format{CSV, Parquet} {
		got := roundTrip(t, &Recommendations, recs, f)
		if got[1].ArpuGrowthRate.Valid {
			t.Errorf("format %d: NULL growth read back as %v", f, got[1].ArpuGrowthRate)
		}
		if !got[4].ArpuGrowthRate.Valid || got[4].ArpuGrowthRate.V != 0 {
			t.Errorf("format %d: -0 growth read back as %+v (must stay a number, not NULL)", f, got[4].ArpuGrowthRate)
		}
		if got[2].AdvanceAmount != math.MaxInt64 || got[2].ClusterGroup != math.MinInt32 || got[2].PriorityScore != 5e-324 {
			t.Errorf("format %d: limits read back as %d %d %v", f, got[2].AdvanceAmount, got[2].ClusterGroup, got[2].PriorityScore)
		}
		if got[3].ArpuGrowthRate.V != -math.MaxFloat64 {
			t.Errorf("format %d: -MaxFloat64 read back as %v", f, got[3].ArpuGrowthRate.V)
		}
	}
	profs := roundTrip(t, &Profiles, edgeProfiles(), Parquet)
	if got := profs[1].InsightRecommendations; !slices.Equal(got, edgeProfiles()[1].InsightRecommendations) {
		t.Errorf("Unicode list read back as %q", got)
	}
	mons := roundTrip(t, &Monthlies, edgeMonthlies(), Parquet)
	for i, m := range edgeMonthlies() {
		if !mons[i].DataMonth.Equal(m.DataMonth) {
			t.Errorf("data_month %v read back as %v", m.DataMonth, mons[i].DataMonth)
		}
	}
}

// TestWriterAbort: an aborted writer leaves nothing under the real name and
// no temporary file either.
func TestWriterAbort(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, MonthlyFile)
	w, err := Create(&Monthlies, path, Parquet)
	if err != nil {
		t.Fatal(err)
	}
	m := edgeMonthlies()[0]
	if err := w.Write(&m); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("Abort left %v", entries)
	}
}

// TestReaderFaults: file faults and row faults name the file, line or row,
// and the column.
func TestReaderFaults(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hdr := strings.Join(RecommendationColumns, ",") + "\n"
	sub := GenSubscriber(1, 0, 7)
	good := strings.Join(sub.Rec.Values(), ",") + "\n"
	isdn := ISDNFor(1, 0)

	for _, tc := range []struct {
		name, content, want string
	}{
		{"empty.csv", "", "empty file"},
		{"header.csv", "isdn,foo\n", `column 2 is "foo", want "subscriber_type"`},
		{"short-header.csv", "isdn\n", `column 2 is "(none)"`},
	} {
		_, err := Open(context.Background(), &Recommendations, write(tc.name, tc.content))
		var fe *FileError
		if !errors.As(err, &fe) || !errors.Is(err, ErrFile) || !strings.Contains(err.Error(), tc.want) ||
			!strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s: got %v, want a FileError naming the file and %q", tc.name, err, tc.want)
		}
	}
	if _, err := Open(context.Background(), &Recommendations, filepath.Join(dir, "missing.csv")); !errors.Is(err, ErrFile) {
		t.Errorf("missing file: %v", err)
	}
	rows := []struct{ line, want string }{
		{good, ""},
		{strings.Replace(good, isdn, "not-an-isdn", 1), "line 3: column isdn: invalid ISDN"},
		{isdn + ",PREPAID\n", "line 4: column *: wrong column count: got 2, want 13"},
		{strings.Replace(good, "PREPAID", "PREPAID\xff", 1), "line 5: column subscriber_type: invalid UTF-8"},
		{withCol(sub.Rec.Values(), 6, "SOMETIMES"), "line 6: column bad_debt_risk: unknown value"},
		{withCol(sub.Rec.Values(), 3, "12.5"), "line 7: column advance_amount: not an integer"},
		{withCol(sub.Rec.Values(), 10, "100.01"), "line 8: column customer_value_score: score outside 0-100"},
		{withCol(sub.Rec.Values(), 7, "NaN"), "line 9: column arpu_avg_6m: non-finite number"},
		{withCol(sub.Rec.Values(), 8, "1e400"), "line 10: column arpu_growth_rate: not a number"},
		{good, ""},
		{"\"unterminated,\n", "malformed CSV"},
	}
	content := hdr
	for _, r := range rows {
		content += r.line
	}
	path := write("rows.csv", content)
	r, err := Open(context.Background(), &Recommendations, path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i, row := range rows {
		_, pos, err := r.Next()
		if row.want == "" {
			if err != nil || pos != int64(i+2) {
				t.Errorf("row %d: pos %d err %v", i, pos, err)
			}
			continue
		}
		var re *RowError
		if !errors.As(err, &re) || re.File != path || !strings.Contains(err.Error(), row.want) {
			t.Errorf("row %d: got %v, want a RowError with %q", i, err, row.want)
		}
	}
	if _, _, err := r.Next(); err != io.EOF {
		t.Errorf("after the last row: %v, want io.EOF", err)
	}
}

func withCol(vals []string, i int, v string) string {
	vals[i] = v
	return strings.Join(vals, ",") + "\n"
}

// TestReaderParquetSchema: a Parquet file of the wrong kind is a FileError
// naming the column.
func TestReaderParquetSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.parquet")
	writeFile(t, &Monthlies, path, edgeMonthlies()[:1], Parquet)
	_, err := Open(context.Background(), &Profiles, path)
	if !errors.Is(err, ErrFile) || !strings.Contains(err.Error(), `missing column "subscriber_type"`) {
		t.Errorf("profiles from a monthly file: %v", err)
	}
}
