package loader

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/ut360/ut360/dataset"
)

const badN = 150

// editCSV rewrites line n (1-based) of the recommendations CSV with fn.
func editCSV(t *testing.T, dir string, n int, fn func(string) string) {
	t.Helper()
	p := filepath.Join(dir, dataset.RecommendationsFile)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	lines[n-1] = fn(lines[n-1])
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}

func setCol(col int, v string) func(string) string {
	return func(line string) string {
		f := strings.Split(line, ",")
		f[col] = v
		return strings.Join(f, ",")
	}
}

func readRejects(t *testing.T, path string) []Reject {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("rejects file: %v", err)
	}
	defer f.Close()
	var out []Reject
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r Reject
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("rejects line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// TestBadRows: every row-fault class is rejected with its reason, the load
// is refused (exit 2 class) and both stores keep the previous snapshot.
func TestBadRows(t *testing.T) {
	s := newStores(t)
	s.load(t, s.opts(gen(t, 300, 3)))
	before := s.snapshot(t)

	extra := subs(5, badN, badN+1)[0] // a subscriber absent from the recommendations
	cases := []struct {
		name, file, column, reason string
		edit                       func(ss []dataset.Subscriber) []dataset.Subscriber
		csv                        func(t *testing.T, dir string)
	}{
		{name: "wrong column count", file: dataset.RecommendationsFile, column: "*", reason: "wrong column count",
			csv: func(t *testing.T, dir string) { editCSV(t, dir, 5, func(l string) string { return l + ",1" }) }},
		{name: "unparsable number", file: dataset.RecommendationsFile, column: "advance_amount", reason: "not an integer",
			csv: func(t *testing.T, dir string) { editCSV(t, dir, 6, setCol(3, "12x")) }},
		{name: "non-finite number", file: dataset.RecommendationsFile, column: "arpu_avg_6m", reason: "non-finite",
			edit: func(ss []dataset.Subscriber) []dataset.Subscriber { ss[3].Rec.ArpuAvg6m = math.Inf(1); return ss }},
		{name: "non-finite in parquet", file: dataset.MonthlyFile, column: "arpu_sms", reason: "non-finite",
			edit: func(ss []dataset.Subscriber) []dataset.Subscriber { ss[3].Monthly[1].ArpuSms = math.NaN(); return ss }},
		{name: "score out of range", file: dataset.ProfilesFile, column: "engagement_score", reason: "score outside 0-100",
			edit: func(ss []dataset.Subscriber) []dataset.Subscriber { ss[4].Profile.EngagementScore = 100.5; return ss }},
		{name: "negative amount", file: dataset.RecommendationsFile, column: "revenue_per_advance", reason: "negative amount",
			edit: func(ss []dataset.Subscriber) []dataset.Subscriber { ss[5].Rec.RevenuePerAdvance = -1; return ss }},
		{name: "amount too large", file: dataset.RecommendationsFile, column: "advance_amount", reason: ReasonAmountTooLarge,
			edit: func(ss []dataset.Subscriber) []dataset.Subscriber {
				ss[5].Rec.AdvanceAmount = maxNumeric12 + 1
				return ss
			}},
		{name: "unknown enumeration", file: dataset.ProfilesFile, column: "risk_level", reason: "unknown value",
			edit: func(ss []dataset.Subscriber) []dataset.Subscriber { ss[6].Profile.RiskLevel = "EXTREME"; return ss }},
		{name: "empty ISDN", file: dataset.RecommendationsFile, column: "isdn", reason: "empty ISDN",
			csv: func(t *testing.T, dir string) { editCSV(t, dir, 7, setCol(0, "")) }},
		{name: "invalid ISDN", file: dataset.MonthlyFile, column: "isdn", reason: "invalid ISDN",
			edit: func(ss []dataset.Subscriber) []dataset.Subscriber {
				ss[7].Monthly[0].ISDN = "0123456789abcdef"
				return ss
			}},
		{name: "duplicate ISDN", file: dataset.RecommendationsFile, column: "isdn", reason: ReasonDuplicateISDN,
			edit: func(ss []dataset.Subscriber) []dataset.Subscriber {
				d := ss[8]
				d.Profile.ISDN = "" // only the recommendation is repeated
				return append(ss, dataset.Subscriber{Rec: d.Rec})
			}},
		{name: "profile without recommendation", file: dataset.ProfilesFile, column: "isdn", reason: ReasonNoRecommendation,
			edit: func(ss []dataset.Subscriber) []dataset.Subscriber {
				return append(ss, dataset.Subscriber{Profile: extra.Profile, Rec: dataset.Recommendation{ISDN: "-"}})
			}},
		{name: "monthly without recommendation", file: dataset.MonthlyFile, column: "isdn", reason: ReasonNoRecommendation,
			edit: func(ss []dataset.Subscriber) []dataset.Subscriber {
				return append(ss, dataset.Subscriber{Monthly: extra.Monthly[:1], Rec: dataset.Recommendation{ISDN: "-"}})
			}},
		{name: "duplicate month", file: dataset.MonthlyFile, column: "data_month", reason: ReasonDuplicateMonth,
			edit: func(ss []dataset.Subscriber) []dataset.Subscriber {
				ss[9].Monthly = append(ss[9].Monthly, ss[9].Monthly[2])
				return ss
			}},
		{name: "invalid UTF-8", file: dataset.ProfilesFile, column: "cluster_label", reason: "invalid UTF-8",
			edit: func(ss []dataset.Subscriber) []dataset.Subscriber {
				ss[10].Profile.ClusterLabel = "Ổn \xff định"
				return ss
			}},
		{name: "invalid UTF-8 in CSV", file: dataset.RecommendationsFile, column: "arpu_trend", reason: "invalid UTF-8",
			csv: func(t *testing.T, dir string) { editCSV(t, dir, 9, setCol(9, "STA\xc3BLE")) }},
		{name: "NUL in text", file: dataset.ProfilesFile, column: "insight_strengths", reason: ReasonNUL,
			edit: func(ss []dataset.Subscriber) []dataset.Subscriber {
				ss[11].Profile.InsightStrengths = []string{"a\x00b"}
				return ss
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ss := subs(5, 0, badN)
			if tc.edit != nil {
				ss = tc.edit(ss)
			}
			writeSparse(t, dir, ss)
			if tc.csv != nil {
				tc.csv(t, dir)
			}
			o := s.opts(dir)
			_, err := Load(context.Background(), s.pool, s.rdb, o)
			if !errors.Is(err, ErrBadInput) {
				t.Fatalf("err = %v, want ErrBadInput", err)
			}
			if !strings.Contains(err.Error(), tc.reason) || !strings.Contains(err.Error(), tc.file) {
				t.Errorf("message %q should name %s and %q", err, tc.file, tc.reason)
			}
			// One reject of the class; the rows of a rejected recommendation
			// in the other files follow it as "has no recommendation".
			rj := readRejects(t, o.RejectsPath)
			var hits []Reject
			for _, r := range rj {
				if filepath.Base(r.File) == tc.file && r.Column == tc.column && strings.Contains(r.Reason, tc.reason) && r.Line+r.Row > 0 {
					hits = append(hits, r)
				} else if r.Reason != ReasonNoRecommendation {
					t.Errorf("unexpected reject %+v", r)
				}
			}
			if len(hits) != 1 {
				t.Fatalf("rejects %+v, want one of %s column %s reason %q", rj, tc.file, tc.column, tc.reason)
			}
			if got := s.snapshot(t); got != before {
				t.Fatalf("stores changed by a refused load: %+v, was %+v", got, before)
			}
			if left := s.stageLeft(t, probeISDNs...); len(left) > 0 {
				t.Fatalf("staging left behind: %v", left)
			}
			if tc.name == "duplicate month" { // tolerated: the same input loads with --max-rejects 1
				o.MaxRejects = 1
				sum, err := Load(context.Background(), s.pool, s.rdb, o)
				if err != nil || sum.Rejects != 1 || sum.MonthlyRows != s.snapshot(t).monthly || sum.Subscribers != badN {
					t.Fatalf("with MaxRejects 1: %v %+v", err, sum)
				}
				if rj := readRejects(t, o.RejectsPath); len(rj) != 1 {
					t.Fatalf("rejects file %+v", rj)
				}
				before = s.snapshot(t)
			}
		})
	}
}

// writeSparse is writeFiles skipping parts marked absent (ISDN "-" or "").
func writeSparse(t *testing.T, dir string, ss []dataset.Subscriber) {
	var recs []dataset.Recommendation
	var profs []dataset.Profile
	var mons []dataset.Monthly
	for _, s := range ss {
		if s.Rec.ISDN != "-" {
			recs = append(recs, s.Rec)
		}
		if s.Profile.ISDN != "" {
			profs = append(profs, s.Profile)
		}
		mons = append(mons, s.Monthly...)
	}
	writeKind(t, &dataset.Recommendations, filepath.Join(dir, dataset.RecommendationsFile), dataset.CSV, recs)
	writeKind(t, &dataset.Profiles, filepath.Join(dir, dataset.ProfilesFile), dataset.Parquet, profs)
	writeKind(t, &dataset.Monthlies, filepath.Join(dir, dataset.MonthlyFile), dataset.Parquet, mons)
}

// TestBadFiles: every file-fault class ends with one line naming the file,
// matches dataset.ErrFile and ErrBadInput, and touches neither store.
func TestBadFiles(t *testing.T) {
	s := newStores(t)
	s.load(t, s.opts(gen(t, 200, 3)))
	before := s.snapshot(t)
	good := gen(t, 100, 4)
	copyDir := func(t *testing.T) string {
		dir := t.TempDir()
		for _, f := range []string{dataset.RecommendationsFile, dataset.ProfilesFile, dataset.MonthlyFile} {
			b, err := os.ReadFile(filepath.Join(good, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	mutate := func(file string, fn func([]byte) []byte) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			p := filepath.Join(dir, file)
			b, _ := os.ReadFile(p)
			if err := os.WriteFile(p, fn(b), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		name, file, reason string
		prep               func(t *testing.T, dir string)
	}{
		{"missing file", dataset.ProfilesFile, "cannot open", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, dataset.ProfilesFile))
		}},
		{"empty file", dataset.MonthlyFile, "empty file", mutate(dataset.MonthlyFile, func([]byte) []byte { return nil })},
		{"wrong header", dataset.RecommendationsFile, "wrong header", mutate(dataset.RecommendationsFile, func(b []byte) []byte {
			return []byte(strings.Replace(string(b), "priority_score", "priority", 1))
		})},
		{"header only", dataset.RecommendationsFile, "no valid recommendation row", mutate(dataset.RecommendationsFile, func(b []byte) []byte {
			return b[:strings.IndexByte(string(b), '\n')+1]
		})},
		{"missing column", dataset.MonthlyFile, "missing column", func(t *testing.T, dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, dataset.ProfilesFile))
			os.WriteFile(filepath.Join(dir, dataset.MonthlyFile), b, 0o644)
		}},
		{"column of the wrong type", dataset.MonthlyFile, "has type", func(t *testing.T, dir string) {
			writeWrongType(t, filepath.Join(dir, dataset.MonthlyFile))
		}},
		{"truncated parquet", dataset.ProfilesFile, "Parquet", mutate(dataset.ProfilesFile, func(b []byte) []byte { return b[:len(b)/2] })},
		{"corrupt parquet", dataset.MonthlyFile, "Parquet", mutate(dataset.MonthlyFile, func(b []byte) []byte {
			for i := 200; i < len(b)-200; i += 7 {
				b[i] ^= 0x5a
			}
			return b
		})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t)
			tc.prep(t, dir)
			_, err := Load(context.Background(), s.pool, s.rdb, s.opts(dir))
			if !errors.Is(err, ErrBadInput) {
				t.Fatalf("err = %v, want ErrBadInput", err)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.file) || !strings.Contains(msg, tc.reason) || strings.Contains(msg, "\n") {
				t.Errorf("message %q should be one line naming %s and %q", msg, tc.file, tc.reason)
			}
			if tc.name != "header only" && !errors.Is(err, dataset.ErrFile) {
				t.Errorf("err %v does not match dataset.ErrFile", err)
			}
			if got := s.snapshot(t); got != before {
				t.Fatalf("stores changed: %+v, was %+v", got, before)
			}
			if left := s.stageLeft(t, probeISDNs...); len(left) > 0 {
				t.Fatalf("staging left behind: %v", left)
			}
		})
	}
}

// writeWrongType writes a monthly file whose arpu_total is a string column.
func writeWrongType(t *testing.T, path string) {
	fields := []arrow.Field{{Name: "isdn", Type: arrow.BinaryTypes.String}, {Name: "data_month", Type: arrow.FixedWidthTypes.Date32},
		{Name: "arpu_call", Type: arrow.PrimitiveTypes.Float64}, {Name: "arpu_sms", Type: arrow.PrimitiveTypes.Float64},
		{Name: "arpu_data", Type: arrow.PrimitiveTypes.Float64}, {Name: "arpu_total", Type: arrow.BinaryTypes.String}}
	sc := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).Append(dataset.ISDNFor(4, 0))
	b.Field(1).(*array.Date32Builder).Append(arrow.Date32FromTime(dataset.LastMonth))
	for i := 2; i < 5; i++ {
		b.Field(i).(*array.Float64Builder).Append(1)
	}
	b.Field(5).(*array.StringBuilder).Append("3")
	rec := b.NewRecordBatch()
	defer rec.Release()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(sc, f, nil, pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}
