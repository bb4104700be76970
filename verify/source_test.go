package verify

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/ut360/ut360/dataset"
)

// rewriteParquet writes the rows of a Parquet file again with another
// writer configuration: Snappy instead of zstd, no dictionaries, small row
// groups.
func rewriteParquet(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := pqarrow.ReadTable(context.Background(), f, parquet.NewReaderProperties(memory.DefaultAllocator),
		pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy), parquet.WithDictionaryDefault(false))
	if err := pqarrow.WriteTable(tbl, out, 37, props, pqarrow.DefaultWriterProps()); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil && !errors.Is(err, os.ErrClosed) { // WriteTable closes it
		t.Fatal(err)
	}
}

// rewriteCSV writes the rows of a CSV file again, every field quoted, with
// CRLF line ends (encoding/csv quotes only when needed, with LF).
func rewriteCSV(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, row := range rows {
		for i, v := range row {
			if i > 0 {
				out.WriteByte(',')
			}
			out.WriteString(`"` + strings.ReplaceAll(v, `"`, `""`) + `"`)
		}
		out.WriteString("\r\n")
	}
	if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestSourceComparesRows: the same rows written by another writer (other
// Parquet compression and row groups, other CSV quoting) are clean with a
// note per file; a row that differs is still a source_mismatch.
func TestSourceComparesRows(t *testing.T) {
	src := copyDir(t, dataDir(t))
	w := load(t, src)
	rp, pp, mp := dataset.Files(src)
	before := [][32]byte{fileSum(t, rp), fileSum(t, pp), fileSum(t, mp)}
	rewriteCSV(t, rp)
	rewriteParquet(t, pp)
	rewriteParquet(t, mp)
	for i, p := range []string{rp, pp, mp} {
		if fileSum(t, p) == before[i] {
			t.Fatalf("%s: the rewrite did not change the bytes", p)
		}
	}
	rep := w.run(t, Options{Source: src, Buckets: 64})
	if !rep.Clean || rep.DifferingBuckets != 0 || rep.RowsChecked.SourceRecommendations != testSubscribers {
		t.Fatalf("same rows, other bytes: not clean:\n%s", dump(rep))
	}
	for _, file := range []string{dataset.RecommendationsFile, dataset.ProfilesFile, dataset.MonthlyFile} {
		if !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.HasPrefix(n, file+": the bytes differ") }) {
			t.Errorf("no note for %s: %q", file, rep.Notes)
		}
	}
	if out := text(t, rep); !strings.Contains(verdictLine(t, rep), "CLEAN") || !strings.Contains(out, "note     "+dataset.ProfilesFile) {
		t.Errorf("text report:\n%s", out)
	}

	// A row that differs is still found, in the rewritten file.
	x := firstRecs(t, src, 1)[0]
	w.exec(t, "UPDATE recommendations SET advance_amount = advance_amount + 1 WHERE isdn = $1", x.ISDN)
	rep = w.run(t, Options{Source: src, Buckets: 64})
	want(t, rep, SourceMismatch, x.ISDN, dataset.RecommendationsFile, "advance_amount")
	if rep.Clean {
		t.Fatalf("changed row reported clean:\n%s", dump(rep))
	}
}
