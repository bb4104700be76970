package dataset

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// genDir generates a dataset with o into a fresh folder and returns the folder.
func genDir(t testing.TB, o GenOptions) string {
	t.Helper()
	o.Out = filepath.Join(t.TempDir(), "out")
	st, err := Generate(context.Background(), o)
	if err != nil {
		t.Fatalf("Generate(%+v): %v", o, err)
	}
	if st.Subscribers != o.Subscribers {
		t.Fatalf("Generate wrote %d subscribers, want %d", st.Subscribers, o.Subscribers)
	}
	return o.Out
}

// fileDigests is "sha256  name" for each file of a dataset folder, like sha256sum.
func fileDigests(t testing.TB, dir string) string {
	t.Helper()
	var b strings.Builder
	for _, name := range []string{RecommendationsFile, ProfilesFile, MonthlyFile} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%x  %s\n", sha256.Sum256(data), name)
	}
	return b.String()
}

// contentDigest is a sha256 over the canonical values of every record of the
// three files, in file order: independent of the Parquet encoding.
func contentDigest(t testing.TB, dir string) string {
	t.Helper()
	h := sha256.New()
	rp, pp, mp := Files(dir)
	for _, v := range readAllValues(t, &Recommendations, rp) {
		fmt.Fprintf(h, "%q\n", v)
	}
	for _, v := range readAllValues(t, &Profiles, pp) {
		fmt.Fprintf(h, "%q\n", v)
	}
	for _, v := range readAllValues(t, &Monthlies, mp) {
		fmt.Fprintf(h, "%q\n", v)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// readAll reads every record of path, failing the test on any error.
func readAll[T any](t testing.TB, kind *Kind[T], path string) []T {
	t.Helper()
	r, err := Open(context.Background(), kind, path)
	if err != nil {
		t.Fatalf("Open %s: %v", path, err)
	}
	defer r.Close()
	var out []T
	for {
		rec, _, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read %s: %v", path, err)
		}
		out = append(out, rec)
	}
}

func readAllValues[T any](t testing.TB, kind *Kind[T], path string) [][]string {
	t.Helper()
	recs := readAll(t, kind, path)
	out := make([][]string, len(recs))
	for i := range recs {
		out[i] = kind.Values(&recs[i])
	}
	return out
}

// TestGenGolden pins the digest of a 500-subscriber dataset: the file bytes
// (what "byte-identical" promises) and the canonical content (what survives a
// change of Parquet encoding). Regenerate with `go test ./dataset -run
// TestGenGolden -update` after an intended change of the generator or writer.
func TestGenGolden(t *testing.T) {
	dir := genDir(t, GenOptions{Subscribers: 500, Months: 7, Seed: 1})
	got := fileDigests(t, dir) + contentDigest(t, dir) + "  canonical content\n"
	golden := filepath.Join("testdata", "gen-500-seed1.sha256")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (create it with -update)", err)
	}
	if got != string(want) {
		t.Errorf("dataset digest changed:\ngot:\n%swant:\n%s(if the change is intended, rerun with -update)", got, want)
	}
}

func TestGenSameFlagsByteIdentical(t *testing.T) {
	o := GenOptions{Subscribers: 3000, Months: 5, Seed: 42}
	a, b := genDir(t, o), genDir(t, o)
	for _, name := range []string{RecommendationsFile, ProfilesFile, MonthlyFile} {
		da, _ := os.ReadFile(filepath.Join(a, name))
		db, _ := os.ReadFile(filepath.Join(b, name))
		if len(da) == 0 || !bytes.Equal(da, db) {
			t.Errorf("%s differs between two runs with the same flags (%d vs %d bytes)", name, len(da), len(db))
		}
	}
	o.Seed = 43
	c := genDir(t, o)
	if fileDigests(t, a) == fileDigests(t, c) {
		t.Error("seeds 42 and 43 gave the same files")
	}
	// No temporary or probe files are left next to the output.
	entries, _ := os.ReadDir(a)
	if len(entries) != 3 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("output folder holds %v, want only the three files", names)
	}
}

