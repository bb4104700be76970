package dataset

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// FuzzCanonicalRoundTrip: for any column strings that parse, the record's
// canonical Values parse back to the same Values (a fixed point), and nothing
// panics on any input. Each kind is fuzzed through a few free columns while
// the rest hold a valid row.
func FuzzCanonicalRoundTrip(f *testing.F) {
	f.Add("EasyCredit", "20000", "1.5", "", "[]", "2026-10-01", 12.5)
	f.Add("QuickAdvance", " 007 ", "-0", "-0.05", `["Nợ quá hạn","<&>"]`, "1900-02-01", math.Copysign(0, -1))
	f.Add("x", "9223372036854775807", "1e300", "5e-324", `null`, "2026-10-02", 1e300)
	f.Add("DataAdvance", "-1", "0x1p-2", "1_000", `["\u2028","\x01"]`, "0001-01-01", 5e-324)
	f.Add("VoiceAdvance", "+5", "Inf", "NaN", `["a",1]`, "9999-12-01", math.MaxFloat64)
	f.Fuzz(func(t *testing.T, svc, amount, num, nullable, list, date string, fl float64) {
		sub := GenSubscriber(1, 0, 7)

		rv := sub.Rec.Values()
		rv[2], rv[3], rv[7], rv[8], rv[10] = svc, amount, num, nullable, num
		if r, fe := ParseRecommendation(rv); fe == nil {
			fixedPoint(t, "recommendation", r.Values(), ParseRecommendation, (*Recommendation).Values)
		}

		pv := sub.Profile.Values()
		pv[4], pv[9], pv[19], pv[25], pv[27] = num, nullable, list, svc, list
		if p, fe := ParseProfile(pv); fe == nil {
			fixedPoint(t, "profile", p.Values(), ParseProfile, (*Profile).Values)
		}

		mv := sub.Monthly[0].Values()
		mv[1], mv[2], mv[5] = date, num, CanonFloat(fl)
		if m, fe := ParseMonthly(mv); fe == nil {
			fixedPoint(t, "monthly", m.Values(), ParseMonthly, (*Monthly).Values)
		}

		// Every finite float's canonical form parses back to the same value.
		if !math.IsNaN(fl) && !math.IsInf(fl, 0) {
			vals := slices.Clone(rv)
			vals[2], vals[3], vals[7], vals[8], vals[10] = "EasyCredit", "1", CanonFloat(fl), CanonFloat(fl), "1"
			r, fe := ParseRecommendation(vals)
			if fe != nil {
				t.Fatalf("canonical float %q rejected: %v", CanonFloat(fl), fe)
			}
			if r.ArpuAvg6m != fl || !r.ArpuGrowthRate.Valid || r.ArpuGrowthRate.V != fl {
				t.Fatalf("float %v read back as %v / %+v", fl, r.ArpuAvg6m, r.ArpuGrowthRate)
			}
		}
	})
}

func fixedPoint[T any](t *testing.T, kind string, canon []string, parse func([]string) (T, *FieldError), values func(*T) []string) {
	t.Helper()
	again, fe := parse(slices.Clone(canon))
	if fe != nil {
		t.Fatalf("%s: canonical values %q do not parse: %v", kind, canon, fe)
	}
	if got := values(&again); !slices.Equal(got, canon) {
		t.Fatalf("%s: canonical form is not a fixed point:\n first %q\nsecond %q", kind, canon, got)
	}
}

// FuzzParseRecommendationCSV: arbitrary bytes read as a recommendations CSV
// never panic; every error is a *RowError (this file, a line ≥ 1, a column)
// or a *FileError naming this file; rows that do parse are canonical fixed points.
func FuzzParseRecommendationCSV(f *testing.F) {
	hdr := strings.Join(RecommendationColumns, ",") + "\n"
	s0, s1 := GenSubscriber(1, 0, 7), GenSubscriber(1, 1, 7)
	row := func(s Subscriber) string { return strings.Join(s.Rec.Values(), ",") + "\n" }
	f.Add([]byte(hdr + row(s0) + row(s1)))
	f.Add([]byte("\xef\xbb\xbf" + hdr + row(s0)))
	f.Add([]byte(hdr + "\"unterminated," + row(s0)))
	f.Add([]byte(hdr + "a,b\n\n" + strings.ReplaceAll(row(s1), ",", ";")))
	f.Add([]byte(hdr + strings.Replace(row(s0), ",", `,"x""y",`, 1)))
	f.Add([]byte("isdn\n"))
	f.Add([]byte(""))
	f.Add([]byte("PAR1garbage"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "fuzz.csv")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		drain(t, &Recommendations, path, 1000)
	})
}