// TestGenPrefix: N=300 is a prefix of N=1000 in every file, and subscriber i
// is GenSubscriber(seed, i) whatever N.
func TestGenPrefix(t *testing.T) {
	small := genDir(t, GenOptions{Subscribers: 300, Months: 7, Seed: 9})
	large := genDir(t, GenOptions{Subscribers: 1000, Months: 7, Seed: 9})
	sr, sp, sm := Files(small)
	lr, lp, lm := Files(large)

	csvS, _ := os.ReadFile(sr)
	csvL, _ := os.ReadFile(lr)
	if !bytes.HasPrefix(csvL, csvS) || len(csvL) == len(csvS) {
		t.Errorf("the N=300 CSV is not a proper byte prefix of the N=1000 CSV")
	}
	checkPrefix(t, readAllValues(t, &Profiles, sp), readAllValues(t, &Profiles, lp))
	checkPrefix(t, readAllValues(t, &Monthlies, sm), readAllValues(t, &Monthlies, lm))

	recs := readAll(t, &Recommendations, lr)
	for _, i := range []int{0, 299, 300, 999} {
		s := GenSubscriber(9, i, 7)
		if !slices.Equal(recs[i].Values(), s.Rec.Values()) {
			t.Errorf("row %d of the file is not GenSubscriber(9, %d)", i, i)
		}
	}
}

func checkPrefix(t *testing.T, small, large [][]string) {
	t.Helper()
	if len(small) >= len(large) {
		t.Fatalf("small has %d rows, large %d", len(small), len(large))
	}
	for i := range small {
		if !slices.Equal(small[i], large[i]) {
			t.Fatalf("row %d differs: %q vs %q", i+1, small[i], large[i])
		}
	}
}

func TestISDN(t *testing.T) {
	const n = 200_000
	seen := make(map[string]int, n)
	var plus, slash bool
	for i := range n {
		s := ISDNFor(1, i)
		if j, dup := seen[s]; dup {
			t.Fatalf("ISDN %s of subscriber %d repeats subscriber %d", s, i, j)
		}
		seen[s] = i
		if len(s) != 24 || !ValidISDN(s) {
			t.Fatalf("ISDN %q of subscriber %d is not 24-char base64 of 16 bytes", s, i)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != 16 {
			t.Fatalf("ISDN %q: decode %d bytes, %v", s, len(b), err)
		}
		plus = plus || strings.Contains(s, "+")
		slash = slash || strings.Contains(s, "/")
	}
	if !plus || !slash {
		t.Errorf("no ISDN with '+' (%v) or '/' (%v) among %d", plus, slash, n)
	}
	if ISDNFor(1, 7) == ISDNFor(2, 7) {
		t.Error("the seed does not change the ISDNs")
	}
}

func TestGenRealism(t *testing.T) {
	const n, months = 20_000, 7
	services := map[string]int{}
	risks := map[string]int{}
	var newSubs int
	var value, priority []float64
	priorityByRisk := map[string][]float64{}
	for i := range n {
		s := GenSubscriber(5, i, months)
		r, p := &s.Rec, &s.Profile
		for _, fe := range []*FieldError{r.Validate(), p.Validate()} {
			if fe != nil {
				t.Fatalf("subscriber %d does not validate: %v", i, fe)
			}
		}
		services[r.ServiceType]++
		risks[r.BadDebtRisk]++
		value = append(value, r.CustomerValueScore)
		priority = append(priority, r.PriorityScore)
		priorityByRisk[r.BadDebtRisk] = append(priorityByRisk[r.BadDebtRisk], r.PriorityScore)
		for _, sc := range []float64{r.CustomerValueScore, r.AdvanceReadinessScore, r.PriorityScore,
			p.RiskScore, p.EngagementScore} {
			if sc < 0 || sc > 100 {
				t.Fatalf("subscriber %d: score %v outside 0-100", i, sc)
			}
		}
		if !slices.Contains(denominations, r.AdvanceAmount) || r.AdvanceAmount < 10_000 || r.AdvanceAmount > 100_000 {
			t.Fatalf("subscriber %d: advance %d is not a denomination", i, r.AdvanceAmount)
		}
		if r.RevenuePerAdvance <= 0 || r.RevenuePerAdvance >= r.AdvanceAmount {
			t.Fatalf("subscriber %d: revenue %d is not a fee share of %d", i, r.RevenuePerAdvance, r.AdvanceAmount)
		}
		isNew := !r.ArpuGrowthRate.Valid
		if isNew {
			newSubs++
			if r.ArpuTrend != "NEW" || len(s.Monthly) >= months {
				t.Fatalf("new subscriber %d: trend %s, %d months", i, r.ArpuTrend, len(s.Monthly))
			}
		} else if r.ArpuTrend == "NEW" || len(s.Monthly) != months {
			t.Fatalf("established subscriber %d: trend %s, %d months", i, r.ArpuTrend, len(s.Monthly))
		}
		if int(p.MonthsActive) != len(s.Monthly) {
			t.Fatalf("subscriber %d: months_active %d but %d monthly rows", i, p.MonthsActive, len(s.Monthly))
		}
		checkMonthly(t, i, s.Monthly)
		if sum := p.RevenueCallShare + p.RevenueSmsShare + p.RevenueDataShare; math.Abs(sum-1) > 1e-3 {
			t.Fatalf("subscriber %d: revenue shares sum to %v", i, sum)
		}
		if len(p.RiskFactors) > 4 {
			t.Fatalf("subscriber %d: %d risk factors", i, len(p.RiskFactors))
		}
		for _, l := range [][]string{p.InsightStrengths, p.InsightRecommendations} {
			if len(l) < 2 || len(l) > 4 {
				t.Fatalf("subscriber %d: %d insights, want 2-4", i, len(l))
			}
			for _, s := range l {
				checkVietnamese(t, s)
			}
		}
	}
	if services["EasyCredit"] == 0 || len(services) < 4 || len(services) > 6 {
		t.Errorf("service types %v: want 4-6 including EasyCredit", services)
	}
	if top := slices.Max(mapValues(services)); top != services["EasyCredit"] || float64(top) < 0.3*n {
		t.Errorf("service shares %v are not skewed towards EasyCredit", services)
	}
	if float64(risks["LOW"]) < 0.5*n || risks["MEDIUM"] == 0 || risks["HIGH"] == 0 {
		t.Errorf("risk levels %v: want mostly LOW, some MEDIUM and HIGH", risks)
	}
	if share := float64(newSubs) / n; share < 0.035 || share > 0.065 {
		t.Errorf("new subscribers %.1f%%, want about 5%%", 100*share)
	}
	if c := correlation(value, priority); c < 0.3 {
		t.Errorf("priority barely follows customer value (r = %.2f)", c)
	}
	if mean(priorityByRisk["LOW"]) <= mean(priorityByRisk["HIGH"]) {
		t.Errorf("LOW risk has no higher priority (%.1f) than HIGH (%.1f)",
			mean(priorityByRisk["LOW"]), mean(priorityByRisk["HIGH"]))
	}
}

// checkMonthly: consecutive first-of-month dates ending at LastMonth, total = sum.
func checkMonthly(t *testing.T, i int, rows []Monthly) {
	t.Helper()
	for j, m := range rows {
		want := LastMonth.AddDate(0, j-len(rows)+1, 0)
		if !m.DataMonth.Equal(want) || m.DataMonth.Day() != 1 {
			t.Fatalf("subscriber %d month %d: data_month %v, want %v", i, j, m.DataMonth, want)
		}
		if m.ArpuTotal != m.ArpuCall+m.ArpuSms+m.ArpuData || m.ArpuCall < 0 || m.ArpuSms < 0 || m.ArpuData < 0 {
			t.Fatalf("subscriber %d month %d: total %v of %v+%v+%v", i, j, m.ArpuTotal, m.ArpuCall, m.ArpuSms, m.ArpuData)
		}
	}
}

func checkVietnamese(t *testing.T, s string) {
	t.Helper()
	n := utf8.RuneCountInString(s)
	diacritic := strings.ContainsFunc(s, func(r rune) bool { return r > unicode.MaxASCII && unicode.Is(unicode.Latin, r) })
	if n < 30 || n > 80 || !diacritic {
		t.Fatalf("insight %q: %d characters, diacritics %v; want 30-80 with diacritics", s, n, diacritic)
	}
}

func mapValues(m map[string]int) []int {
	var out []int
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func mean(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

func correlation(x, y []float64) float64 {
	mx, my := mean(x), mean(y)
	var sxy, sxx, syy float64
	for i := range x {
		sxy += (x[i] - mx) * (y[i] - my)
		sxx += (x[i] - mx) * (x[i] - mx)
		syy += (y[i] - my) * (y[i] - my)
	}
	return sxy / math.Sqrt(sxx*syy)
}

// TestGenFilesRealism reads the written files back: every row validates, the
// Parquet list columns hold the insights, data_month is a date.
func TestGenFilesRealism(t *testing.T) {
	dir := genDir(t, GenOptions{Subscribers: 2000, Months: 3, Seed: 3})
	rp, pp, mp := Files(dir)
	recs := readAll(t, &Recommendations, rp)
	profs := readAll(t, &Profiles, pp)
	mons := readAll(t, &Monthlies, mp)
	if len(recs) != 2000 || len(profs) != 2000 {
		t.Fatalf("read %d recommendations, %d profiles", len(recs), len(profs))
	}
	perSub := map[string]int{}
	for _, m := range mons {
		perSub[m.ISDN]++
		if m.DataMonth.Day() != 1 || m.DataMonth.After(LastMonth) {
			t.Fatalf("data_month %v", m.DataMonth)
		}
	}
	for i, p := range profs {
		if p.ISDN != recs[i].ISDN || int(p.MonthsActive) != perSub[p.ISDN] {
			t.Fatalf("profile %d: isdn %s months %d, monthly rows %d", i, p.ISDN, p.MonthsActive, perSub[p.ISDN])
		}
		if len(p.InsightStrengths) < 2 {
			t.Fatalf("profile %d lost its insights: %q", i, p.InsightStrengths)
		}
	}
	// The CSV has the header of SPEC §1 and one line per subscriber.
	f, _ := os.Open(rp)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	if sc.Text() != strings.Join(RecommendationColumns, ",") {
		t.Errorf("CSV header %q", sc.Text())
	}
}

func TestGenBadOptions(t *testing.T) {
	dir := t.TempDir()
	for _, o := range []GenOptions{
		{Subscribers: -1, Out: dir},
		{Subscribers: 10, Months: 25, Out: dir},
		{Subscribers: 10, Months: -1, Out: dir},
		{Subscribers: 1_000_000_000, Out: dir},
		{Subscribers: 10},
	} {
		if _, err := Generate(context.Background(), o); !errors.Is(err, ErrBadOptions) {
			t.Errorf("Generate(%+v) = %v, want ErrBadOptions", o, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("bad options left %d files behind", len(entries))
	}
}

func TestGenCancelLeavesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Generate(ctx, GenOptions{Subscribers: 50_000, Out: dir}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Generate with a cancelled context = %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("cancelled Generate left %d files behind", len(entries))
	}
}

// BenchmarkGenerate writes a 50,000-subscriber dataset per iteration (for
// pprof; the documented figures come from `make bench-gen`).
func BenchmarkGenerate(b *testing.B) {
	dir := b.TempDir()
	for b.Loop() {
		if _, err := Generate(context.Background(), GenOptions{Subscribers: 50_000, Out: dir, Force: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestGenDay2: day 2 drops the first 10% of day 1, adds as many new
// subscribers and changes the amount of as many staying ones; the rest is
// identical.
func TestGenDay2(t *testing.T) {
	ctx := context.Background()
	d1, d2 := t.TempDir(), t.TempDir()
	for i, dir := range []string{d1, d2} {
		if _, err := Generate(ctx, GenOptions{Subscribers: 200, Seed: 3, Out: dir, Day: i + 1}); err != nil {
			t.Fatal(err)
		}
	}
	byISDN := func(dir string) map[string]Recommendation {
		r, err := Open(ctx, &Recommendations, filepath.Join(dir, RecommendationsFile))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		out := map[string]Recommendation{}
		for {
			rec, _, err := r.Next()
			if err != nil {
				return out
			}
			out[rec.ISDN] = rec
		}
	}
	a, b := byISDN(d1), byISDN(d2)
	var left, joined, changed, same int
	for isdn, ra := range a {
		rb, ok := b[isdn]
		switch {
		case !ok:
			left++
		case rb.AdvanceAmount != ra.AdvanceAmount:
			changed++
		case rb == ra:
			same++
		default:
			t.Errorf("%s changed in something else than the amount: %+v vs %+v", isdn, ra, rb)
		}
	}
	for isdn := range b {
		if _, ok := a[isdn]; !ok {
			joined++
		}
	}
	if len(a) != 200 || len(b) != 200 || left != 20 || joined != 20 || changed != 20 || same != 160 {
		t.Fatalf("day 1 %d, day 2 %d: left %d joined %d changed %d same %d", len(a), len(b), left, joined, changed, same)
	}
}