// FuzzParquetReader: a small valid Parquet file with bytes overwritten or cut
// short never panics the reader: Open or Next reports a *FileError (or a
// *RowError when a corrupted value still decodes but does not validate).
func FuzzParquetReader(f *testing.F) {
	for kind, data := range [][]byte{parquetSeed(f, &Monthlies, edgeMonthlies()), parquetSeed(f, &Profiles, edgeProfiles())} {
		f.Add(byte(kind), data, uint32(0), []byte{})
		f.Add(byte(kind), data, uint32(len(data)-12), []byte{0xff, 0xff, 0xff, 0x7f})
		f.Add(byte(kind), data, uint32(4), []byte{0, 0, 0, 0, 0, 0, 0, 0})
		f.Add(byte(kind), data[:len(data)/2], uint32(0), []byte{})
	}
	path := filepath.Join(f.TempDir(), "fuzz.parquet")
	f.Fuzz(func(t *testing.T, kind byte, data []byte, at uint32, patch []byte) {
		if len(data) > 1<<20 {
			return
		}
		data = slices.Clone(data)
		if len(data) > 0 {
			copy(data[int(at)%len(data):], patch)
		}
		if kind%2 == 0 {
			drainBytes(t, &Monthlies, path, data)
		} else {
			drainBytes(t, &Profiles, path, data)
		}
	})
}

// parquetSeed is recs written as a Parquet file, in bytes.
func parquetSeed[T any](tb testing.TB, kind *Kind[T], recs []T) []byte {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "seed.parquet")
	writeFile(tb, kind, path, recs, Parquet)
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// drainBytes writes data to path and reads it back with drain.
func drainBytes[T any](t *testing.T, kind *Kind[T], path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	drain(t, kind, path, 100)
}

// drain reads path to the end (or maxRows), checking the error contract.
func drain[T any](t *testing.T, kind *Kind[T], path string, maxRows int) {
	t.Helper()
	r, err := Open(context.Background(), kind, path)
	if err != nil {
		checkFileError(t, path, err)
		return
	}
	defer r.Close()
	for range maxRows {
		rec, pos, err := r.Next()
		if err == io.EOF {
			return
		}
		var re *RowError
		switch {
		case errors.As(err, &re):
			if re.File != path || re.Pos < 1 || re.Field == nil || re.Field.Column == "" ||
				!strings.HasPrefix(err.Error(), path+": ") {
				t.Fatalf("RowError without file, position or column: %#v (%v)", re, err)
			}
		case err != nil:
			checkFileError(t, path, err)
			return
		default:
			if pos < 1 {
				t.Fatalf("record at position %d", pos)
			}
			fixedPoint(t, kind.Name, kind.Values(&rec), kind.Parse, kind.Values)
		}
	}
}

func checkFileError(t *testing.T, path string, err error) {
	t.Helper()
	var fe *FileError
	if !errors.As(err, &fe) || fe.File != path || !errors.Is(err, ErrFile) || !strings.HasPrefix(err.Error(), path+": ") {
		t.Fatalf("want a *FileError naming %s, got %T: %v", path, err, err)
	}
}

// TestCorruptParquet runs the Parquet fuzz body over systematic corruptions
// (every truncation point in steps, and a byte flip every few bytes), so
// plain `go test` covers what the fuzzer explores at random.
func TestCorruptParquet(t *testing.T) {
	good := parquetSeed(t, &Profiles, edgeProfiles())
	bad := filepath.Join(t.TempDir(), "bad.parquet")
	step := max(1, len(good)/400)
	for i := 0; i < len(good); i += step {
		for _, variant := range [][]byte{good[:i], flip(good, i)} {
			drainBytes(t, &Profiles, bad, variant)
		}
	}
}

func flip(b []byte, i int) []byte {
	c := slices.Clone(b)
	c[i] ^= 0xa5
	return c
}

// TestCorruptParquetSizes: a huge size or count written over any 4 bytes of
// a file never makes the reader allocate gigabytes. A corrupt column-chunk
// size made it read the chunk into one 16 GiB buffer (FuzzParquetReader).
func TestCorruptParquetSizes(t *testing.T) {
	good := parquetSeed(t, &Monthlies, edgeMonthlies())
	bad := filepath.Join(t.TempDir(), "bad.parquet")
	var before, after runtime.MemStats
	for i := range len(good) {
		d := slices.Clone(good)
		copy(d[i:], []byte{0xff, 0xff, 0xff, 0x7f})
		runtime.ReadMemStats(&before)
		drainBytes(t, &Monthlies, bad, d)
		runtime.ReadMemStats(&after)
		if n := after.TotalAlloc - before.TotalAlloc; n > 1<<30 {
			t.Errorf("0x7fffffff at byte %d: the reader allocated %d MiB", i, n>>20)
		}
	}
}
